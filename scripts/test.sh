#!/usr/bin/env bash
# Set up, then run the tests: unit tests, then the notebooks chained with small parameters.
# Extra arguments go to pytest, e.g.:  bash scripts/test.sh -m "not notebooks"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -ra "$@"
