"""Papermill runs of the notebooks, in pipeline order, in one run folder, with small parameters.

Each test executes one notebook (kernel python3) and asserts on the metrics.json it recorded:
values, not just "it ran". Later notebooks use the artifacts of the earlier ones, as users run them.
"""
import json
import math
from pathlib import Path

import pytest

from helpers import artifacts, workbook

pytestmark = pytest.mark.notebooks

# Small but real: the model must still learn to detect (floors below), so the chain is meaningful.
# Half the images and 30 epochs at the real input size (320 px: smaller inputs never train the
# stride-16 head, see heads.stride_reach). Measured on 2 cores: ~7 min per model, ReLU mAP50 0.19.
SMALL = {
    "SYNTH_TRAIN": 120, "SYNTH_VAL": 40, "IMGSZ": 320, "EPOCHS": 30, "BATCH": 8, "STRIDE_CHECK_CONF": 0.1,
    "PARITY_IMAGES": 10, "CONF": 0.1,  # the small models score low: compare detections above 0.1
}
MAP50_FLOOR = 0.10  # the small ReLU model must detect; the full defaults reach far more


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chain_run")


def _execute(number: str, run_dir: Path, **extra):
    (nb,) = workbook.notebooks([number])
    workbook.execute(nb, run_dir, {**SMALL, **extra})
    out = run_dir / "notebooks" / nb.name
    assert out.is_file()
    return json.loads(out.read_text())


def test_01_train_relu(run_dir):
    _execute("01", run_dir)
    m = artifacts.read_metrics(run_dir, "01_train")
    relu, silu = m["variants"]["relu"], m["variants"]["silu"]
    assert relu["activation_census"]["SiLU"] == 0 and relu["activation_census"]["ReLU"] == 57
    assert silu["activation_census"] == {"SiLU": 57, "ReLU": 0}
    assert relu["epochs"] == SMALL["EPOCHS"] and relu["seconds_per_epoch"] > 0
    assert relu["mAP50"] >= MAP50_FLOOR, f"the small ReLU model does not detect: mAP50 {relu['mAP50']}"
    assert 0 < relu["mAP50_95"] <= relu["mAP50"]
    assert Path(relu["weights"]).is_file() and Path(silu["weights"]).is_file()
    # strides 8 and 16 produce final detections on the val set (stride 32 cannot train at this
    # input size: see heads.stride_reach and notebook 01; its count is recorded, not asserted)
    usage = m["stride_usage"]["relu"]
    assert usage["s8"] > 0 and usage["s16"] > 0 and "s32" in usage, usage
    assert m["dataset"]["val"]["images"] == SMALL["SYNTH_VAL"] and m["imgsz"] == SMALL["IMGSZ"]
    assert (run_dir / "01_train" / "training_curves.png").is_file()


def test_01_rerun_reuses_the_trained_models(run_dir):
    before = artifacts.read_metrics(run_dir, "01_train")["variants"]["relu"]
    _execute("01", run_dir)
    after = artifacts.read_metrics(run_dir, "01_train")["variants"]["relu"]
    assert after["reused"] is True and after["mAP50"] == before["mAP50"]


def test_02_patch_heads(run_dir):
    _execute("02", run_dir)
    m = artifacts.read_metrics(run_dir, "02_patch")
    assert set(m["parity"]) == {"relu_npu9", "relu_npu6", "silu_npu9", "silu_npu6"}
    assert m["max_box_diff_px"] < 1e-2 and m["max_score_diff"] < 1e-5
    assert m["final_unmatched"] == 0 and m["final_max_box_diff_px"] < 1e-2 and m["final_max_score_diff"] < 1e-5
    assert sum(p["final_detections_ultralytics"] for p in m["parity"].values()) > 0  # compared something
    assert m["parity_ok"] is True
    shapes = [o["shape"] for o in m["outputs"]["patched, 9 outputs"]]
    g = SMALL["IMGSZ"]
    assert shapes == [[1, 64, g // 8, g // 8], [1, 5, g // 8, g // 8], [1, 1, g // 8, g // 8],
                      [1, 64, g // 16, g // 16], [1, 5, g // 16, g // 16], [1, 1, g // 16, g // 16],
                      [1, 64, g // 32, g // 32], [1, 5, g // 32, g // 32], [1, 1, g // 32, g // 32]]


def test_03_export_onnx(run_dir):
    _execute("03", run_dir)
    m = artifacts.read_metrics(run_dir, "03_export")
    assert set(m["onnx"]) == {f"{v}_{h}" for v in ("relu", "silu") for h in ("npu9", "npu6", "stock")}
    assert all(Path(p).is_file() for p in m["onnx"].values())
    g = SMALL["IMGSZ"]
    npu9 = m["models"]["relu_npu9"]
    assert npu9["opset"] == 12 and npu9["inputs"] == [{"name": "images", "shape": [1, 3, g, g]}]
    assert [o["name"] for o in npu9["outputs"]] == [f"{k}_s{s}" for s in (8, 16, 32)
                                                     for k in ("box_dfl", "cls_prob", "score_sum")]
    assert len(m["models"]["relu_npu6"]["outputs"]) == 6
    assert m["models"]["relu_stock"]["outputs"][0]["shape"] == [1, 9, sum((g // s) ** 2 for s in (8, 16, 32))]
    assert m["flagged_in_patched"] == {} and "Softmax" in m["models"]["relu_stock"]["flagged_ops"]
    assert m["models"]["relu_npu9"]["silu_patterns"] == 0 and m["models"]["silu_npu9"]["silu_patterns"] == 57
    assert m["patched_max_abs_diff"] < 1e-3 and m["min_cosine"] > 0.9999
    assert not math.isnan(m["min_cosine"])
