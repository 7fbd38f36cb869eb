"""Notebook 06's conclusions: one small function per finding, each choosing its sentence by the numbers.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .comparisons import map_row, op_counts
from .selection import within_noise

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
             "scores have their own output and scale; the collapse was reported for older toolkits and head layouts "
             "that mix scores with other values (section 3 builds the SiLU model with older releases too).")}


def relu_smaller(side: dict) -> dict:
    s, r = side["silu"], side["relu"]
    ratio = 1 - r["INT8 .rknn MB"] / s["INT8 .rknn MB"]
    claim = "" if abs(ratio - BLOG_SIZE_SAVING) < SIZE_TOLERANCE else ", not the 26.6 % one blog reports"
    return {"id": "relu_smaller", "value": round(ratio, 4), "text":
            f"The ReLU INT8 model is {ratio:.1%} smaller than the SiLU one ({r['INT8 .rknn MB']} vs "
            f"{s['INT8 .rknn MB']} MB){claim}: the two have exactly the same weights, so the difference is in the layers "
            "the toolkit makes of each activation (the fusion finding below)."}


def int8_loss_by_activation(side: dict) -> dict:
    d = {v: side[v]["float mAP50"] - side[v]["INT8 mAP50"] for v in ("relu", "silu")}
    verdict = "ReLU loses less" if d["relu"] < d["silu"] else "SiLU loses less" if d["silu"] < d["relu"] else "equal"
    return {"id": "int8_loss_by_activation", "value": {v: round(x, 4) for v, x in d.items()},
            "text": f"mAP50 lost to INT8: ReLU {d['relu']:+.4f}, SiLU {d['silu']:+.4f} (positive = lost); {verdict}."}


def fusion(analyses: dict, toolkit_rows: list[dict] = ()) -> dict:
    fused = op_counts(analyses["relu"]["rows"]).get("Conv (fused)", 0)
    swish = op_counts(analyses["silu"]["rows"]).get("exSwish", 0)
    built = {r["model"]: r for r in toolkit_rows if r.get("pinned")}
    value = {"relu_fused_conv": fused, "silu_exswish": swish}
    text = (f"accuracy_analysis lists {fused} convolutions fused with their ReLU, and {swish} exSwish layers after "
            "the SiLU model's convolutions.")
    if "silu" in built and "relu" in built:
        b, r = built["silu"], built["relu"]
        value.update(built_silu={"ConvExSwish": b["ConvExSwish"], "exSwish": b["exSwish"]},
                     built_relu={"ConvRelu": r["ConvRelu"]})
        text += (f" The graph the NPU runs (the build's own layer table) is another picture: {b['ConvExSwish']} "
                 f"convolutions carry their SiLU fused (ConvExSwish), {b['exSwish']} exSwish stay separate, and the "
                 f"ReLU model has {r['ConvRelu']} ConvRelu: both activations fuse into their convolutions.")
    return {"id": "fusion", "value": value, "text": text}


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
    value = {"int8_loss": loss, "cls_cosine_worse_with_depthwise": worse_cls}
    per = {r["model"]: r["other_method"] for r in rows if "other_method" in r}
    if len(per) == 2:
        pa, pb = per[a["model"]], per[b["model"]]
        per_loss = {r["model"]: round(r["float mAP50"] - per[r["model"]]["INT8 mAP50"], 4) for r in rows}
        per_worse = per[dw["model"]]["min cls cosine"] < per[other["model"]]["min cls cosine"]
        value["other_method"] = {"method": pa["method"], "int8_loss": per_loss, "cls_cosine_worse_with_depthwise": per_worse}
        text += (f" Per-{pa['method']} INT8 ({pa['config']}"
                 + (", where a depthwise layer's channels share one scale" if pa["method"] == "layer" else "")
                 + f"): {a['model']} loses {per_loss[a['model']]:+.4f} mAP50, {b['model']} {per_loss[b['model']]:+.4f}; "
                 f"lowest class-output cosine {pa['min cls cosine']} vs {pb['min cls cosine']}: "
                 + (f"{dw['model']}'s is the lower one." if per_worse else f"not lower for {dw['model']}."))
    tk = {r["model"]: r["other_toolkit"] for r in rows if r.get("other_toolkit")}
    if tk:
        from .toolkit.versions import pinned

        def rule(rules):
            return ("needs " + ", ".join(rules) + " disabled") if rules else "builds as it is"
        text += (f" On rknn-toolkit2 {next(iter(tk.values()))['toolkit']} (what ultralytics' exporter asks for, "
                 f"because 2.5.0 fails YOLO11 builds): " + "; ".join(
                     f"{m} " + (f"{rule(t['disable_rules'])}, INT8 mAP50 {t['INT8 mAP50']}" if t["built"] else f"does not build ({t['error']})")
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
    d = {a: (None if f[f"AP_{a}"] is None or q[f"AP_{a}"] is None else round(q[f"AP_{a}"] - f[f"AP_{a}"], 4))
         for a in ("small", "medium", "large")}
    known = {a: x for a, x in d.items() if x is not None}
    worst = min(known, key=known.get) if known else None
    return {"id": "ap_by_size", "value": d, "text":
            "INT8 − float mAP50-95 by object size (COCO areas: small < 32², medium < 96² px²): "
            + ", ".join(f"{a} {'-' if x is None else f'{x:+.4f}'} ({f[f'AP_{a}']} → {q[f'AP_{a}']})" for a, x in d.items())
            + (f"; {worst} objects pay the most." if worst and known[worst] < 0 else "; no size loses accuracy.")}


def silu_by_toolkit(rows: list[dict]) -> dict:
    """The SiLU question put to every toolkit release set up here (06's ``toolkit_versions``, :func:`helpers.peers.silu_by_toolkit`):
    per release, the SiLU model's share of INT8 class scores at 0.5, distinct values, mAP, and the graph the
    toolkit made of SiLU."""
    silu = sorted((r for r in rows if r["model"] == "silu"), key=lambda r: [int(x) for x in r["toolkit"].split(".")])
    relu = {r["toolkit"]: r for r in rows if r["model"] == "relu"}
    if not silu:
        return {"id": "silu_by_toolkit", "value": {}, "text": "No other toolkit release was set up here, so the SiLU "
                "question stays a hypothesis: run scripts/setup.sh, which sets up rknn-toolkit2 2.2.0 and 2.3.2."}

    def graph(r):
        parts = [f"{r['ConvExSwish']} ConvExSwish"] + [f"{r[k]} separate {k}" for k in ("exSwish", "Sigmoid", "Mul") if r[k]]
        return " + ".join(parts)
    collapsed = [r["toolkit"] for r in silu if r["share_at_0_5"] > COLLAPSE_SHARE]
    separate = [r["toolkit"] for r in silu if r["Mul"]]  # SiLU = x * sigmoid(x): unfused, it needs a Mul
    value = {r["toolkit"]: {"share_at_0.5": r["share_at_0_5"], "distinct": r["cls_distinct_above_0_01"],
                            "mAP50_95": r["mAP50_95"], "ConvExSwish": r["ConvExSwish"], "exSwish": r["exSwish"],
                            "Sigmoid": r["Sigmoid"], "Mul": r["Mul"],
                            "relu_mAP50_95": relu.get(r["toolkit"], {}).get("mAP50_95")} for r in silu}
    tks = ", ".join(r["toolkit"] for r in silu)
    text = (f"Put to the test with rknn-toolkit2 {tks} (same calibration set, same settings, the 9-output head): the "
            "SiLU model's INT8 class scores at 0.5: " + ", ".join(f"{r['share_at_0_5']:.3%}" for r in silu)
            + " (distinct values above 0.01: " + ", ".join(str(r["cls_distinct_above_0_01"]) for r in silu)
            + "); INT8 mAP50-95 " + ", ".join(f"{r['mAP50_95']}" for r in silu) + f" (float {silu[0]['float_mAP50_95']}; "
            "ReLU: " + ", ".join(str(relu[r["toolkit"]]["mAP50_95"]) if r["toolkit"] in relu else "-" for r in silu)
            + "). The graph each release makes of SiLU (its layer table): " + "; ".join(f"{r['toolkit']}: {graph(r)}" for r in silu)
            + " (ConvExSwish: the SiLU fused into its convolution). ")
    if not collapsed and not separate:
        text += ("So no release from " + silu[0]["toolkit"] + " on quantizes SiLU as separate Sigmoid and Mul ops or "
                 "leaves its scores at 0.5: the 'older toolkit' explanation holds for no release on PyPI. That write-up's 2.1.0 "
                 "is not on PyPI, so it stays untested; the other proposed causes (calibration data, per-layer scales) "
                 "remain open.")
    else:
        text += (("Scores collapse with " + ", ".join(collapsed) + ". ") if collapsed else "") + \
                (("Separate Sigmoid and Mul ops with " + ", ".join(separate) + ". ") if separate else "") + \
                "Build SiLU models with a release where neither happens, or train ReLU (notebook 01)."
    return {"id": "silu_by_toolkit", "value": value, "holds": not collapsed, "text": text}


def silu_hypotheses(analyses: dict, side: dict, toolkit_rows: list[dict] = ()) -> dict:
    """A 2024 write-up saw SiLU scores stuck at 50 % with this same 9-output head: the causes, each tested where this run can."""
    def stats(rows, op):
        xs = sorted(r["single_cos"] for r in rows if r["op"] == op and r["single_cos"] is not None)
        return (round(xs[0], 5), round(xs[len(xs) // 2], 5)) if xs else (None, None)
    sw = stats(analyses["silu"]["rows"], "exSwish")
    cv = stats(analyses["relu"]["rows"], "Relu")  # the conv + ReLU the toolkit fused: the Relu row holds its error
    share = side["silu"]["share of class scores at 0.5"]
    tested = [r for r in toolkit_rows if r["model"] == "silu"]
    if tested:
        by_tk = silu_by_toolkit(list(toolkit_rows))
        one = (f"(1) older toolkits quantizing SiLU differently: tested with {', '.join(by_tk['value'])} "
               + ("and refuted (see the finding on toolkit releases: no collapse, SiLU fused into its convolution on "
                  "each)" if by_tk["holds"] and not any(v["Mul"] for v in by_tk["value"].values())
                  else "and confirmed for some releases (see the finding on toolkit releases)") + "; ")
    else:
        one = ("(1) older toolkits quantized SiLU as separate Sigmoid and Mul ops, each with its own INT8 range, where "
               "2.5.0 runs one exSwish op (untested: no other toolkit release is set up here); ")
    return {"id": "silu_hypotheses", "value": {"exswish_single_cos_min_median": sw, "relu_single_cos_min_median": cv,
                                               "share_at_0.5": share, "toolkits_tested": [r["toolkit"] for r in tested]},
            "text": f"A November 2024 write-up of YOLOv8 on an RK3588 (rknn-toolkit2 and rknn_model_zoo v2.1.0) saw SiLU INT8 scores stuck at 0.5 with this same 9-output head; this run measured "
                    f"{share:.3%} of them at 0.5. The causes proposed for it: " + one +
                    "(2) a calibration set that does not look like the deployment data (all-background or wrong "
                    "colour order: 05 measures the colour cost); (3) the class branch's last conv quantized with one "
                    "scale per layer. The SiLU activation's own INT8 error on this toolkit, layer by layer: the "
                    f"exSwish layers add cosine {sw[0]} at worst (median {sw[1]}), against {cv[0]} (median {cv[1]}) "
                    "for the ReLU model's conv + ReLU layers" + (": the SiLU activation itself is not where scores "
                    "are lost." if share <= COLLAPSE_SHARE else "; the collapse above is real: compare these per-layer "
                    "errors with the worst layers of section 1.")}


def conclusions(map_rows: list[dict], side: dict, layout_rows: list[dict], stock_attempt: dict,
                analyses: dict, family_rows: list[dict] = (), stock_advised: dict | None = None,
                size_rows: list[dict] = (), toolkit_rows: list[dict] = ()) -> list[dict]:
    """Every finding of 06, in reading order (the SiLU ones only when the SiLU twin was trained, the model
    family one only with ``COMPARE_RUN``)."""
    out = [relu_int8_drop(map_rows)]
    if "silu" in side:
        out += [silu_collapse(side), relu_smaller(side), int8_loss_by_activation(side)]
    if "silu" in analyses:
        out.append(fusion(analyses, toolkit_rows))
    out += [stock_head(stock_attempt, stock_advised, layout_rows), concat_layout(layout_rows), six_vs_nine(layout_rows), q_zero(analyses)]
    out += [layer_plot(analyses, map_rows)]
    out += [ap_by_size(list(size_rows))] if size_rows else []
    if "silu" in analyses and "silu" in side:
        out += [silu_hypotheses(analyses, side, toolkit_rows)]
        out += [silu_by_toolkit(list(toolkit_rows))]
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


# --------------------------------------------------------------------------- 01-05, 07: every notebook's ending
# Each ``<stage>_conclusions(m)`` reads only the stage's recorded metrics (what ``close_stage`` writes), so the
# chain test re-derives every sentence from metrics.json; ``stage_conclusions`` dispatches by stage name.
#: mAP50-95 difference under which two float models count as "the same" (one training run each: training noise)
SAME_TRAINING = 0.01


def relu_vs_silu_float(m: dict) -> dict:
    r, s = ({k: round(v[k], 4) for k in ("mAP50", "mAP50_95")} for v in (m["variants"]["relu"], m["variants"]["silu"]))
    gap = round(s["mAP50_95"] - r["mAP50_95"], 4)
    if gap > SAME_TRAINING:
        why = (f"ReLU trails SiLU by {gap:.4f} mAP50-95 in float ({r['mAP50_95']} vs {s['mAP50_95']}; mAP50 "
               f"{r['mAP50']} vs {s['mAP50']}). ReLU zeroes every negative pre-activation and has a kink at 0, "
               "SiLU passes small negative values and is smooth, so the same network fits a little better with "
               "SiLU; that float gap is the price of an activation the NPU fuses for free, and 05/06 show whether "
               "INT8 gives it back.")
    elif gap < -SAME_TRAINING:
        why = (f"ReLU is ahead of SiLU in float by {-gap:.4f} mAP50-95 ({r['mAP50_95']} vs {s['mAP50_95']}): on "
               "this data and schedule the activation does not limit the model; one training run each, so read "
               "it as 'no loss', not as 'ReLU is better'.")
    else:
        why = (f"ReLU and SiLU end within {SAME_TRAINING} mAP50-95 of each other in float ({r['mAP50_95']} vs "
               f"{s['mAP50_95']}; mAP50 {r['mAP50']} vs {s['mAP50']}): on this data the cheaper activation costs "
               "nothing measurable.")
    return {"id": "relu_vs_silu_float", "value": gap, "holds": gap > SAME_TRAINING, "text": why}


def transplant_sentence(c: dict) -> str:
    """01's (and 08's) transplant comparison in words: first-epoch loss, mAP at equal epochs, epochs to catch up."""
    n = min(c["epochs"].values())  # the epochs both runs have
    ls, lt = c["loss_first_epochs"]["scratch"][:1], c["loss_first_epochs"]["transplanted"][:1]
    first = (f"After one epoch the transplanted model's training loss is {lt[0]:.2f} against {ls[0]:.2f} from "
             f"scratch" if ls and lt else "No epoch finished")
    eq = c["mAP50_at_equal_epochs"]
    equal = (f"; after {n} epochs its val {c.get('metric', 'mAP50')} is {eq['transplanted']:.3f} against {eq['scratch']:.3f} for the "
             f"scratch run at the same point of its longer schedule" if eq else "")
    reach = c["epochs_to_reach_scratch_final_mAP50"]
    m = c.get("metric", "mAP50")
    fs, ft = c["final"]["scratch"], c["final"]["transplanted"]
    end = (f"; it reached the scratch model's final {m} ({fs[m]}, after {c['epochs']['scratch']} epochs) "
           f"in {reach} epochs" if reach else
           f"; in {c['epochs']['transplanted']} epochs it did not reach the scratch model's final {m} "
           f"({fs[m]} after {c['epochs']['scratch']} epochs; transplanted: {ft[m]})")
    return first + equal + end + "."


def transplant_buys(m: dict) -> dict:
    t = m["transplant"]
    return {"id": "transplant", "value": {"first_loss": [t["loss_first_epochs"]["scratch"][0],
                                                         t["loss_first_epochs"]["transplanted"][0]],
                                          "epochs_to_scratch_final": t["epochs_to_reach_scratch_final_mAP50"]},
            "text": "Starting from the SiLU twin's weights (the filters carry over although the activation changed): "
                    + transplant_sentence(t)}


def strides_fire(m: dict) -> dict:
    use = m["stride_usage"]["relu"]
    silent = [k for k, v in use.items() if v == 0]
    init = m["variants"]["relu"].get("initial_box_px") or {}
    unfit = {k[1:]: 15 * int(k[1:]) for k in use}  # an untrained head: 7.5 of 16 bins a side, 15 strides wide
    text = ("Every stride produces final detections on the val set (" + ", ".join(f"{k}: {v}" for k, v in use.items())
            + ")." if not silent else f"Stride(s) {', '.join(silent)} never fire here: their outputs carry nothing "
            "to quantize (05/06 will show them as all-zero); retrain with FIT_BOXES=True or larger objects.")
    text += (" The untrained head's first boxes are " + ", ".join(f"{v:.0f} px at stride {s}" for s, v in unfit.items())
             + f" ({m['imgsz']}-px input)" + ("; FIT_BOXES started them at " + ", ".join(f"{v:.0f}" for v in init.values())
                                             + " px" if init else ", and FIT_BOXES was off")
             + ". A first box wider than the image is never the assigner's best match, so without FIT_BOXES the stride "
               "whose boxes start too large never gets a training target.")
    return {"id": "strides_fire", "value": silent, "holds": not silent, "text": text}


def training_curves(histories: dict, key: str = "metrics/mAP50-95(B)", close_mosaic: int = 0) -> str:
    """What to see in 01's training curves: where each run levels off, and what the last epochs did."""
    parts = []
    for name, rows in histories.items():
        ys = [r.get(key) for r in rows if r.get(key) is not None]
        if not ys:
            continue
        final = ys[-1]
        level = next(i + 1 for i, y in enumerate(ys) if y >= final - 0.01)
        parts.append(f"{name} reaches within 0.01 of its final {final:.3f} at epoch {level} of {len(ys)}")
    text = "In the curves: " + "; ".join(parts) + "."
    if close_mosaic:
        text += (f" The last {close_mosaic} epochs train without mosaic: the step in the losses there is the "
                 "augmentation switching off, not the model changing.")
    return text


def train_conclusions(m: dict) -> list[dict]:
    out = [relu_vs_silu_float(m)] if "silu" in m["variants"] and "relu" in m["variants"] else []
    out += [transplant_buys(m)] if m.get("transplant") else []
    return out + ([strides_fire(m)] if "relu" in m.get("stride_usage", {}) else [])


def patch_conclusions(m: dict) -> list[dict]:
    ok = m["parity_ok"]
    out = [{"id": "head_parity", "value": ok, "holds": ok, "text":
            (f"The patched heads compute what ultralytics computes: dense boxes within {m['max_box_diff_px']:.1e} px and "
             f"scores within {m['max_score_diff']:.1e}; after NMS {m['final_detections_compared']} detections compared, "
             f"{m['final_unmatched']} unmatched. Moving DFL and the decode to the CPU changes nothing but where they run."
             if ok else f"The patched head does NOT match ultralytics (box diff {m['max_box_diff_px']} px, "
             f"{m['final_unmatched']} unmatched detections): do not export it; see the parity table.")}]
    if "numpy_decode_max_diff_px" in m:
        d = m["numpy_decode_max_diff_px"]
        out.append({"id": "numpy_decode", "value": d, "holds": d < 1e-3, "text":
                    f"The dozen lines of numpy decode give the same boxes as helpers' decoder (largest difference "
                    f"{d:.1e} px): the DFL is a softmax over 16 bins and its expectation, nothing more."})
    return out


def export_conclusions(m: dict) -> list[dict]:
    stock = {k: v for k, v in m["models"].items() if k.endswith("_stock")}
    flagged = sorted({op for v in stock.values() for op in v.get("flagged_ops", {})})
    return [{"id": "onnx_parity", "value": m["min_cosine"], "holds": m["min_cosine"] > 0.9999, "text":
             f"onnxruntime reproduces PyTorch on every patched output (lowest cosine {m['min_cosine']:.7f}, largest "
             f"difference {float(m['patched_max_abs_diff']):.1e})."},
            {"id": "npu_ops", "value": flagged, "text":
             (f"The stock graph carries ops the NPU leaves to the CPU or that break its build ({', '.join(flagged)}); "
              "the patched graphs carry none of them." if not m["flagged_in_patched"] else
              f"The patched graphs still carry flagged ops ({m['flagged_in_patched']}): a YOLO11 attention block has a "
              "Softmax of its own, which the NPU builds; any other op there means the patch left DFL or decode ops in "
              "the graph (see 02).")}]


def convert_conclusions(m: dict) -> list[dict]:
    f, o = m["fp16"], m["onnx_map"]
    d = round(f["mAP50"] - o["mAP50"], 4)
    rgb, bgr = m["channel_order"]
    out = [{"id": "fp16_keeps", "value": f["min_cosine"], "holds": f["min_cosine"] > 0.999, "text":
            f"FP16 on the NPU simulator is float for practical purposes: lowest output cosine {f['min_cosine']}, "
            f"mAP50 {f['mAP50']} vs onnxruntime {o['mAP50']} (Δ {d:+.4f}), {m['detections']['unmatched']} of "
            f"{m['detections']['ref']} detections unmatched."},
           {"id": "channel_order", "value": bgr["min cosine vs onnxruntime"], "text":
            f"Feeding BGR where the model expects RGB drops the lowest output cosine from "
            f"{rgb['min cosine vs onnxruntime']} to {bgr['min cosine vs onnxruntime']}: nothing crashes, the numbers are "
            "just wrong. The board's input must be RGB, as the build's mean/std assume."}]
    ok = [r for r in m["targets"] if r.get("built")]
    out.append({"id": "targets_fp16", "value": [r["target"] for r in ok], "text":
                f"{len(ok)} of {len(m['targets'])} targets build FP16 and agree with onnxruntime on the simulator "
                f"(lowest cosine {min(r['min_cosine'] for r in ok) if ok else '-'}); "
                + (", ".join(r["target"] for r in m["targets"] if not r.get("built")) or "none")
                + " run INT8 only (05)."})
    if m.get("export_size"):
        a, b = m["export_size"]
        out.append({"id": "larger_export", "value": round(b["rknn_MB"] / a["rknn_MB"], 2), "text":
                    f"Exported at {b['imgsz']} px instead of {a['imgsz']}, the same weights make a "
                    f"{b['rknn_MB']} MB FP16 model instead of {a['rknn_MB']} MB (build {b['build_s']} s vs "
                    f"{a['build_s']} s), and the NPU would compute {(b['imgsz'] / a['imgsz']) ** 2:.0f}× the pixels "
                    "per frame: export at the size you run."})
    return out


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
            f"(Δ {h['report_gap']:+.4f}). Over all images, INT8 − float is {sv['difference']:+.4f} "
            f"(95 % bootstrap interval {sv['low']:+.4f} … {sv['high']:+.4f}); the best and worst sweep configurations "
            f"differ by {bw['difference']:+.4f} ({bw['low']:+.4f} … {bw['high']:+.4f}), "
            + ("an interval that contains zero: on this evaluation the sweep's configurations are indistinguishable, "
               "and any of them would ship as well." if noise else
               "an interval that excludes zero: the choice of configuration matters here."))
    return {"id": "honest_ship", "value": {"ship": h["ship"], "report_gap": h["report_gap"],
                                           "sweep_within_noise": noise}, "holds": noise,
            "text": _why_shipped(h) + " " + text}


def _why_shipped(h: dict) -> str:
    """Why this configuration ships: the best on the selection half, or the cheapest of those tied with it."""
    if "candidates" not in h:  # a record of before the cost-aware choice
        return ""
    n, res = len(h["candidates"]), h["selection_resolution"]
    if h["ship"] == h["selection_best"]:
        return (f"{h['ship']} is the best on the selection half" + (
            f" and, of the {n} configurations within the ±{res} that half resolves, among the cheapest to build "
            f"({h['ship_build_s']} s)." if n > 1 else f", beyond the ±{res} that half resolves."))
    return (f"{n} configurations are within the ±{res} the selection half resolves of its best, "
            f"{h['selection_best']} ({h['selection_best_build_s']} s to build): this evaluation cannot tell them "
            f"apart, so one of the cheapest to build ships (those within {h.get('cost_tie', 2.0):g}× the cheapest "
            f"one's build time count as equally cheap; the best of them on the selection half): {h['ship']} "
            f"({h['ship_build_s']} s).")


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
            f"Against {base['config']} ({base['rknn_MB']} MB, mAP50-95 {base['mAP50_95']}): "
            + "; ".join(f"{k} {sizes[k]} MB, Δ {v:+.4f}" for k, v in gains.items()) + "." + verdict}


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
    cost = round(c["right"]["mAP50_95"] - c["wrong"]["mAP50_95"], 4)
    return {"id": "colour_order", "value": cost, "text":
            f"Calibrating with the channels swapped (quant_img_RGB2BGR=True on RGB images) costs {cost:+.4f} mAP50-95 "
            f"({c['right']['mAP50_95']} → {c['wrong']['mAP50_95']}; lowest class cosine {c['right']['min_cls_cosine']} → "
            f"{c['wrong']['min_cls_cosine']}). The build succeeds and says nothing: the ranges were measured on images "
            "the model never sees. " + ("Here the cost is within the evaluation's noise: this synthetic set's colours "
                                        "are random, so red and blue carry similar statistics; on real images they do "
                                        "not." if cost < m["honest"]["resolution"] else "")}


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


def tiling(t: dict) -> dict:
    """07's tiling table (whole frame, tiles, cascade) in words."""
    w, ti = t["whole frame"], t["tiles"]
    return {"id": "tiling", "value": {"whole": w["recall"], "tiles": ti["recall"]}, "text":
            f"On the large frame, the whole frame letterboxed to the model size finds {w['found']} of {w['objects']} "
            f"small objects (recall {w['recall']}); tiles find {ti['found']} (recall {ti['recall']}) at "
            f"{ti['end_to_end_ms'] / w['end_to_end_ms']:.1f}× the time per frame "
            f"({ti['end_to_end_ms']:.0f} vs {w['end_to_end_ms']:.0f} ms)" + (
                f"; the cascade finds {t['cascade']['found']}." if "cascade" in t else ".")}


def deploy_conclusions(m: dict) -> list[dict]:
    fps = m["frames_per_second"]
    one, many = fps["1"], fps[str(max(int(k) for k in fps))]
    n = max(int(k) for k in fps)
    out = [{"id": "runner_equals_notebook", "value": m["runner_equals_notebook"], "holds": m["runner_equals_notebook"],
            "text": ("The bundle's runner, a separate program with no torch, gives exactly the notebook's detections."
                     if m["runner_equals_notebook"] else "The bundle's runner disagrees with the notebook: see the "
                     "comparison above before copying it to a board.")},
           {"id": "contexts", "value": round(many / one, 2), "text":
            f"{n} runtime contexts in the ordered pool run {many} frames/s against {one} with one "
            f"({many / one:.2f}×) on this {m['cores']}-core PC's simulator; on an RK3588 each context gets its own NPU "
            "core, and the board figure is the one to trust."},
           tiling(m["tiling"])]
    if m.get("board", {}).get("emulated"):
        out.append(emulated_board(m["board"]))
    return out


def emulated_board(b: dict) -> dict:
    """07's board section run on the emulated board: what it proved, and what a real board adds."""
    st, c = b["stack"], b["comparison"]
    hal = st.get("opencv_hal", "") or ""
    hals = hal[hal.find("(") + 1:hal.rfind(")")] if "(" in hal else hal  # "YES (carotene (ver ..) KleidiCV (..))"
    why = (" Its OpenCV resizes through custom HALs (" + hals + "), so its letterbox "
           "differs from the PC's by up to one grey level, and scores and boxes move that little."
           if hal.upper().startswith("YES") else " Its OpenCV letterboxes exactly as the PC's; only float rounding differs.")
    return {"id": "emulated_board", "value": {"board": b["board"], "equals_pc": b["equals_pc"],
                                              "max_score_diff": c["max_score_diff"], "max_box_diff": c["max_box_diff"]},
            "holds": b["equals_pc"], "text":
            f"Over SSH, the emulated {b['soc']} ({b['board']}: Python {st['python']}, numpy {st['numpy']}, OpenCV "
            f"{st['cv2']}) took the bundle, ran it on {b['frames']} frames with the {b['backend']} backend and gave "
            f"{'the PC' + chr(39) + 's detections' if b['equals_pc'] else 'other detections than the PC'}: "
            f"largest score difference {c['max_score_diff']:.2g}, box {c['max_box_diff']:.2g} px (tolerance "
            f"{c['score_tol']} / {c['box_tol']} px)." + why + " Everything but the NPU is proven there; a real board "
            f"still needs its librknnrt.so (the version check said: {b['npu_check'].splitlines()[-1].lstrip('- ')})."
            f" Times under emulation are not board times: there, inference ran {b['emulation_factor']:.0f}× slower than "
            "on this PC."}


def analyze_conclusions(m: dict) -> list[dict]:
    """06's conclusions from what 06 records."""
    return conclusions(m["map_table"], m["silu_vs_relu"], m["layouts"], m["stock_head"], m["analysis"],
                       m.get("model_family") or (), m.get("stock_head_advised"), m.get("ap_by_size") or (),
                       m.get("toolkit_versions") or ())


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
            f"(Δ {change:+.4f}); "
            + ("within what the workbook calls the same, so a phone or board can keep ncnn's fp16 default."
               if abs(change) <= POSE_KEEPS else "more than the workbook calls the same: on a phone or board, "
               "measure with use_fp16_arithmetic off before shipping.")
            + " qemu executes the A76's fp16 instructions by the IEEE rules the hardware follows (the same ncnn "
              "kernels, chosen by the same CPU features); it says nothing about speed."}


def pose_stage_conclusions(m: dict) -> list[dict]:
    """08's conclusions from what 08 records."""
    out = pose_conclusions(m["transplant"], m["ncnn"]["relu"], m["ncnn"]["silu"], m["ncnn_runs"],
                           m["ncnn_fp16_flag_effect"], m["latency"], m["rknn"])
    return out + ([ncnn_fp16_arm(m["arm_fp16"], m["ncnn_fp16_flag_effect"])] if m.get("arm_fp16") else [])


# --------------------------------------------------------------------------- 09: the paths users pick instead
#: an INT8 path whose mAP50 moves less than this while its mAP50-95 loss is resolved lost box precision, not detections
LOCALISATION_ONLY = 0.01
#: the 6-output head replaces the 9-output one as the default when the score sum costs the scores this much (median drop)
SCORE_SUM_COSTS = 0.01


def _verdict(r: dict) -> str:
    """A peer's INT8 mAP50-95 against the workbook's, in words, by the paired bootstrap's 95 % interval."""
    if r.get("vs_reference") is None:
        return "not compared"
    if r["vs_low"] > 0:
        return f"beats the workbook by {r['vs_reference']:+.4f} [{r['vs_low']:+.4f}, {r['vs_high']:+.4f}]"
    if r["vs_high"] < 0:
        return f"trails the workbook by {r['vs_reference']:+.4f} [{r['vs_low']:+.4f}, {r['vs_high']:+.4f}]"
    return f"matches it ({r['vs_reference']:+.4f}, interval [{r['vs_low']:+.4f}, {r['vs_high']:+.4f}] holds 0)"


def peers_vs_workbook(rows: list[dict]) -> dict:
    """Every INT8 path against the workbook's (the first row): mAP50-95, and whether the images resolve the difference."""
    ref = rows[0]
    peers_ = [r for r in rows[1:] if r.get("built") and r["precision"] == "INT8" and r["family"] != "toolkit"]
    beats = [r["path"] for r in peers_ if r.get("vs_low") is not None and r["vs_low"] > 0]
    trails = [r["path"] for r in peers_ if r.get("vs_high") is not None and r["vs_high"] < 0]
    text = (f"The workbook's path ({ref['path']}) gives INT8 mAP50-95 {ref['mAP50_95']} (float {ref['float_mAP50_95']}). "
            + " ".join(f"{r['path']}: {r['mAP50_95']} (its float {r['float_mAP50_95']}), {_verdict(r)}." for r in peers_))
    if beats:
        text += (" Where a peer beats the workbook, the workbook takes note: " + "; ".join(beats)
                 + ". Look at what it does differently in the table (calibration images, settings, layout).")
    elif not trails:
        text += " No peer is better or worse than this evaluation resolves."
    else:
        text += f" No peer beats it; {len(trails)} trail{'s' if len(trails) == 1 else ''} it by more than the images resolve."
    return {"id": "peers_vs_workbook", "value": {r["path"]: r.get("vs_reference") for r in peers_},
            "beats": beats, "trails": trails, "text": text}


def int8_cost_by_path(rows: list[dict]) -> dict:
    """INT8 − float mAP50-95 of each path against its own float graph, and where the images resolve a loss."""
    q = [r for r in rows if r.get("built") and r["precision"] == "INT8"]
    lose = [r for r in q if r["delta_high"] < 0]
    return {"id": "int8_cost_by_path", "value": {r["path"]: r["delta_mAP50_95"] for r in q},
            "text": "What INT8 costs each path against its own float graph (mAP50-95, paired bootstrap 95 % interval): "
                    + "; ".join(f"{r['path']} {r['delta_mAP50_95']:+.4f} [{r['delta_low']:+.4f}, {r['delta_high']:+.4f}]"
                                for r in q) + ". "
                    + (("A loss the images resolve: " + ", ".join(r["path"] for r in lose) + ".") if lose else
                       "No path loses more than these images resolve.")
                    + "".join(f" {r['path']} keeps its detections (mAP50 {r['float_mAP50']} → {r['mAP50']}) and loses "
                              "localisation" + (": its boxes share one INT8 tensor, and so one scale, with the class "
                                                "scores, so a box edge moves in steps of that tensor's range / 255."
                                                if r["layout"].startswith("decoded") else ".")
                              for r in lose if abs(r["mAP50"] - r["float_mAP50"]) < LOCALISATION_ONLY)}


def score_sum_fidelity(rows: list[dict]) -> dict:
    """The model zoo's #450 question: does the 9-output head's score-sum branch squash the INT8 class scores?"""
    nine = next(r for r in rows if r["layout"] == "npu9" and r["family"] == "workbook")
    six = next(r for r in rows if r["layout"] == "npu6" and r["family"] == "workbook")
    costs = (nine["median_score_drop"] or 0) - (six["median_score_drop"] or 0) > SCORE_SUM_COSTS or \
        (nine["share_losing_over_0_1"] or 0) > (six["share_losing_over_0_1"] or 0) + SCORE_SUM_COSTS
    default = "npu6" if costs else "npu9"

    def fig(r):
        return (f"median drop {r['median_score_drop']:+.4f}, worst {r['worst_score_drop']:+.4f}, "
                f"{r['share_losing_over_0_1']:.1%} of matched detections lose more than 0.1, "
                f"{r['detections_lost']} lost; class-score cosine {r['cls_cosine']}")
    return {"id": "score_sum_fidelity", "value": {"npu9": [nine["median_score_drop"], nine["worst_score_drop"],
                                                           nine["share_losing_over_0_1"]],
                                                  "npu6": [six["median_score_drop"], six["worst_score_drop"],
                                                           six["share_losing_over_0_1"]], "default": default},
            "holds": not costs, "text":
            "The same detection scored by float and by INT8 (score drop = float − INT8, detections above 0.25 matched "
            f"one to one): 9 outputs (score sum) {fig(nine)}; 6 outputs {fig(six)}. "
            + ("The score-sum branch costs nothing measurable here: the runner's default stays the 9-output head, whose "
               "score sum lets the board skip empty cells." if not costs else
               "The score-sum branch squashes the INT8 scores here, as the model zoo's pull request #450 reports: ship "
               "the 6-output head (its ONNX is beside the 9-output one in 03's folder) and the runner follows its "
               "outputs.")}


def ultralytics_export(exports: list[dict]) -> dict:
    """ultralytics' one-liner on each toolkit release: built or its error, and what it calibrates on by default."""
    parts = []
    for e in exports:
        tk = e["toolkit"]
        parts.append(f"{'INT8' if e['quantize'] == 8 else 'FP16'} on rknn-toolkit2 {tk}: "
                     + (f"built in {e['seconds']} s" if e["built"] else f"fails ({e['error']})"))
    failed = [e for e in exports if not e["built"]]
    return {"id": "ultralytics_export", "value": {f"{e['toolkit']}/{e['quantize']}": e["built"] for e in exports},
            "text": "ultralytics' own export, `YOLO(weights).export(format='rknn', name=<soc>, quantize=8, data=...)`: "
                    + "; ".join(parts) + ". "
                    + ("Where it fails, the graph it handed the toolkit builds once the graph rule the toolkit names is "
                       "disabled (the rows above marked so); its users get the error. " if failed else "")
                    + "It declares rknn-toolkit2 >=2.3.2,<2.5 but, with auto-install off, only warns on 2.5.0; by default it "
                      "calibrates on the val split (its exporter reads `split or 'val'`), the images it is then judged "
                      "on; here it was given the workbook's calibration images instead, so the comparison is fair."}


def compare_conclusions(m: dict) -> list[dict]:
    """09's conclusions from what 09 records."""
    rows = m["paths"]
    return [peers_vs_workbook(rows), int8_cost_by_path(rows), score_sum_fidelity(rows),
            ultralytics_export(m["ultralytics_exports"])]


STAGE_CONCLUSIONS = {"01_train": train_conclusions, "02_patch": patch_conclusions, "03_export": export_conclusions,
                     "04_convert": convert_conclusions, "05_quantize": quantize_conclusions,
                     "06_analyze": analyze_conclusions, "07_deploy": deploy_conclusions, "08_pose": pose_stage_conclusions,
                     "09_compare": compare_conclusions}


def stage_conclusions(stage: str, m: dict) -> list[dict]:
    """The conclusions of a stage, computed from exactly what it records (or has recorded: metrics.json)."""
    return STAGE_CONCLUSIONS[stage](m)


def show(found: list[dict]):
    """The conclusions as Markdown, one bullet each."""
    from IPython.display import Markdown

    return Markdown("\n".join(f"- {c['text']}" for c in found))
