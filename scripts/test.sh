#!/usr/bin/env bash
# Set up, then run the tests: unit tests, then the notebooks chained with small parameters.
# Extra arguments go to pytest, e.g.:  bash scripts/test.sh -m "not notebooks"
set -euo pipefail
cd "$(dirname "$0")/.."
# room on disk for all of it, said before anything is installed or run (scripts/disk_check.py)
if command -v python3 >/dev/null 2>&1; then python3 scripts/disk_check.py setup tests; fi
bash scripts/setup.sh --all-toolkits   # 06 and 09 compare toolkit releases, 2.2.0 included
export PATH="$PWD/.venv/bin:$PATH"
# Two lanes (pytest-xdist, one test file per lane at a time): the chain on the shipped models
# (tests/notebooks/test_chain.py: its tests share a run folder, in order) in one, the user-data chain and the unit
# tests in the other; most of the work is a single thread (the toolkit, the simulator), so on 2 cores two lanes take
# about the longer lane's time. By file, not by xdist_group: with pytest 9.2 xdist's loadgroup silently stops
# grouping (pytest-dev/pytest-xdist#1386). TEST_WORKERS=0: one process, in file order.
# The 25 slowest tests are listed at the end: where CI time goes.
exec .venv/bin/python -m pytest -ra --durations=25 -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
