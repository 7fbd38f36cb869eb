"""A notebook's first and last line: what it takes from earlier stages, and what it records.

    S = stages.open_stage(RUN_DIR, "04_convert")     # inputs, checked, with the notebook to run first
    ...
    stages.close_stage(RUN_DIR, "04_convert", fp16=row, ...)   # metrics.json + headline, shown

:data:`INPUTS` says, for each stage, which entries of which earlier stage's ``metrics.json`` it
needs; a missing one fails with :class:`~helpers.artifacts.ArtifactMissing` naming the notebook
to run first. :data:`HEADLINES` computes each stage's headline (the figures in the run's
summary) from what it recorded, so no notebook builds that dict by hand.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from .artifacts import STAGES, require_artifact, stage_dir, update_metrics

#: stage -> {attribute: (earlier stage, metrics key)}
INPUTS: dict[str, dict[str, tuple[str, str]]] = {
    "01_train": {},
    "02_patch": {"variants": ("01_train", "variants"), "imgsz": ("01_train", "imgsz"),
                 "data_yaml": ("01_train", "data_yaml")},
    "03_export": {"variants": ("01_train", "variants"), "imgsz": ("01_train", "imgsz"),
                  "data_yaml": ("01_train", "data_yaml"), "parity_ok": ("02_patch", "parity_ok")},
    "04_convert": {"onnx": ("03_export", "onnx"), "variants": ("01_train", "variants"),
                   "imgsz": ("03_export", "imgsz"), "data_yaml": ("01_train", "data_yaml")},
    "05_quantize": {"onnx": ("03_export", "onnx"), "imgsz": ("03_export", "imgsz"), "fp16": ("04_convert", "fp16"),
                    "variants": ("01_train", "variants"), "data_yaml": ("01_train", "data_yaml")},
    "06_analyze": {"onnx": ("03_export", "onnx"), "imgsz": ("03_export", "imgsz"), "ship": ("05_quantize", "ship"),
                   "calibration": ("05_quantize", "calibration"), "variants": ("01_train", "variants"),
                   "variant_05": ("05_quantize", "variant"), "float_05": ("05_quantize", "onnx_map"),
                   "data_yaml": ("01_train", "data_yaml")},
    "07_deploy": {"ship": ("05_quantize", "ship"), "calibration": ("05_quantize", "calibration"),
                  "model_onnx": ("05_quantize", "onnx"), "imgsz": ("03_export", "imgsz"),
                  "data_yaml": ("01_train", "data_yaml")},
    "08_pose": {},  # its own dataset and models; 01's SiLU twin and 05's INT8 settings are used when present
    "09_compare": {"onnx": ("03_export", "onnx"), "imgsz": ("03_export", "imgsz"), "ship": ("05_quantize", "ship"),
                   "calibration": ("05_quantize", "calibration"), "variants": ("01_train", "variants"),
                   "data_yaml": ("01_train", "data_yaml"), "toolkit_builds": ("06_analyze", "toolkit_builds"),
                   "float_05": ("05_quantize", "onnx_map")},
}


def open_stage(run_dir: str | os.PathLike, stage: str, params: dict | None = None,
               check_all_labels: bool = True) -> SimpleNamespace:
    """The stage folder (``.dir``), every input of :data:`INPUTS` as an attribute, and the dataset (``.info``).

    ``params`` (a notebook passes ``globals()``): its parameter values are checked against the types its
    parameters cell declares first, so a wrong one stops here with what to type, before anything runs.
    Keeps ultralytics offline with its settings in the run folder before anything can import it.
    """
    from .offline import configure_ultralytics

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if params is not None:
        from .params import check_namespace

        check_namespace(params, where=stage)
    configure_ultralytics(run_dir)
    got = {name: require_artifact(run_dir, src, key) for name, (src, key) in INPUTS[stage].items()}
    if "data_yaml" in got:
        from .data import check_dataset

        got["info"] = check_dataset(got["data_yaml"], check_all_labels=check_all_labels)
    ns = SimpleNamespace(dir=stage_dir(run_dir, stage), **got)
    print(f"{stage}: stage folder {ns.dir}" + (f"; from earlier stages: {', '.join(INPUTS[stage])}"
                                               if INPUTS[stage] else ""))
    return ns


def main_variant(variants: dict, wanted: str = "") -> str:
    """The model a notebook works on: ``wanted`` if given, else the ReLU model, else the only one (a brought one)."""
    if wanted:
        if wanted not in variants:
            raise ValueError(f"VARIANT {wanted!r}: notebook 01 recorded {', '.join(variants)}")
        return wanted
    return "relu" if "relu" in variants else next(iter(variants))


def require_relu(variants: dict) -> None:
    """06 analyses the ReLU model against its SiLU twin: a clear error when 01 recorded no ReLU model."""
    if "relu" not in variants:
        raise ValueError("06 analyses the ReLU model (and compares it with SiLU); 01 recorded only "
                         f"{list(variants)}: run 01 with WEIGHTS set to your checkpoint to train a ReLU model from it")


def close_stage(run_dir: str | os.PathLike, stage: str, show: bool = True, **metrics) -> dict:
    """Record ``metrics`` in the stage's metrics.json with the headline computed from them; show the headline."""
    headline = HEADLINES[stage](metrics)
    record = update_metrics(run_dir, stage, **metrics, headline=headline)
    if show:
        try:
            from IPython.display import Markdown, display

            display(Markdown("\n".join(f"- **{k}**: {v}" for k, v in headline.items())))
        except ImportError:  # pragma: no cover - outside Jupyter
            print("\n".join(f"- {k}: {v}" for k, v in headline.items()))
    return record


def _train(m: dict) -> dict:
    if "relu" not in m["variants"]:  # a brought SiLU model, not trained here
        (v, rec), = m["variants"].items()
        return {f"{v}_mAP50": round(rec["mAP50"], 4), "activation": rec["activation_kind"]["kind"],
                f"{v}_strides_firing": sum(n > 0 for n in m["stride_usage"][v].values())}
    relu = m["variants"]["relu"]
    h = {"relu_mAP50": round(relu["mAP50"], 4), "relu_mAP50_95": round(relu["mAP50_95"], 4),
         "relu_seconds_per_epoch": relu["seconds_per_epoch"], "epochs": relu["epochs"],
         "relu_silu_count": relu["activation_census"]["SiLU"],
         "relu_strides_firing": sum(n > 0 for n in m["stride_usage"]["relu"].values())}
    if "silu" in m["variants"]:
        silu = m["variants"]["silu"]
        h.update(silu_mAP50=round(silu["mAP50"], 4), silu_mAP50_95=round(silu["mAP50_95"], 4))
    if m.get("transplant"):
        t = m["transplant"]
        h.update(transplant_mAP50=t["final"]["transplanted"]["mAP50"], transplant_epochs=t["epochs"]["transplanted"],
                 transplant_epochs_to_scratch_final=t["epochs_to_reach_scratch_final_mAP50"])
    return h


def _patch(m: dict) -> dict:
    return {k: m[k] for k in ("max_box_diff_px", "max_score_diff", "final_unmatched", "parity_ok")}


def _export(m: dict) -> dict:
    return {"onnx_files": len(m["onnx"]), "patched_max_abs_diff": f"{m['patched_max_abs_diff']:.2e}",
            "min_cosine": round(m["min_cosine"], 8), "flagged_ops_in_patched": m["flagged_in_patched"] or "none"}


def _convert(m: dict) -> dict:
    fp16, order = m["fp16"], m["channel_order"]
    return {"fp16_min_cosine": fp16["min_cosine"], "onnx_mAP50": m["onnx_map"]["mAP50"], "fp16_mAP50": fp16["mAP50"],
            "fp16_unmatched_detections": m["detections"]["unmatched"], "fp16_rknn_MB": fp16["rknn_MB"],
            "torchscript_min_cosine": min(a["cosine"] for a in m["torchscript"]["vs_onnx_route"]),
            "stock_cut_min_cosine": m["stock_cut"]["min_cosine"],
            "rgb_is_right": order[0]["min cosine vs onnxruntime"] > order[1]["min cosine vs onnxruntime"]}


def _quantize(m: dict) -> dict:
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
            **({"wrong_colour_order_cost": round(m["colour_order"]["right"]["mAP50_95"]
                                                 - m["colour_order"]["wrong"]["mAP50_95"], 4)}
               if m.get("colour_order") else {})}


def _analyze(m: dict) -> dict:
    from .comparisons import map_row

    rows, layouts, side = m["map_table"], m["layouts"], m["silu_vs_relu"]
    int8 = map_row(rows, "relu", "RKNN INT8")
    h = {"relu_float_mAP50": map_row(rows, "relu", "onnx")["mAP50"], "relu_int8_mAP50": int8["mAP50"],
         "relu_int8_min_cosine": int8["min_cosine"], "stock_head_builds": m["stock_head"]["built"],
         "concat_head_mAP50": layouts[2]["mAP50"], "patched_head_mAP50": layouts[0]["mAP50"]}
    if "silu" in side:
        h.update(silu_int8_mAP50=side["silu"]["INT8 mAP50"],
                 silu_share_at_0_5=side["silu"]["share of class scores at 0.5"])
    if m.get("stock_head_advised"):
        h["stock_head_advised_mAP50"] = m["stock_head_advised"]["mAP50"]
    if m.get("model_family"):
        h["family_int8_mAP50_loss"] = {r["model"]: round(r["float mAP50"] - r["INT8 mAP50"], 4) for r in m["model_family"]}
    return h


def _deploy(m: dict) -> dict:
    fps = m["frames_per_second"]
    return {"bundle_files": len(m["files"]), "bundle_MB": round(sum(f["KB"] for f in m["files"]) / 1024, 2),
            "runner_equals_notebook": m["runner_equals_notebook"], "pool_equals_single": m["pool_equals_single"],
            "sim_frames_per_s_1": fps["1"], f"sim_frames_per_s_{m['cores']}": fps[str(m["cores"])],
            "tiling_recall": {k: v["recall"] for k, v in m["tiling"].items()},
            "board_connected": m["board"]["connected"]}


def _pose(m: dict) -> dict:
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


def _compare(m: dict) -> dict:
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


HEADLINES = {"01_train": _train, "02_patch": _patch, "03_export": _export, "04_convert": _convert,
             "05_quantize": _quantize, "06_analyze": _analyze, "07_deploy": _deploy,
             "08_pose": _pose, "09_compare": _compare}
