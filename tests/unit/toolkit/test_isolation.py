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


def _scratch_job(log_file, fail):
    """What the toolkit does in its cwd: a graph copy per pass, beside files of the caller's."""
    for name in ("check0_base_optimize.onnx", "check3_fuse_ops.onnx"):
        with open(name, "wb") as f:
            f.write(b"x" * 1000)
    if fail:
        raise RuntimeError("the step failed")
    return "built"


def test_child_abort_and_exit_do_not_kill_the_caller(tmp_path):
    with pytest.raises(ToolkitError, match="killed by SIGABRT.*kernel is unaffected") as e:
        isolation.run_isolated(f"{__name__}:_abort_job", tmp_path, tmp_path / "abort.log")
    assert "about to abort" in "\n".join(e.value.log_lines)
    with pytest.raises(ToolkitError, match="SystemExit: 3"):
        isolation.run_isolated(f"{__name__}:_exit_job", tmp_path, tmp_path / "exit.log")


def test_pass_graphs_are_dropped_after_success_and_kept_after_failure(tmp_path):
    ok, bad = tmp_path / "ok", tmp_path / "bad"
    ok.mkdir()
    (ok / "checkpoint.onnx").write_bytes(b"a user's model")  # not the toolkit's: never touched
    assert isolation.run_isolated(f"{__name__}:_scratch_job", ok, fail=False) == "built"
    assert sorted(f.name for f in ok.glob("*.onnx")) == ["checkpoint.onnx"]
    with pytest.raises(ToolkitError, match="the step failed"):
        isolation.run_isolated(f"{__name__}:_scratch_job", bad, fail=True)
    assert sorted(f.name for f in bad.glob("*.onnx")) == ["check0_base_optimize.onnx", "check3_fuse_ops.onnx"]
    assert isolation.drop_scratch(bad) == 2000 and not list(bad.glob("*.onnx"))


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
    assert cell._parse("--in a,b --out c --workdir w") == (["a", "b"], ["c"], "w", 1800, "")
    assert cell._parse("--out c --toolkit 2.3.2")[4] == "2.3.2"
    assert cell._parse('--out c --workdir "a folder/w"')[2] == "a folder/w"  # a quoted path with a space
    with pytest.raises(ValueError, match="unrecognized arguments: folder"):  # never argparse's exit()
        cell._parse("--workdir a folder")


def test_toolkit_cell_runs_with_another_release(tmp_path):
    """%%toolkit --toolkit 2.3.2: the cell runs in that release's environment (set up by scripts/setup.sh)."""
    from helpers.toolkit import cell, versions

    if not versions.status("2.3.2")["ready"]:
        pytest.skip("rknn-toolkit2 2.3.2 is not set up here (bash scripts/setup.sh --all-toolkits)")
    out = cell.run_cell("from helpers.toolkit.config import toolkit_version\nv = toolkit_version()", {}, ["v"],
                        tmp_path / "other", toolkit="2.3.2")
    assert out == {"v": "2.3.2"}
