"""JupyterLab as a user starts it (README): as root too, and with no news or update checks.

Starts the real server from .venv on a free port, asks its settings API, stops it.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JUPYTER = Path(sys.executable).with_name("jupyter")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not JUPYTER.is_file(), reason="jupyter is installed with the project (scripts/setup.sh)")
def test_jupyterlab_starts_as_it_is_documented_and_fetches_no_news(tmp_path):
    port, token = _port(), "workbook-test"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc = subprocess.Popen([str(JUPYTER), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--IdentityProvider.token={token}", "notebooks/"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification"
        req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = json.loads(urllib.request.urlopen(req, timeout=5).read())
                break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, f"jupyter lab exited (as root without allow_root?):\n{proc.stdout.read()}"
        assert answer is not None, "jupyter lab did not answer within 60 s"
        defaults = {k: v.get("default") for k, v in answer["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
