"""Notebook 06's conclusions: one small function per finding, each choosing its sentence by the numbers.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .comparisons import map_row, op_counts

#: mAP50 lost to INT8 up to which "INT8 keeps the accuracy"
INT8_KEEPS_MAP50 = 0.02
#: share of INT8 class scores at exactly 0.5 above which the scores "collapsed"
COLLAPSE_SHARE = 0.01
#: the size saving one blog reports for ReLU over SiLU, and how close counts as "the same"
BLOG_SIZE_SAVING, SIZE_TOLERANCE = 0.266, 0.03
#: mAP50 difference below which two head layouts count as equal
SAME_MAP50 = 0.01


def relu_int8_drop(map_rows: list[dict]) -> dict:
    f, q = map_row(map_rows, "relu", "onnx"), map_row(map_rows, "relu", "RKNN INT8")
    drop = round(f["mAP50"] - q["mAP50"], 4)
    return {"id": "relu_int8_drop", "value": drop, "text":
            f"INT8 ({q['config']}) {'keeps' if drop <= INT8_KEEPS_MAP50 else 'loses'} the ReLU model's accuracy: "
            f"mAP50 {f['mAP50']} float → {q['mAP50']} INT8 (Δ {-drop:+.4f}), mAP50-95 {f['mAP50_95']} → "
            f"{q['mAP50_95']}."}


def silu_collapse(side: dict) -> dict:
    s, r = side["silu"], side["relu"]
    share = s["share of class scores at 0.5"]
    collapsed = share > COLLAPSE_SHARE
    return {"id": "silu_collapse", "value": share, "holds": collapsed, "text":
            (f"SiLU INT8 class scores **collapsed**: {share:.1%} of them sit at 0.5." if collapsed else
             f"The claim that SiLU INT8 scores collapse to 0.5 does **not** reproduce here: {share:.3%} of the "
             f"SiLU model's INT8 class scores are 0.5, and they keep {s['INT8 class-score distinct values']} "
             f"distinct values (ReLU: {r['INT8 class-score distinct values']}). With the patched head the class "
             "scores have their own output and scale, and toolkit 2.5.0 runs SiLU as one exSwish op; the "
             "collapse was reported for older toolkits and head layouts that mix scores with other values.")}


def relu_smaller(side: dict) -> dict:
    s, r = side["silu"], side["relu"]
    ratio = 1 - r["INT8 .rknn MB"] / s["INT8 .rknn MB"]
    claim = "" if abs(ratio - BLOG_SIZE_SAVING) < SIZE_TOLERANCE else ", not the 26.6 % one blog reports"
    return {"id": "relu_smaller", "value": round(ratio, 4), "text":
            f"The ReLU INT8 model is {ratio:.1%} smaller than the SiLU one ({r['INT8 .rknn MB']} vs "
            f"{s['INT8 .rknn MB']} MB){claim}: the two have exactly the same weights, so the difference is layer "
            "overhead, most likely the SiLU model's separate exSwish layers (ReLU fuses into the convolutions)."}


def int8_loss_by_activation(side: dict) -> dict:
    d = {v: side[v]["float mAP50"] - side[v]["INT8 mAP50"] for v in ("relu", "silu")}
    verdict = "ReLU loses less" if d["relu"] < d["silu"] else "SiLU loses less" if d["silu"] < d["relu"] else "equal"
    return {"id": "int8_loss_by_activation", "value": {v: round(x, 4) for v, x in d.items()},
            "text": f"mAP50 lost to INT8: ReLU {d['relu']:+.4f}, SiLU {d['silu']:+.4f} (positive = lost); {verdict}."}


def fusion(analyses: dict) -> dict:
    fused = op_counts(analyses["relu"]["rows"]).get("Conv (fused)", 0)
    swish = op_counts(analyses["silu"]["rows"]).get("exSwish", 0)
    return {"id": "fusion", "value": {"relu_fused_conv": fused, "silu_exswish": swish},
            "text": f"The toolkit fused {fused} convolutions with their ReLU into one layer; the SiLU model keeps "
                    f"{swish} separate exSwish layers."}


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
                 f"{advised['float mAP50']}" + (f"; patched head {p9['mAP50']})." if p9 else ")."))
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


def q_zero(analyses: dict) -> dict:
    zero = [r["layer"] for r in analyses["relu"]["rows"] if r["q_zero"]]
    return {"id": "q_zero", "value": zero, "text":
            (f"{len(zero)} tensor(s) of the ReLU model quantize to all zeros ({', '.join(zero)}): that output "
             "never fired on the calibration set, so INT8 has nothing to represent there."
             if zero else "No tensor of the ReLU model quantizes to all zeros: every output carries signal.")}


def model_family(rows: list[dict]) -> dict:
    """06 with ``COMPARE_RUN``: which model INT8 hurts more, and whether the depthwise class branch shows it."""
    a, b = rows
    loss = {r["model"]: round(r["float mAP50"] - r["INT8 mAP50"], 4) for r in rows}
    dw = max(rows, key=lambda r: r["depthwise_convs"])
    other = a if dw is b else b
    worse_cls = dw["min cls cosine"] < other["min cls cosine"]
    text = (f"Same INT8 settings ({a['config']}): {a['model']} loses {loss[a['model']]:+.4f} mAP50 to INT8 "
            f"(float {a['float mAP50']} → {a['INT8 mAP50']}), {b['model']} {loss[b['model']]:+.4f} "
            f"({b['float mAP50']} → {b['INT8 mAP50']}); INT8 files {a['INT8 .rknn MB']} vs {b['INT8 .rknn MB']} MB. ")
    if dw["depthwise_convs"] and dw["depthwise_convs"] != other["depthwise_convs"]:
        text += (f"{dw['model']} has {dw['depthwise_convs']} depthwise convolutions ({other['model']}: "
                 f"{other['depthwise_convs']}); its lowest class-output INT8 cosine is {dw['min cls cosine']} vs "
                 f"{other['min cls cosine']}: the depthwise class branch "
                 + ("does quantize worse here, as the toolkit's tutorial warns." if worse_cls else
                    "does **not** quantize worse here, whatever the toolkit's tutorial warns."))
    if a["epochs"] != b["epochs"]:
        text += (f" The two trained for different epochs ({a['epochs']} vs {b['epochs']}): compare the INT8 losses "
                 "and cosines, not the float mAP.")
    return {"id": "model_family", "value": {"int8_loss": loss, "cls_cosine_worse_with_depthwise": worse_cls},
            "holds": worse_cls, "text": text}


def conclusions(map_rows: list[dict], side: dict, layout_rows: list[dict], stock_attempt: dict,
                analyses: dict, family_rows: list[dict] = (), stock_advised: dict | None = None) -> list[dict]:
    """Every finding of 06, in reading order (the SiLU ones only when the SiLU twin was trained, the model
    family one only with ``COMPARE_RUN``)."""
    out = [relu_int8_drop(map_rows)]
    if "silu" in side:
        out += [silu_collapse(side), relu_smaller(side), int8_loss_by_activation(side)]
    if "silu" in analyses:
        out.append(fusion(analyses))
    out += [stock_head(stock_attempt, stock_advised, layout_rows), concat_layout(layout_rows), six_vs_nine(layout_rows), q_zero(analyses)]
    return out + ([model_family(list(family_rows))] if family_rows else [])


# --------------------------------------------------------------------------- 08: pose
#: pose mAP50-95 an fp16 or INT8 model may lose and still count as "keeps the accuracy"
POSE_KEEPS = 0.02


def pose_transplant(comparison: dict | None) -> dict:
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
            f"against {f32['pose_mAP50_95']} in fp32 (Δ {-drop:+.4f}), lowest output cosine to onnxruntime "
            f"{f16['min_cosine']}. The fp16 switches themselves {flags}."}


def ncnn_speed(latency: list[dict]) -> dict:
    r = {x["threads"]: x["silu_over_relu"] for x in latency}
    return {"id": "ncnn_speed", "value": r, "text":
            "On this CPU with ncnn the SiLU pose model takes " + ", ".join(
                f"{v:.2f}× the ReLU model's time with {t} thread{'s' if t > 1 else ''}" for t, v in r.items())
            + " (median of repeated runs, same input)."}


def rknn_pose(builds: list[dict]) -> dict:
    by = {b["build"]: b for b in builds}
    f, q = by["FP16"], by["INT8"]
    worst = min(("box", "cls", "kpt"), key=lambda k: q[f"min_{k}_cosine"])
    text = (f"RKNN INT8 keeps pose mAP50-95 {q['pose_mAP50_95']} of FP16's {f['pose_mAP50_95']}; of its outputs the "
            f"{ {'box': 'box DFL', 'cls': 'class', 'kpt': 'keypoint'}[worst]} ones suffer most (lowest cosine "
            f"{q[f'min_{worst}_cosine']}; box {q['min_box_cosine']}, class {q['min_cls_cosine']}, keypoints "
            f"{q['min_kpt_cosine']}).")
    h = by.get("INT8, keypoint branch float16")
    if h:
        gain = round(h["pose_mAP50_95"] - q["pose_mAP50_95"], 4)
        text += (f" Keeping the keypoint branch in float16 ({h['float_layers']} layers, {h['rknn_MB']} MB against "
                 f"{q['rknn_MB']}) gives pose mAP50-95 {h['pose_mAP50_95']} (Δ {gain:+.4f}), keypoint cosine "
                 f"{h['min_kpt_cosine']}.")
    return {"id": "rknn_pose", "value": {"worst_output": worst, "int8_pose_mAP50_95": q["pose_mAP50_95"],
                                         "fp16_pose_mAP50_95": f["pose_mAP50_95"]}, "text": text}


def pose_conclusions(comparison, relu_ncnn: dict, silu_ncnn: dict, ncnn_rows, flag_effect: float, latency,
                     builds) -> list[dict]:
    """Every finding of 08, in reading order."""
    return [pose_transplant(comparison), ncnn_fusion(relu_ncnn, silu_ncnn), ncnn_fp16(ncnn_rows, flag_effect),
            ncnn_speed(latency), rknn_pose(builds)]
