"""helpers.experiments.peers: the paths users pick instead, measured the workbook's way (notebook 09) — the real ultralytics
exporter on the toolkit release it asks for, the simulator, pycocotools; and 09's conclusions from their rows."""
import copy

import numpy as np
import pytest
import torch

from helpers.model import metrics
from helpers.experiments import peers, ultralytics_rknn
from helpers.stages import s09_compare as findings
from helpers.board.postprocess import Detections
from helpers.toolkit import config, versions

IMGSZ = 96


@pytest.fixture(scope="module")
def weights(untrained_model, tmp_path_factory):
    p = tmp_path_factory.mktemp("peer_weights") / "relu.pt"
    torch.save({"model": copy.deepcopy(untrained_model).half(), "train_args": {}}, p)  # the shape ultralytics saves
    return p


@pytest.fixture(scope="module")
def es(tiny_dataset):
    return metrics.make_eval_set(tiny_dataset, IMGSZ, 4)


def test_ultralytics_export_of_a_tiny_model_through_the_workbooks_path(weights, calib, es, tmp_path):
    """Its one-liner on 2.3.2 (what it asks for): built; the graph it handed the toolkit, rebuilt on the simulator,
    decoded as its RKNN backend decodes (boxes times the input size) and scored by pycocotools, like every path."""
    names = ["a", "b", "c"]
    ex = ultralytics_rknn.ultralytics_export(weights, IMGSZ, "rk3588", 8, calib.files, names, tmp_path / "ul", toolkit="2.3.2")
    assert ex["built"] and ex["error"] is None and ex["toolkit"] == "2.3.2", ex
    assert ex["rknn_bytes"] > 0 and ex["onnx"] and ex["dataset"]
    listed = [ln for ln in open(ex["dataset"]).read().splitlines() if ln]  # it calibrated on the images we gave it
    assert len(listed) == len(calib.files) and all(str(tmp_path / "ul" / "images") in p for p in listed)
    assert not list(calib.txt.parent.rglob("*.cache"))  # nothing written beside the workbook's calibration set
    spec = ultralytics_rknn.ultralytics_path(ex, "rk3588", 8, "2.3.2", "the test's images")
    assert spec.layout == "decoded_normalised" and spec.cfg.toolkit == "2.3.2" and spec.cfg.quantize
    row, parts = peers.measure(spec, es, tmp_path / "m", resamples=10)
    assert row["built"] and row["built_by"] == "2.3.2", row
    assert abs(row["rknn_MB"] * 2**20 - ex["rknn_bytes"]) / ex["rknn_bytes"] < 0.02  # the same graph and settings as its own build
    # its INT8 boxes are divided by the input size: the float reference of the same graph agrees after decoding
    f = np.asarray(parts["float"][0][0])
    assert f.shape[1] == 4 + 3 and 0 <= np.median(f[0, :4]) <= 1.5, f[0, :4].max()
    assert row["delta_mAP50_95"] == round(row["mAP50_95"] - row["float_mAP50_95"], 4) or row["float_mAP50_95"] == 0
    assert row["postprocess_ms"] > 0 and row["sim_ms_per_frame"] > 0 and row["ops"].get("InputOperator") == 1
    # on the pinned release the same one-liner is only warned about (it declares <2.5); what it does is recorded
    ex5 = ultralytics_rknn.ultralytics_export(weights, IMGSZ, "rk3588", 16, calib.files, names, tmp_path / "ul5")
    assert ex5["toolkit"] == versions.pinned() and (ex5["built"] or ex5["error"]), ex5


def _dets(boxes, scores, classes):
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(classes, np.int64), np.zeros(len(scores), np.int64))


def test_score_fidelity_matches_the_same_detection():
    f = [_dets([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [0.9, 0.8, 0.5], [0, 1, 0])]
    q = [_dets([[0, 0, 10, 11], [21, 20, 30, 30], [80, 80, 90, 90]], [0.6, 0.82, 0.7], [0, 1, 0])]
    fid = peers.score_fidelity(f, q)
    assert fid["matched"] == 2 and fid["lost"] == 1 and fid["float_detections"] == 3
    assert fid["drops"] == [0.3, -0.02] and fid["worst_drop"] == 0.3 and fid["median_drop"] == 0.14
    assert fid["share_losing_over_0.1"] == 0.5
    assert peers.score_fidelity([_dets([], [], [])], [_dets([], [], [])])["median_drop"] is None


def test_decode_multiplies_normalised_boxes_back(es):
    nc = len(es.names)
    out = np.zeros((1, 4 + nc, 3), np.float32)
    out[0, :4, 0] = [0.5, 0.5, 0.25, 0.25]  # normalised cx, cy, w, h
    out[0, 4, 0] = 0.9
    px = out.copy()
    px[0, :4, 0] *= IMGSZ
    one = metrics.EvalSet(es.images[:1], es.imgsz, es.nc, es.names)
    a = peers.decode([[out]], one, "decoded_normalised")[0]
    b = peers.decode([[px]], one, "decoded")[0]
    assert len(a) == 1 and np.allclose(a.boxes, b.boxes)


def _row(path, family, layout="npu9", q=0.70, f=0.71, vs=None, lo=None, hi=None, med=-0.005, share=0.02):
    return {"path": path, "family": family, "layout": layout, "precision": "INT8", "built": True, "toolkit": "pinned",
            "mAP50_95": q, "float_mAP50_95": f, "delta_mAP50_95": round(q - f, 4), "delta_low": q - f - 0.01,
            "delta_high": q - f + 0.01, "vs_reference": vs, "vs_low": lo, "vs_high": hi, "median_score_drop": med,
            "worst_score_drop": 0.2, "share_losing_over_0_1": share, "detections_lost": 0, "cls_cosine": 0.998}


def test_09_conclusions_follow_the_numbers():
    rows = [_row("wb9", "workbook"), _row("wb6", "workbook", "npu6", vs=0.0, lo=-0.002, hi=0.002),
            _row("zoo", "model zoo", vs=0.02, lo=0.005, hi=0.03), _row("stock", "stock", "decoded", q=0.3, vs=-0.4,
                                                                       lo=-0.45, hi=-0.35)]
    c = findings.peers_vs_workbook(rows)
    assert c["beats"] == ["zoo"] and c["trails"] == ["stock"] and "the workbook takes note" in c["text"]
    assert "matches it" in c["text"]
    fid = findings.score_sum_fidelity(rows)
    assert fid["value"]["default"] == "npu9" and fid["holds"]
    squashed = [_row("wb9", "workbook", med=0.12, share=0.4), _row("wb6", "workbook", "npu6")]
    fid = findings.score_sum_fidelity(squashed)  # the model zoo's #450 picture: the 6-output head becomes the default
    assert fid["value"]["default"] == "npu6" and not fid["holds"] and "ship the 6-output head" in fid["text"]
    ex = [{"toolkit": "2.3.2", "quantize": 8, "built": True, "error": None, "seconds": 3.0},
          {"toolkit": "2.5.0", "quantize": 8, "built": False, "error": "ValueError: IndexError: list index out of range",
           "seconds": 1.0}]
    u = findings.ultralytics_export(ex)
    assert u["value"] == {"2.3.2/8": True, "2.5.0/8": False} and "fails (ValueError" in u["text"]
