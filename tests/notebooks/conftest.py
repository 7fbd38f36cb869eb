"""What every notebook chain test shares: the network guard, and running one notebook with papermill."""
import os
from pathlib import Path

import pytest

NETGUARD = Path(__file__).resolve().parents[1] / "netguard"


@pytest.fixture(scope="session")
def emulated_boards():
    """Both emulated boards, built (or found in the cache) before the guard below is armed: building one is the only
    step that downloads (Debian's archive, aarch64 wheels); what the notebooks do with it never touches the network."""
    from helpers import emuboard

    return {name: emuboard.ensure_board(name) for name in emuboard.SUITES}


@pytest.fixture(scope="session", autouse=True)
def network_guard(tmp_path_factory, emulated_boards):
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
