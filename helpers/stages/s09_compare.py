"""Stage 09_compare · Against the paths users pick instead (09_compare_paths.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import REPRODUCE_MAP, Stage, check


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


def activation_again(rows: list[dict]) -> dict:
    """The workbook's central question at the end of the pipeline: 06's measured answer, said again."""
    from .s06_activation import activation_answer

    a = activation_answer(rows)
    per = "; ".join(f"{k}: SiLU − ReLU {v['silu_minus_relu']:+.4f}, " + ("within noise" if v["higher"] is None else
                                                                       f"{v['higher']} higher")
                    for k, v in a["value"].items())
    return {"id": "activation_again", "value": {k: v["higher"] for k, v in a["value"].items()}, "text":
            f"The question the workbook started from, as 06 measured it on this run (mAP50-95, paired bootstrap): "
            f"{per}. {a['verdict']} The paths above all ship the ReLU model; what it buys beyond accuracy is NPU "
            "time (06: the model zoo's single-core figures), which only a board can measure for this model."}


def compare_conclusions(m: dict) -> list[dict]:
    """09's conclusions from what 09 records."""
    rows = m["paths"]
    return [peers_vs_workbook(rows), int8_cost_by_path(rows), score_sum_fidelity(rows),
            ultralytics_export(m["ultralytics_exports"])] + ([activation_again(m["activation_06"])]
                                                             if m.get("activation_06") else [])


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    five, ref = m["from_05"], m["paths"][0]
    keys = ("mAP50", "mAP50_95")
    if not ref.get("built") or any(ref[f"float_{k}"] != five["float"][k] for k in keys):
        return [check("workbook_reproduces_05", True, "05 and 09 evaluated different images (their EVAL_IMAGES "
                       "differ): 09's INT8 figures for the workbook's path are not compared with 05's", "")]
    diff = max(abs(ref[k] - five[k]) for k in keys)
    return [check("workbook_reproduces_05", diff <= REPRODUCE_MAP, f"09 rebuilt 05's INT8 model ({five['config_name']}) "
                   f"and measured mAP50 {ref['mAP50']} / mAP50-95 {ref['mAP50_95']}; 05 recorded {five['mAP50']} / "
                   f"{five['mAP50_95']}", "re-run 05, then 09: an artifact of 05 is older than its settings")]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    rows = {r["path"]: r for r in m["paths"]}
    first = m["paths"][0]
    h = {"workbook_int8_mAP50_95": first["mAP50_95"]}
    for r in m["paths"][1:]:
        if r["family"] in ("ultralytics", "model zoo", "stock") and r.get("built"):
            h[f"{r['family']}_{r['precision']}_{r['toolkit']}_mAP50_95".replace(" ", "_")] = r["mAP50_95"]
    fid = next(c for c in m["conclusions"] if c["id"] == "score_sum_fidelity")["value"]
    h["median_score_drop_9_vs_6"] = [fid["npu9"][0], fid["npu6"][0]]
    h["paths"] = len(rows)
    return h


STAGE = Stage("09_compare", inputs={"onnx": ('03_export', 'onnx'), "imgsz": ('03_export', 'imgsz'), "ship": ('05_quantize', 'ship'), "calibration": ('05_quantize', 'calibration'), "variants": ('01_train', 'variants'), "data_yaml": ('01_train', 'data_yaml'), "toolkit_builds": ('06_analyze', 'toolkit_builds'), "activation_06": ('06_analyze', 'activation_answer'), "float_05": ('05_quantize', 'onnx_map')},
              headline=headline, conclusions=compare_conclusions, checks=checks)
