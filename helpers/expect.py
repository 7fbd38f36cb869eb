"""Each notebook's key expectation, checked where the user runs it, with what went wrong and what to try.

``stage_checks(stage, record)`` reads only what the stage records; ``report`` shows the checks and raises
:class:`ExpectationFailed` when one that later notebooks depend on failed (``stop``), after the stage has
recorded its metrics, so nothing is lost. A failed ``warn`` check is shown, not raised: the next notebook
is the place to find out why (05's INT8 margin is what 06 analyses). The main job is therefore also a check
of the user's environment and model, not only the chain test.
"""

from __future__ import annotations

#: thresholds, one place
PARITY_COSINE = 0.9999   # onnxruntime vs PyTorch (03)
FP16_COSINE = 0.999      # FP16 simulator vs onnxruntime (04)
INT8_MAP50_MARGIN = 0.05  # INT8 may trail float by this much mAP50 (05)
DETECTS_MAP50 = 0.15     # a trained model detects at all (01)
REPRODUCE_MAP = 1e-4     # 06's rebuild of 05's INT8 model gives 05's mAP on the same images (06)
NCNN_COSINE = 0.999      # ncnn fp32 vs onnxruntime (08)
POSE_FP16_MARGIN = 0.02  # ncnn fp16 pose mAP50-95 may trail ncnn fp32 by this much (08)
POSE_INT8_MARGIN = 0.1   # RKNN INT8 pose mAP50-95 may trail the FP16 build by this much (08; a small, young model)


class ExpectationFailed(RuntimeError):
    """A notebook's key expectation failed; the message says what to try."""


def _check(cid: str, ok: bool, what: str, fix: str, stop: bool = True) -> dict:
    return {"id": cid, "ok": bool(ok), "stop": stop, "what": what, "fix": "" if ok else fix}


def _train(m):
    r = m["variants"].get("relu") or next(iter(m["variants"].values()))
    out = [_check("detects", r["mAP50"] >= DETECTS_MAP50, f"the ReLU model's val mAP50 is {r['mAP50']:.4f} "
                  f"(expected ≥ {DETECTS_MAP50})", "train longer (EPOCHS), check the labels with the dataset "
                  "tables above, or start from weights (WEIGHTS)", stop=False)]
    use = m.get("stride_usage", {}).get("relu")
    if use:
        silent = [k for k, v in use.items() if v == 0]
        out.append(_check("strides_fire", not silent, "every stride produces detections" if not silent else
                          f"stride(s) {', '.join(silent)} produce no detection", "set FIT_BOXES=True and retrain, "
                          "or check that your data has objects large enough for the coarse strides", stop=False))
    return out


def _patch(m):
    out = []
    if "numpy_decode_max_diff_px" in m:
        d = m["numpy_decode_max_diff_px"]
        out.append(_check("numpy_decode", d < 1e-3, f"numpy decode vs helpers' decoder: {d:.2g} px",
                          "the board decoder and the textbook decode disagree: report it"))
    return out + [_check("parity", m["parity_ok"], f"patched head vs ultralytics: box diff {m['max_box_diff_px']:.2g} px, "
                   f"{m['final_unmatched']} unmatched detections", "the head patch does not fit this model's Detect "
                   "layer: check MODEL and the ultralytics version (requirements.txt pins it)")]


def _export(m):
    return [_check("onnx_parity", m["min_cosine"] > PARITY_COSINE, f"onnxruntime vs PyTorch: lowest cosine "
                   f"{m['min_cosine']:.7f}", "re-export with the pinned onnx/torch versions (scripts/setup.sh); an opset "
                   "other than 12 can change op semantics"),
            _check("patched_ops", not m["flagged_in_patched"], f"ops the NPU runs poorly, in the patched graphs: "
                   f"{m['flagged_in_patched'] or 'none'}", "a YOLO11 attention block has one Softmax of its own "
                   "(expected, it builds); any other op means the patch left DFL or decode ops in the graph: see 02",
                   stop=False)]


def _convert(m):
    rgb = m["channel_order"][0]["min cosine vs onnxruntime"]
    return [_check("fp16_cosine", m["fp16"]["min_cosine"] > FP16_COSINE, f"FP16 vs onnxruntime: lowest cosine "
                   f"{m['fp16']['min_cosine']}", "check mean/std (0, 255) and that the toolkit is 2.5.0; a cosine "
                   "well below 1 in FP16 means the graph was changed, not rounded"),
            _check("rgb_input", rgb > FP16_COSINE, f"RGB input: lowest cosine {rgb}", "the input the build expects "
                   "is NHWC uint8 RGB; check the preprocessing")]


def _quantize(m):
    ship, f = m["ship"], m["onnx_map"]
    return [_check("int8_margin", ship["mAP50"] >= f["mAP50"] - INT8_MAP50_MARGIN,
                   f"INT8 ({ship['config_name']}) mAP50 {ship['mAP50']} vs float {f['mAP50']} (margin "
                   f"{INT8_MAP50_MARGIN})", "06 shows which layers lose it: try per-channel, kl_divergence or mmse, "
                   "hybrid layers, a larger calibration set (section 8), or the ReLU model if this is SiLU",
                   stop=False)]


def _analyze(m):
    five = m["from_05"]
    rows = {r["runtime"]: r for r in m["map_table"] if r["variant"] == five["variant"]}
    flt, q = rows.get("onnxruntime float32"), rows.get("RKNN INT8 simulator")
    keys = ("mAP50", "mAP50_95")
    if not (flt and q) or any(flt[k] != five["float"][k] for k in (*keys, "detections")):
        return [_check("int8_reproduces_05", True, "05 and 06 evaluated different images (their EVAL_IMAGES differ) "
                       "or another model: 06's INT8 figures are not compared with 05's", "")]
    diff = max(abs(q[k] - five["int8"][k]) for k in keys)
    return [_check("int8_reproduces_05", diff <= REPRODUCE_MAP, f"06 rebuilt 05's INT8 configuration "
                   f"({five['int8']['config_name']}) and measured mAP50 {q['mAP50']} / mAP50-95 {q['mAP50_95']} on "
                   f"the same images; 05 recorded {five['int8']['mAP50']} / {five['int8']['mAP50_95']}",
                   "an artifact of 05 is older than its settings: re-run 05, then 06; if it persists, the toolkit's "
                   "build is not deterministic here (report it)")]


def _deploy(m):
    return [_check("runner_equals_notebook", m["runner_equals_notebook"], "the bundle's runner gives the notebook's "
                   "detections" if m["runner_equals_notebook"] else "the bundle's runner differs from the notebook",
                   "compare config.json (conf, iou, score_sum) with the notebook's settings; rebuild the bundle"),
            _check("pool_equals_single", m["pool_equals_single"], "the ordered pool returns the single context's "
                   "results in order", "the pool reordered or lost frames: report it with the frames' names")
            ] + _board(m.get("board", {}))


def _board(b: dict) -> list:
    if not b.get("emulated"):
        return []
    return [_check("emulated_board_equals_pc", b["equals_pc"],
                   f"on the emulated board ({b['board']}): {b['comparison_text']}",
                   "the board's numpy/OpenCV changed the result: run `python3 run.py --selftest` there, and compare "
                   "its versions with the bundle README's tested ones")]


def _pose(m):
    par = m["parity"].values()
    kpt = max(p["final_max_kpt_diff_px"] for p in par)
    unmatched = sum(p["final_unmatched"] for p in par)
    runs = {(r["runtime"], r["threads"]): r for r in m["ncnn_runs"]}
    fp32, fp16 = runs[("ncnn fp32", 1)], runs[("ncnn fp16", 1)]
    builds = {b["build"]: b for b in m["rknn"]}
    f, q = builds["FP16"], builds["INT8"]
    fused = sum(m["ncnn"]["relu"]["fused"].values())
    bad_bundle = [k for k, d in m["deployed"].items() if not d["equals_notebook"]]
    return [_check("pose_parity", m["parity_ok"], f"both pose heads + the board decoder vs ultralytics' predict: "
                   f"keypoints within {kpt:.2g} px, {unmatched} unmatched detections", "the pose head patch does not "
                   "fit this model's Pose layer: check MODEL and the ultralytics version (requirements.txt pins it)"),
            _check("ncnn_matches_onnx", fp32["min_cosine"] > NCNN_COSINE, f"ncnn fp32 vs onnxruntime: lowest output "
                   f"cosine {fp32['min_cosine']}", "pnnx changed the graph: read its log (pnnx_work/pnnx.log) and "
                   "check the pinned pnnx/ncnn versions"),
            _check("ncnn_fp16_margin", fp16["pose_mAP50_95"] >= fp32["pose_mAP50_95"] - POSE_FP16_MARGIN,
                   f"ncnn fp16 pose mAP50-95 {fp16['pose_mAP50_95']} vs fp32 {fp32['pose_mAP50_95']} (margin "
                   f"{POSE_FP16_MARGIN})", "ship the fp32 .bin, or look for an output whose values exceed fp16's "
                   "range (the cosines above)", stop=False),
            _check("relu_fused", fused > 0, f"ncnn folded {fused} activations into their convolutions",
                   "the model is not ReLU (see the census), or pnnx did not optimise: check its log", stop=False),
            _check("int8_pose_margin", q["pose_mAP50_95"] >= f["pose_mAP50_95"] - POSE_INT8_MARGIN,
                   f"RKNN INT8 pose mAP50-95 {q['pose_mAP50_95']} vs FP16 {f['pose_mAP50_95']} (margin "
                   f"{POSE_INT8_MARGIN})", "the per-output cosines above show which branch loses it: keep it in "
                   "float16 (the hybrid row), or calibrate with more images", stop=False),
            _check("bundle_equals_notebook", not bad_bundle, "the pose bundle's runner gives the notebook's detections "
                   "and keypoints" + (f", except with {', '.join(bad_bundle)}" if bad_bundle else ""),
                   "compare the bundle's config.json (conf, iou, kpt_shape) with the notebook's settings")
            ] + _arm_fp16(m.get("arm_fp16"))


def _arm_fp16(a: dict | None) -> list:
    if not a:
        return []
    f32, f16 = a["pose"]["fp32"]["pose_mAP50_95"], a["pose"]["fp16"]["pose_mAP50_95"]
    return [_check("arm_fp16_margin", f16 >= f32 - POSE_FP16_MARGIN, f"ncnn with fp16 arithmetic on the emulated "
                   f"Cortex-A76: pose mAP50-95 {f16} vs fp32 {f32} on {a['images']} images (margin {POSE_FP16_MARGIN})",
                   "on a phone or board set ncnn's use_fp16_arithmetic off (NcnnRuntime(fp16=False), the runner's "
                   "default) and measure there", stop=False)]


def _compare(m):
    five, ref = m["from_05"], m["paths"][0]
    keys = ("mAP50", "mAP50_95")
    if not ref.get("built") or any(ref[f"float_{k}"] != five["float"][k] for k in keys):
        return [_check("workbook_reproduces_05", True, "05 and 09 evaluated different images (their EVAL_IMAGES "
                       "differ): 09's INT8 figures for the workbook's path are not compared with 05's", "")]
    diff = max(abs(ref[k] - five[k]) for k in keys)
    return [_check("workbook_reproduces_05", diff <= REPRODUCE_MAP, f"09 rebuilt 05's INT8 model ({five['config_name']}) "
                   f"and measured mAP50 {ref['mAP50']} / mAP50-95 {ref['mAP50_95']}; 05 recorded {five['mAP50']} / "
                   f"{five['mAP50_95']}", "re-run 05, then 09: an artifact of 05 is older than its settings")]


CHECKS = {"01_train": _train, "02_patch": _patch, "03_export": _export, "04_convert": _convert,
          "05_quantize": _quantize, "06_analyze": _analyze, "07_deploy": _deploy, "08_pose": _pose,
          "09_compare": _compare}


def stage_checks(stage: str, record: dict) -> list[dict]:
    return CHECKS[stage](record)


def report(checks: list[dict]):
    """Show the checks; raise :class:`ExpectationFailed` for failed ``stop`` checks (a warning for the others)."""
    from IPython.display import Markdown, display

    display(Markdown("\n".join(f"- {'✅' if c['ok'] else ('❌' if c['stop'] else '⚠️')} **{c['id']}**: {c['what']}"
                               + (f" — try: {c['fix']}" if c["fix"] else "") for c in checks)))
    failed = [c for c in checks if not c["ok"] and c["stop"]]
    if failed:
        raise ExpectationFailed("; ".join(f"{c['id']}: {c['what']} — try: {c['fix']}" for c in failed))
