#!/usr/bin/env bash
# No board yet? The emulated RK3588 board (helpers/emuboard): an arm64 Debian with its own Python, numpy and
# OpenCV, everything but the NPU. Built on first use (about 1.5 min a suite), then cached.
#   bash scripts/board.sh run runs/main/07_deploy/bundle -- samples --backend onnx
#   bash scripts/board.sh run runs/main/08_pose/bundle --suite bookworm --profile debian -- samples --backend ncnn
#   bash scripts/board.sh ssh          # an SSH server into it on 127.0.0.1 (prints the address and key)
#   bash scripts/board.sh status
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/python -m helpers.emuboard "$@"
