"""Papermill runs of the notebooks, in pipeline order, in one run folder, with small parameters.

Each test executes one notebook (kernel python3) and asserts on the metrics.json it recorded:
values, not just "it ran". Later notebooks use the artifacts of the earlier ones, as users run them.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.runfolder import artifacts
from helpers.model import checkpoints, references, train
from helpers.deploy import bundles, device, on_board
from helpers import emuboard, stages, workbook
from helpers.experiments import selection
from tests.support.chain import execute, run_cells
from helpers.board.targets import SOCS

# one lane of `pytest -n 2 --dist loadfile` (scripts/test.sh): this file's tests share a run folder, in order
pytestmark = pytest.mark.notebooks

# The chain runs 02 -> 09 on the workbook's own trained checkpoints (data/checkpoints/, helpers/checkpoints.py), as a
# user who brings a trained model does: 01 brings them (TRAINED_WEIGHTS), on the embedded dataset at the main job's
# defaults, whose val images they never trained on (test_01_brings_the_shipped_models proves it by image hashes).
# Models that detect let the chain assert what the workbook claims at the main job's tolerances: the runner's own
# confidence threshold, INT8 within the evaluation's resolution of float, every stride firing. Training itself is
# tested short in its own run folder (test_01_trains_short).
SHIPPED = {
    "TRAINED_WEIGHTS": ",".join(str(checkpoints.SHIPPED / f"{n}.pt") for n in ("yolov8n-relu", "yolov8n-silu")),
    "PARITY_IMAGES": 10,
    # 04-06: the main job's 60 val images (what its resolution is quoted on); a smaller calibration set
    "EVAL_IMAGES": 60, "CALIB_COUNT": 32, "HYBRID_LAYERS": 2, "CUSTOM_OP_IMAGES": 2, "VIEW_IMAGES": 1,
    # 05: no mmse (minutes per build; opt-in in the main job too), a two-point calibration curve, fewer resamples
    "RUN_MMSE": False, "CALIB_SIZES": [8, 32], "BOOTSTRAP": 50, "TARGET_IMAGES": 4,
    # 07: a few sample images, a smaller large frame
    "SAMPLE_IMAGES": 4, "CORES": 2, "FRAME_OBJECT_IMAGES": 6,
    # a 5 frames/s stream: source-limited even on a slow, busy CI machine (a 15 frames/s one was outrun there)
    "STREAM_FPS": 5,
}
DEFAULTS = {**checkpoints.defaults("01"), **checkpoints.defaults("06")}  # the main job's values where not set above
CONF = DEFAULTS["CONF"]  # the runner's own threshold (0.25), not a lower one for a weak model
IMGSZ = DEFAULTS["IMGSZ"]
# Training, short and honest: both models side by side for a few epochs on a small set, the transplant, the
# default_act trap, the stride check's box init, the curves, a loss that falls. No accuracy floor: that is the
# shipped models' business (their manifests) and the main job's.
SHORT = {"SYNTH_TRAIN": 32, "SYNTH_VAL": 8, "EPOCHS": 4, "CLOSE_MOSAIC": 1, "TRANSPLANT_EPOCHS": 2, "PARITY_IMAGES": 2,
         "STRIDE_CHECK_CONF": 0.0}
ATTENTION_RULE = "fuse_exmatmul_add_mul_exsoftmax13_exmatmul_to_sdpa"  # breaks YOLO11's C2PSA on toolkit 2.5.0


# a test that uses an emulated board waits for the build the session started in the background (conftest.py)
NEEDS_BOARD = pytest.mark.usefixtures("emulated_boards")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A fresh run folder; CHAIN_RUN_DIR reuses an existing one (re-run part of the chain: pytest -k 'test_07 or ...')."""
    return Path(os.environ["CHAIN_RUN_DIR"]) if os.environ.get("CHAIN_RUN_DIR") else tmp_path_factory.mktemp("chain_run")


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    return tmp_path_factory.mktemp("short_training_run")


def _execute(number: str, run_dir: Path, **extra):
    return execute(number, run_dir, {**SHIPPED, **extra})


def _as_stored(record: dict) -> dict:
    """``record`` as a stage's metrics.json holds it."""
    return json.loads(json.dumps(artifacts.jsonable(record)))


def _loss_falls(rows: list) -> bool:
    return train.train_loss(rows[-1]) < train.train_loss(rows[0])


def test_01_trains_short(short_run):
    """01 trains both models side by side, as the main job does, for a few epochs on a small set."""
    execute("01", short_run, SHORT)
    m = artifacts.read_metrics(short_run, "01_train")
    relu, silu = m["variants"]["relu"], m["variants"]["silu"]
    assert relu["activation_census"] == {"SiLU": 0, "ReLU": 57} and silu["activation_census"] == {"SiLU": 57, "ReLU": 0}
    assert relu["epochs"] == silu["epochs"] == SHORT["EPOCHS"] and relu["seconds_per_epoch"] > 0
    assert 0 <= relu["mAP50_95"] <= relu["mAP50"] <= 1  # measured, not judged: 4 epochs
    assert Path(relu["weights"]).is_file() and Path(silu["weights"]).is_file()
    for v in (relu, silu):  # training happened: the loss falls from the first epoch to the last
        rows = train.read_results_csv(Path(v["ultralytics_run"]) / "results.csv")
        assert len(rows) == SHORT["EPOCHS"] and _loss_falls(rows), [train.train_loss(r) for r in rows]
    assert relu["initial_box_px"] == {"8": 120.0, "16": 240.0, "32": 240.0}  # FIT_BOXES: stride 32 inside the image
    assert set(m["stride_usage"]) == {"relu", "silu"} and all(set(u) == {"s8", "s16", "s32"}
                                                               for u in m["stride_usage"].values())
    if relu["device"] == "cpu" and not relu["reused"]:  # ReLU and SiLU train side by side, a share of the cores each
        cores = len(os.sched_getaffinity(0))
        pair = cores >= 2
        assert relu["beside"] == silu["beside"] == (["relu", "silu"] if pair else []), (relu["beside"], silu["beside"])
        share = [cores // 2] if pair else [cores]  # alone: every core (ultralytics would leave torch one short)
        assert relu["torch_threads"] == silu["torch_threads"] == share, (relu["torch_threads"], silu["torch_threads"])
    assert m["dataset"]["val"]["images"] == SHORT["SYNTH_VAL"] and m["imgsz"] == IMGSZ
    assert (short_run / "01_train" / "training_curves.png").is_file()
    # the transplant: every tensor of the SiLU twin fits the ReLU model; the activations stay ReLU
    t = m["transplant"]
    assert t["transplant"]["share"] == 1.0 and t["transplant"]["tensors_matched"] == t["transplant"]["tensors_total"]
    assert t["transplant"]["loaded"] == t["transplant"]["tensors_total"]  # into the model ultralytics trained
    assert t["census"] == {"SiLU": 0, "ReLU": 57} and t["epochs"]["transplanted"] == SHORT["TRANSPLANT_EPOCHS"]
    assert len(t["loss_first_epochs"]["transplanted"]) == SHORT["TRANSPLANT_EPOCHS"]
    assert t["final"]["scratch"]["mAP50"] == round(relu["mAP50"], 4)
    assert m["headline"]["transplant_epochs_to_scratch_final"] == t["epochs_to_reach_scratch_final_mAP50"]
    assert (short_run / "01_train" / "transplant_curves.png").is_file()
    # the taught failure: a global Conv.default_act builds ReLU once; rebuilt from its yaml elsewhere it is SiLU
    trap = m["default_act_trap"]
    hacked, keyed = trap["Conv.default_act = nn.ReLU()"], trap["activation: nn.ReLU() in the yaml"]
    assert hacked["built_here"] == {"SiLU": 0, "ReLU": 57} and hacked["rebuilt_fresh_process"] == \
        {"SiLU": 57, "ReLU": 0}
    assert keyed["built_here"] == keyed["rebuilt_fresh_process"] == {"SiLU": 0, "ReLU": 57}
    assert relu["log_file"].endswith("relu.train.log") and Path(relu["log_file"]).is_file()
    assert [c["id"] for c in m["conclusions"]] == ["relu_vs_silu_float", "transplant", "strides_fire"]
    assert json.loads(json.dumps(stages.DEFINITIONS["01_train"].conclusions(m))) == m["conclusions"]  # re-derived
    c = {x["id"]: x for x in m["conclusions"]}
    assert c["relu_vs_silu_float"]["value"] == round(round(silu["mAP50_95"], 4) - round(relu["mAP50_95"], 4), 4)
    assert "480 px at stride 32" in c["strides_fire"]["text"]
    assert c["transplant"]["value"]["epochs_to_scratch_final"] == t["epochs_to_reach_scratch_final_mAP50"]


def test_01_rerun_reuses_the_trained_models(short_run):
    before = artifacts.read_metrics(short_run, "01_train")["variants"]["relu"]
    execute("01", short_run, SHORT)
    after = artifacts.read_metrics(short_run, "01_train")["variants"]["relu"]
    assert after["reused"] is True and after["mAP50"] == before["mAP50"]


def test_01_brings_the_shipped_models(run_dir):
    """01 with TRAINED_WEIGHTS: the ReLU model and its SiLU twin, checked against their manifests, evaluated on val
    images they never trained on, every stride firing at the runner's threshold."""
    _execute("01", run_dir)
    m = artifacts.read_metrics(run_dir, "01_train")
    assert list(m["variants"]) == ["relu", "silu"]
    for v, name in (("relu", "yolov8n-relu"), ("silu", "yolov8n-silu")):
        rec, made = m["variants"][v], json.loads((checkpoints.SHIPPED / f"{name}.json").read_text())
        assert rec["brought"] == str(checkpoints.SHIPPED / f"{name}.pt") and rec["manifest"]["sha256"] == made["sha256"]
        assert rec["epochs"] == made["figures"]["epochs"] == DEFAULTS["EPOCHS"] and rec["train_seconds"] == 0
        # ultralytics' validation here, on the same val images, gives the figures the manifest recorded in training
        assert abs(rec["mAP50_95"] - made["figures"]["mAP50_95"]) < 0.005, (v, rec["mAP50_95"], made["figures"])
        # the images the chain evaluates on are ones the checkpoint never trained on
        val = set(references.image_hashes(Path(m["data_yaml"]).parent.glob("images/val/*")))
        assert len(val) == DEFAULTS["SYNTH_VAL"] and not val & set(made["dataset"]["train_image_sha256"])
    assert m["variants"]["relu"]["activation_census"] == {"SiLU": 0, "ReLU": 57}
    assert m["variants"]["silu"]["activation_census"] == {"SiLU": 57, "ReLU": 0}
    usage = m["stride_usage"]["relu"]  # every stride fires at the runner's threshold: stride 32 too (FIT_BOXES)
    assert min(usage.values()) > 0, usage
    assert m["dataset"]["val"]["images"] == DEFAULTS["SYNTH_VAL"] and m["imgsz"] == IMGSZ and m["transplant"] is None
    c = _concluded(m, "01_train", ["relu_vs_silu_float", "strides_fire"])
    assert c["strides_fire"]["value"] == [] and c["strides_fire"]["holds"]


def test_02_patch_heads(run_dir):
    _execute("02", run_dir)
    m = artifacts.read_metrics(run_dir, "02_patch")
    assert set(m["parity"]) == {"relu_npu9", "relu_npu6", "silu_npu9", "silu_npu6"}
    assert m["max_box_diff_px"] < 1e-2 and m["max_score_diff"] < 1e-5
    assert m["final_unmatched"] == 0 and m["final_max_box_diff_px"] < 1e-2 and m["final_max_score_diff"] < 1e-5
    assert sum(p["final_detections_ultralytics"] for p in m["parity"].values()) > 0  # compared something
    assert m["parity_ok"] is True
    shapes = [o["shape"] for o in m["outputs"]["patched, 9 outputs"]]
    g = IMGSZ
    assert shapes == [[1, 64, g // 8, g // 8], [1, 5, g // 8, g // 8], [1, 1, g // 8, g // 8],
                      [1, 64, g // 16, g // 16], [1, 5, g // 16, g // 16], [1, 1, g // 16, g // 16],
                      [1, 64, g // 32, g // 32], [1, 5, g // 32, g // 32], [1, 1, g // 32, g // 32]]
    c = _concluded(m, "02_patch", ["head_parity", "numpy_decode"])
    assert c["numpy_decode"]["value"] == m["numpy_decode_max_diff_px"] < 1e-3  # the notebook's numpy decode


def npu9_outputs(m):
    return m["models"]["relu_npu9"]["outputs"]


def test_03_export_onnx(run_dir):
    _execute("03", run_dir)
    m = artifacts.read_metrics(run_dir, "03_export")
    assert set(m["onnx"]) == {f"{v}_{h}" for v in ("relu", "silu") for h in ("npu9", "npu6", "stock")}
    assert all(Path(p).is_file() for p in m["onnx"].values())
    g = IMGSZ
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
    # the by-hand torch.onnx.export makes the helper's graph; the drawn tails, counted from the ONNX files
    assert m["export_by_hand"]["same_ops"] is True and m["export_by_hand"]["max_diff"] < 1e-5
    stock, npu9 = m["graph_tails"]["stock head"], m["graph_tails"]["patched, 9 outputs"]
    assert npu9["ops"] == {"Sigmoid": 3, "ReduceSum": 3, "Clip": 3} and npu9["nodes_after_head_convs"] == 9
    assert npu9["outputs"] == [o["name"] for o in npu9_outputs(m)]
    assert stock["ops"]["Softmax"] == 1 and stock["ops"]["Concat"] >= 4 and stock["nodes_after_head_convs"] > 20
    assert stock["outputs"] == ["boxes_xywh_and_class_probs"]
    assert (run_dir / "03_export" / "graph_tails.png").is_file()
    c = _concluded(m, "03_export", ["onnx_parity", "npu_ops"])
    assert "Softmax" in c["npu_ops"]["value"]


def _concluded(m: dict, stage: str, ids: list) -> dict:
    """The stage's conclusions: these ids, each re-derived from the recorded metrics (text and value); every
    expectation that later notebooks depend on held. Returns the conclusions by id."""
    assert [c["id"] for c in m["conclusions"]] == ids
    assert json.loads(json.dumps(stages.DEFINITIONS[stage].conclusions(m))) == m["conclusions"]
    assert m["expectations"] and all(c["ok"] for c in m["expectations"] if c["stop"]), m["expectations"]
    return {c["id"]: c for c in m["conclusions"]}


def _no_unexpected_errors(run_dir, name):
    assert workbook.unexpected_errors(run_dir / "notebooks" / name) == []


def test_04_convert_rknn(run_dir):
    nb = _execute("04", run_dir)
    _no_unexpected_errors(run_dir, "04_convert_rknn.ipynb")
    m = artifacts.read_metrics(run_dir, "04_convert")
    # the torch.save checkpoint really is refused by load_pytorch, shown as a short line, not a traceback
    refused = m["torch_save_checkpoint"]
    assert refused["refused"] and refused["step"] == "load_pytorch" and refused["toolkit_says"], refused
    assert not any(o["output_type"] == "error" for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    assert m["eval_images"] == SHIPPED["EVAL_IMAGES"]
    assert m["fp16"]["min_cosine"] > 0.999 and Path(m["fp16"]["rknn"]).is_file()
    assert Path(m["fp16"]["rknn"] + ".json").is_file()
    assert abs(m["fp16"]["mAP50_95"] - m["onnx_map"]["mAP50_95"]) <= 0.005, (m["fp16"], m["onnx_map"])  # FP16 = float
    d = m["detections"]  # at the runner's threshold, the FP16 build finds what onnxruntime finds
    assert d["ref"] > 100 and d["unmatched"] <= 0.01 * d["ref"], d
    assert m["headline"]["rgb_is_right"] is True
    assert m["channel_order"][0]["min_cosine_vs_onnxruntime"] > 0.999
    assert m["headline"]["torchscript_min_cosine"] > 0.999
    assert len(m["stock_cut"]["outputs"]) == 6 and m["stock_cut"]["min_cosine"] > 0.999
    # the FP16 target table: every RK35xx builds and simulates like the RK3588; RV1103/RV1106 are INT8 only
    rows = {r["target"]: r for r in m["targets"]}
    assert set(rows) == set(SOCS)
    for t, soc in SOCS.items():
        if soc.fp16:
            assert rows[t]["built"] and rows[t]["simulated"] and rows[t]["min_cosine"] > 0.999, rows[t]
        else:
            assert not rows[t]["built"] and "INT8 only" in rows[t]["error"]
    # the toolkit's own calls in a %%toolkit cell (a child process) give the helpers' FP16 outputs
    assert m["by_hand_min_cosine"] > 0.999 and (run_dir / "04_convert" / "by_hand_fp16.rknn").is_file()
    small, big = m["export_size"]
    assert (small["imgsz"], big["imgsz"]) == (IMGSZ, 640) and big["pixels_per_frame"] == 4 * small["pixels_per_frame"]
    c = _concluded(m, "04_convert", ["fp16_keeps", "channel_order", "targets_fp16", "larger_export"])
    assert c["larger_export"]["value"] == round(big["rknn_MB"] / small["rknn_MB"], 2)


def test_05_quantize(run_dir):
    _execute("05", run_dir, ALGORITHMS=["normal", "kl_divergence"], METHODS=["layer", "channel"])
    _no_unexpected_errors(run_dir, "05_quantize_int8.ipynb")
    m = artifacts.read_metrics(run_dir, "05_quantize")
    assert [r["config"] for r in m["sweep"]] == ["int8_normal_layer", "int8_normal_channel",
                                                "int8_kl_divergence_layer", "int8_kl_divergence_channel"]
    assert all("error" not in r for r in m["sweep"]), m["sweep"]
    assert m["calibration"]["count"] == SHIPPED["CALIB_COUNT"] and len(m["calibration"]["strata"]) >= 5
    for r in m["sweep"]:
        assert Path(r["rknn"]).is_file() and 2.5 < r["rknn_MB"] < 6
        assert min(r["cosine"].values()) >= 0.99, r["cosine"]  # every output, every stride (the main job: 0.998)
    # the by-hand INT8 build is the helper's experiment build; the levels arithmetic matches the toolkit's step
    assert m["int8_by_hand_min_cosine"] > 0.9999, m["int8_by_hand_min_cosine"]
    stock, split = m["int8_levels"]["stock head: boxes (px) + class scores"], \
        m["int8_levels"]["9-output head: stride-8 class scores"]
    assert stock["max"] > IMGSZ * 0.9 and stock["levels_for_scores"] < 1 < 100 < split["levels_for_scores"]
    assert abs(split["toolkit_step"] / split["scale"] - 1) < 0.01, split
    for t in (stock, split):
        assert t["scale"] == pytest.approx((t["max"] - t["min"]) / 255) and -128 <= t["zero_point"] <= 127
    ship = m["ship"]
    hybrid = {r["config"] for r in m["hybrid"]}
    best = m["headline"]["experiment"]
    assert best == m["experiment"] == selection.experiment_config(m["target"]).name  # the fixed cheap one
    assert hybrid == {f"{best}_hybrid{SHIPPED['HYBRID_LAYERS']}", f"{best}_autohybrid"}
    assert {r["config"] for r in m["size_options"]} == {f"{best}_pruned", f"{best}_compressed"}
    assert len(m["analysis_worst"]) == SHIPPED["HYBRID_LAYERS"]
    assert m["custom_op"]["op_max_abs_diff"] < 1e-3 and m["custom_op"]["max_sum_to_one_error"] < 1e-2
    assert (run_dir / "05_quantize" / "calibration" / "dataset.txt").is_file()
    # the INT8 target table: every SoC builds the best sweep config and its simulator runs it
    rows = {r["target"]: r for r in m["targets"]}
    assert set(rows) == set(SOCS) and all(r["built"] and r["simulated"] for r in rows.values()), rows
    # every SoC's INT8 build agrees with onnxruntime as the main job measures it: lowest output cosine 0.99 and up
    assert all(r["min_cosine"] >= 0.99 for r in rows.values()), {t: r["min_cosine"] for t, r in rows.items()}
    assert rows["rk3588"]["config"] == best
    # honest selection: chosen on the even images, reported on the odd ones; a bootstrap says what is resolvable
    h = m["honest"]
    # INT8 keeps float's accuracy within what this evaluation resolves (05's own bootstrap, 60 val images), and
    # within the stage's own "keeps" figure in mAP50
    assert ship["mAP50_95"] >= m["onnx_map"]["mAP50_95"] - h["resolution"], (ship, m["onnx_map"], h["resolution"])
    assert ship["mAP50"] >= m["onnx_map"]["mAP50"] - stages.common.INT8_KEEPS_MAP50, (ship, m["onnx_map"])
    built = [r for r in m["sweep"] + m["hybrid"] + m["size_options"] if "error" not in r]
    # cost-aware: the candidates are every build within the selection half's resolution of its best, and the one
    # shipped is among the cheapest of them (within COST_TIE of the cheapest build time) and the best of those
    top = max(r["select_mAP50_95"] for r in built)
    assert h["candidates"] == [r["config"] for r in built if r["select_mAP50_95"] >= round(top - h["selection_resolution"], 6)]
    cand = [r for r in built if r["config"] in h["candidates"]]
    cheap = [r for r in cand if r["build_s"] <= selection.COST_TIE * min(c["build_s"] for c in cand)]
    assert h["ship"] == ship["config_name"] == max(cheap, key=lambda r: (r["select_mAP50_95"], r["min_cosine"]))["config"]
    assert h["selection_resolution"] > 0 and h["selection_best"] in h["candidates"]
    assert h["selection_images"] == h["report_images"] == SHIPPED["EVAL_IMAGES"] // 2
    assert h["report_gap"] == round(h["ship_report"] - h["float_report"], 4)
    for b in (h["ship_vs_float"], h["best_vs_worst"]):
        assert b["low"] <= b["high"] and b["resamples"] == SHIPPED["BOOTSTRAP"] and b["sd"] > 0
    # the pitfalls: calibration size, wrong colour order, batch size vs core mask, score-sum float16
    assert [r["images"] for r in m["calibration_curve"]] == SHIPPED["CALIB_SIZES"]
    assert m["colour_order"]["wrong"]["config"].endswith("_rgb2bgr")
    assert m["batch"]["recorded_batch_size"] == 3 and "rknn_batch_size=3" in m["batch"]["pool_rule"]
    assert "built" in m["score_sum_float16"] and m["score_sum_float16"]["layers"]
    c = _concluded(m, "05_quantize", ["sweep_axes", "honest_ship", "rescue_tools", "calibration_size", "colour_order",
                                      "batch_core"])
    assert c["colour_order"]["value"] == m["headline"]["swapped_minus_right_colour_mAP50_95"] == round(
        m["colour_order"]["wrong"]["mAP50_95"] - m["colour_order"]["right"]["mAP50_95"], 4)
    assert c["colour_order"]["noise"] == (abs(c["colour_order"]["value"]) <= m["honest"]["resolution"])
    assert ("within noise" in c["colour_order"]["text"]) == c["colour_order"]["noise"]
    assert c["batch_core"]["value"]["pool_refuses"] is True
    assert (run_dir / "05_quantize" / "calibration_size.png").is_file()


@pytest.fixture(scope="session")
def yolo11_run(run_dir, tmp_path_factory):
    """MODEL=yolo11n through 01-03 on the chain's dataset: the run 06 compares with (COMPARE_RUN). The shipped
    YOLO11n trained as the YOLOv8n did (75 epochs, the same data and settings), so the two compare like for like."""
    other = tmp_path_factory.mktemp("yolo11_run")
    data = artifacts.read_metrics(run_dir, "01_train")["data_yaml"]
    y11 = {**SHIPPED, "MODEL": "yolo11n", "DATA_YAML": data, "TRAINED_WEIGHTS": str(checkpoints.SHIPPED / "yolo11n-relu.pt")}
    for number in ("01", "02", "03"):
        execute(number, other, y11)
    return other


def test_06_analyze(run_dir):
    # each image is matched once per model and a resample only re-ranked (metrics.ResampledMap), so the intervals
    # of the central answer cost seconds. COMPARE_RUN stays empty here: its section runs in the next test
    _execute("06", run_dir)
    _no_unexpected_errors(run_dir, "06_analyze_accuracy.ipynb")
    m = artifacts.read_metrics(run_dir, "06_analyze")
    # the toolkit's accuracy_analysis called by hand gives the helper's layer table
    ah = m["analysis_by_hand"]
    assert ah["compared"] > 50, ah
    if ah["comparable"]:  # the by-hand cell built 05's settings (algorithm, method, auto_hybrid)
        assert ah["layers"] == ah["helper_layers"] and ah["max_entire_cos_diff"] < 1e-4, ah
    rows = {(r["variant"], r["runtime"].split()[0] + r["runtime"].split()[1]): r for r in m["map_table"]}
    assert len(m["map_table"]) == 6
    f, q = rows[("relu", "onnxruntimefloat32")], rows[("relu", "RKNNINT8")]
    resolution = artifacts.read_metrics(run_dir, "05_quantize")["honest"]["resolution"]  # the same images as 05
    assert q["mAP50_95"] >= f["mAP50_95"] - resolution, (q, f, resolution)
    assert q["mAP50"] >= f["mAP50"] - stages.common.INT8_KEEPS_MAP50, (q, f)
    assert rows[("relu", "RKNNFP16")]["min_cosine"] > 0.999
    assert m["stock_head"]["built"] is False and m["stock_head"]["step"] == "build"
    p9, p6, cat = m["layouts"]
    assert cat["cls_distinct_above_0.01"] < p9["cls_distinct_above_0.01"]
    ids = [c["id"] for c in m["conclusions"]]
    assert ids == ["relu_int8_drop", "silu_collapse", "relu_smaller", "int8_loss_by_activation", "activation_answer",
                   "fusion",
                   "stock_head", "concat_layout", "six_vs_nine", "q_zero", "layer_plot", "ap_by_size",
                   "silu_hypotheses", "silu_by_toolkit"]  # model_family: only with COMPARE_RUN (next test)
    assert m["model_family"] == [] and "family_int8_mAP50_loss" not in m["headline"]
    c = {x["id"]: x for x in m["conclusions"]}
    assert json.loads(json.dumps(stages.DEFINITIONS["06_analyze"].conclusions(m))) == m["conclusions"]  # re-derived
    (check,) = m["expectations"]  # the same images as 05, so the INT8 figures are compared, and agree
    assert check["id"] == "int8_reproduces_05" and check["ok"] and "not compared" not in check["what"], check
    assert c["relu_int8_drop"]["value"] == round(f["mAP50"] - q["mAP50"], 4)
    # the central question: each row is the models' recorded figures on the same images, worded by its interval
    act = {r["setting"]: r for r in m["activation_answer"]}
    assert list(act)[0] == "float (onnxruntime)" and list(act)[1].startswith(f"INT8, 05's settings ({m['int8_config']}")
    for setting, kind in zip(act, ("onnxruntime float32", "RKNN INT8")):
        for v in ("relu", "silu"):
            assert act[setting][f"{v}_mAP50_95"] == rows[(v, kind.split()[0] + kind.split()[1])]["mAP50_95"]
    pinned = {b["model"]: b for b in m["toolkit_builds"] if b["toolkit"] == "pinned"}
    defaults = [k for k in act if k.startswith("INT8, the toolkit's defaults")]
    for k in defaults:  # absent only when 05 shipped exactly the defaults
        assert (act[k]["relu_mAP50_95"], act[k]["silu_mAP50_95"]) == (pinned["relu"]["mAP50_95"], pinned["silu"]["mAP50_95"])
    assert defaults or m["int8_config"] == pinned["relu"]["path"].rsplit(", ", 1)[-1]
    for setting, r in act.items():
        said = c["activation_answer"]["value"][setting]
        assert said["silu_minus_relu"] == round(r["silu_mAP50_95"] - r["relu_mAP50_95"], 4)
        assert (said["higher"] is None) == (r["low"] <= 0 <= r["high"]), (setting, r, said)
        assert r["images"] == m["eval_images"] and r["low"] <= r["high"]
    assert c["silu_collapse"]["value"] == m["silu_vs_relu"]["silu"]["cls_share_at_0_5"]
    assert c["fusion"]["value"]["silu_exswish"] == 57 and c["fusion"]["value"]["relu_fused_conv"] > 50
    # the graph the NPU runs (the build's layer table): SiLU fused into its convolutions, like ReLU
    assert c["fusion"]["value"]["built_silu"]["ConvExSwish"] > 50 and c["fusion"]["value"]["built_relu"]["ConvRelu"] > 40
    # the SiLU question put to three toolkit releases, each build recorded as made by its release
    tv = {(r["model"], r["toolkit"]): r for r in m["toolkit_versions"]}
    assert set(tv) == {(v, t) for v in ("relu", "silu") for t in ("2.2.0", "2.3.2", "2.5.0")}, set(tv)
    for b in m["toolkit_builds"]:
        assert b["built"] and b["built_by"] in b["path"] and (b["toolkit"] == "pinned") == (b["built_by"] == "2.5.0"), b
        assert json.load(open(b["rknn"] + ".json"))["toolkit"] == b["built_by"]
    assert set(c["silu_by_toolkit"]["value"]) == {"2.2.0", "2.3.2", "2.5.0"}
    assert all(v["share_at_0.5"] == tv[("silu", k)]["share_at_0_5"] for k, v in c["silu_by_toolkit"]["value"].items())
    assert c["silu_hypotheses"]["value"]["toolkits_tested"] == ["2.2.0", "2.3.2", "2.5.0"]
    assert c["stock_head"]["value"] is False
    # the stock head with the graph rule the toolkit names disabled: it builds; its class rows share one scale
    # with pixel coordinates
    adv = m["stock_head_advised"]
    assert adv["disable_rules"] == ["seperate_conv_rs_split"] and adv["box_rows_cosine"] > 0.99, adv
    assert adv["cls_distinct_above_0.01"] < p9["cls_distinct_above_0.01"]
    assert c["stock_head"]["advised"]["mAP50"] == adv["mAP50"] == m["headline"]["stock_head_advised_mAP50"]
    f_size, q_size = m["ap_by_size"]
    assert c["ap_by_size"]["value"]["large"] == round(q_size["AP_large"] - f_size["AP_large"], 4)
    for a, x in c["ap_by_size"]["value"].items():  # a loss is named only beyond its own interval
        if x is not None:
            assert (a in c["ap_by_size"]["lost"]) == (x < 0 and not q_size[f"AP_{a}_low"] <= 0 <= q_size[f"AP_{a}_high"])
    assert c["silu_hypotheses"]["value"]["share_at_0.5"] == c["silu_collapse"]["value"]
    for v in ("relu", "silu"):
        assert m["analysis"][v]["rows"] and Path(m["analysis"][v]["report"]).is_file()
    for png in ("layer_cosine.png", "score_histograms.png", "float_vs_int8.png"):
        assert (run_dir / "06_analyze" / png).is_file()


def test_06_compares_yolo11_with_yolov8(run_dir, yolo11_run):
    """06's YOLO11 section with COMPARE_RUN pointing to the YOLO11n run: 06's parameters, setup and section-6
    cells run as its kernel runs them, on the chain's run folder after 06 (a second 06 in one test would take over
    four minutes), and 06's record with the section's rows concluded as 06's closing cell does.
    YOLO11's attention block needs a toolkit graph rule disabled to build."""
    other = yolo11_run
    m01 = artifacts.read_metrics(other, "01_train")
    assert m01["model"] == "yolo11n" and m01["variants"]["relu"]["activation_census"]["SiLU"] == 0
    assert artifacts.read_metrics(other, "02_patch")["parity_ok"] is True
    # YOLO11's attention keeps one Softmax in the patched graph: named, a warning, not a stop
    checks = {c["id"]: c for c in artifacts.read_metrics(other, "03_export")["expectations"]}
    assert checks["patched_ops"]["ok"] is False and checks["patched_ops"]["stop"] is False, checks
    ns = run_cells("06", {**SHIPPED, "RUN_DIR": str(run_dir), "COMPARE_RUN": str(other), "made": None},
                   "S = stages.open_stage(", "if COMPARE_RUN:")  # made: section 2's builds live in 06's kernel only
    recorded = artifacts.read_metrics(run_dir, "06_analyze")
    m = _as_stored({**recorded, "model_family": ns["family_rows"]})
    m.update(_as_stored(stages.conclude("06_analyze", m)))
    assert m["conclusions"][:-1] == recorded["conclusions"]  # the section adds its finding, last, and changes no other
    rows = {r["model"]: r for r in m["model_family"]}
    assert set(rows) == {"yolov8n", "yolo11n"}
    assert rows["yolo11n"]["depthwise_convs"] > 0 and rows["yolov8n"]["depthwise_convs"] == 0
    assert rows["yolo11n"]["parameters"] < rows["yolov8n"]["parameters"]
    for r in rows.values():
        assert len(r["int8_cosine"]) == 9 and r["min_box_cosine"] > 0.99 and 2 < r["int8_rknn_MB"] < 6, r
        assert r["int8_delta_mAP50"] == round(r["int8_mAP50"] - r["float_mAP50"], 4)
        o = r["other_method"]  # the other granularity, built and measured too
        assert o["method"] in ("layer", "channel") and o["method"] not in r["config"] and 0 < o["min_cls_cosine"] <= 1, o
    assert "disable_rules" not in rows["yolov8n"] and rows["yolo11n"]["disable_rules"] == [ATTENTION_RULE]
    # the same builds by rknn-toolkit2 2.3.2, what ultralytics' exporter asks for (it says 2.5.0 fails YOLO11)
    for r in rows.values():
        assert r["other_toolkit"]["toolkit"] == "2.3.2" and r["other_toolkit"]["built"], r["other_toolkit"]
    assert rows["yolov8n"]["other_toolkit"]["disable_rules"] == [] == rows["yolo11n"]["other_toolkit"]["disable_rules"]
    assert m["conclusions"][-1]["value"]["other_toolkit"] == {k: r["other_toolkit"]["disable_rules"] for k, r in rows.items()}
    found = m["conclusions"][-1]
    assert found["id"] == "model_family"
    assert rows["yolov8n"]["epochs"] == rows["yolo11n"]["epochs"] == DEFAULTS["EPOCHS"]  # trained alike
    assert "different epochs" not in found["text"]
    assert json.loads(json.dumps(stages.DEFINITIONS["06_analyze"].conclusions(m))) == m["conclusions"]
    assert found["value"]["int8_loss"] == {k: round(r["float_mAP50"] - r["int8_mAP50"], 4) for k, r in rows.items()}
    assert m["headline"]["family_int8_mAP50_loss"] == found["value"]["int8_loss"]


@NEEDS_BOARD
def test_07_deploy_board(run_dir, sshd, tmp_path):
    _execute("07", run_dir)
    _no_unexpected_errors(run_dir, "07_deploy_board.ipynb")
    m = artifacts.read_metrics(run_dir, "07_deploy")
    bundle = Path(m["bundle"])
    for f in ("run.py", "config.json", "labels.txt", "README.txt", "model.rknn", "model.rknn.json", "model.onnx",
              "calibration/dataset.txt", "rkdeploy/runner.py", "rkdeploy/runtimes/rknnlite.py", "rkdeploy/pool.py",
              "rkdeploy/tiling.py", "rkdeploy/postprocess.py", "rkdeploy/preprocess.py"):
        assert (bundle / f).is_file(), f
    # the bundle: the board folder verbatim, the model files, the runner and its data; nothing else
    board_dir = Path(bundles.BOARD_DIR)
    shipped = bundle / bundles.BUNDLE_PACKAGE
    board_files = sorted(p.relative_to(board_dir) for p in board_dir.rglob("*.py"))  # runtimes/ and decode/ too
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
        == board_files
    assert all((shipped / f).read_bytes() == (board_dir / f).read_bytes() for f in board_files)
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        ["run.py", "config.json", "labels.txt", "README.txt", "model.rknn", "model.rknn.json", "model.onnx",
         "calibration", "samples", "reference", bundles.BUNDLE_PACKAGE])
    assert m["samples"] == SHIPPED["SAMPLE_IMAGES"]
    # section 5 without a board: the emulated one (bullseye/pip), over SSH: versions, push, run, pull, compare
    b = m["board"]
    assert b["connected"] and b["emulated"] and b["kind"] == "ssh" and b["board"] == "bullseye/pip", b
    assert b["versions"]["soc"] == "rk3588" and b["versions"]["librknnrt"] is None
    assert "/usr/lib/librknnrt.so is missing" in b["npu_check"] and b["stack"]["numpy"].startswith("2.")
    assert b["equals_pc"] and b["comparison"]["frames"] == b["frames"] == 2 and b["comparison"]["pairs"] > 0, b
    assert b["letterbox"]["max_grey_levels"] <= 1 and b["end_to_end"]["pairs"] > 0, b  # pip OpenCV's HAL: measured
    assert "frames_per_second" not in b and b["emulated_frames_per_second"] > 0  # never read as a board figure
    assert m["runner_equals_notebook"] is True and m["pool_equals_single"] is True
    assert set(m["tiling"]) == {"whole frame", "tiles", "cascade"} and m["tiling"]["tiles"]["objects"] > 0
    assert all(m["timings"]["1"][k]["median"] > 0 for k in ("preprocess_ms", "inference_ms", "postprocess_ms",
                                                            "end_to_end_ms"))
    assert m["tile_merge"]["tiles"] > 1 and m["tile_merge"]["merged"] <= m["tile_merge"]["tile_boxes"]
    # the mechanisms by hand: the ordered pool hands back every frame in order, as one context finds them; the grid
    # by hand is the helper's (its merge differs from one NMS by the cut rules: shown, not asserted)
    pb, tb = m["pool_by_hand"], m["tiles_by_hand"]
    assert pb["same_as_one_context"] and sorted(pb["finished"]) == list(range(SHIPPED["SAMPLE_IMAGES"])), pb
    assert (tb["tiles"], tb["tile_boxes"]) == (m["tile_merge"]["tiles"], m["tile_merge"]["tile_boxes"]), tb
    assert (run_dir / "07_deploy" / "tile_merge.png").is_file()
    c = _concluded(m, "07_deploy", ["runner_equals_notebook", "contexts", "tiling", "live_source", "emulated_board"])
    assert c["emulated_board"]["holds"] and "not board times" in c["emulated_board"]["text"]
    # section 4: the clip served by ffmpeg at 15 frames/s caps the pool; the same clip as a file does not
    live = m["live"]
    assert live["fps"] == SHIPPED["STREAM_FPS"] and live["cores"] == SHIPPED["CORES"]
    st, fi = live["stream"], live["file"]
    assert st["source"]["kind"] == "stream" and st["source"]["frames"] == "newest" and st["source"]["stopped"] == "end"
    assert st["rate"]["limited_by"] == "source" and fi["rate"]["limited_by"] == "pipeline", (st["rate"], fi["rate"])
    assert 0.8 * live["fps"] < st["source"]["delivered_fps"] < 1.3 * live["fps"]
    # the file runs faster than the source-capped stream; by how much is this CPU's speed (a benchmark's business:
    # 1.48x on a slow day), so no ratio here
    assert fi["rate"]["processed_fps"] > st["rate"]["processed_fps"] and fi["source"]["dropped"] == 0
    assert st["video_frames"] == st["frames"] > 0 and (run_dir / "07_deploy" / "runs" / "live" / "stream" / "stream.mp4").is_file()
    assert live["pairs"]["paired"] == st["frames"] and live["pairs"]["equal"] == live["pairs"]["paired"]
    assert c["live_source"]["holds"] and st["rate"]["sentence"] in c["live_source"]["text"]
    assert c["tiling"]["value"] == {"whole": m["tiling"]["whole frame"]["recall"], "tiles": m["tiling"]["tiles"]["recall"]}
    # the runner imports no torch or ultralytics
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import rkdeploy.runner, rkdeploy.runtimes; "
            "bad = [k for k in sys.modules if k.split('.')[0] in ('torch', 'ultralytics')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(bundle)], check=True, timeout=120)
    # the bundle on an SSH "board" (this machine's sshd), run there with the simulator: same detections
    # (the notebook's own board call, with the simulator instead of RKNNLite; a stale result folder is replaced)
    (tmp_path / "ssh_out").mkdir()
    board = on_board.run_on_board(bundle, tmp_path / "ssh_out", ssh=f"root@127.0.0.1:{sshd['port']}",
                                key_file=sshd["key"], remote_dir=f"{sshd['remote']}/bundle", python=sys.executable,
                                backend="simulator", cores=1, trust_new_host=True)
    assert board["connected"] and board["kind"] == "ssh" and board["frames_per_second"] > 0
    remote = json.loads((tmp_path / "ssh_out" / "detections.json").read_text())
    local = json.loads((run_dir / "07_deploy" / "runs" / "simulator_1core" / "detections.json").read_text())
    assert sum(len(f["detections"]) for f in local["frames"]) > 0
    assert bundles.detections_equal(local, remote), (local["frames"], remote["frames"])


# 08 on the shipped keypoint model (POSE_TRAINED_WEIGHTS), the stick figures at the main job's defaults; fewer
# images where only time is saved
POSE_SMALL = {"POSE_TRAINED_WEIGHTS": str(checkpoints.SHIPPED / "yolov8n-pose-relu.pt"), "PARITY_IMAGES": 6,
              "EVAL_IMAGES": 30, "CALIB_COUNT": 16, "LATENCY_RUNS": 5, "VIEW_IMAGES": 1, "VIDEO_FRAMES": 6,
              "ARM_FP16_IMAGES": 3}
POSE_DEFAULTS = checkpoints.defaults("08")
POSE_FP16_MARGIN = stages.s08_pose.POSE_KEEPS  # ncnn fp16 pose mAP50-95 may trail fp32 by at most this


@NEEDS_BOARD
def test_08_pose(run_dir):
    _execute("08", run_dir, **POSE_SMALL)
    _no_unexpected_errors(run_dir, "08_pose_ncnn.ipynb")
    m = artifacts.read_metrics(run_dir, "08_pose")
    assert m["kpt_shape"] == [9, 3] and m["dataset"]["val"]["images"] == POSE_DEFAULTS["SYNTH_VAL"]
    (name, brought), = m["models"].items()
    made = json.loads((checkpoints.SHIPPED / "yolov8n-pose-relu.json").read_text())
    assert name == "brought" and brought["activation_census"] == {"SiLU": 0, "ReLU": 63}
    assert brought["brought"] == POSE_SMALL["POSE_TRAINED_WEIGHTS"] and brought["manifest"]["sha256"] == made["sha256"]
    assert brought["epochs"] == made["figures"]["epochs"] == POSE_DEFAULTS["EPOCHS"] and m["transplant"] is None
    # ultralytics' validation here gives the pose mAP its manifest recorded, on val images it never trained on
    assert abs(brought["pose_mAP50_95"] - made["figures"]["pose_mAP50_95"]) < 0.005, (brought, made["figures"])
    val = set(references.image_hashes(Path(m["data_yaml"]).parent.glob("images/val/*")))
    assert len(val) == POSE_DEFAULTS["SYNTH_VAL"] and not val & set(made["dataset"]["train_image_sha256"])
    # the proof against ultralytics, both heads
    assert m["parity_ok"] is True
    for p in m["parity"].values():
        assert p["final_ultralytics"] > 0 and p["final_unmatched"] == 0, p
        assert p["dense_max_kpt_diff_px"] < 1e-2 and p["final_max_kpt_vis_diff"] < 1e-4, p
    # ncnn: every ReLU fused, the SiLU twin's Swish layers kept; fp32 and fp16 agree with onnxruntime
    relu, silu = m["ncnn"]["relu"], m["ncnn"]["silu"]
    assert relu["fused"] == {"ReLU": 63} and "ReLU" not in relu["census_ncnn"] and relu["unmapped_params"] == 0
    assert silu["census_ncnn"]["Swish"] == 63 and silu["fused"] == {}
    runs = {(r["runtime"], r["threads"]): r for r in m["ncnn_runs"]}
    assert set(runs) == {(k, t) for k in ("ncnn fp32", "ncnn fp16") for t in (1, 2)}
    assert runs[("ncnn fp32", 1)]["min_cosine"] > 0.999 and runs[("ncnn fp16", 1)]["min_cosine"] > 0.99
    assert runs[("ncnn fp16", 1)]["pose_mAP50_95"] >= runs[("ncnn fp32", 1)]["pose_mAP50_95"] - POSE_FP16_MARGIN
    assert [r["threads"] for r in m["latency"]] == [1, 2] and all(r["silu_over_relu"] > 0 for r in m["latency"])
    # RKNN on the simulator
    builds = {b["build"]: b for b in m["rknn"]}
    assert set(builds) == {"FP16", "INT8", "INT8, keypoint branch float16"}
    f, q = builds["FP16"], builds["INT8"]
    assert min(f["min_box_cosine"], f["min_cls_cosine"], f["min_kpt_cosine"]) > 0.999, f
    assert q["pose_mAP50_95"] >= f["pose_mAP50_95"] - POSE_FP16_MARGIN, (q, f)  # INT8 keeps it as fp16 must
    assert builds["INT8, keypoint branch float16"]["float_layers"] > 0 and 2 < q["rknn_MB"] < f["rknn_MB"]
    table = {r["runtime"]: r for r in m["runtime_table"]}
    assert set(table) == {"onnxruntime float32", "ncnn fp16", "RKNN INT8 (simulator)"}
    assert table["onnxruntime float32"]["pose_mAP50_95"] == m["scores"]["onnxruntime float32"]["pose_mAP50_95"]
    c = _concluded(m, "08_pose", ["pose_transplant", "ncnn_fusion", "ncnn_fp16", "ncnn_speed", "rknn_pose",
                                  "ncnn_fp16_arm"])
    assert [c["id"] for c in m["expectations"]] == ["pose_parity", "ncnn_matches_onnx", "ncnn_fp16_margin",
                                                    "relu_fused", "int8_pose_margin", "bundle_equals_notebook",
                                                    "arm_fp16_margin"]
    # fp16 arithmetic on the emulated Cortex-A76: it rounds activations (x86 did not), measured on the same inputs
    a = m["arm_fp16"]
    assert a["board"] == "bullseye/pip" and a["cpu"]["asimdhp"] is True and a["images"] == POSE_SMALL["ARM_FP16_IMAGES"]
    assert a["max_abs_diff"] > m["ncnn_fp16_flag_effect"] and a["max_abs_diff"] > 1e-3, a
    assert c["ncnn_fp16_arm"]["value"]["max_abs_diff"] == a["max_abs_diff"] and "says nothing about speed" in \
        c["ncnn_fp16_arm"]["text"]
    assert all(c["ok"] for c in m["expectations"]), m["expectations"]
    assert m["headline"]["ncnn_relu_fused"] == 63
    # the pose bundle: its runner, as a separate program, on a video, with ncnn and with the simulator
    for backend, d in m["deployed"].items():
        assert d["frames"] == POSE_SMALL["VIDEO_FRAMES"] and d["equals_notebook"] is True, (backend, d)
        assert d["video_MB"] > 0 and (run_dir / "08_pose" / "runs" / backend / "annotated.mp4").is_file()
    bundle = run_dir / "08_pose" / "bundle"
    assert {"model.rknn", "model.onnx", "model.ncnn.param", "model.ncnn.bin", "run.py"} <= {p.name for p in bundle.iterdir()}
    assert "brought" in c["pose_transplant"]["text"] and c["pose_transplant"]["value"] is None
    for png in ("dataset_samples.png", "runtimes.png", "annotated_frame.png"):
        assert (run_dir / "08_pose" / png).is_file()


# ---- the bundles on the emulated board (helpers.emuboard): an RK3588's software stack, everything but the NPU.
# Two suites (Debian 11 and 12) x two profiles (Debian's own numpy/OpenCV, today's pip wheels); a few frames each,
# since emulated code runs ~350x slower than native.
EMULATED = [(s, p) for s in emuboard.SUITES for p in emuboard.PROFILES]
BOARD_FRAMES = 2


def _bundles(run_dir) -> dict:
    out = {"detect": run_dir / "07_deploy" / "bundle", "pose": run_dir / "08_pose" / "bundle"}
    assert all((b / "run.py").is_file() for b in out.values()), "07 and 08 write the bundles first"
    return out


def _pc_run(bundle, backend, out):
    return bundles.run_here(bundle, bundle / "samples", out, "--backend", backend, "--max-frames", str(BOARD_FRAMES),
                             "--no-images")


IMPORTS = ("import sys, importlib, pkgutil; sys.path.insert(0, '.'); import rkdeploy; "
           "[importlib.import_module(m.name) for m in pkgutil.walk_packages(rkdeploy.__path__, 'rkdeploy.')]; "
           "bad = [k for k in sys.modules if k.split('.')[0] in ('torch', 'ultralytics', 'rknn', 'onnx', 'helpers')]; "
           "assert not bad, bad; print('imported', len([k for k in sys.modules if k.startswith('rkdeploy.')]))")


def test_09_compare_paths(run_dir):
    """The workbook's path against ultralytics' format=rknn (2.3.2 and the pinned 2.5.0), the model zoo's recipe, the
    stock head and the 6-output head, on the same images; the table's rows and conclusions re-derived from metrics.json."""
    _execute("09", run_dir)
    _no_unexpected_errors(run_dir, "09_compare_paths.ipynb")
    m = artifacts.read_metrics(run_dir, "09_compare")
    rows = {r["path"]: r for r in m["paths"]}
    fam = [(r["family"], r["layout"], r["precision"], r["toolkit"]) for r in m["paths"]]
    assert fam == [("workbook", "npu9", "INT8", "pinned"), ("workbook", "npu6", "INT8", "pinned"),
                   ("model zoo", "npu9", "INT8", "pinned"), ("stock", "decoded", "INT8", "pinned"),
                   ("ultralytics", "decoded_normalised", "INT8", "2.3.2"), ("ultralytics", "decoded", "FP16", "2.3.2"),
                   ("ultralytics", "decoded_normalised", "INT8", "pinned")], fam
    ex = {(e["toolkit"], e["quantize"]): e for e in m["ultralytics_exports"]}
    assert ex[("2.3.2", 8)]["built"] and ex[("2.3.2", 16)]["built"]
    assert not ex[("2.5.0", 8)]["built"] and "IndexError" in ex[("2.5.0", 8)]["error"]  # as its users meet it
    ul5 = m["paths"][6]
    assert ul5["built"] and ul5["built_by"] == "2.5.0" and ul5["disable_rules"] == ["seperate_conv_rs_split"], ul5
    assert m["paths"][4]["built_by"] == "2.3.2" and m["paths"][4]["disable_rules"] == []
    zoo = m["paths"][2]
    assert "20 images" in zoo["path"] and len(open(Path(run_dir) / "09_compare" / "model_zoo_calibration" /
                                                   "dataset.txt").read().split()) == 20
    for r in m["paths"]:
        assert r["built"], r
        assert abs(r["delta_mAP50_95"] - (r["mAP50_95"] - r["float_mAP50_95"])) < 1e-3, r
        assert r["delta_low"] <= r["delta_mAP50_95"] <= r["delta_high"] and r["rknn_MB"] > 1 and r["build_s"] > 0
        assert r["postprocess_ms"] > 0 and r["sim_ms_per_frame"] > 0 and r["cls_distinct_above_0_01"] >= 1
        if r is not m["paths"][0] and r["precision"] == "INT8":
            assert r["vs_low"] <= r["vs_reference"] <= r["vs_high"], r
    stock, wb = m["paths"][3], m["paths"][0]
    assert stock["cls_distinct_above_0_01"] < wb["cls_distinct_above_0_01"]  # its scores share a scale with pixels
    # the ordering, with its intervals (paired bootstrap, the same 60 images): no INT8 path beats the workbook's by
    # more than the images resolve, and the stock head (DFL inside, scores sharing one scale with pixels) trails it
    int8 = [r for r in m["paths"][1:] if r["precision"] == "INT8"]
    assert not [r["path"] for r in int8 if r["vs_low"] > 0], [(r["path"], r["vs_low"]) for r in int8]
    assert stock["vs_high"] < 0, (stock["vs_reference"], stock["vs_low"], stock["vs_high"])
    # the workbook's row is 05's model: the same figures on the same images
    (check,) = m["expectations"]
    assert check["id"] == "workbook_reproduces_05" and check["ok"] and "not compared" not in check["what"], check
    assert json.loads(json.dumps(stages.DEFINITIONS["09_compare"].conclusions(m))) == m["conclusions"]  # re-derived
    c = {x["id"]: x for x in m["conclusions"]}
    assert list(c) == ["peers_vs_workbook", "int8_cost_by_path", "score_sum_fidelity", "ultralytics_export",
                       "activation_again"]
    # the central question said again at the end: 06's answer, the same verdict per setting
    six = {x["id"]: x for x in artifacts.read_metrics(run_dir, "06_analyze")["conclusions"]}["activation_answer"]
    assert c["activation_again"]["value"] == {k: v["higher"] for k, v in six["value"].items() if k != "transplant"}
    assert six["verdict"] in c["activation_again"]["text"]
    fid = c["score_sum_fidelity"]["value"]
    assert fid["npu9"][0] == wb["median_score_drop"] and fid["npu6"][0] == m["paths"][1]["median_score_drop"]
    assert fid["default"] == "npu9" or not c["score_sum_fidelity"]["holds"]
    assert c["peers_vs_workbook"]["value"] == {r["path"]: r["vs_reference"] for r in m["paths"][1:]
                                               if r["precision"] == "INT8"}
    assert m["headline"]["workbook_int8_mAP50_95"] == wb["mAP50_95"] and m["headline"]["paths"] == 7
    assert len(m["toolkit_rows"]) == 6 and (run_dir / "09_compare" / "paths.png").is_file()


def test_09_every_try_this_figure_is_recorded(run_dir):
    """The figures each notebook's "Try this" box states are the ones its stage recorded, and they say what the box says."""
    t = {stage: artifacts.read_metrics(run_dir, stage)["try_this"] for stage in artifacts.STAGES}
    relu = artifacts.read_metrics(run_dir, "01_train")["variants"]["relu"]
    assert t["01_train"]["box_px_without_fit_boxes"] == {"8": 120, "16": 240, "32": 480}
    assert t["01_train"]["box_px_with_fit_boxes"] == relu["initial_box_px"]
    g = IMGSZ
    gate = t["02_patch"]
    assert gate["cells"] == sum((g // s) ** 2 for s in (8, 16, 32)) and 0 < gate["cells_passing"] < gate["cells"]
    assert gate["same_detections"] is True and gate["detections_with_gate"] == gate["detections_without_gate"]
    assert t["03_export"]["opset"] == 17 and t["03_export"]["max_output_diff"] < 1e-4
    assert t["04_convert"]["RGB"] > 0.999 > t["04_convert"]["BGR"]
    assert set(t["05_quantize"]) == {str(n) for n in SHIPPED["CALIB_SIZES"]}
    curve = artifacts.read_metrics(run_dir, "05_quantize")["calibration_curve"]
    assert t["05_quantize"] == {str(r["images"]): r["mAP50_95"] for r in curve}
    conf = t["06_analyze"]
    assert conf["conf"] == CONF and all(conf["at_0.05"][k] >= conf["at_conf"][k] for k in ("float", "INT8"))
    tiles = t["07_deploy"]
    assert tiles["overlap_0"]["tiles"] <= tiles["with_overlap"]["tiles"] and tiles["with_overlap"] == \
        artifacts.read_metrics(run_dir, "07_deploy")["tile_merge"]
    lat = {str(x["threads"]): x["silu_over_relu"] for x in artifacts.read_metrics(run_dir, "08_pose")["latency"]}
    assert t["08_pose"]["silu_over_relu"] == lat and t["08_pose"]["other_runs"] != t["08_pose"]["runs"]
    assert set(t["08_pose"]["silu_over_relu_other"]) == set(lat)  # the same thread counts, timed again with fewer runs
    t9, nine = t["09_compare"], artifacts.read_metrics(run_dir, "09_compare")
    zoo = next(r for r in nine["paths"] if r["family"] == "model zoo")
    assert t9["interval"] == [zoo["vs_low"], zoo["vs_high"]] and t9["difference"] == zoo["vs_reference"]
    assert t9["other_resamples"] != t9["resamples"] and t9["interval_other"][0] <= t9["interval_other"][1]
    # the one-liner run in a cell, as typed (FP16, the release it asks for): it builds
    assert nine["one_liner"]["toolkit"] == "2.3.2" and Path(nine["one_liner"]["result"]).is_dir(), nine["one_liner"]
    ul = {(e["toolkit"], e["quantize"]): e for e in nine["ultralytics_exports"]}
    assert ul[("2.3.2", 8)]["built"] and any("IndexError" in (e["error"] or "") for (tk, q), e in ul.items()
                                             if q == 8 and tk != "2.3.2")


def test_09_no_cell_dumps_a_record(run_dir):
    """A notebook shows tables, figures and sentences, never a raw record: no bare text result over 3,000 characters."""
    import json

    for path in sorted((run_dir / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for o in cell.get("outputs", []):
                d = o.get("data", {})
                if o.get("output_type") == "execute_result" and set(d) == {"text/plain"}:
                    assert len("".join(d["text/plain"])) < 3000, (path.name, "".join(cell["source"])[:120])


def test_09_records_keep_named_fields(run_dir):
    """No record holds a field under display words (compare_runs' rename map): tables put the words on (columns)."""
    import importlib.util

    from helpers.notebook import columns

    spec = importlib.util.spec_from_file_location("compare_runs", Path(__file__).parents[2] / "scripts" / "compare_runs.py")
    compare_runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare_runs)
    words = set(compare_runs.RENAMED) | set(columns.HEADINGS.values())

    def keys(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                yield k, where
                yield from keys(v, f"{where}/{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from keys(v, f"{where}[{i}]")

    recorded = {p.parent.name: json.loads(p.read_text()) for p in run_dir.glob("*/metrics.json")}
    assert {"01_train", "04_convert", "05_quantize", "06_analyze", "07_deploy"} <= set(recorded)
    found = [(k, w) for stage, m in recorded.items() for k, w in keys(m, stage) if k in words]
    assert not found, found[:5]


def test_09_every_conclusion_words_a_difference_one_way(run_dir):
    """Every stage's conclusions: a difference is "A − B" with both named (no bare delta, no "positive = lost"); a
    finding that carries its noise flag says "within noise" exactly when it is; "all images" claims are not made
    from accuracy_analysis's one image."""
    recorded = {p.parent.name: json.loads(p.read_text()) for p in run_dir.glob("*/metrics.json")}
    found = [(stage, c) for stage, m in sorted(recorded.items()) for c in m.get("conclusions", [])]
    assert len(found) > 30, len(found)
    for stage, c in found:
        assert "Δ" not in c["text"] and "positive = lost" not in c["text"], (stage, c["id"], c["text"])
        if "noise" in c:
            assert ("within noise" in c["text"]) == c["noise"], (stage, c["id"], c["text"])
    q_zero = next(c for s_, c in found if s_ == "06_analyze" and c["id"] == "q_zero")
    assert q_zero["text"].startswith("On the one image accuracy_analysis ran on"), q_zero["text"]


def test_09_every_figure_has_a_caption(run_dir, short_run):
    """Every picture in every executed notebook is followed by its computed caption ("*Figure.* ..."): the chain's
    notebooks and the short training run's 01 (the brought models' 01 and 08 draw no training curves)."""
    import json

    seen = 0
    for path in sorted([*(run_dir / "notebooks").glob("[0-9][0-9]_*.ipynb"), short_run / "notebooks" / "01_train_relu.ipynb"]):
        for cell in json.loads(path.read_text())["cells"]:
            outs = cell.get("outputs", [])
            for k, o in enumerate(outs):
                if "image/png" not in o.get("data", {}):
                    continue
                seen += 1
                nxt = "".join(outs[k + 1]["data"].get("text/markdown", "")) if k + 1 < len(outs) and "data" in outs[k + 1] else ""
                assert nxt.startswith("*Figure.* ") and len(nxt) > 60, (path.name, "".join(cell["source"])[:120])
    assert seen >= 16, seen  # 14 in the chain (brought models), 3 in the short run's 01


@NEEDS_BOARD
@pytest.mark.parametrize("suite,profile", EMULATED, ids=[f"{s}-{p}" for s, p in EMULATED])
def test_09_bundles_run_on_the_emulated_board(run_dir, suite, profile, tmp_path):
    """Both bundles on one suite x profile: imports, the self-test, a run of each backend the profile has, against
    the same runner on this PC. The board runs are independent and emulation keeps one core busy each: two at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from helpers.emuboard.agreement import compare_with_pc
    from helpers.emuboard.bundle import run_emulated

    bundles, board = _bundles(run_dir), emuboard.EmulatedBoard(suite, profile)
    st = board.stack
    assert st["machine"] == "aarch64" and st["python"].startswith(emuboard.SUITES[suite].python)
    hal = emuboard.tolerance(st) == emuboard.RESIZE_HAL

    def imports():  # every module of the bundle imports there (numpy, OpenCV and the standard library only)
        r = board.run(f"cd /tmp && rm -rf b && cp -r /host_bundle b && cd b && python3 -c \"{IMPORTS}\"",
                      binds={str(bundles["detect"]): "/host_bundle"})
        assert r.returncode == 0 and "imported" in r.stdout, r.stderr[-2000:]

    def selftest(kind):  # the board's numpy/OpenCV decode the PC's stored outputs into the PC's detections
        t = run_emulated(board, bundles[kind], ["--selftest"])
        assert t.returncode == 0 and "agree" in t.stdout, (kind, t.stdout, t.stderr[-2000:])

    def end_to_end(kind, backend):
        # cause by cause: the board's letterbox value by value (equal, or within one grey level where its OpenCV
        # has a HAL), then its detections against the PC model's on the board's own canvases, within rounding
        args = ["samples", "--backend", backend, "--max-frames", str(BOARD_FRAMES), "--no-images"]
        ran = run_emulated(board, bundles[kind], args, tmp_path / f"{kind}_board")
        if backend not in board.backends:  # Debian 11's numpy 1.19.5 cannot take onnxruntime: said so, exit 2
            assert ran.returncode == 2 and "needs numpy >= 1.21.6" in ran.last_line, ran.stderr[-1500:]
            return
        assert ran.returncode == 0, ran.stderr[-2000:]
        got = json.loads((ran.out / "detections.json").read_text())
        pc = _pc_run(bundles[kind], backend, tmp_path / f"{kind}_pc")
        conf = json.loads((bundles[kind] / "config.json").read_text())["conf"]
        a = compare_with_pc(board, bundles[kind], got, pc, backend, conf)
        assert a["letterbox"]["max_grey_levels"] == 0 or (hal and a["letterbox"]["max_grey_levels"] <= 1), (
            st.get("opencv_hal"), a["letterbox"])
        m = a["same_input"]
        assert a["ok"] and m["pairs"] > 0 and m["frames"] == BOARD_FRAMES, (suite, profile, kind, a["text"],
                                                                             m["unpaired"])
        if not hal:  # the same canvases: end to end is the same comparison
            assert a["end_to_end"]["ok"], (suite, profile, kind, a["text"])

    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(end_to_end, "detect", "onnx"), pool.submit(end_to_end, "pose", "ncnn"),
                pool.submit(imports), *(pool.submit(selftest, k) for k in bundles)]
        for job in jobs:
            job.result()  # re-raises a failed assertion here


STREAM_BOARDS = [("bullseye", "debian", "pose", "ncnn"), ("bookworm", "pip", "detect", "onnx")]


@NEEDS_BOARD
@pytest.mark.parametrize("suite,profile,kind,backend", STREAM_BOARDS, ids=[f"{s}-{p}" for s, p, _, _ in STREAM_BOARDS])
def test_09_a_live_stream_reaches_the_emulated_board(run_dir, suite, profile, kind, backend, tmp_path):
    """The runner inside the emulated board reads a stream that ffmpeg serves on this PC's 127.0.0.1 (the board shares
    its network), at 15 frames/s: Debian 11's own OpenCV 4.5.1 (Debian's FFmpeg) and Debian 12's pip OpenCV. Emulated,
    the pipeline is far slower than the stream: newest frames only, the rest dropped, the verdict names the pipeline.
    The frames it processed carry the detections of the same frames (by index) read from the file on this PC, within
    the board's stated tolerance."""
    from helpers.deploy import streams
    from helpers.board.compare import describe, match_runs
    from helpers.emuboard.bundle import run_emulated

    bundle, board = _bundles(run_dir)[kind], emuboard.EmulatedBoard(suite, profile)
    # lossless (FFV1): the board's FFmpeg and this PC's decode it to the same pixels, so any difference is the runner's
    clip = streams.make_clip(bundle / "samples", tmp_path / "clip.mkv", 15, 45, (320, 240))
    with streams.LoopbackStream(clip) as served:
        ran = run_emulated(board, bundle, [served.url, "--backend", backend, "--max-frames", str(BOARD_FRAMES),
                                         "--no-images", "--stall-timeout", "60"], tmp_path / "board")
    assert ran.returncode == 0, ran.stderr[-2000:]
    got = json.loads((ran.out / "detections.json").read_text())
    src, rate = got["source"], got["rate"]
    assert src["kind"] == "stream" and src["frames"] == "newest" and src["stopped"] == "max_frames", src
    assert src["granted"]["size"] == [320, 240] and len(got["frames"]) == BOARD_FRAMES
    assert src["dropped"] > 0 and rate["limited_by"] == "pipeline", (src, rate)  # emulation: ~350x slower
    pc = bundles.run_here(bundle, clip, tmp_path / "pc", "--backend", backend, "--no-images")
    by_index = {f["index"]: f for f in pc["frames"]}
    ref = {"frames": [{**by_index[f["index"]], "source": f["source"]} for f in got["frames"]]}
    score_tol, px_tol, margin = emuboard.tolerance(board.stack)
    conf = json.loads((bundle / "config.json").read_text())["conf"]
    m = match_runs(ref, got, conf, score_tol, px_tol, margin)
    assert m["ok"] and m["pairs"] > 0, (suite, profile, describe(m), m["unpaired"])


@NEEDS_BOARD
@pytest.mark.parametrize("suite", list(emuboard.SUITES))
def test_09_rknnlite_for_real_up_to_init_runtime(run_dir, suite):
    """The real rknn-toolkit-lite2 wheel on the emulated board: it constructs, loads the bundle's model, takes the core
    masks the pool passes, and init_runtime fails only because the board's librknnrt.so is absent; the runner then
    ends with one clear line that names the model's toolkit version, and exit 2."""
    from helpers.board.runtimes.npu import core_mask_name
    from helpers.emuboard.bundle import run_emulated

    bundle, board = _bundles(run_dir)["detect"], emuboard.EmulatedBoard(suite, "debian")
    masks = [core_mask_name(i, 3) for i in range(3)] + ["NPU_CORE_AUTO"]
    code = ("from rknnlite.api import RKNNLite; r = RKNNLite(verbose=False); print('load', r.load_rknn('model.rknn')); "
            f"print('init', [(m, r.init_runtime(core_mask=getattr(RKNNLite, m))) for m in {masks!r}])")
    r = board.run(f"cd /b && python3 -c \"{code}\"", binds={str(bundle): "/b"})
    assert "load 0" in r.stdout, (r.stdout, r.stderr[-2000:])
    assert f"init {[(m, -1) for m in masks]}" in r.stdout, r.stdout
    assert "Can not find dynamic library" in r.stdout + r.stderr  # the library, not our arguments
    ran = run_emulated(board, bundle, ["samples", "--backend", "rknnlite", "--cores", "3", "--max-frames", "1"])
    assert ran.returncode == 2, ran.stderr[-2000:]
    line = ran.last_line
    assert line.startswith("error: init_runtime failed") and "built by rknn-toolkit2 2.5.0" in line, line
    assert "/usr/lib/librknnrt.so is missing" in line and "rknn-toolkit2 2.5.0 release" in line, line


@NEEDS_BOARD
def test_09_the_board_checks_read_the_device_tree(run_dir):
    """A board whose device tree names an RK3566 refuses the RK3588 model before the NPU is touched; the version
    script reads the SoC from the same device tree and finds no librknnrt.so."""
    from helpers.emuboard.bundle import run_emulated

    bundle = _bundles(run_dir)["detect"]
    other = emuboard.EmulatedBoard("bullseye", "debian", soc="rk3566")
    ran = run_emulated(other, bundle, ["samples", "--backend", "rknnlite", "--max-frames", "1"])
    assert ran.returncode == 2 and "this board is an rk3566" in ran.last_line and "TARGET='rk3566'" in ran.last_line
    v = device.parse_versions(other.run(device.VERSION_SCRIPT).stdout)
    assert v.soc == "rk3566" and v.librknnrt is None
    assert device.parse_versions(emuboard.EmulatedBoard("bookworm", "pip").run(device.VERSION_SCRIPT).stdout).soc == "rk3588"


BAD_INPUTS = [  # (what is broken, shell line in the bundle's folder, runner arguments, exit code, the line it ends with)
    ("missing model", "rm model.onnx", ["--backend", "onnx"], 2, "error: no model file at"),
    ("truncated onnx", "head -c 20000 model.onnx > m && mv m model.onnx", ["--backend", "onnx"], 2,
     "error: model.onnx is 20,000 bytes, the bundle recorded"),
    ("cut model of your own", "head -c 20000 model.onnx > cut.onnx", ["--backend", "onnx", "--model", "cut.onnx"], 2,
     "error: onnxruntime cannot load"),
    # RKNNLite's load_rknn takes a truncated .rknn (returns 0): the bundle's recorded size catches it first
    ("truncated rknn", "head -c 20000 model.rknn > m && mv m model.rknn", ["--backend", "rknnlite"], 2,
     "error: model.rknn is 20,000 bytes, the bundle recorded"),
    ("damaged rknn", "printf 'XXXX' | dd of=model.rknn bs=1 seek=5000 conv=notrunc 2>/dev/null",
     ["--backend", "rknnlite"], 2, "error: model.rknn does not match the SHA-256"),
    ("unreadable config", "echo '{\"model\": ' > config.json", ["--backend", "onnx"], 2, "error: "),
    ("backend missing", "true", ["--backend", "ncnn"], 2, "error: this bundle has no ncnn model"),
    ("output not writable", "touch out", ["--backend", "onnx"], 2, "error: cannot write the results to out"),
]


@NEEDS_BOARD
@pytest.mark.parametrize("what,prepare,args,code,ends", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_09_bad_input_on_the_emulated_board_is_one_clear_line(run_dir, what, prepare, args, code, ends, tmp_path):
    from helpers.emuboard.bundle import run_emulated

    board = emuboard.EmulatedBoard("bullseye", "pip")
    ran = run_emulated(board, _bundles(run_dir)["detect"], ["samples", *args, "--max-frames", "1"], tmp_path / "out",
                     prepare=prepare)
    assert ran.returncode == code and ran.last_line.startswith(ends), (what, ran.stdout[-500:], ran.stderr[-1500:])
    assert ran.out is None or not (ran.out / "detections.json").exists()  # no result written
    if what == "unreadable config":
        assert "config.json is not readable JSON" in ran.last_line and "copy the bundle again" in ran.last_line


@NEEDS_BOARD
def test_09_an_image_that_does_not_decode_is_skipped_and_named(run_dir, tmp_path):
    from helpers.emuboard.bundle import run_emulated

    board = emuboard.EmulatedBoard("bullseye", "debian")
    ran = run_emulated(board, _bundles(run_dir)["pose"], ["samples", "--backend", "ncnn", "--no-images"],
                     tmp_path / "out", prepare="head -c 300 samples/val_00001.jpg > samples/broken.jpg")
    assert ran.returncode == 0, ran.stderr[-1500:]
    assert "skipped broken.jpg: not a readable image" in ran.stdout
    res = json.loads((ran.out / "detections.json").read_text())
    assert [k["file"] for k in res["skipped"]] == ["broken.jpg"] and len(res["frames"]) == 3
