"""Stage 08_pose · Pose, NCNN and RKNN (08_pose_ncnn.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import Stage, check


#: pose mAP50-95 an fp16 or INT8 model may lose and still count as "keeps the accuracy"
POSE_KEEPS = 0.02


def pose_transplant(comparison: dict | None, brought: dict | None = None) -> dict:
    if brought:
        made = brought.get("manifest")
        return {"id": "pose_transplant", "value": None,
                "text": "The keypoint model was brought trained (POSE_TRAINED_WEIGHTS), not trained here"
                        + (f": {made['name']}, trained {made['epochs']} epochs where it was made, pose mAP50 (OKS) "
                           f"{brought['pose_mAP50']:.4f} on this val set. Its manifest says how it was made; the "
                           "scratch-vs-transplant comparison belongs to the run that trains it." if made else
                           f", pose mAP50 (OKS) {brought['pose_mAP50']:.4f} on this val set.")}
    if not comparison:
        return {"id": "pose_transplant", "value": None,
                "text": "No transplant source (no WEIGHTS, no SiLU twin from 01): the pose model trained from scratch."}
    c = comparison
    ls, lt = c["loss_first_epochs"]["scratch"][0], c["loss_first_epochs"]["transplanted"][0]
    fs, ft = c["final"]["scratch"], c["final"]["transplanted"]
    return {"id": "pose_transplant", "value": {"first_loss": [ls, lt], "pose_mAP50": [fs["pose_mAP50"],
                                                                                      ft["pose_mAP50"]]},
            "text": f"Started from weights with another activation and another head, the ReLU pose model's first-"
                    f"epoch loss is {lt:.2f} against {ls:.2f} from scratch; after the same {c['epochs']['scratch']} "
                    f"epochs its pose mAP50 (OKS) is {ft['pose_mAP50']} against {fs['pose_mAP50']}, box mAP50 "
                    f"{ft['mAP50']} against {fs['mAP50']}."}


def ncnn_fusion(relu: dict, silu: dict) -> dict:
    fused = relu["fused"].get("ReLU", 0)
    return {"id": "ncnn_fusion", "value": {"relu_fused": fused, "silu_swish": silu["census_ncnn"].get("Swish", 0)},
            "text": f"pnnx folded all {relu['census_pnnx'].get('nn.ReLU', 0)} ReLU of the pose model into their "
                    f"convolutions ({fused} Convolution layers carry activation_type 1, no ReLU layer is left); the "
                    f"SiLU twin keeps {silu['census_ncnn'].get('Swish', 0)} separate Swish layers: ncnn has no fused "
                    "SiLU."}


def ncnn_fp16(ncnn_rows: list[dict], flag_effect: float) -> dict:
    by = {(r["runtime"], r["threads"]): r for r in ncnn_rows}
    f32, f16 = by[("ncnn fp32", 1)], by[("ncnn fp16", 1)]
    drop = round(f32["pose_mAP50_95"] - f16["pose_mAP50_95"], 4)
    flags = ("do not change a single output value on this CPU (its ncnn build computes in fp32 here), so what "
             "differs is the fp16 rounding of the weights; an ARM phone with fp16 arithmetic also rounds the "
             "activations" if flag_effect == 0 else
             f"change the outputs by at most {flag_effect:.2e} on this CPU")
    return {"id": "ncnn_fp16", "value": drop, "holds": drop <= POSE_KEEPS, "text":
            f"ncnn with fp16 weights and fp16 storage/arithmetic switched on: pose mAP50-95 {f16['pose_mAP50_95']} "
            f"against {f32['pose_mAP50_95']} in fp32 (fp16 − fp32 {-drop:+.4f}), lowest output cosine to onnxruntime "
            f"{f16['min_cosine']}. The fp16 switches themselves {flags}."}


def ncnn_speed(latency: list[dict]) -> dict:
    r = {x["threads"]: x["silu_over_relu"] for x in latency}
    return {"id": "ncnn_speed", "value": r, "text":
            "On this CPU with ncnn the SiLU pose model takes " + ", ".join(
                f"{v:.2f}× the ReLU model's time with {t} thread{'s' if t > 1 else ''}" for t, v in r.items())
            + " (median of repeated runs, same input)."}


#: an INT8 output whose cosine with float is at least this carries only rounding error: outputs above it are not ranked
COSINE_AT_ROUNDING = 0.999


def rknn_pose(builds: list[dict]) -> dict:
    by = {b["build"]: b for b in builds}
    f, q = by["FP16"], by["INT8"]
    worst = min(("box", "cls", "kpt"), key=lambda k: q[f"min_{k}_cosine"])
    cos = (f"box {q['min_box_cosine']}, class {q['min_cls_cosine']}, keypoints {q['min_kpt_cosine']}")
    text = (f"RKNN INT8 keeps pose mAP50-95 {q['pose_mAP50_95']} of FP16's {f['pose_mAP50_95']}; "
            + (f"every output keeps a cosine of at least {COSINE_AT_ROUNDING} (lowest: {cos}): INT8 rounding, no output "
               "stands out." if q[f"min_{worst}_cosine"] >= COSINE_AT_ROUNDING else
               f"of its outputs the { {'box': 'box DFL', 'cls': 'class', 'kpt': 'keypoint'}[worst]} ones lose the "
               f"most (lowest cosine {cos})."))
    h = by.get("INT8, keypoint branch float16")
    if h:
        gain = round(h["pose_mAP50_95"] - q["pose_mAP50_95"], 4)
        text += (f" Keeping the keypoint branch in float16 ({h['float_layers']} layers, {h['rknn_MB']} MB against "
                 f"{q['rknn_MB']}) gives pose mAP50-95 {h['pose_mAP50_95']} (float16 branch − INT8 {gain:+.4f}), keypoint cosine "
                 f"{h['min_kpt_cosine']}.")
    return {"id": "rknn_pose", "value": {"worst_output": worst, "int8_pose_mAP50_95": q["pose_mAP50_95"],
                                         "fp16_pose_mAP50_95": f["pose_mAP50_95"]}, "text": text}


def pose_conclusions(comparison, relu_ncnn: dict, silu_ncnn: dict, ncnn_rows, flag_effect: float, latency,
                     builds, brought: dict | None = None) -> list[dict]:
    """Every finding of 08, in reading order."""
    return [pose_transplant(comparison, brought), ncnn_fusion(relu_ncnn, silu_ncnn), ncnn_fp16(ncnn_rows, flag_effect),
            ncnn_speed(latency), rknn_pose(builds)]


def ncnn_fp16_arm(a: dict, flag_effect: float) -> dict:
    """08's fp16 arithmetic on the emulated Cortex-A76 (the one thing this x86 CPU could not show)."""
    change = a["pose_mAP50_95_change"]
    f32, f16 = a["pose"]["fp32"], a["pose"]["fp16"]
    return {"id": "ncnn_fp16_arm", "value": {"max_abs_diff": a["max_abs_diff"], "pose_mAP50_95_change": change},
            "holds": abs(change) <= POSE_KEEPS, "text":
            f"On an ARM core with fp16 arithmetic (the emulated Cortex-A76 of an RK3588, {a['board']}; ncnn reports "
            f"fp16 support: {a['cpu']['asimdhp']}), switching ncnn's fp16 storage and arithmetic on moves the outputs "
            f"by up to {a['max_abs_diff']:.3g} (largest output value {a['largest_output_value']}), where this PC's "
            f"x86 CPU moved them by {flag_effect:.2g}: activations are rounded to fp16 there. Pose mAP50-95 on "
            f"{a['images']} val images: {f16['pose_mAP50_95']} with fp16 against {f32['pose_mAP50_95']} in fp32 "
            f"(fp16 − fp32 {change:+.4f}); "
            + ("within what the workbook calls the same, so a phone or board can keep ncnn's fp16 default."
               if abs(change) <= POSE_KEEPS else "more than the workbook calls the same: on a phone or board, "
               "measure with use_fp16_arithmetic off before shipping.")
            + " qemu executes the A76's fp16 instructions by the IEEE rules the hardware follows (the same ncnn "
              "kernels, chosen by the same CPU features); it says nothing about speed."}


def pose_stage_conclusions(m: dict) -> list[dict]:
    """08's conclusions from what 08 records."""
    out = pose_conclusions(m["transplant"], m["ncnn"]["relu"], m["ncnn"]["silu"], m["ncnn_runs"],
                           m["ncnn_fp16_flag_effect"], m["latency"], m["rknn"], m["models"].get("brought"))
    return out + ([ncnn_fp16_arm(m["arm_fp16"], m["ncnn_fp16_flag_effect"])] if m.get("arm_fp16") else [])


NCNN_COSINE = 0.999      # ncnn fp32 vs onnxruntime (08)


POSE_INT8_MARGIN = 0.1   # RKNN INT8 pose mAP50-95 may trail the FP16 build by this much (08; a small, young model)


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    par = m["parity"].values()
    kpt = max(p["final_max_kpt_diff_px"] for p in par)
    unmatched = sum(p["final_unmatched"] for p in par)
    runs = {(r["runtime"], r["threads"]): r for r in m["ncnn_runs"]}
    fp32, fp16 = runs[("ncnn fp32", 1)], runs[("ncnn fp16", 1)]
    builds = {b["build"]: b for b in m["rknn"]}
    f, q = builds["FP16"], builds["INT8"]
    fused = sum(m["ncnn"]["relu"]["fused"].values())
    bad_bundle = [k for k, d in m["deployed"].items() if not d["equals_notebook"]]
    return [check("pose_parity", m["parity_ok"], f"both pose heads + the board decoder vs ultralytics' predict: "
                   f"keypoints within {kpt:.2g} px, {unmatched} unmatched detections", "the pose head patch does not "
                   "fit this model's Pose layer: check MODEL and the ultralytics version (requirements.txt pins it)"),
            check("ncnn_matches_onnx", fp32["min_cosine"] > NCNN_COSINE, f"ncnn fp32 vs onnxruntime: lowest output "
                   f"cosine {fp32['min_cosine']}", "pnnx changed the graph: read its log (pnnx_work/pnnx.log) and "
                   "check the pinned pnnx/ncnn versions"),
            check("ncnn_fp16_margin", fp16["pose_mAP50_95"] >= fp32["pose_mAP50_95"] - POSE_KEEPS,
                   f"ncnn fp16 pose mAP50-95 {fp16['pose_mAP50_95']} vs fp32 {fp32['pose_mAP50_95']} (margin "
                   f"{POSE_KEEPS})", "ship the fp32 .bin, or look for an output whose values exceed fp16's "
                   "range (the cosines above)", stop=False),
            check("relu_fused", fused > 0, f"ncnn folded {fused} activations into their convolutions",
                   "the model is not ReLU (see the census), or pnnx did not optimise: check its log", stop=False),
            check("int8_pose_margin", q["pose_mAP50_95"] >= f["pose_mAP50_95"] - POSE_INT8_MARGIN,
                   f"RKNN INT8 pose mAP50-95 {q['pose_mAP50_95']} vs FP16 {f['pose_mAP50_95']} (margin "
                   f"{POSE_INT8_MARGIN})", "the per-output cosines above show which branch loses it: keep it in "
                   "float16 (the hybrid row), or calibrate with more images", stop=False),
            check("bundle_equals_notebook", not bad_bundle, "the pose bundle's runner gives the notebook's detections "
                   "and keypoints" + (f", except with {', '.join(bad_bundle)}" if bad_bundle else ""),
                   "compare the bundle's config.json (conf, iou, kpt_shape) with the notebook's settings")
            ] + _arm_fp16(m.get("arm_fp16"))


def _arm_fp16(a: dict | None) -> list:
    if not a:
        return []
    f32, f16 = a["pose"]["fp32"]["pose_mAP50_95"], a["pose"]["fp16"]["pose_mAP50_95"]
    return [check("arm_fp16_margin", f16 >= f32 - POSE_KEEPS, f"ncnn with fp16 arithmetic on the emulated "
                   f"Cortex-A76: pose mAP50-95 {f16} vs fp32 {f32} on {a['images']} images (margin {POSE_KEEPS})",
                   "on a phone or board set ncnn's use_fp16_arithmetic off (NcnnRuntime(fp16=False), the runner's "
                   "default) and measure there", stop=False)]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    t = {r["runtime"]: r for r in m["runtime_table"]}
    h = {"pose_mAP50_95_onnxruntime": t["onnxruntime float32"]["pose_mAP50_95"],
         "pose_mAP50_95_ncnn_fp16": t["ncnn fp16"]["pose_mAP50_95"],
         "pose_mAP50_95_rknn_int8": t["RKNN INT8 (simulator)"]["pose_mAP50_95"],
         "parity_ok": m["parity_ok"], "ncnn_relu_fused": m["ncnn"]["relu"]["fused"].get("ReLU", 0),
         "ncnn_silu_over_relu": {r["threads"]: r["silu_over_relu"] for r in m["latency"]}}
    if m.get("transplant"):
        f = m["transplant"]["final"]
        h["pose_mAP50_scratch_vs_transplanted"] = [f["scratch"]["pose_mAP50"], f["transplanted"]["pose_mAP50"]]
    return h


STAGE = Stage("08_pose", inputs={},  # its own dataset and models; 01's SiLU twin and 05's INT8 settings are used when present
              headline=headline, conclusions=pose_stage_conclusions, checks=checks)
