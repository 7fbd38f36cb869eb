"""640 px end to end with a tiny (untrained) model: export, FP16 and INT8 on the simulator, post-process
back to the original frame, and the deploy bundle's runner — the same code as at 320 px, at the size most
users deploy."""
import pytest

from helpers.deploy import bundles
from helpers.model import export, heads, metrics
from helpers.board import runner
from helpers.board.postprocess import postprocess
from helpers.board.preprocess import letterbox, load_image, to_nchw_float, to_nhwc_uint8
from helpers.board.runtimes import open_runtime
from helpers.board.runtimes.onnx import OnnxRuntime
from helpers.toolkit import calibration, config, jobs

SIZE = 640


@pytest.fixture(scope="module")
def model640(untrained_model, tiny_dataset, tmp_path_factory):
    d = tmp_path_factory.mktemp("m640")
    onnx = export.export_onnx(heads.patch_for_npu(untrained_model, fuse=True), d / "npu9_640.onnx", SIZE)
    cal = calibration.write_calibration_set(tiny_dataset, d / "cal", count=2, imgsz=SIZE)
    return {"dir": d, "onnx": onnx, "cal": cal}


def test_640_px_through_the_toolkit_and_the_runner(model640, tiny_dataset, tmp_path):
    onnx, cal = model640["onnx"], model640["cal"]
    assert export.graph_io(__import__("onnx").load(str(onnx)))["inputs"][0]["shape"] == [1, 3, SIZE, SIZE]
    frame = load_image(tiny_dataset.splits["val"][0])
    canvas, lb = letterbox(frame, SIZE)
    ref = OnnxRuntime(onnx).run([to_nchw_float(canvas)])
    assert [o.shape[2] for o in ref[::3]] == [80, 40, 20]
    names = heads.output_names()
    fp16 = jobs.simulate(onnx, config.BuildConfig(), to_nhwc_uint8(canvas), workdir=tmp_path / "fp16")
    assert min(a["cosine"] for a in metrics.output_agreement([ref], fp16["outputs"], names)) > 0.999
    rknn = tmp_path / "m640.rknn"
    int8 = jobs.simulate(onnx, config.BuildConfig(quantize=True), to_nhwc_uint8(canvas), dataset=cal.txt,
                         rknn_out=rknn)
    agree = metrics.output_agreement([ref], int8["outputs"], names)
    assert min(a["cosine"] for a in agree if a["output"].startswith("box")) > 0.9
    det = postprocess(int8["outputs"][0], (SIZE, SIZE), 0.1, 0.45, letterbox=lb)
    h, w = frame.shape[:2]
    assert len(det) and det.boxes[:, [0, 2]].max() <= w and det.boxes[:, [1, 3]].max() <= h  # original pixels
    # the bundle at 640: its runner (a separate program) gives the notebook's detections
    bundle = bundles.build_bundle(tmp_path / "bundle", rknn, onnx, cal.txt, tiny_dataset.names, SIZE, conf=0.1,
                                 output_names=names)
    samples = bundles.copy_inputs(tiny_dataset.splits["val"][:1], bundle / "samples")
    with open_runtime(bundle / "model.rknn", "simulator", workdir=tmp_path / "sim") as sim:
        own = bundles.records_of([(n, runner.detect(sim, f, SIZE, 0.1, 0.45)) for n, f in runner.iter_frames(samples)],
                                tiny_dataset.names)
    ran = bundles.run_here(bundle, samples, tmp_path / "out", "--backend", "simulator")
    assert bundles.detections_equal(own, ran) and sum(len(f["detections"]) for f in ran["frames"]) > 0
