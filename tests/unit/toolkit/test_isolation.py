"""helpers.toolkit.isolation: a toolkit job that aborts or exits never takes the caller with it."""
import os

import pytest

from helpers.toolkit import isolation
from helpers.toolkit.logs import ToolkitError

IMGSZ = 96


def _abort_job(log_file):
    print("about to abort", flush=True)
    os.abort()


def _exit_job(log_file):
    raise SystemExit(3)


def test_child_abort_and_exit_do_not_kill_the_caller(tmp_path):
    with pytest.raises(ToolkitError, match="killed by SIGABRT.*kernel is unaffected") as e:
        isolation.run_isolated(f"{__name__}:_abort_job", tmp_path, tmp_path / "abort.log")
    assert "about to abort" in "\n".join(e.value.log_lines)
    with pytest.raises(ToolkitError, match="SystemExit: 3"):
        isolation.run_isolated(f"{__name__}:_exit_job", tmp_path, tmp_path / "exit.log")
