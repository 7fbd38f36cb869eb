"""The shipped reference checkpoints (data/checkpoints/): what they are, that they are current, and refusals."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.model import bring, checkpoints, references
from helpers import workbook

ROOT = Path(__file__).resolve().parents[3]


def _manifest(name: str) -> dict:
    return json.loads((checkpoints.SHIPPED / f"{name}.json").read_text())


@pytest.mark.parametrize("name", list(checkpoints.REFERENCES))
def test_each_checkpoint_is_what_its_manifest_says(name):
    """Small (optimizer stripped, fp16), its bytes as recorded, trained with the main job's defaults."""
    m = checkpoints.verify(checkpoints.SHIPPED / f"{name}.pt")
    ref = checkpoints.REFERENCES[name]
    assert m is not None and m["name"] == name and m["model"] == ref.model and m["variant"] == ref.variant
    assert m["bytes"] < 8 * 2**20, m["bytes"]
    import torch

    ckpt = torch.load(checkpoints.SHIPPED / f"{name}.pt", map_location="cpu", weights_only=False)
    assert ckpt.get("optimizer") is None and next(ckpt["model"].parameters()).dtype == torch.float16
    d = checkpoints.defaults(ref.notebook)
    s = m["settings"]
    assert (s["epochs"], s["imgsz"], s["batch"], s["lr0"], s["close_mosaic"]) == \
        (d["EPOCHS"], d["IMGSZ"], d["BATCH"], d["LR0"], d["CLOSE_MOSAIC"]), s
    cfg = m["dataset"]["config"]
    assert (cfg["n_train"], cfg["n_val"], cfg["seed"]) == (d["SYNTH_TRAIN"], d["SYNTH_VAL"], d["SYNTH_SEED"])
    assert len(m["dataset"]["train_image_sha256"]) == cfg["n_train"] == m["dataset"]["train_images"]
    f = m["figures"]
    assert f["epochs"] == d["EPOCHS"] and 0 < f["mAP50_95"] <= f["mAP50"] <= 1
    assert "/" not in s["data_yaml"]  # no path of the machine that made it
    if ref.notebook == "08":
        assert m["started_from"] == "silu.pt" and 0 < f["pose_mAP50_95"] <= f["pose_mAP50"]


def test_the_shipped_checkpoints_are_current():
    """When the dataset generator, the model yaml or the pinned ultralytics changes, this fails with the command that
    makes them again and how long that takes."""
    why = references.stale()
    assert not why, "\n".join(why)


def test_the_evaluation_images_are_ones_the_checkpoints_never_trained_on(tmp_path):
    """The val images every notebook evaluates on (the embedded datasets at the main job's defaults), by hash."""
    for notebook, names in (("01", ["yolov8n-relu", "yolov8n-silu", "yolo11n-relu"]), ("08", ["yolov8n-pose-relu"])):
        from helpers.model.data import check_dataset

        info = check_dataset(references.generate(notebook, tmp_path / notebook))
        train_now, val = (set(references.image_hashes(info.splits[s])) for s in ("train", "val"))
        assert len(val) == checkpoints.defaults(notebook)["SYNTH_VAL"]
        for name in names:
            trained = set(_manifest(name)["dataset"]["train_image_sha256"])
            assert trained == train_now and not val & trained, name


def test_a_damaged_checkpoint_is_refused_with_what_to_do(tmp_path, tiny_dataset):
    bad = tmp_path / "yolov8n-relu.pt"
    shutil.copy(checkpoints.SHIPPED / "yolov8n-relu.pt", bad)
    shutil.copy(checkpoints.SHIPPED / "yolov8n-relu.json", tmp_path / "yolov8n-relu.json")
    with open(bad, "r+b") as f:
        f.seek(4000)
        f.write(b"XXXX")
    with pytest.raises(checkpoints.CheckpointError, match="does not match its manifest .*changed or damaged.*"
                                                          "train_checkpoints.py"):
        checkpoints.verify(bad)
    with pytest.raises(checkpoints.CheckpointError):  # bringing it into 01 refuses it the same way
        bring.bring_trained(tmp_path / "run", bad, tiny_dataset, 96, evaluate=False)
    why = references.stale(tmp_path, check_images=False)
    assert any("does not match its manifest" in w for w in why) and any("no manifest" in w or "does not exist" in w
                                                                         for w in why)


def test_trained_weights_takes_a_relu_model_and_its_silu_twin(tmp_path, tiny_dataset):
    relu, silu = (str(checkpoints.SHIPPED / f"yolov8n-{v}.pt") for v in ("relu", "silu"))
    info = type(tiny_dataset)(**{**tiny_dataset.__dict__, "names": ["a", "b", "c", "d", "e"]})
    got = bring.bring_all(tmp_path, f"{silu}, {relu}", info, 96, evaluate=False)
    assert list(got) == ["relu", "silu"] and got["relu"]["manifest"]["name"] == "yolov8n-relu"
    assert got["relu"]["epochs"] == _manifest("yolov8n-relu")["figures"]["epochs"]
    with pytest.raises(ValueError, match="both relu models"):
        bring.bring_all(tmp_path, f"{relu},{relu}", info, 96, evaluate=False)
    rel = checkpoints.SHIPPED.relative_to(ROOT) / "yolov8n-relu.pt"  # a relative path: from the project root
    assert bring.bring_all(tmp_path, str(rel), info, 96, evaluate=False)["relu"]["brought"] == relu


def test_a_pose_checkpoint_goes_to_08_not_01(tmp_path, tiny_dataset):
    pose = checkpoints.SHIPPED / "yolov8n-pose-relu.pt"
    with pytest.raises(ValueError, match="POSE_TRAINED_WEIGHTS"):
        bring.bring_trained(tmp_path, pose, tiny_dataset, 96, evaluate=False)


def test_the_fast_lane_brings_the_shipped_checkpoints():
    p = workbook.shipped_parameters()
    assert p == {"TRAINED_WEIGHTS": "data/checkpoints/yolov8n-relu.pt,data/checkpoints/yolov8n-silu.pt",
                 "POSE_TRAINED_WEIGHTS": "data/checkpoints/yolov8n-pose-relu.pt"}
    declared = workbook.declared_parameters(workbook.notebooks())
    assert {"TRAINED_WEIGHTS", "POSE_TRAINED_WEIGHTS"} <= set(declared)


def test_the_runner_refuses_a_notebook_that_does_not_exist(tmp_path):
    run = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "helpers.workbook", "run", "--run-dir", str(run), "--only", "11"],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and "no notebook numbered 11" in p.stderr and "01_train_relu.ipynb" in p.stderr
    assert not run.exists()
