import json
import os
import stat
import tempfile

import pytest

from helpers.runfolder import artifacts
from helpers.board import atomic


def test_atomic_path_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temp file left behind


def test_atomic_path_refuses_an_empty_result(tmp_path):
    target = tmp_path / "x.bin"
    with pytest.raises(IOError):
        with artifacts.atomic_path(target):
            pass  # the tool wrote nothing
    assert not target.exists()


def test_relative_run_dir_is_taken_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert artifacts.resolve_run_dir("runs/x") == artifacts.PROJECT_ROOT / "runs" / "x"


def test_require_artifact_names_the_notebook_to_run(tmp_path):
    with pytest.raises(artifacts.ArtifactMissing, match="01_train_relu.ipynb"):
        artifacts.require_artifact(tmp_path, "01_train", "variants")
    artifacts.update_metrics(tmp_path, "01_train", weights=str(tmp_path / "gone.pt"), n=3)
    with pytest.raises(artifacts.ArtifactMissing, match="gone.pt"):
        artifacts.require_artifact(tmp_path, "01_train", "weights")
    with pytest.raises(artifacts.ArtifactMissing, match="no entry 'other'"):
        artifacts.require_artifact(tmp_path, "01_train", "other")
    assert artifacts.require_artifact(tmp_path, "01_train", "n") == 3


def test_update_metrics_merges_and_makes_numpy_json_safe(tmp_path):
    import numpy as np

    artifacts.update_metrics(tmp_path, "03_export", a=np.float32(0.5), b=[np.int64(2)])
    artifacts.update_metrics(tmp_path, "03_export", c=float("nan"))
    m = json.loads((tmp_path / "03_export" / "metrics.json").read_text())
    assert m == {"a": 0.5, "b": [2], "c": None}


def test_unknown_stage_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown stage"):
        artifacts.stage_dir(tmp_path, "99_nope")


def test_an_atomic_write_gets_the_mode_open_would_give_and_a_replaced_file_keeps_its_own(tmp_path):
    mask = atomic._UMASK
    new = atomic.write_json(tmp_path / "metrics.json", {"a": 1})  # not mkstemp's 0600
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~mask
    os.chmod(new, 0o640)
    atomic.write_json(new, {"a": 2})
    assert stat.S_IMODE(new.stat().st_mode) == 0o640 and json.loads(new.read_text()) == {"a": 2}
    made = tempfile.mkdtemp(dir=tmp_path)  # 0700, as a bundle or a dataset is made before its rename
    folder = atomic.commit(made, tmp_path / "bundle")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
