#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with the pinned versions.
# Idempotent: does nothing when .venv already matches requirements.txt and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$c"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "setup: Python 3.11 is required (rknn-toolkit2 2.5.0 and the pinned torch ship wheels for it)." >&2
  echo "setup: install python3.11, or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

# OpenCV needs two system libraries that bare Debian/Ubuntu images lack; the device tests (and
# notebook 07) use an OpenSSH server on 127.0.0.1 and the adb tools; the emulated board (helpers.emuboard)
# is built with debootstrap and entered with proot and user-mode qemu.
if command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for pkg in libgl1 libglib2.0-0 openssh-server openssh-client adb debootstrap proot qemu-user-static; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing$missing (OpenCV libraries, SSH and adb for the device tests, the emulated board's tools)"
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
    --platform manylinux_2_17_aarch64 --python-version 3.11 --implementation cp \
    "rknn-toolkit-lite2==$ver" -d "$lite"
fi
# The project's Jupyter settings (jupyter/README.md): no news or update checks, root allowed.
install -D -m 644 jupyter/overrides.json .venv/share/jupyter/lab/settings/overrides.json
install -D -m 644 jupyter/jupyter_server_config.json .venv/etc/jupyter/jupyter_server_config.json
echo "setup: .venv ready ($(.venv/bin/python --version))"
