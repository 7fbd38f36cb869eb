#!/usr/bin/env bash
# Set up, then run the whole workbook headless with its full defaults into runs/main
# (executed notebooks in runs/main/notebooks/, a summary in runs/main/summary.md).
# Extra arguments go to the runner, e.g.:  bash scripts/main.sh --run-dir runs/other -p EPOCHS=60
set -euo pipefail
cd "$(dirname "$0")/.."
# room on disk for all of it, said before anything is installed or run (scripts/disk_check.py)
if command -v python3 >/dev/null 2>&1; then python3 scripts/disk_check.py setup main; fi
bash scripts/setup.sh --all-toolkits   # 06 and 09 compare toolkit releases, 2.2.0 included
export PATH="$PWD/.venv/bin:$PATH"
# The emulated boards (07's and 08's board sections) are part of set-up: building one downloads Debian packages and
# aarch64 wheels, the only download after setup.sh, so it happens here, never inside a notebook. It runs beside the
# first notebooks (cached after the first time: about 2.5 min a board); a notebook that reaches a board first waits
# for its build.
mkdir -p runs
.venv/bin/python -m helpers.emuboard build > runs/emulated-boards.log 2>&1 &
boards=$!
status=0
.venv/bin/python -m helpers.workbook run "$@" || status=$?
if [ "$status" != 0 ]; then
  kill "$boards" 2>/dev/null || true  # a refused or failed run: the board build stops (it is atomic: nothing half-made)
elif ! wait "$boards"; then
  echo "main: building the emulated boards failed (runs/emulated-boards.log); 07/08 said what to run" >&2
fi
exit "$status"
