"""Two model families under the same INT8 settings (06 with ``COMPARE_RUN``: YOLO11n against YOLOv8n): the other
run checked against this one, both built and measured, depthwise convolutions counted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..model.metrics import EvalSet, lowest_cosine
from ..toolkit.config import BuildConfig
from ..toolkit.jobs import side_by_side
from .builds import evaluate_build
from .comparisons import made_by_variant_comparison, map_row, variant_comparison


# --------------------------------------------------------------------------- another model family (YOLO11 vs YOLOv8)
def depthwise_convs(onnx_path) -> dict:
    """Conv nodes of an ONNX graph: all, and the depthwise ones (``group`` == input channels > 1)."""
    import onnx

    g = onnx.load(str(onnx_path)).graph
    inits = {i.name: i for i in g.initializer}
    total = depthwise = 0
    for n in g.node:
        if n.op_type != "Conv":
            continue
        total += 1
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        w = inits.get(n.input[1])
        if group > 1 and w is not None and w.dims[1] == 1:  # one input channel per filter
            depthwise += 1
    return {"convs": total, "depthwise_convs": depthwise}


def compare_run(run_dir, other_run) -> dict:
    """What 06 needs of another run (``COMPARE_RUN``): its model, ONNX and training, checked against this run.

    The two must share the dataset and input size (otherwise their mAP on "the val set" measures two
    different things): a clear error says what to run instead.
    """
    from ..runfolder.artifacts import read_metrics, require_artifact, resolve_run_dir

    this, other = read_metrics(run_dir, "01_train"), read_metrics(other_run, "01_train")
    if resolve_run_dir(other_run) == resolve_run_dir(run_dir):
        raise ValueError("COMPARE_RUN is this run itself: point it to a run of 01-03 with another MODEL, e.g. "
                         "scripts/main.sh --run-dir runs/yolo11n --only 01 02 03 -p MODEL=yolo11n")
    for key, what in (("data_yaml", "dataset"), ("imgsz", "input size"), ("names", "class names")):
        a, b = this.get(key), other.get(key)
        if key == "data_yaml":
            a, b = str(Path(a).resolve()), str(Path(b).resolve())
        if a != b:
            raise ValueError(f"COMPARE_RUN {other_run} has another {what} ({b!r}) than this run ({a!r}): mAP on two "
                             f"val sets cannot be compared. Run 01-03 of the other model with DATA_YAML={this['data_yaml']} "
                             f"and IMGSZ={this['imgsz']} into its own run directory.")
    if "relu" not in other["variants"]:
        raise ValueError(f"COMPARE_RUN {other_run} recorded no ReLU model ({list(other['variants'])}); 06 compares "
                         "the ReLU models of both runs")

    def side(run, m):
        rec = m["variants"]["relu"]
        return {"model": m.get("model", "yolov8n"), "onnx": require_artifact(run, "03_export", "onnx")["relu_npu9"],
                "epochs": rec.get("epochs"), "parameters": rec.get("parameters"),
                "ultralytics_mAP50": rec.get("mAP50")}

    a, b = side(run_dir, this), side(other_run, other)
    if a["model"] == b["model"]:
        a["model"], b["model"] = f"{a['model']} (this run)", f"{b['model']} ({Path(other_run).name})"
    return {"this": a, "other": b}


def family_comparison(pair: dict, int8_cfg: BuildConfig, es: EvalSet, dataset, out_dir,
                      progress: bool = True, other_toolkit: str = "2.3.2", made=None) -> tuple[list[dict], dict]:
    """Two models' ReLU 9-output ONNX (``pair`` from :func:`compare_run`) with the same INT8 settings.

    The hybrid layers of a config name one model's layers, so both are built without them: the
    comparison is of the architectures, not of a tuning. One row per model: training, size,
    depthwise convolutions, float and INT8 mAP, the INT8 cosine of every output, and the same INT8 build
    with the other granularity (``other_method``: per-layer when the settings are per-channel, the
    granularity where a depthwise layer's channels share one scale), and the same INT8 build by the toolkit
    release ``other_toolkit`` when it is set up (``other_toolkit``: does it need the graph rule 2.5.0 needs?).
    ``made``: :func:`made_by_variant_comparison`'s argument; a model it already built with these settings (this
    run's, when the settings have no hybrid layers) is taken from it, not built again.
    """
    cfg = dataclasses.replace(int8_cfg, float_layers=())
    # the other granularity too: per-layer is where a depthwise layer's channels must share one scale
    other_cfg = dataclasses.replace(cfg, method="layer" if cfg.method == "channel" else "channel")
    models = [pair["this"], pair["other"]]
    map_rows, outs = _made_or_built(models, cfg, es, dataset, out_dir, progress, made)
    done = _family_extras(models, cfg, other_cfg, other_toolkit, es, outs, dataset, out_dir)
    rows = []
    for m in models:
        f, h, q = (map_row(map_rows, m["model"], k) for k in ("onnx", "RKNN FP16", "RKNN INT8"))
        o, by_other = done[(m["model"], "other_method")], done.get((m["model"], "other_toolkit"), {})
        cos = q["cosine"]
        rows.append({"model": m["model"], "epochs": m["epochs"], "parameters": m["parameters"],
                     **depthwise_convs(m["onnx"]),
                     "float_mAP50": f["mAP50"], "int8_mAP50": q["mAP50"], "int8_delta_mAP50": round(q["mAP50"] - f["mAP50"], 4),
                     "float_mAP50_95": f["mAP50_95"], "int8_mAP50_95": q["mAP50_95"],
                     "fp16_rknn_MB": h["rknn_MB"], "int8_rknn_MB": q["rknn_MB"],
                     "min_box_cosine": lowest_cosine(cos, "box"),
                     "min_cls_cosine": lowest_cosine(cos, "cls"),
                     "int8_cosine": cos, "config": cfg.name,
                     "other_method": {"method": other_cfg.method, "config": other_cfg.name, "int8_mAP50": o["mAP50"],
                                      "int8_mAP50_95": o["mAP50_95"],
                                      "min_cls_cosine": lowest_cosine(o["cosine"], "cls")},
                     **({"disable_rules": q["disable_rules"]} if "disable_rules" in q else {}),
                     **({"other_toolkit": by_other} if by_other else {})})
    return rows, outs


def _made_or_built(models: list[dict], cfg: BuildConfig, es: EvalSet, dataset, out_dir, progress: bool, made):
    """Each model's float/FP16/INT8 rows and outputs: taken from ``made`` when it built that file with ``cfg``,
    else built (:func:`variant_comparison`, one model per variant)."""
    map_rows, outs, todo = [], {}, []
    for m in models:
        known = made_by_variant_comparison(made, m["onnx"], cfg)
        if known:
            _, vrows, vouts = known
            map_rows += [{**r, "variant": m["model"]} for r in vrows]
            outs[m["model"]] = vouts
        else:
            todo.append(m)
    if todo:
        new_rows, new_outs = variant_comparison({f"{m['model']}_npu9": m["onnx"] for m in todo},
                                                [m["model"] for m in todo], cfg, es, dataset, out_dir, progress=progress)
        map_rows += new_rows
        outs.update(new_outs)
    return map_rows, outs


def _family_extras(models: list[dict], cfg: BuildConfig, other_cfg: BuildConfig, other_toolkit: str, es: EvalSet,
                   outs: dict, dataset, out_dir) -> dict:
    """Per (model, kind) the INT8 build with the other granularity and, when that release is set up, by the other
    toolkit release: side by side, each model in its own work folder."""
    from ..model.heads import output_names
    from ..toolkit.logs import ToolkitError
    from ..toolkit.versions import split_ready

    work = Path(out_dir) / "work"

    def extra(job):
        m, kind = job
        if kind == "other_method":
            return evaluate_build(m["onnx"], other_cfg, es, outs[m["model"]]["onnx"], output_names(), dataset=dataset,
                                  rknn_out=Path(out_dir) / f"{m['model']}_npu9_{other_cfg.name}.rknn",
                                  workdir=work / m["model"])[0]
        tk_cfg = dataclasses.replace(cfg, toolkit=other_toolkit)
        try:
            t, _ = evaluate_build(m["onnx"], tk_cfg, es, outs[m["model"]]["onnx"], output_names(), dataset=dataset,
                                  rknn_out=Path(out_dir) / f"{m['model']}_npu9_{tk_cfg.name}.rknn",
                                  workdir=work / m["model"])
            return {"toolkit": other_toolkit, "built": True, "disable_rules": t.get("disable_rules", []),
                    "int8_mAP50": t["mAP50"], "min_cls_cosine": lowest_cosine(t["cosine"], "cls")}
        except ToolkitError as e:
            return {"toolkit": other_toolkit, "built": False, "error": f"{e.step}: {e.reason}"}

    kinds = ["other_method"] + (["other_toolkit"] if other_toolkit and split_ready([other_toolkit])[0] else [])
    jobs = [(m, k) for m in models for k in kinds]
    return {(m["model"], k): r for (m, k), r in zip(jobs, side_by_side(extra, jobs))}
