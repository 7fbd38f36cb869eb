#!/usr/bin/env bash
# Set up, then run the whole workbook headless with its full defaults into runs/main
# (executed notebooks in runs/main/notebooks/, a summary in runs/main/summary.md).
# Extra arguments go to the runner, e.g.:  bash scripts/main.sh --run-dir runs/other -p EPOCHS=60
set -euo pipefail
cd "$(dirname "$0")/.."
# room on disk for all of it, said before anything is installed or run (scripts/disk_check.py)
if command -v python3 >/dev/null 2>&1; then python3 scripts/disk_check.py setup main; fi
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m helpers.workbook run "$@"
