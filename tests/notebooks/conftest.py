"""What every notebook chain test shares: the network guard, and running one notebook with papermill."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

NETGUARD = Path(__file__).resolve().parents[1] / "netguard"


@pytest.fixture(scope="session")
def board_builds(tmp_path_factory):
    """Both emulated boards start building (or are found in the cache) in a background process as the session
    starts, before the guard below is armed: building one is the only step that downloads (Debian's archive,
    aarch64 wheels), and on a fresh machine it takes minutes that now overlap the chain's training instead of
    preceding it. What the notebooks do with a board never touches the network."""
    from helpers import emuboard

    log = tmp_path_factory.mktemp("board_builds") / "build.log"
    env = dict(os.environ)  # the environment before the guard: the builds may download
    with open(log, "w") as out:  # one process, the suites one after the other, as a user's `build` does
        proc = subprocess.Popen([sys.executable, "-m", "helpers.emuboard", "build"], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    yield proc, log
    if proc.poll() is None:  # a session cut short: the build in progress is dropped (it is atomic)
        proc.terminate()
        proc.wait()


@pytest.fixture(scope="session")
def emulated_boards(board_builds):
    """Both emulated boards' manifests, once the background build has ended (a suite's file lock also
    keeps a notebook from using a board while it is being built)."""
    from helpers import emuboard

    proc, log = board_builds
    if proc.wait() != 0:
        pytest.fail(f"building the emulated boards failed (exit {proc.returncode}); its output ends:\n"
                    f"{log.read_text()[-2000:]}")
    return {name: emuboard.ensure_board(name) for name in emuboard.SUITES}


@pytest.fixture(scope="session", autouse=True)
def network_guard(tmp_path_factory, board_builds):
    """Every process a chain starts (kernels, toolkit children, runners) refuses and logs any connection
    beyond this machine (tests/netguard/sitecustomize.py); the log must stay empty, notebook after notebook."""
    log = tmp_path_factory.mktemp("netguard") / "attempts.log"
    log.write_text("")
    old = {k: os.environ.get(k) for k in ("PYTHONPATH", "NETGUARD_LOG")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD), old["PYTHONPATH"]) if p)
    os.environ["NETGUARD_LOG"] = str(log)
    yield log
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
