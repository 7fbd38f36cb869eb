"""06's model-family comparison (COMPARE_RUN): which runs it accepts, the depthwise count, its finding."""
import pytest

from helpers.runfolder import artifacts
from helpers.experiments import comparisons, families
from helpers.stages import s06_analyze as findings


def _run(tmp_path, name, model="yolov8n", data="data.yaml", imgsz=320, names=("a", "b"), relu=True):
    run = tmp_path / name
    onnx = run / "03_export" / "relu_npu9.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"")
    variants = {"relu": {"epochs": 10, "parameters": 100, "mAP50": 0.5}} if relu else {"silu": {}}
    artifacts.update_metrics(run, "01_train", model=model, data_yaml=str(tmp_path / data), imgsz=imgsz,
                             names=list(names), variants=variants)
    artifacts.update_metrics(run, "03_export", onnx={"relu_npu9": str(onnx)})
    return run


def test_compare_run_reads_both_models(tmp_path):
    pair = families.compare_run(_run(tmp_path, "a"), _run(tmp_path, "b", model="yolo11n"))
    assert pair["this"]["model"] == "yolov8n" and pair["other"]["model"] == "yolo11n"
    assert pair["other"]["onnx"].endswith("relu_npu9.onnx") and pair["other"]["epochs"] == 10


def test_compare_run_names_two_runs_of_the_same_model_apart(tmp_path):
    pair = families.compare_run(_run(tmp_path, "a"), _run(tmp_path, "b"))
    assert pair["this"]["model"] != pair["other"]["model"]


@pytest.mark.parametrize("change, words", [({"data": "other.yaml"}, "another dataset"),
                                           ({"imgsz": 640}, "another input size"),
                                           ({"names": ("x", "y")}, "another class names"),
                                           ({"relu": False}, "no ReLU model")])
def test_compare_run_refuses_what_cannot_be_compared(tmp_path, change, words):
    with pytest.raises(ValueError, match=words):
        families.compare_run(_run(tmp_path, "a"), _run(tmp_path, "b", model="yolo11n", **change))


def test_compare_run_refuses_itself(tmp_path):
    run = _run(tmp_path, "a")
    with pytest.raises(ValueError, match="this run itself"):
        families.compare_run(run, run)


def test_depthwise_convs_counts_one_input_channel_per_filter(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8),
                              torch.nn.Conv2d(8, 8, 1, groups=2))
    path = tmp_path / "dw.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(path), opset_version=12, dynamo=False)
    assert families.depthwise_convs(path) == {"convs": 3, "depthwise_convs": 1}


def _row(model, dw, fq, cls, epochs=40):
    return {"model": model, "depthwise_convs": dw, "float_mAP50": fq[0], "int8_mAP50": fq[1], "int8_rknn_MB": 3.0,
            "min_cls_cosine": cls, "epochs": epochs, "config": "int8_normal_channel"}


@pytest.mark.parametrize("cls11, worse", [(0.95, True), (0.999, False)])
def test_model_family_finding_follows_the_cosines(cls11, worse):
    f = findings.model_family([_row("yolov8n", 0, (0.8, 0.79), 0.99), _row("yolo11n", 20, (0.8, 0.7), cls11)])
    assert f["value"]["int8_loss"] == {"yolov8n": 0.01, "yolo11n": 0.1}
    assert f["holds"] is worse and ("does quantize worse" in f["text"]) is worse
    assert "different epochs" not in f["text"]


def test_model_family_finding_warns_about_unequal_training():
    f = findings.model_family([_row("yolov8n", 0, (0.8, 0.79), 0.99), _row("yolo11n", 20, (0.5, 0.4), 0.9, epochs=10)])
    assert "different epochs (40 vs 10)" in f["text"]


def test_model_family_finding_adds_the_other_granularity():
    rows = [_row("yolov8n", 0, (0.8, 0.79), 0.99), _row("yolo11n", 20, (0.8, 0.78), 0.995)]
    for r, (q, cls) in zip(rows, ((0.77, 0.98), (0.6, 0.9))):
        r["other_method"] = {"method": "layer", "config": "int8_normal_layer", "int8_mAP50": q, "int8_mAP50_95": q / 2,
                             "min_cls_cosine": cls}
    f = findings.model_family(rows)
    assert f["holds"] is False  # per-channel: the depthwise model's class cosine is the better one
    assert f["value"]["other_method"] == {"method": "layer", "int8_loss": {"yolov8n": 0.03, "yolo11n": 0.2},
                                          "cls_cosine_worse_with_depthwise": True}
    assert ("Per-layer INT8 (int8_normal_layer, where a depthwise layer's channels share one scale): yolov8n loses "
            "+0.0300 mAP50, yolo11n +0.2000; lowest class-output cosine 0.98 vs 0.9: yolo11n's is the lower one."
            in f["text"])


def test_a_later_table_reads_only_an_identical_build_of_the_first(tmp_path):
    """06's head layouts and model families read section 2's build of the same ONNX with the same INT8 settings
    (comparisons.made_by_variant_comparison) instead of building it again; any other settings are built."""
    from helpers.toolkit.config import BuildConfig

    relu, silu, other = (tmp_path / f"{n}.onnx" for n in ("relu", "silu", "other"))
    kl = BuildConfig(quantize=True, algorithm="kl_divergence")
    hybrid = BuildConfig(quantize=True, algorithm="kl_divergence", float_layers=("a",))
    rows = [{"variant": v, "runtime": rt, "config": c} for v in ("relu", "silu")
            for rt, c in (("onnxruntime float32", "-"), ("RKNN FP16 simulator", "fp16"), ("RKNN INT8 simulator", kl.name))]
    outs = {"relu": {"onnx": ["f"], "int8": ["q"]}, "silu": {"onnx": ["sf"], "int8": ["sq"]}}
    made = ({"relu_npu9": str(relu), "silu_npu9": str(silu)}, rows, outs)
    v, vrows, vouts = comparisons.made_by_variant_comparison(made, relu, kl)
    assert v == "relu" and len(vrows) == 3 and vouts["int8"] == ["q"]
    assert comparisons.made_by_variant_comparison(made, silu, kl)[0] == "silu"
    assert comparisons.made_by_variant_comparison(made, other, kl) is None  # another model
    assert comparisons.made_by_variant_comparison(made, relu, BuildConfig(quantize=True)) is None  # other settings
    assert comparisons.made_by_variant_comparison(made, relu, hybrid) is None  # hybrid layers differ
    assert comparisons.made_by_variant_comparison(None, relu, kl) is None
