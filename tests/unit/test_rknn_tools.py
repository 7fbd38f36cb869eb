"""helpers.rknn_tools with the real rknn-toolkit2 (simulator only), on a small untrained model."""
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import convert, export, heads, metrics, rknn_tools as rt
from helpers.data import DatasetError

IMGSZ = 96


@pytest.fixture(scope="module")
def onnx9(untrained_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("rknn_unit")
    return export.export_onnx(heads.patch_for_npu(untrained_model, fuse=True), d / "npu9.onnx", IMGSZ)


@pytest.fixture(scope="module")
def calib(tiny_dataset, tmp_path_factory):
    return rt.write_calibration_set(tiny_dataset, tmp_path_factory.mktemp("calib"), count=6, imgsz=IMGSZ)


@pytest.fixture(scope="module")
def inputs(calib):
    from helpers.preprocess import load_image, to_nhwc_uint8

    return np.concatenate([to_nhwc_uint8(load_image(f)) for f in calib.files[:2]])


# --------------------------------------------------------------------------- config

def test_build_config_validates_and_names():
    assert rt.BuildConfig().name == "fp16"
    assert rt.BuildConfig(quantize=True, algorithm="kl_divergence", method="layer").name == "int8_kl_divergence_layer"
    assert rt.BuildConfig(target="RK3566").target == "rk3566"
    with pytest.raises(ValueError, match="unknown target platform 'rk9999'.*rk3588"):
        rt.BuildConfig(target="rk9999")
    with pytest.raises(ValueError, match="hybrid quantization needs quantize=True"):
        rt.BuildConfig(auto_hybrid=True)
    with pytest.raises(ValueError, match="quantized algorithm"):
        rt.BuildConfig(quantize=True, algorithm="minmax")
    cfg = rt.BuildConfig(quantize=True, float_layers=["a", "b"])
    assert rt.BuildConfig.from_dict(cfg.to_dict()) == cfg and cfg.name == "int8_normal_channel_hybrid2"
    kw = cfg.config_kwargs()
    assert kw["mean_values"] == [[0.0, 0.0, 0.0]] and kw["std_values"] == [[255.0, 255.0, 255.0]]


# --------------------------------------------------------------------------- calibration

def test_calibration_set_is_stratified_letterboxed_and_listed(calib, tiny_dataset):
    files = rt.check_calibration_list(calib.txt, IMGSZ)
    assert files == calib.files and len(files) == 6
    assert len(set(calib.sources)) == 6  # no image twice
    assert sum(calib.strata.values()) == 6 and len(calib.strata) >= 4  # round-robin over the strata
    import cv2
    assert all(cv2.imread(str(f)).shape == (IMGSZ, IMGSZ, 3) for f in files)


def test_calibration_errors(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="at least one image"):
        rt.write_calibration_set(tiny_dataset, tmp_path, count=0, imgsz=IMGSZ)
    empty = type(tiny_dataset)(**{**tiny_dataset.__dict__, "splits": {"train": [], "val": []}})
    with pytest.raises(DatasetError, match="no images to calibrate"):
        rt.write_calibration_set(empty, tmp_path, count=4, imgsz=IMGSZ)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    broken = type(tiny_dataset)(**{**tiny_dataset.__dict__, "splits": {"train": [bad], "val": []}})
    with pytest.raises(DatasetError, match="broken.jpg is unreadable"):
        rt.write_calibration_set(broken, tmp_path / "c", count=1, imgsz=IMGSZ)
    txt = tmp_path / "dataset.txt"
    txt.write_text("\n")
    with pytest.raises(ValueError, match="lists no images"):
        rt.check_calibration_list(txt, IMGSZ)
    import cv2
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((50, 80, 3), np.uint8))
    txt.write_text(f"{big}\n")
    with pytest.raises(ValueError, match=r"dataset.txt:1: .*big.png is 80x50, the model takes 96x96"):
        rt.check_calibration_list(txt, IMGSZ)
    txt.write_text(f"{tmp_path / 'gone.png'}\n")
    with pytest.raises(ValueError, match="gone.png is missing"):
        rt.check_calibration_list(txt, IMGSZ)


# --------------------------------------------------------------------------- toolkit runs

def test_fp16_and_int8_simulation_match_onnxruntime(onnx9, calib, inputs, tmp_path):
    ort = export.OrtModel(onnx9)
    ref = [ort.run(x[None].transpose(0, 3, 1, 2).astype(np.float32) / 255) for x in inputs]  # NHWC RGB -> NCHW
    names = heads.output_names()
    fp16 = rt.simulate(onnx9, rt.BuildConfig(), inputs, rknn_out=tmp_path / "m_fp16.rknn")
    assert fp16["rknn_bytes"] == (tmp_path / "m_fp16.rknn").stat().st_size > 0
    assert rt.load_config(tmp_path / "m_fp16.rknn")["config"] == rt.BuildConfig()
    assert [o.shape for o in fp16["outputs"][0]] == [tuple(r.shape) for r in ref[0]]
    assert min(a["cosine"] for a in metrics.output_agreement(ref, fp16["outputs"], names)) > 0.999
    int8 = rt.simulate(onnx9, rt.BuildConfig(quantize=True), inputs, dataset=calib.txt)
    agree = metrics.output_agreement(ref, int8["outputs"], names)
    assert min(a["cosine"] for a in agree if a["output"].startswith("box")) > 0.9
    assert int8["log"]["lines"] > 0 and int8["log"]["errors"] == []
    # the work folder got the toolkit's check*.onnx droppings, the cwd did not
    assert not list(Path.cwd().glob("check*.onnx"))


def test_accuracy_analysis_report_parses(onnx9, calib, tmp_path):
    res = rt.accuracy_analysis(onnx9, rt.BuildConfig(quantize=True), calib.files[0], tmp_path / "analysis",
                               dataset=calib.txt)
    rows = res["rows"]
    assert Path(res["report"]).is_file() and not (tmp_path / "analysis" / "simulator").exists()
    assert rows[0]["op"] == "Input" and rows[0]["entire_cos"] == pytest.approx(1.0)
    assert {r["layer"] for r in rows} >= {"box_dfl_s8", "cls_prob_s8", "score_sum_s32"}
    assert any(r["fused"] for r in rows)  # Conv folded into its ReLU
    valued = [r for r in rows if not r["fused"] and not r["q_zero"]]
    assert all(-1.0 <= r["single_cos"] <= 1.0 + 1e-6 and r["entire_euc"] >= 0 for r in valued)
    worst = rt.worst_layers(rows, 3)
    assert len(worst) == 3 and all(r["op"] not in ("Input", "exDataConvert") for r in worst)
    # the same names are what the hybrid quantization config uses
    layers = rt.hybrid_layer_names(onnx9, rt.BuildConfig(quantize=True), calib.txt, tmp_path / "hybrid")
    assert {r["layer"] for r in valued if r["op"] != "exDataConvert"} - {"images"} <= set(layers)


def test_parser_handles_colour_codes_and_q_zero():
    text = ("[Conv] /a/Conv_output_0\n"
            "[Relu] /a/Relu_output_0          0.99971 | 11.31016  0.99971 | 11.31016\n"
            "[Sigmoid] cls_prob_s32_int8      \x1b[1;31m q_zero\x1b[0m | \x1b[1;31m q_zero\x1b[0m   "
            "\x1b[1;31m q_zero\x1b[0m | \x1b[1;31m q_zero\x1b[0m\n"
            "[exDataConvert] score_sum_s32     \x1b[1;31m q_zero\x1b[0m | \x1b[1;31m q_zero\x1b[0m   "
            "\x1b[1;33m0.59111\x1b[0m | 0.00041\n")
    rows = rt.parse_error_analysis(text)
    assert [r["fused"] for r in rows] == [True, False, False, False]
    assert rows[1]["single_euc"] == pytest.approx(11.31016) and rows[2]["q_zero"] and rows[2]["single_cos"] is None
    assert rows[3]["entire_cos"] is None and rows[3]["single_cos"] == pytest.approx(0.59111)
    assert rt.worst_layers(rows, 1)[0]["layer"] == "cls_prob_s32_int8"
    with pytest.raises(ValueError, match="no layer rows"):
        rt.parse_error_analysis("hello")


def test_quantization_cfg_editing():
    text = ("custom_quantize_layers: {}\nquantize_parameters:\n    images:\n        qtype: asym\n"
            "    /model.0/conv/Conv_output_0:\n        qtype: asym\n")
    assert rt.quantization_cfg_layers(text) == ["images", "/model.0/conv/Conv_output_0"]
    edited = rt.set_float_layers(text, ["/model.0/conv/Conv_output_0"])
    assert edited.startswith("custom_quantize_layers:\n    /model.0/conv/Conv_output_0: float16\nquantize_parameters:")
    assert rt.set_float_layers(edited, []).startswith("custom_quantize_layers: {}\nquantize_parameters:")
    with pytest.raises(ValueError, match="not a quantization config"):
        rt.set_float_layers("foo: 1\n", ["x"])


def test_hybrid_with_unknown_layer_is_a_clear_error(onnx9, calib, tmp_path):
    with pytest.raises(rt.ToolkitError, match="layers not in the quantization config: \\['no_such_layer'\\]"):
        rt.simulate(onnx9, rt.BuildConfig(quantize=True, float_layers=["no_such_layer"]), dataset=calib.txt,
                    workdir=tmp_path)


def test_corrupt_and_missing_models_are_clear_errors(onnx9, tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(Path(onnx9).read_bytes()[:5000])
    with pytest.raises(rt.ToolkitError, match="step 'load_onnx' failed") as e:
        rt.simulate(bad, rt.BuildConfig(), workdir=tmp_path / "w1")
    assert e.value.log_file and Path(e.value.log_file).is_file()
    with pytest.raises(rt.ToolkitError, match="no ONNX file at .*missing.onnx"):
        rt.simulate(tmp_path / "missing.onnx", rt.BuildConfig(), workdir=tmp_path / "w2")
    rk = tmp_path / "corrupt.rknn"
    rk.write_bytes(b"RKNN" + os.urandom(2000))
    with pytest.raises(rt.ToolkitError, match="step 'load_rknn' failed"):
        rt.check_rknn(rk)
    with pytest.raises(FileNotFoundError, match="no RKNN model"):
        rt.check_rknn(tmp_path / "nothing.rknn")
    with pytest.raises(FileNotFoundError, match="build record"):
        rt.load_config(tmp_path / "nothing.rknn")
    with pytest.raises(ValueError, match="NHWC uint8 RGB"):
        rt.simulate(onnx9, rt.BuildConfig(), np.zeros((1, 3, IMGSZ, IMGSZ), np.float32))


def _abort_job(log_file):
    print("about to abort", flush=True)
    os.abort()


def _exit_job(log_file):
    raise SystemExit(3)


def test_child_abort_and_exit_do_not_kill_the_caller(tmp_path):
    with pytest.raises(rt.ToolkitError, match="killed by SIGABRT.*kernel is unaffected") as e:
        rt.run_isolated(f"{__name__}:_abort_job", tmp_path, tmp_path / "abort.log")
    assert "about to abort" in "\n".join(e.value.log_lines)
    with pytest.raises(rt.ToolkitError, match="SystemExit: 3"):
        rt.run_isolated(f"{__name__}:_exit_job", tmp_path, tmp_path / "exit.log")


def test_custom_cpu_op_and_cut_outputs(onnx9, untrained_model, inputs, tmp_path):
    onnx2 = tmp_path / "sm.onnx"
    new = convert.add_cpu_softmax(onnx9, onnx2)
    assert new == ["box_prob_s8", "box_prob_s16", "box_prob_s32"]
    res = rt.custom_op_route(onnx2, rt.BuildConfig(), inputs[:1], tmp_path / "custom")
    outs = res["outputs"][0]
    assert len(outs) == 12
    got, box = outs[9], outs[0]
    np.testing.assert_allclose(got, convert.softmax(box.reshape(got.shape), 2), atol=2e-3)
    # cutting the stock graph at the Detect convolutions gives the patched outputs (before sigmoid)
    stock = export.export_onnx(heads.stock_for_export(untrained_model), tmp_path / "stock.onnx", IMGSZ)
    cut = convert.stock_cut_points(stock)
    sim = rt.simulate(stock, rt.BuildConfig(outputs=cut), inputs[:1], workdir=tmp_path / "cut")
    want = [o for i, o in enumerate(rt.simulate(onnx9, rt.BuildConfig(), inputs[:1], workdir=tmp_path / "p")
                                    ["outputs"][0]) if i % 3 != 2]
    got = convert.sigmoid_cls(sim["outputs"][0])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=2e-2)


def test_runtimes_share_one_interface(onnx9, calib, inputs, tmp_path):
    from helpers import runtime
    from helpers.preprocess import load_image

    rknn = tmp_path / "m.rknn"
    built = rt.simulate(onnx9, rt.BuildConfig(quantize=True), inputs[:1], dataset=calib.txt, rknn_out=rknn)
    assert runtime.default_backend(onnx9) == "onnx" and runtime.default_backend(rknn) == "simulator"
    canvas = load_image(calib.files[0])  # already letterboxed to the model size, BGR
    with runtime.open_runtime(rknn, workdir=tmp_path / "sim") as sim:  # rebuilt from the build record
        assert sim.backend == "simulator" and sim.prepare(canvas).shape == (1, IMGSZ, IMGSZ, 3)
        outs = sim.infer(canvas)
    for a, b in zip(outs, built["outputs"][0]):
        np.testing.assert_array_equal(a, b)  # the same model config gives the same INT8 outputs
    with runtime.open_runtime(onnx9) as ort:
        assert ort.prepare(canvas).shape == (1, 3, IMGSZ, IMGSZ)
        ref = ort.infer(canvas)
    agree = metrics.output_agreement([ref], [outs], heads.output_names())
    assert min(a["cosine"] for a in agree if a["output"].startswith("box")) > 0.9
    with pytest.raises(runtime.RuntimeFailure, match="no model file"):
        runtime.open_runtime(tmp_path / "none.rknn")
    (tmp_path / "orphan.rknn").write_bytes(b"x")
    with pytest.raises(runtime.RuntimeFailure, match="orphan.rknn.json is missing"):
        runtime.open_runtime(tmp_path / "orphan.rknn", "simulator")
    with pytest.raises(runtime.RuntimeFailure, match="runs on the board"):
        runtime.open_runtime(rknn, "rknnlite")
    with pytest.raises(runtime.RuntimeFailure, match="unknown backend 'gpu'"):
        runtime.open_runtime(rknn, "gpu")
