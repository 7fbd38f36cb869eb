"""The NPU head patch and the ONNX export, on a randomly initialised model (no training needed)."""
import numpy as np
import pytest
import torch

from helpers.model import export, heads
from helpers.board import postprocess

IMGSZ = 128


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.rand(1, 3, IMGSZ, IMGSZ)


def test_patched_layout_order_and_names(untrained_model, x):
    npu = heads.patch_for_npu(untrained_model, score_sum=True)
    outs = npu(x)
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 3, 16, 16), (1, 1, 16, 16),
                                              (1, 64, 8, 8), (1, 3, 8, 8), (1, 1, 8, 8),
                                              (1, 64, 4, 4), (1, 3, 4, 4), (1, 1, 4, 4)]
    assert npu.output_names == ["box_dfl_s8", "cls_prob_s8", "score_sum_s8", "box_dfl_s16", "cls_prob_s16",
                                "score_sum_s16", "box_dfl_s32", "cls_prob_s32", "score_sum_s32"]
    for i in range(3):
        cls, ssum = outs[3 * i + 1], outs[3 * i + 2]
        assert 0 <= float(cls.min()) and float(cls.max()) <= 1
        torch.testing.assert_close(ssum, cls.sum(1, keepdim=True).clamp(0, 1))
    six = heads.patch_for_npu(untrained_model, score_sum=False)(x)
    kept = [o for i, o in enumerate(outs) if i % 3 != 2]
    assert len(six) == len(kept) == 6
    for a, b in zip(six, kept):
        torch.testing.assert_close(a, b)


def test_patched_decode_equals_the_stock_prediction(untrained_model, x):
    with torch.no_grad():
        ref = untrained_model(x)[0][0].numpy()  # (4 + nc, N): xywh pixels, probabilities
        outs = [o.numpy() for o in heads.patch_for_npu(untrained_model)(x)]
    boxes, scores, _ = postprocess.decode_dense(outs, (IMGSZ, IMGSZ))
    xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
    np.testing.assert_allclose(xywh, ref[:4].T, atol=1e-3)
    np.testing.assert_allclose(scores, ref[4:].T, atol=1e-6)


def test_fused_patch_changes_nothing_but_rounding(untrained_model, x):
    a = heads.patch_for_npu(untrained_model, fuse=False)(x)
    b = heads.patch_for_npu(untrained_model, fuse=True)(x)
    assert len(a) == len(b) == 9
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-4)


def test_only_detection_models_are_patched():
    import types

    with pytest.raises(TypeError, match="Detect"):
        heads.NPUDetectModel(types.SimpleNamespace(model=[torch.nn.Identity()]))


@pytest.fixture(scope="module")
def exported(untrained_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    return {
        "npu9": export.export_onnx(heads.patch_for_npu(untrained_model, True, fuse=True), d / "npu9.onnx", IMGSZ),
        "npu6": export.export_onnx(heads.patch_for_npu(untrained_model, False, fuse=True), d / "npu6.onnx", IMGSZ),
        "stock": export.export_onnx(heads.stock_for_export(untrained_model), d / "stock.onnx", IMGSZ),
    }


def test_onnx_graphs_are_clean_where_it_matters(exported):
    s9 = export.onnx_summary(exported["npu9"])
    assert s9["opset"] == 12 and s9["inputs"] == [{"name": "images", "shape": [1, 3, IMGSZ, IMGSZ]}]
    assert [o["name"] for o in s9["outputs"]][:3] == ["box_dfl_s8", "cls_prob_s8", "score_sum_s8"]
    assert s9["flagged_ops"] == {} and s9["silu_patterns"] == 0
    ops = {r["op"]: r["count"] for r in export.op_census(exported["npu9"])}
    assert ops["Split"] == 8 and "Shape" not in ops and "Gather" not in ops  # forward_split, not chunk
    assert ops["Relu"] > 50 and ops["Sigmoid"] == 3 and ops["ReduceSum"] == 3
    assert len(export.onnx_summary(exported["npu6"])["outputs"]) == 6
    stock = export.onnx_summary(exported["stock"])
    assert "Softmax" in stock["flagged_ops"] and stock["outputs"][0]["shape"] == [1, 7, 336]


def test_onnxruntime_agrees_with_torch(untrained_model, exported, tiny_dataset):
    rows = export.ort_torch_parity(exported["npu9"], heads.patch_for_npu(untrained_model, True, fuse=True),
                                   tiny_dataset.splits["val"][:2], IMGSZ)
    assert len(rows) == 9
    for r in rows:
        assert r["max_abs_diff"] < 1e-3 and r["cosine"] > 0.99999, r


def test_silu_shows_up_in_the_census(tmp_path):
    from ultralytics.nn.tasks import DetectionModel

    from helpers.model.activations import activation_census, write_model_yaml

    m = DetectionModel(str(write_model_yaml(tmp_path, "silu", "n", nc=2)), nc=2, verbose=False).eval()
    assert activation_census(m) == {"SiLU": 57, "ReLU": 0}
    p = export.export_onnx(heads.patch_for_npu(m, fuse=True), tmp_path / "silu.onnx", 64)
    assert export.silu_patterns(p) == 57


def test_relu_yaml_survives_a_checkpoint_round_trip(untrained_model, tmp_path):
    from ultralytics.nn.tasks import load_checkpoint

    from helpers.model.activations import activation_census

    assert activation_census(untrained_model) == {"SiLU": 0, "ReLU": 57}
    torch.save({"model": untrained_model, "train_args": {}}, tmp_path / "m.pt")
    reloaded, _ = load_checkpoint(tmp_path / "m.pt")
    assert activation_census(reloaded) == {"SiLU": 0, "ReLU": 57}


def test_only_the_yaml_key_survives_a_rebuild(untrained_model):
    """Why the yaml key: a global Conv.default_act builds ReLU once, but the model's own yaml (what a
    rebuild in a fresh process reads) does not carry it, so the rebuilt model is SiLU again."""
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import ROOT

    from helpers.model.activations import activation_census

    saved = Conv.default_act
    try:
        Conv.default_act = torch.nn.ReLU()
        hacked = DetectionModel(str(ROOT / "cfg/models/v8/yolov8n.yaml"), nc=2, verbose=False)
    finally:
        Conv.default_act = saved
    assert activation_census(hacked)["ReLU"] == 57
    assert activation_census(DetectionModel(hacked.yaml, nc=2, verbose=False)) == {"SiLU": 57, "ReLU": 0}
    assert activation_census(DetectionModel(untrained_model.yaml, nc=3, verbose=False)) == {"SiLU": 0, "ReLU": 57}


def test_yolo11_relu_is_patched_the_same_way(tmp_path, x):
    """MODEL='yolo11n': ultralytics' own yolo11.yaml, ReLU by its yaml key; the same head patch decodes to the
    stock prediction, and the ONNX export keeps the 9-output layout."""
    from helpers.runfolder import offline
    from helpers.model.activations import activation_census, build_model, parse_model, write_model_yaml

    offline.configure_ultralytics(tmp_path)
    family, scale = parse_model("yolo11n")
    torch.manual_seed(0)
    model = build_model(write_model_yaml(tmp_path, "relu", scale, nc=3, family=family), 3).eval()
    assert activation_census(model)["SiLU"] == 0 and activation_census(model)["ReLU"] > 0
    for seq in model.model[-1].cv3:
        seq[-1].bias.data.normal_(0, 2)
    with torch.no_grad():
        ref = model(x)[0][0].numpy()
        outs = [o.numpy() for o in heads.patch_for_npu(model)(x)]
    boxes, scores, _ = postprocess.decode_dense(outs, (IMGSZ, IMGSZ))
    xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
    np.testing.assert_allclose(xywh, ref[:4].T, atol=1e-3)
    np.testing.assert_allclose(scores, ref[4:].T, atol=1e-6)
    onnx = export.export_onnx(heads.patch_for_npu(model, fuse=True), tmp_path / "y11.onnx", IMGSZ)
    assert [o["name"] for o in export.graph_io(__import__("onnx").load(str(onnx)))["outputs"]] == \
        heads.output_names()
    with pytest.raises(ValueError, match="MODEL 'yolov9t'"):
        parse_model("yolov9t")
