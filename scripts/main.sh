#!/usr/bin/env bash
# Set up, then run the whole workbook headless with its full defaults into runs/main
# (executed notebooks in runs/main/notebooks/, a summary in runs/main/summary.md).
# Extra arguments go to the runner, e.g.:  bash scripts/main.sh --run-dir runs/other -p EPOCHS=60
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m helpers.workbook run "$@"
