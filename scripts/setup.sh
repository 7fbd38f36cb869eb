#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with the pinned versions.
# Idempotent: does nothing when .venv already matches requirements.txt and pyproject.toml.
#   bash scripts/setup.sh                  # the pinned set, and rknn-toolkit2 2.3.2 beside it (0.1 GB)
#   bash scripts/setup.sh --all-toolkits   # also 2.2.0, an environment of its own (~5 GB): 06's and 09's release
#                                          # comparisons use it (scripts/main.sh and scripts/test.sh ask for it)
set -euo pipefail
cd "$(dirname "$0")/.."
all_toolkits=0
for arg in "$@"; do
  case "$arg" in
    --all-toolkits) all_toolkits=1;;
    *) echo "setup: unknown option $arg (the one option is --all-toolkits)" >&2; exit 2;;
  esac
done

# Pythons the pinned set installs on: 3.11 (the reference: every figure in the README), 3.9, 3.10 and 3.12 (pins that
# differ by Python carry markers in requirements.txt). Others are refused with the reason.
ok_py='import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 12))'
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3.10 python3.9 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "$ok_py" 2>/dev/null; then
      PY="$c"; break
    fi
  done
fi
if [ -z "$PY" ] || ! "$PY" -c "$ok_py" 2>/dev/null; then
  have="$( (${PY:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])') 2>/dev/null || echo none)"
  case "$have" in
    3.13|3.14|3.15) why="rknn-toolkit2 2.5.0 and torch 2.4.0 (the newest torch the toolkit accepts) ship no wheel for Python $have";;
    3.8|3.7|3.6) why="numpy 1.26.4 (and most other pins) ship no wheel for Python $have";;
    *) why="no supported Python found";;
  esac
  echo "setup: Python 3.9 to 3.12 is required (3.11 is the reference); found: $have: $why." >&2
  echo "setup: install python3.11, or set PYTHON=/path/to/python3.X" >&2
  exit 1
fi
if [ -x .venv/bin/python ] && ! cmp -s <(.venv/bin/python -c 'import sys; print(sys.version_info[:2])') \
                                     <("$PY" -c 'import sys; print(sys.version_info[:2])'); then
  echo "setup: .venv was made with another Python than $PY: remove .venv to switch" >&2
  exit 1
fi

# OpenCV needs two system libraries that bare Debian/Ubuntu images lack; the device tests (and
# notebook 07) use an OpenSSH server on 127.0.0.1 and the adb tools; the emulated board (helpers.emuboard)
# is built with debootstrap and entered with proot and user-mode qemu; chromium renders the run's HTML report
# headless in its test; ffmpeg serves a video as a live stream on 127.0.0.1 for the runner's stream tests.
if command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for pkg in libgl1 libglib2.0-0 openssh-server openssh-client adb debootstrap proot qemu-user-static chromium ffmpeg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing$missing (OpenCV libraries, SSH and adb for the device tests, the emulated board's tools, a browser for the report's test, ffmpeg for the stream tests)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo "setup: missing$missing; install them with: sudo apt-get install$missing" >&2
    fi
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.setup-stamp
want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the pinned environment into .venv (a few minutes, ~6.5 GB the first time; no pip cache is kept)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir -r requirements.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation -e .
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi
# The board's Python API (RKNNLite) ships as aarch64 wheels only: keep the wheel (not installed) so the
# tests can check our calls against its real signatures without a board.
lite=.venv/wheels/rknn-toolkit-lite2
if ! ls "$lite"/rknn_toolkit_lite2-*.whl >/dev/null 2>&1; then
  ver="$(grep -E '^rknn-toolkit2==' requirements.txt | cut -d= -f3)"
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_17_aarch64 --python-version "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --implementation cp \
    "rknn-toolkit-lite2==$ver" -d "$lite"
fi
# Other rknn-toolkit2 releases beside the pinned one, each in its own environment under .venv/toolkits/
# (toolkits/*.txt; helpers/toolkit/versions.py): 2.3.2 layered over .venv, 2.2.0 standalone (its own torch, ~5 GB:
# only with --all-toolkits). Notebooks 06 and 09 build with those set up, and name the missing ones and this option.
if [ "$all_toolkits" = 1 ]; then
  .venv/bin/python -m helpers.toolkit.versions setup
else
  .venv/bin/python -m helpers.toolkit.versions setup --layered-only
fi
# The project's Jupyter settings (jupyter/README.md): no news or update checks, root allowed.
install -D -m 644 jupyter/overrides.json .venv/share/jupyter/lab/settings/overrides.json
install -D -m 644 jupyter/jupyter_server_config.json .venv/etc/jupyter/jupyter_server_config.json
echo "setup: .venv ready ($(.venv/bin/python --version))"
