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


def test_toolkit_cell_runs_in_a_child_and_survives_exit(tmp_path):
    """%%toolkit: the cell's variables in and out; an exit() inside becomes an error, not a dead kernel."""
    from helpers.toolkit import cell

    out = cell.run_cell("print('hello from the cell')\ny = x * 2\nname = RKNN.__name__", {"x": 21}, ["y", "name"],
                        tmp_path / "ok")
    assert out == {"y": 42, "name": "RKNN"}
    assert cell.own_prints(tmp_path / "ok" / "cell.log") == "hello from the cell"
    with pytest.raises(ToolkitError, match="SystemExit"):
        cell.run_cell("exit(1)", {}, [], tmp_path / "exit")
    with pytest.raises(ToolkitError, match="defined no z"):
        cell.run_cell("y = 1", {}, ["z"], tmp_path / "missing")
    assert cell._parse("--in a,b --out c --workdir w") == (["a", "b"], ["c"], "w", 1800)
    assert cell._parse('--out c --workdir "a folder/w"')[2] == "a folder/w"  # a quoted path with a space
    with pytest.raises(ValueError, match="unrecognized arguments: folder"):  # never argparse's exit()
        cell._parse("--workdir a folder")
