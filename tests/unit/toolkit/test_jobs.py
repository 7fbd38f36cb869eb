"""helpers.toolkit.jobs and simulator with the real rknn-toolkit2 (simulator only), on a small untrained model."""
import os
from pathlib import Path

import numpy as np
import pytest

from helpers.model import export, heads, metrics
from helpers.experiments import routes
from helpers.board import runtimes
from helpers.board.runtimes.onnx import OnnxRuntime
from helpers.board.postprocess import softmax
from helpers.toolkit import config, jobs
from helpers.toolkit.logs import ToolkitError

IMGSZ = 96


def test_fp16_and_int8_simulation_match_onnxruntime(onnx9, calib, inputs, tmp_path):
    ort = OnnxRuntime(onnx9)
    ref = [ort.run([x[None].transpose(0, 3, 1, 2).astype(np.float32) / 255]) for x in inputs]  # NHWC RGB -> NCHW
    names = heads.output_names()
    fp16 = jobs.simulate(onnx9, config.BuildConfig(), inputs, rknn_out=tmp_path / "m_fp16.rknn")
    assert fp16["rknn_bytes"] == (tmp_path / "m_fp16.rknn").stat().st_size > 0
    assert jobs.load_build_record(tmp_path / "m_fp16.rknn")["config"] == config.BuildConfig()
    assert [o.shape for o in fp16["outputs"][0]] == [tuple(r.shape) for r in ref[0]]
    assert min(a["cosine"] for a in metrics.output_agreement(ref, fp16["outputs"], names)) > 0.999
    int8 = jobs.simulate(onnx9, config.BuildConfig(quantize=True), inputs, dataset=calib.txt)
    agree = metrics.output_agreement(ref, int8["outputs"], names)
    assert min(a["cosine"] for a in agree if a["output"].startswith("box")) > 0.9
    assert int8["log"]["lines"] > 0 and int8["log"]["errors"] == []
    # the toolkit's check*.onnx droppings went to the work folder, never the cwd, and left it with the job's success
    assert not list(Path.cwd().glob("check*.onnx"))
    work = Path(onnx9).parent / "work" / config.BuildConfig(quantize=True).name
    assert (work / "toolkit.log").is_file() and not list(work.glob("check*.onnx"))


def test_corrupt_and_missing_models_are_clear_errors(onnx9, tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(Path(onnx9).read_bytes()[:5000])
    with pytest.raises(ToolkitError, match="step 'load_onnx' failed") as e:
        jobs.simulate(bad, config.BuildConfig(), workdir=tmp_path / "w1")
    assert e.value.log_file and Path(e.value.log_file).is_file()
    with pytest.raises(ToolkitError, match="no ONNX file at .*missing.onnx"):
        jobs.simulate(tmp_path / "missing.onnx", config.BuildConfig(), workdir=tmp_path / "w2")
    rk = tmp_path / "corrupt.rknn"
    rk.write_bytes(b"RKNN" + os.urandom(2000))
    with pytest.raises(ToolkitError, match="step 'load_rknn' failed"):
        jobs.check_rknn(rk)
    with pytest.raises(FileNotFoundError, match="no RKNN model"):
        jobs.check_rknn(tmp_path / "nothing.rknn")
    with pytest.raises(FileNotFoundError, match="build record"):
        jobs.load_build_record(tmp_path / "nothing.rknn")
    with pytest.raises(ValueError, match="NHWC uint8 RGB"):
        jobs.simulate(onnx9, config.BuildConfig(), np.zeros((1, 3, IMGSZ, IMGSZ), np.float32))


def test_custom_cpu_op_and_cut_outputs(onnx9, untrained_model, inputs, tmp_path):
    onnx2 = tmp_path / "sm.onnx"
    new = routes.add_cpu_softmax(onnx9, onnx2)
    assert new == ["box_prob_s8", "box_prob_s16", "box_prob_s32"]
    res = jobs.custom_op_route(onnx2, config.BuildConfig(), inputs[:1], tmp_path / "custom")
    outs = res["outputs"][0]
    assert len(outs) == 12
    got, box = outs[9], outs[0]
    np.testing.assert_allclose(got, softmax(box.reshape(got.shape), 2), atol=2e-3)
    # cutting the stock graph at the Detect convolutions gives the patched outputs (before sigmoid)
    stock = export.export_onnx(heads.stock_for_export(untrained_model), tmp_path / "stock.onnx", IMGSZ)
    cut = routes.stock_cut_points(stock)
    sim = jobs.simulate(stock, config.BuildConfig(outputs=cut), inputs[:1], workdir=tmp_path / "cut")
    want = [o for i, o in enumerate(jobs.simulate(onnx9, config.BuildConfig(), inputs[:1], workdir=tmp_path / "p")
                                    ["outputs"][0]) if i % 3 != 2]
    got = routes.sigmoid_cls(sim["outputs"][0])
    assert len(got) == len(want) == 6
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=2e-2)


def test_runtimes_share_one_interface(onnx9, calib, inputs, tmp_path):
    from helpers.board.preprocess import load_image

    rknn = tmp_path / "m.rknn"
    built = jobs.simulate(onnx9, config.BuildConfig(quantize=True), inputs[:1], dataset=calib.txt, rknn_out=rknn)
    assert runtimes.default_backend(onnx9) == "onnx" and runtimes.default_backend(rknn) == "simulator"
    canvas = load_image(calib.files[0])  # already letterboxed to the model size, BGR
    with runtimes.open_runtime(rknn, workdir=tmp_path / "sim") as sim:  # rebuilt from the build record
        assert sim.backend == "simulator" and sim.prepare(canvas).shape == (1, IMGSZ, IMGSZ, 3)
        outs = sim.infer(canvas)
    assert len(outs) == len(built["outputs"][0]) == 9
    for a, b in zip(outs, built["outputs"][0]):
        np.testing.assert_array_equal(a, b)  # the same model config gives the same INT8 outputs
    with runtimes.open_runtime(rknn) as own:  # a work folder of its own is removed on a clean close
        own_dir = own.workdir
        assert own_dir.is_dir()
    assert not own_dir.exists() and (tmp_path / "sim").is_dir()
    with runtimes.open_runtime(onnx9) as ort:
        assert ort.prepare(canvas).shape == (1, 3, IMGSZ, IMGSZ)
        ref = ort.infer(canvas)
    agree = metrics.output_agreement([ref], [outs], heads.output_names())
    assert min(a["cosine"] for a in agree if a["output"].startswith("box")) > 0.9
    with pytest.raises(runtimes.RuntimeFailure, match="no model file"):
        runtimes.open_runtime(tmp_path / "none.rknn")
    (tmp_path / "orphan.rknn").write_bytes(b"x")
    with pytest.raises(runtimes.RuntimeFailure, match="orphan.rknn.json is missing"):
        runtimes.open_runtime(tmp_path / "orphan.rknn", "simulator")
    with pytest.raises(runtimes.RuntimeFailure, match="runs on the board"):
        runtimes.open_runtime(rknn, "rknnlite")
    with pytest.raises(runtimes.RuntimeFailure, match="unknown backend 'gpu'"):
        runtimes.open_runtime(rknn, "gpu")


def test_a_broken_graph_rule_is_skipped_as_the_toolkit_advises(untrained_model, tmp_path):
    """The stock head (DFL inside) breaks the toolkit's conv/split fusion rule; the toolkit names the rule in
    its log, and ``simulate`` builds once more with it disabled (recorded), unless told not to."""
    from helpers.toolkit.logs import advised_disable_rules

    stock = export.export_onnx(heads.stock_for_export(untrained_model), tmp_path / "stock.onnx", 96)
    fp16 = config.BuildConfig()
    with pytest.raises(ToolkitError, match="build"):
        jobs.simulate(stock, fp16, None, workdir=tmp_path / "strict", follow_advice=False)
    assert advised_disable_rules(tmp_path / "strict" / "fp16" / "toolkit.log") == ["seperate_conv_rs_split"]
    res = jobs.simulate(stock, fp16, None, rknn_out=tmp_path / "stock.rknn", workdir=tmp_path / "advised")
    assert res["disable_rules"] == ["seperate_conv_rs_split"] and (tmp_path / "stock.rknn").is_file()
    assert (tmp_path / "advised" / "fp16" / "toolkit.first_attempt.log").is_file()
    assert jobs.load_build_record(tmp_path / "stock.rknn")["config"].disable_rules == ("seperate_conv_rs_split",)
    assert fp16.config_kwargs().get("disable_rules") is None


def test_builds_side_by_side_give_what_one_at_a_time_gives(onnx9, calib, inputs, tmp_path):
    """Two builds at once (each in its own child process and work folder) give the outputs and .rknn sizes the
    same builds give one after the other: running them side by side changes no figure, only the wall time."""
    cfgs = [config.BuildConfig(), config.BuildConfig(quantize=True)]

    def build(cfg, where):
        return jobs.simulate(onnx9, cfg, inputs, dataset=calib.txt if cfg.quantize else None,
                             rknn_out=where / f"{cfg.name}.rknn")

    apart = [build(c, tmp_path / "apart") for c in cfgs]
    together = jobs.side_by_side(lambda c: build(c, tmp_path / "together"), cfgs, workers=2)
    for c, a, b in zip(cfgs, apart, together):
        assert a["rknn_bytes"] == b["rknn_bytes"], c.name
        for img_a, img_b in zip(a["outputs"], b["outputs"], strict=True):
            assert all(np.array_equal(x, y) for x, y in zip(img_a, img_b, strict=True)), c.name
        assert (tmp_path / "together" / "work" / c.name / "toolkit.log").is_file()


def test_side_by_side_keeps_order_raises_and_overlaps(monkeypatch):
    import threading
    import time

    running, most = [], [0]
    lock = threading.Lock()

    def slow(x):
        with lock:
            running.append(x)
            most[0] = max(most[0], len(running))
        time.sleep(0.2)
        with lock:
            running.remove(x)
        if x == "bad":
            raise ValueError(x)
        return x * 2

    assert jobs.side_by_side(slow, [3, 1, 2], workers=2) == [6, 2, 4] and most[0] == 2
    most[0] = 0
    assert jobs.side_by_side(slow, [3, 1, 2], workers=1) == [6, 2, 4] and most[0] == 1
    with pytest.raises(ValueError, match="bad"):
        jobs.side_by_side(slow, [1, "bad", 2], workers=2)
    monkeypatch.setenv("WORKBOOK_BUILD_WORKERS", "3")
    assert jobs.build_workers() == 3
    monkeypatch.delenv("WORKBOOK_BUILD_WORKERS")
    assert 1 <= jobs.build_workers() <= min(os.cpu_count() or 1, jobs.MAX_SIDE_BY_SIDE)


def test_two_layer_analyses_with_the_same_settings_run_side_by_side(onnx9, calib, tmp_path):
    """06 analyses the ReLU and SiLU models at once: the same settings, each its own folder and log, and each gives
    the table it gives alone."""
    from helpers.experiments import comparisons

    cfg = config.BuildConfig(quantize=True)
    probe = calib.files[0]
    together = comparisons.layer_analyses({"relu_npu9": onnx9, "silu_npu9": onnx9}, ["relu", "silu"], cfg, probe,
                                          calib.txt, tmp_path)
    alone = jobs.accuracy_analysis(onnx9, cfg, probe, tmp_path / "alone", dataset=calib.txt)
    assert list(together) == ["relu", "silu"]
    for v, a in together.items():
        assert [r["layer"] for r in a["rows"]] == [r["layer"] for r in alone["rows"]], v
        assert [r["entire_cos"] for r in a["rows"]] == [r["entire_cos"] for r in alone["rows"]], v
        assert (tmp_path / f"analysis_{v}_{cfg.name}.log").is_file()
