"""Other rknn-toolkit2 releases beside the pinned one (helpers.toolkit.versions): set up by scripts/setup.sh, each
with every declared requirement met, and a build by one of them recorded as such — down to the board's check."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.board.runtimes import npu
from helpers.toolkit import config, isolation, jobs, logs, versions
from helpers.toolkit.logs import ToolkitError

EXTRA = ("2.2.0", "2.3.2")


def test_the_repository_offers_the_two_releases_and_says_how_each_is_made():
    assert versions.available() == list(EXTRA)
    assert versions.spec("2.3.2")["layered"] is True    # the pinned set meets its requirements
    assert versions.spec("2.2.0")["layered"] is False   # torch<=2.1.0, onnx==1.14.1: its own environment
    with pytest.raises(versions.ToolkitEnvMissing, match="not one this workbook sets up.*2.2.0, 2.3.2"):
        versions.python_for("2.1.0")
    assert versions.python_for("") is None and versions.python_for(versions.pinned()) is None
    assert versions.split_ready(["2.3.2", "1.6.0", versions.pinned()]) == (["2.3.2", versions.pinned()], ["1.6.0"])


def test_the_standalone_release_is_an_explicit_setup_option():
    """scripts/setup.sh alone sets up the small layered release; the ~5 GB standalone one only with --all-toolkits,
    and 06/09 name that option when it is missing."""
    said = versions.how_to_set_up(["2.2.0"])
    assert "bash scripts/setup.sh --all-toolkits" in said and "5 GB" in said
    assert "5 GB" not in versions.how_to_set_up(["2.3.2"])
    out = subprocess.run([sys.executable, "-m", "helpers.toolkit.versions", "setup", "--layered-only"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[3])
    assert out.returncode == 0 and "2.2.0 left out" in out.stdout and "2.3.2: ready" in out.stdout, out.stdout
    text = (Path(__file__).parents[3] / "scripts" / "setup.sh").read_text()
    assert "--all-toolkits" in text and "--layered-only" in text
    for script in ("test.sh", "main.sh"):  # CI and the main job test and use every release
        assert "setup.sh --all-toolkits" in (Path(__file__).parents[3] / "scripts" / script).read_text()


@pytest.mark.parametrize("version", EXTRA)
def test_each_release_is_set_up_with_pip_check_clean(version):
    st = versions.status(version)
    assert st["ready"], f"rknn-toolkit2 {version} is not set up: run scripts/setup.sh"
    py = versions.python_for(version)
    chk = subprocess.run([py, "-m", "pip", "check"], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    got = json.loads(subprocess.check_output([py, "-c", "import json; from importlib.metadata import version as v; "
                                              "print(json.dumps({k: v(k) for k in ('rknn-toolkit2', 'torch', 'onnx')}))"],
                                             text=True))
    assert got["rknn-toolkit2"] == version
    if version == "2.3.2":  # layered: torch and onnx are the pinned set's, not a second copy
        from importlib.metadata import version as v
        assert got["torch"] == v("torch") and got["onnx"] == v("onnx")
        assert not list((versions.env_dir(version) / "lib").glob("python*/site-packages/torch"))
    else:
        assert got["torch"] == "2.1.0" and got["onnx"] == "1.14.1"


def _abort_job(log_file):
    print("about to abort", flush=True)
    os.abort()


def _where_job(log_file):
    import rknn.api

    from helpers.toolkit.config import toolkit_version
    return {"executable": sys.executable, "toolkit": toolkit_version(), "rknn": rknn.api.__file__}


def test_a_job_in_another_release_runs_there_and_fails_as_clearly(tmp_path, monkeypatch):
    py = versions.python_for("2.3.2")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # this test module, importable in that interpreter
    got = isolation.run_isolated(f"{__name__}:_where_job", tmp_path / "w0", python=py)
    assert got["executable"] == py and got["toolkit"] == "2.3.2" and str(versions.env_dir("2.3.2")) in got["rknn"]
    with pytest.raises(ToolkitError, match="step 'load_rknn' failed"):
        isolation.run_isolated("helpers.toolkit.jobs:_check_rknn_job", tmp_path / "w", python=py,
                               path=str(tmp_path / "not_a_model.rknn"))
    # a job that kills its interpreter comes back as an error, not a hang
    with pytest.raises(ToolkitError, match="ended its process"):
        isolation.run_isolated(f"{__name__}:_abort_job", tmp_path / "w2", python=py)


@pytest.mark.parametrize("version", EXTRA)
def test_a_build_by_another_release_is_recorded_as_such(version, onnx9, calib, inputs, tmp_path):
    cfg = config.BuildConfig(quantize=True, toolkit=version)
    assert cfg.name == f"int8_normal_channel_tk{version}"
    rknn = tmp_path / f"m_{version}.rknn"
    res = jobs.simulate(onnx9, cfg, inputs, dataset=calib.txt, rknn_out=rknn, workdir=tmp_path / "w")
    assert res["toolkit"] == version and len(res["outputs"]) == len(inputs)
    rec = jobs.load_build_record(rknn)
    assert rec["toolkit"] == version and rec["config"].toolkit == version
    assert npu.model_toolkit(rknn) == version  # what the board-side version check reads
    log = tmp_path / "w" / cfg.name / "toolkit.log"
    assert f"rknn-toolkit2 version: {version}" in log.read_text()
    ops = logs.layer_ops(log)
    assert ops.get("InputOperator") == 1 and sum(ops.values()) > 10, ops
    pinned = jobs.simulate(onnx9, config.BuildConfig(quantize=True), inputs, dataset=calib.txt)
    assert pinned["toolkit"] == versions.pinned()
    # the same graph, settings and images: the releases' outputs agree closely, yet come from different builds
    a, b = np.concatenate([o.ravel() for o in res["outputs"][0]]), np.concatenate([o.ravel() for o in pinned["outputs"][0]])
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_the_layer_table_is_read_from_the_log(tmp_path):
    log = tmp_path / "t.log"
    log.write_text("\n".join([
        "D RKNN: [10:00:00.000] " + "-" * 60,
        "D RKNN: [10:00:00.000]            Network Layer Information Table",
        "D RKNN: [10:00:00.000] " + "-" * 60,
        "D RKNN: [10:00:00.000] ID   OpType             DataType Target InputShape   OutputShape",
        "D RKNN: [10:00:00.000] " + "-" * 60,
        "D RKNN: [10:00:00.000] 0    InputOperator      INT8     CPU    \\            (1,3,96,96)",
        "D RKNN: [10:00:00.000] 1    ConvExSwish        INT8     NPU    (1,3,96,96)  (1,16,48,48)",
        "D RKNN: [10:00:00.000] 2    ConvExSwish        INT8     NPU    (1,16,48,48) (1,32,24,24)",
        "D RKNN: [10:00:00.000] 3    exSwish            FLOAT16  NPU    (1,32,24,24) (1,32,24,24)",
        "D RKNN: [10:00:00.000] " + "-" * 60,
        "D RKNN: [10:00:00.000] 1   ConvExSwish    images    INT8  NC1HWC2 (1,3,96,96)",  # the next table: not counted
    ]))
    assert logs.layer_ops(log) == {"ConvExSwish": 2, "InputOperator": 1, "exSwish": 1}
    assert logs.layer_table(log)[3] == {"id": 3, "op": "exSwish", "dtype": "FLOAT16", "target": "NPU"}
    assert logs.layer_ops(tmp_path / "missing.log") == {}


def test_a_release_number_is_checked():
    with pytest.raises(ValueError, match="release number"):
        config.BuildConfig(toolkit="latest")
    assert config.BuildConfig.from_dict(config.BuildConfig(toolkit="2.3.2").to_dict()).toolkit == "2.3.2"
    assert config.BuildConfig.from_dict({"target": "rk3588"}).toolkit == ""  # records made before this field
