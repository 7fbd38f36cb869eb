"""Stage 06_analyze · Analyze accuracy (06_analyze_accuracy.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from ..experiments.comparisons import map_row
from ..notebook import wording
from .common import INT8_KEEPS_MAP50, REPRODUCE_MAP, Stage, check
from .s06_activation import (activation_answer, fusion, int8_loss_by_activation, relu_smaller, silu_by_toolkit,
                             silu_collapse, silu_hypotheses)




#: mAP50 difference below which two head layouts count as equal
SAME_MAP50 = 0.01


def relu_int8_drop(map_rows: list[dict]) -> dict:
    f, q = map_row(map_rows, "relu", "onnx"), map_row(map_rows, "relu", "RKNN INT8")
    drop = round(f["mAP50"] - q["mAP50"], 4)
    return {"id": "relu_int8_drop", "value": drop, "text":
            f"INT8 ({q['config']}) {'keeps' if drop <= INT8_KEEPS_MAP50 else 'loses'} the ReLU model's accuracy: "
            f"mAP50 {f['mAP50']} float → {q['mAP50']} INT8 (INT8 − float {-drop:+.4f}), mAP50-95 {f['mAP50_95']} → "
            f"{q['mAP50_95']}."}


def stock_head(attempt: dict, advised: dict | None = None, layout_rows: list[dict] = ()) -> dict:
    if attempt["built"]:
        return {"id": "stock_head", "value": True, "text": "The stock head built with these settings."}
    text = (f"The stock head (DFL inside) does not build on this toolkit as it is: step '{attempt['step']}' fails "
            f"with {attempt['reason']}.")
    if advised:
        p9 = layout_rows[0] if layout_rows else None
        text += (f" With the graph rule the toolkit names disabled ({', '.join(advised['disable_rules'])}), it "
                 f"builds, and shows why it is still the wrong head for INT8: its one output holds box coordinates "
                 f"in pixels next to class probabilities, one scale for both, so the class rows keep "
                 f"{advised['cls_distinct_above_0.01']} distinct value{'' if advised['cls_distinct_above_0.01'] == 1 else 's'}"
                 f" above 0.01 (cosine {advised['cls_rows_cosine']}"
                 f", box rows {advised['box_rows_cosine']}) and mAP50 is {advised['mAP50']} (float "
                 f"{advised['float_mAP50']}" + (f"; patched head {p9['mAP50']})." if p9 else ")."))
    else:
        text += " The patched head avoids it by moving DFL to the CPU."
    return {"id": "stock_head", "value": False, "text": text,
            **({"advised": {k: advised[k] for k in ("mAP50", "cls_distinct_above_0.01", "disable_rules")}}
               if advised else {})}


def concat_layout(layout_rows: list[dict]) -> dict:
    p9, _, cat = layout_rows
    return {"id": "concat_layout", "value": round(p9["mAP50"] - cat["mAP50"], 4), "text":
            f"Keeping boxes and scores in one INT8 output leaves the class scores {cat['cls_distinct_above_0.01']} "
            f"distinct values above 0.01 (patched head: {p9['cls_distinct_above_0.01']}) and gives mAP50 "
            f"{cat['mAP50']} vs {p9['mAP50']} for the patched head: one tensor, one scale, set by the DFL logits."}


def six_vs_nine(layout_rows: list[dict]) -> dict:
    p9, p6, _ = layout_rows
    cost = "nothing measurable" if abs(p6["mAP50"] - p9["mAP50"]) < SAME_MAP50 else "accuracy"
    return {"id": "six_vs_nine", "value": round(p6["mAP50"] - p9["mAP50"], 4), "text":
            f"6 outputs vs 9: mAP50 {p6['mAP50']} vs {p9['mAP50']}, lowest class-output cosine "
            f"{p6['min_cls_cosine']} vs {p9['min_cls_cosine']}; the score-sum output costs {cost} here and saves "
            "the CPU work on empty cells."}


def q_zero(analyses: dict, map_rows: list[dict] = ()) -> dict:
    """Tensors quantized to all zeros, said where they were measured: on accuracy_analysis's ONE image; beside each
    model output among them, the same output's INT8 cosine over every evaluation image (section 2)."""
    zero = [r["layer"] for r in analyses["relu"]["rows"] if r["q_zero"]]
    q = next((r for r in map_rows if r["variant"] == "relu" and r["runtime"].startswith("RKNN INT8")), {})
    over_all = {z: q.get("cosine", {}).get(z.removesuffix("_int8")) for z in zero}
    shown = {z: c for z, c in over_all.items() if c is not None}
    return {"id": "q_zero", "value": zero, "over_eval_set": shown, "text":
            (f"On the one image accuracy_analysis ran on, {len(zero)} tensor(s) of the ReLU model quantize to all zeros "
             f"({', '.join(zero)}): on that image every value is below half an INT8 step (no object of that stride)."
             + (" Over all evaluation images the same outputs keep their signal: INT8 cosine "
                + ", ".join(f"{z.removesuffix('_int8')} {c}" for z, c in shown.items()) + "." if shown else "")
             if zero else "On the one image accuracy_analysis ran on, no tensor of the ReLU model quantizes to all "
             "zeros: every output carries signal there.")}


def model_family(rows: list[dict]) -> dict:
    """06 with ``COMPARE_RUN``: which model INT8 hurts more, and whether the depthwise class branch shows it."""
    a, b = rows
    loss = {r["model"]: round(r["float_mAP50"] - r["int8_mAP50"], 4) for r in rows}
    dw = max(rows, key=lambda r: r["depthwise_convs"])
    other = a if dw is b else b
    worse_cls = dw["min_cls_cosine"] < other["min_cls_cosine"]
    text = (f"Same INT8 settings ({a['config']}): {a['model']} loses {loss[a['model']]:+.4f} mAP50 to INT8 "
            f"(float {a['float_mAP50']} → {a['int8_mAP50']}), {b['model']} {loss[b['model']]:+.4f} "
            f"({b['float_mAP50']} → {b['int8_mAP50']}); INT8 files {a['int8_rknn_MB']} vs {b['int8_rknn_MB']} MB. ")
    if dw["depthwise_convs"] and dw["depthwise_convs"] != other["depthwise_convs"]:
        text += (f"{dw['model']} has {dw['depthwise_convs']} depthwise convolutions ({other['model']}: "
                 f"{other['depthwise_convs']}); its lowest class-output INT8 cosine is {dw['min_cls_cosine']} vs "
                 f"{other['min_cls_cosine']}: the depthwise class branch "
                 + ("does quantize worse here, as the toolkit's tutorial warns." if worse_cls else
                    "does **not** quantize worse here, whatever the toolkit's tutorial warns."))
    value = {"int8_loss": loss, "cls_cosine_worse_with_depthwise": worse_cls}
    per = {r["model"]: r["other_method"] for r in rows if "other_method" in r}
    if len(per) == 2:
        pa, pb = per[a["model"]], per[b["model"]]
        per_loss = {r["model"]: round(r["float_mAP50"] - per[r["model"]]["int8_mAP50"], 4) for r in rows}
        per_worse = per[dw["model"]]["min_cls_cosine"] < per[other["model"]]["min_cls_cosine"]
        value["other_method"] = {"method": pa["method"], "int8_loss": per_loss, "cls_cosine_worse_with_depthwise": per_worse}
        text += (f" Per-{pa['method']} INT8 ({pa['config']}"
                 + (", where a depthwise layer's channels share one scale" if pa["method"] == "layer" else "")
                 + f"): {a['model']} loses {per_loss[a['model']]:+.4f} mAP50, {b['model']} {per_loss[b['model']]:+.4f}; "
                 f"lowest class-output cosine {pa['min_cls_cosine']} vs {pb['min_cls_cosine']}: "
                 + (f"{dw['model']}'s is the lower one." if per_worse else f"not lower for {dw['model']}."))
    tk = {r["model"]: r["other_toolkit"] for r in rows if r.get("other_toolkit")}
    if tk:
        from ..toolkit.versions import pinned

        def rule(rules):
            return ("needs " + ", ".join(rules) + " disabled") if rules else "builds as it is"
        text += (f" On rknn-toolkit2 {next(iter(tk.values()))['toolkit']} (what ultralytics' exporter asks for, "
                 f"because 2.5.0 fails YOLO11 builds): " + "; ".join(
                     f"{m} " + (f"{rule(t['disable_rules'])}, INT8 mAP50 {t['int8_mAP50']}" if t["built"] else f"does not build ({t['error']})")
                     for m, t in tk.items())
                 + f"; on the pinned {pinned()}: " + "; ".join(
                     f"{r['model']} {rule(r.get('disable_rules'))}" for r in rows) + ".")
        value["other_toolkit"] = {m: t.get("disable_rules") if t["built"] else "failed" for m, t in tk.items()}
    if a["epochs"] != b["epochs"]:
        text += (f" The two trained for different epochs ({a['epochs']} vs {b['epochs']}): compare the INT8 losses "
                 "and cosines, not the float mAP.")
    return {"id": "model_family", "value": value, "holds": worse_cls, "text": text}


def layer_plot(analyses: dict, map_rows: list[dict] = ()) -> dict:
    """What to see in the per-layer cosine plot: the lowest "entire" cosines and the all-zero tensors, named, and
    for the model outputs among them, the same output's INT8 cosine over every evaluation image."""
    parts, value = [], {}
    for v, a in analyses.items():
        rows = [r for r in a["rows"] if not r["fused"] and r["entire_cos"] is not None]
        low = sorted(rows, key=lambda r: r["entire_cos"])[:3]
        zero = [r["layer"] for r in a["rows"] if r["q_zero"]]
        q = next((r for r in map_rows if r["variant"] == v and r["runtime"].startswith("RKNN INT8")), {})
        over_all = {n: q.get("cosine", {}).get(n.removesuffix("_int8")) for n in [r["layer"] for r in low] + zero}
        value[v] = {"lowest_entire": [[r["layer"], r["entire_cos"]] for r in low], "q_zero": zero,
                    "same_output_over_eval_set": {k: x for k, x in over_all.items() if x is not None}}
        parts.append(
            f"**{v}**: the lowest 'entire' cosines are " + ", ".join(
                f"{r['layer']} ({r['op']}, {r['entire_cos']}" + (f"; over all evaluation images {over_all[r['layer']]}"
                                                                 if over_all[r["layer"]] is not None else "") + ")"
                for r in low)
            + (f"; {len(zero)} tensor(s) quantize to all zeros on that image ("
               + ", ".join(z + (f", over all evaluation images {over_all[z]}" if over_all.get(z) is not None else "")
                           for z in zero[:4]) + f"{' …' if len(zero) > 4 else ''})"
               if zero else "; no tensor quantizes to all zeros") + ".")
    return {"id": "layer_plot", "value": value, "text":
            "What the per-layer plot shows. 'entire' is the cosine of a layer's output when everything before it is "
            "INT8 too (errors accumulate); 'single' is the error the layer adds by itself. The analysis runs on ONE "
            "image. " + " ".join(parts)
            + " A low cosine at the end of the graph while mAP does not move sits in a head output that holds almost "
              "only background on that image (no object of that stride): near-zero scores, smaller than one INT8 "
              "step, so the cosine measures rounding noise; where the same output's cosine over every evaluation "
              "image is shown above, it is the figure that matters. A tensor quantized to all zeros (q_zero) is the "
              "same case one step further: on that image every value is below half an INT8 step, so no cosine "
              "exists; it would matter only if the output stayed empty over all evaluation images, which the cosine "
              "over all images rules out where it is shown (01 counts detections per stride)."}


def ap_by_size(size_rows: list[dict]) -> dict:
    f = next(r for r in size_rows if r["runtime"] == "float")
    q = next(r for r in size_rows if r["runtime"] == "INT8")
    said, d = [], {}
    for a in ("small", "medium", "large"):
        if f[f"AP_{a}"] is None or q[f"AP_{a}"] is None:
            d[a] = None
            said.append(f"{a} - (no object of that size)")
            continue
        w = wording.difference("INT8", "float", q[f"AP_{a}"], f[f"AP_{a}"], low=q.get(f"AP_{a}_low"),
                               high=q.get(f"AP_{a}_high"))
        d[a] = w["difference"]
        said.append(f"{a}: {w['text']}")
    lost = [a for a, x in d.items() if x is not None and x < 0
            and not wording.is_noise(x, q.get(f"AP_{a}_low"), q.get(f"AP_{a}_high"))]
    return {"id": "ap_by_size", "value": d, "lost": lost, "text":
            "mAP50-95 by object size (COCO areas: small < 32², medium < 96² px²), each with its own paired-bootstrap "
            "interval (fewer objects per size, so wider than the overall one): " + "; ".join(said)
            + (f". INT8 loses measurably on {', '.join(lost)} objects." if lost else
               ". No size loses more than its images resolve.")}


def conclusions(map_rows: list[dict], side: dict, layout_rows: list[dict], stock_attempt: dict,
                analyses: dict, family_rows: list[dict] = (), stock_advised: dict | None = None,
                size_rows: list[dict] = (), toolkit_rows: list[dict] = (), activation: list[dict] = (),
                from_01: dict | None = None) -> list[dict]:
    """Every finding of 06, in reading order (the SiLU ones only when the SiLU twin was trained, the model
    family one only with ``COMPARE_RUN``)."""
    out = [relu_int8_drop(map_rows)]
    if "silu" in side:
        out += [silu_collapse(side), relu_smaller(side), int8_loss_by_activation(side)]
        out += [activation_answer(list(activation), from_01)] if activation else []
    if "silu" in analyses:
        out.append(fusion(analyses, toolkit_rows))
    out += [stock_head(stock_attempt, stock_advised, layout_rows), concat_layout(layout_rows), six_vs_nine(layout_rows), q_zero(analyses, map_rows)]
    out += [layer_plot(analyses, map_rows)]
    out += [ap_by_size(list(size_rows))] if size_rows else []
    if "silu" in analyses and "silu" in side:
        out += [silu_hypotheses(analyses, side, toolkit_rows)]
        out += [silu_by_toolkit(list(toolkit_rows))]
    return out + ([model_family(list(family_rows))] if family_rows else [])


def analyze_conclusions(m: dict) -> list[dict]:
    """06's conclusions from what 06 records."""
    return conclusions(m["map_table"], m["silu_vs_relu"], m["layouts"], m["stock_head"], m["analysis"],
                       m.get("model_family") or (), m.get("stock_head_advised"), m.get("ap_by_size") or (),
                       m.get("toolkit_versions") or (), m.get("activation_answer") or (), m.get("from_01"))


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    five = m["from_05"]
    rows = {r["runtime"]: r for r in m["map_table"] if r["variant"] == five["variant"]}
    flt, q = rows.get("onnxruntime float32"), rows.get("RKNN INT8 simulator")
    keys = ("mAP50", "mAP50_95")
    if not (flt and q) or any(flt[k] != five["float"][k] for k in (*keys, "detections")):
        return [check("int8_reproduces_05", True, "05 and 06 evaluated different images (their EVAL_IMAGES differ) "
                       "or another model: 06's INT8 figures are not compared with 05's", "")]
    diff = max(abs(q[k] - five["int8"][k]) for k in keys)
    return [check("int8_reproduces_05", diff <= REPRODUCE_MAP, f"06 rebuilt 05's INT8 configuration "
                   f"({five['int8']['config_name']}) and measured mAP50 {q['mAP50']} / mAP50-95 {q['mAP50_95']} on "
                   f"the same images; 05 recorded {five['int8']['mAP50']} / {five['int8']['mAP50_95']}",
                   "an artifact of 05 is older than its settings: re-run 05, then 06; if it persists, the toolkit's "
                   "build is not deterministic here (report it)")]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    from ..experiments.comparisons import map_row

    rows, layouts, side = m["map_table"], m["layouts"], m["silu_vs_relu"]
    int8 = map_row(rows, "relu", "RKNN INT8")
    h = {"relu_float_mAP50": map_row(rows, "relu", "onnx")["mAP50"], "relu_int8_mAP50": int8["mAP50"],
         "relu_int8_min_cosine": int8["min_cosine"], "stock_head_builds": m["stock_head"]["built"],
         "concat_head_mAP50": layouts[2]["mAP50"], "patched_head_mAP50": layouts[0]["mAP50"]}
    if "silu" in side:
        h.update(silu_int8_mAP50=side["silu"]["int8_mAP50"],
                 silu_share_at_0_5=side["silu"]["cls_share_at_0_5"])
    answer = next((c for c in m.get("conclusions", []) if c["id"] == "activation_answer"), None)
    if answer:  # which activation scores higher after INT8, per setting (06's paired intervals)
        h["activation_after_int8"] = {k.removeprefix("INT8, "): v["higher"] or "within noise"
                                      for k, v in answer["value"].items() if k.startswith("INT8")}
    if m.get("stock_head_advised"):
        h["stock_head_advised_mAP50"] = m["stock_head_advised"]["mAP50"]
    if m.get("model_family"):
        h["family_int8_mAP50_loss"] = {r["model"]: round(r["float_mAP50"] - r["int8_mAP50"], 4) for r in m["model_family"]}
    return h


STAGE = Stage("06_analyze", inputs={"onnx": ('03_export', 'onnx'), "imgsz": ('03_export', 'imgsz'), "ship": ('05_quantize', 'ship'), "calibration": ('05_quantize', 'calibration'), "variants": ('01_train', 'variants'), "variant_05": ('05_quantize', 'variant'), "float_05": ('05_quantize', 'onnx_map'), "data_yaml": ('01_train', 'data_yaml')},
              headline=headline, conclusions=analyze_conclusions, checks=checks)
