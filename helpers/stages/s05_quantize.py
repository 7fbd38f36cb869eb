"""Stage 05_quantize · Quantize to INT8 (05_quantize_int8.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from ..notebook import wording
from ..experiments.selection import within_noise
from .common import INT8_KEEPS_MAP50, Stage, check


def _mean(xs):
    xs = list(xs)
    return round(sum(xs) / len(xs), 4) if xs else None


def sweep_axes(m: dict) -> dict:
    rows = [r for r in m["sweep"] if "error" not in r]
    res = m["honest"]["resolution"]
    axes = {}
    for axis, key in (("algorithm", "algorithm"), ("method", "method")):
        by = {}
        for r in rows:
            by.setdefault(r[key], []).append(r["mAP50_95"])
        axes[axis] = {k: _mean(v) for k, v in by.items()}
    parts = []
    for axis, means in axes.items():
        if len(means) < 2:
            continue
        (a, va), (b, vb) = sorted(means.items(), key=lambda kv: -kv[1])[:2]
        parts.append(f"{a} {va} vs {b} {vb} mean mAP50-95 ({'within' if va - vb < res else 'beyond'} the ±{res} "
                     "this evaluation resolves)")
    text = ("Along each axis of the sweep: " + "; ".join(parts) + "." if parts else
            "The sweep varied one setting only: no axis to compare.")
    return {"id": "sweep_axes", "value": axes, "text": text}


def honest_ship(m: dict) -> dict:
    h = m["honest"]
    sv, bw = h["ship_vs_float"], h["best_vs_worst"]
    noise = within_noise(bw)
    text = (f"{h['ship']} was chosen on {h['selection_images']} images (mAP50-95 {h['ship_select']}) and reported on "
            f"the other {h['report_images']}: {h['ship_report']} against float's {h['float_report']} there "
            f"(INT8 − float {h['report_gap']:+.4f}). Over all images, INT8 − float is {sv['difference']:+.4f} "
            f"(95 % bootstrap interval {sv['low']:+.4f} … {sv['high']:+.4f}: "
            + ("within noise" if within_noise(sv) else "beyond noise") + "); the best and worst sweep configurations "
            f"differ by {bw['difference']:+.4f} ({bw['low']:+.4f} … {bw['high']:+.4f}), "
            + ("an interval that contains zero: on this evaluation the sweep's configurations are indistinguishable, "
               "and any of them would ship as well." if noise else
               "an interval that excludes zero: the choice of configuration matters here."))
    return {"id": "honest_ship", "value": {"ship": h["ship"], "report_gap": h["report_gap"],
                                           "sweep_within_noise": noise}, "holds": noise,
            "text": _why_shipped(h) + " " + text}


def _why_shipped(h: dict) -> str:
    """Why this configuration ships, following the rule table: the candidates are those within the selection half's
    resolution of its best; of them, those within ``cost_tie`` × the cheapest one's build time count as equally cheap;
    the best of those on the selection half ships."""
    if "candidates" not in h:  # a record of before the cost-aware choice
        return ""
    n, res, tie = len(h["candidates"]), h["selection_resolution"], h.get("cost_tie", 2.0)
    rule = h.get("rule") or []
    cheap = [r for r in rule if r["within_cost_tier"]]
    cheapest = min((r for r in cheap), key=lambda r: r["build_s"], default=None)
    tier = (f"; the cheapest of them builds in {cheapest['build_s']} s ({cheapest['config']}), and every candidate "
            f"within {tie:g}× that time counts as equally cheap ({len(cheap)}: "
            + ", ".join(f"{r['config']} {r['build_s']} s" for r in cheap) + ")") if cheapest else ""
    if n == 1:
        return f"{h['ship']} is the best on the selection half, beyond the ±{res} that half resolves."
    if h["ship"] == h["selection_best"]:
        return (f"{h['ship']} is the best on the selection half ({h['ship_build_s']} s to build); {n} configurations "
                f"are within the ±{res} that half resolves of it{tier}, and it is one of those.")
    lead = (f"{n} configurations are within the ±{res} the selection half resolves of its best, "
            f"{h['selection_best']} ({h['selection_best_build_s']} s to build): this evaluation cannot tell them "
            f"apart{tier}. Of the equally cheap ones the best on the selection half ships: {h['ship']} "
            f"({h['ship_build_s']} s).")
    return lead


def rescue_tools(m: dict) -> dict:
    base = next(r for r in m["sweep"] if r["config"] == m["experiment"])
    res = m["honest"]["resolution"]
    rows = [r for r in m["hybrid"] + m["size_options"] if "error" not in r]
    gains = {r["config"]: round(r["mAP50_95"] - base["mAP50_95"], 4) for r in rows}
    sizes = {r["config"]: r["rknn_MB"] for r in rows}
    hybrid = {k: v for k, v in gains.items() if "hybrid" in k}
    verdict = ("" if not hybrid else
               " Hybrid quantization " + ("recovers more than the evaluation's noise" if max(hybrid.values()) > res
                                          else f"changes nothing beyond the ±{res} this evaluation resolves") + ".")
    shrink = [k for k in sizes if k.endswith(("pruned", "compressed"))]
    if shrink:
        verdict += (" Pruning/compression change the file by "
                    + ", ".join(f"{sizes[k] - base['rknn_MB']:+.2f} MB ({k.rsplit('_', 1)[1]})" for k in shrink) + ".")
    return {"id": "rescue_tools", "value": gains, "text":
            f"Against {base['config']} ({base['rknn_MB']} MB, mAP50-95 {base['mAP50_95']}), each option's size and its "
            "mAP50-95 minus the base's: "
            + "; ".join(f"{k} {sizes[k]} MB, {v:+.4f}" for k, v in gains.items()) + "." + verdict}


def calibration_size(m: dict) -> dict:
    curve = m["calibration_curve"]
    best = max(r["mAP50_95"] for r in curve)
    res = m["honest"]["resolution"]
    enough = next(r["images"] for r in curve if r["mAP50_95"] >= best - res)
    text = ("INT8 mAP50-95 against calibration images: " + ", ".join(f"{r['images']} → {r['mAP50_95']}" for r in curve)
            + f". From {enough} images on, every size is within the ±{res} this evaluation resolves of the best"
            + (" (mAP50-95 does not see the difference)" if enough == curve[0]["images"] else "")
            + "; the lowest class-output cosine, which does, goes " + ", ".join(
                f"{r['images']} → {r['min_cls_cosine']}" for r in curve)
            + ". The toolkit's advice of 100–500 images is about covering your data's variety; a stratified pick "
              "reaches it sooner" + (", but a handful of images leaves the class outputs' ranges to chance."
                                     if curve[-1]["min_cls_cosine"] - curve[0]["min_cls_cosine"] > 0.005 else
                                     ", and here even the smallest set measured the ranges well."))
    return {"id": "calibration_size", "value": {r["images"]: r["mAP50_95"] for r in curve}, "enough": enough,
            "text": text}


def colour_order(m: dict) -> dict:
    c = m["colour_order"]
    w = wording.difference("swapped", "right order", c["wrong"]["mAP50_95"], c["right"]["mAP50_95"],
                           resolution=m["honest"]["resolution"])
    return {"id": "colour_order", "value": w["difference"], "noise": w["noise"], "text":
            f"Calibrating with the channels swapped (quant_img_RGB2BGR=True on RGB images): {w['text']}; lowest class "
            f"cosine {c['right']['min_cls_cosine']} → {c['wrong']['min_cls_cosine']}. The build succeeds and says "
            "nothing: the ranges were measured on images the model never sees. "
            + ("Here the difference is noise: this synthetic set's colours are random, so red and blue carry similar "
               "statistics; on real images they do not." if w["noise"] else "")}


def batch_core(m: dict) -> dict:
    b = m["batch"]
    many = b[f"batch{b['rknn_batch_size']}"]
    refused = b["pool_rule"] != "accepted"
    return {"id": "batch_core", "value": {"size_ratio": b["size_ratio"], "pool_refuses": refused}, "holds": refused,
            "text": f"rknn_batch_size={b['rknn_batch_size']} builds ({many['rknn_MB']} MB vs {b['batch1']['rknn_MB']} MB "
                    "at batch 1) and the build record keeps the setting. On a board such a model cannot be pinned to "
                    "one NPU core (a 2024 write-up of an RK3588 optimisation measured it: the runtime falls back to auto-core, and one frame took 1.5 s instead of "
                    "0.5 s), so the workbook's pool, which pins one context per core, "
                    + ("refuses it with a message that says so." if refused else "should refuse it, and did not here.")}


def mmse(m: dict) -> dict | None:
    rows = [r for r in m["sweep"] if r.get("algorithm") == "mmse" and "error" not in r]
    if not rows:
        return None
    other = [r for r in m["sweep"] if r.get("algorithm") != "mmse" and "error" not in r]
    best_o = max(other, key=lambda r: r["mAP50_95"])
    best_m = max(rows, key=lambda r: r["mAP50_95"])
    return {"id": "mmse", "value": {"mAP50_95": best_m["mAP50_95"], "build_s": best_m["build_s"]}, "text":
            f"mmse took {best_m['build_s']} s to build (vs {best_o['build_s']} s for {best_o['config']}) for mAP50-95 "
            f"{best_m['mAP50_95']} vs {best_o['mAP50_95']}."}


def quantize_conclusions(m: dict) -> list[dict]:
    out = [sweep_axes(m), honest_ship(m)]
    out += [x for x in (mmse(m),) if x]
    out += [rescue_tools(m)] if m.get("hybrid") or m.get("size_options") else []
    out += [calibration_size(m)] if m.get("calibration_curve") else []
    out += [colour_order(m)] if m.get("colour_order") else []
    return out + ([batch_core(m)] if m.get("batch") else [])


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    ship, f = m["ship"], m["onnx_map"]
    return [check("int8_margin", ship["mAP50"] >= f["mAP50"] - INT8_KEEPS_MAP50,
                   f"INT8 ({ship['config_name']}) mAP50 {ship['mAP50']} vs float {f['mAP50']} (margin "
                   f"{INT8_KEEPS_MAP50})", "06 shows which layers lose it: try per-channel, kl_divergence or mmse, "
                   "hybrid layers, a larger calibration set (section 8), or the ReLU model if this is SiLU",
                   stop=False)]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    rows = m["sweep"] + m["hybrid"] + m["size_options"]
    ship = m["ship"]
    return {"configs_built": sum("error" not in r for r in rows), "configs_failed": sum("error" in r for r in rows),
            "onnx_mAP50": m["onnx_map"]["mAP50"], "experiment": m["experiment"], "ship": ship["config_name"],
            "ship_mAP50": ship["mAP50"], "ship_mAP50_95": ship["mAP50_95"], "ship_min_cosine": ship["min_cosine"],
            "ship_rknn_MB": ship["rknn_MB"], "custom_op_max_diff": f"{m['custom_op']['op_max_abs_diff']:.2e}",
            **({"ship_report_half_vs_float": m["honest"]["report_gap"],
                "int8_minus_float_95": [m["honest"]["ship_vs_float"]["low"], m["honest"]["ship_vs_float"]["high"]],
                "resolution_mAP50_95": m["honest"]["resolution"]} if m.get("honest") else {}),
            **({"calibration_curve": {str(r["images"]): r["mAP50_95"] for r in m["calibration_curve"]}}
               if m.get("calibration_curve") else {}),
            **({"swapped_minus_right_colour_mAP50_95": round(m["colour_order"]["wrong"]["mAP50_95"]
                                                             - m["colour_order"]["right"]["mAP50_95"], 4)}
               if m.get("colour_order") else {})}


STAGE = Stage("05_quantize", inputs={"onnx": ('03_export', 'onnx'), "imgsz": ('03_export', 'imgsz'), "fp16": ('04_convert', 'fp16'), "variants": ('01_train', 'variants'), "data_yaml": ('01_train', 'data_yaml')},
              headline=headline, conclusions=quantize_conclusions, checks=checks)
