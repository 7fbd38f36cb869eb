"""What notebook 06 compares: SiLU vs ReLU through float, FP16 and INT8; three head layouts; per-layer tables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..board.postprocess import drop_score_sum
from .builds import evaluate_build
from ..model.metrics import EvalSet, evaluate_outputs, lowest_cosine, onnx_outputs
from .routes import concat_adapter, export_concat_head
from ..toolkit.config import BuildConfig
from ..toolkit.jobs import accuracy_analysis, side_by_side


def layer_analyses(onnx_files: dict, variants, int8_cfg: BuildConfig, probe, dataset, out_dir) -> dict:
    """The toolkit's ``accuracy_analysis`` of each variant's 9-output ONNX on one image, side by side (each in its own
    folder): ``{variant: analysis}``. Hybrid layer names belong to the ReLU model: other variants are built without."""
    def analyse(v):
        cfg = int8_cfg if v == "relu" else dataclasses.replace(int8_cfg, float_layers=())
        return accuracy_analysis(onnx_files[f"{v}_npu9"], cfg, probe, Path(out_dir) / f"analysis_{v}", dataset=dataset)
    variants = list(variants)
    return dict(zip(variants, side_by_side(analyse, variants)))


def variant_comparison(onnx_files: dict, variants, int8_cfg: BuildConfig, es: EvalSet, dataset, out_dir,
                       progress: bool = True) -> tuple[list[dict], dict]:
    """For each variant's 9-output ONNX: onnxruntime float, FP16 simulator and INT8 simulator.

    Returns table rows (variant, runtime, mAP50, mAP50-95, lowest output cosine, .rknn MB) and
    ``{variant: {"onnx": outputs, "fp16": outputs, "int8": outputs}}``. Hybrid layer names belong
    to one model, so a config with ``float_layers`` is applied without them to other variants.
    """
    from tqdm.auto import tqdm

    from ..model.heads import output_names
    names = output_names()
    variants = list(variants)
    refs = {v: onnx_outputs(onnx_files[f"{v}_npu9"], es) for v in variants}
    fp16 = BuildConfig(target=int8_cfg.target)
    jobs = []
    for v in variants:
        for kind, cfg in (("fp16", fp16), ("int8", int8_cfg)):
            if kind == "int8" and cfg.float_layers and v != "relu":
                cfg = dataclasses.replace(cfg, float_layers=())
            jobs.append((v, kind, cfg))

    def build(job):  # each variant in its own work folder: the builds run side by side
        v, kind, cfg = job
        return evaluate_build(onnx_files[f"{v}_npu9"], cfg, es, refs[v], names,
                              dataset=dataset if cfg.quantize else None,
                              rknn_out=Path(out_dir) / f"{v}_npu9_{cfg.name}.rknn", workdir=Path(out_dir) / "work" / v)

    bar = tqdm(total=len(jobs), desc="builds", disable=not progress)
    built = side_by_side(build, jobs, progress=bar)
    bar.close()
    rows, outs = [], {}
    for v in variants:
        m = evaluate_outputs(refs[v], es)
        rows.append({"variant": v, "runtime": "onnxruntime float32", "config": "-", **m, "min_cosine": 1.0,
                     "rknn_MB": None})
        outs[v] = {"onnx": refs[v]}
        for (jv, kind, cfg), (row, o) in zip(jobs, built):
            if jv != v:
                continue
            rows.append({"variant": v, "runtime": f"RKNN {kind.upper()} simulator", "config": cfg.name,
                         "mAP50": row["mAP50"], "mAP50_95": row["mAP50_95"], "min_cosine": row["min_cosine"],
                         "rknn_MB": row["rknn_MB"], "cosine": row["cosine"],
                         **({"disable_rules": row["disable_rules"]} if "disable_rules" in row else {})})
            outs[v][kind] = o
    return rows, outs


def made_by_variant_comparison(made, onnx, cfg: BuildConfig):
    """What :func:`variant_comparison` already built of ``onnx`` with ``cfg``: ``(variant, rows, outputs)`` or None.

    ``made``: ``(onnx_files, rows, outputs)``, its arguments and result in this run. Only an identical build is
    taken (same file, same INT8 settings, hybrid layers included; same images and calibration set: the caller's),
    so a later table reads the same simulator outputs instead of building and simulating them again.
    """
    if not made:
        return None
    onnx_files, rows, outs = made
    for v in outs:
        f = onnx_files.get(f"{v}_npu9")
        if f and Path(f).resolve() == Path(onnx).resolve() and map_row(rows, v, "RKNN INT8")["config"] == cfg.name:
            return v, [r for r in rows if r["variant"] == v], outs[v]
    return None


def layout_comparison(onnx_files: dict, weights: str, variant: str, int8_cfg: BuildConfig, es: EvalSet,
                      dataset, out_dir, imgsz: int, nc: int, made=None) -> tuple[list[dict], dict]:
    """INT8 with the same settings for three head layouts: 9 outputs, 6 outputs, boxes+scores in one tensor.
    ``made``: :func:`made_by_variant_comparison`'s argument; its identical 9-output build is not made again."""
    from ..model.heads import output_names

    cfg = dataclasses.replace(int8_cfg, float_layers=())
    out_dir = Path(out_dir)
    names9, names6 = output_names(), output_names(score_sum=False)
    ref9 = onnx_outputs(onnx_files[f"{variant}_npu9"], es)
    ref6 = [drop_score_sum(r) for r in ref9]
    concat_onnx = export_concat_head(weights, out_dir / f"{variant}_concat.onnx", imgsz)
    specs = [("patched, 9 outputs", onnx_files[f"{variant}_npu9"], ref9, names9, None, True),
             ("patched, 6 outputs", onnx_files[f"{variant}_npu6"], ref6, names6, None, False),
             ("boxes+scores in one output", concat_onnx, ref6, names6, concat_adapter(imgsz, nc), False)]
    def build(spec):  # each head in its own work folder: the builds run side by side
        _, onnx, ref, names, adapt, use_sum = spec
        return evaluate_build(onnx, cfg, es, ref, names, dataset=dataset, adapt=adapt, use_score_sum=use_sum,
                              rknn_out=out_dir / f"{Path(onnx).stem}_{cfg.name}.rknn",
                              workdir=out_dir / "work" / Path(onnx).stem)

    known = made_by_variant_comparison(made, onnx_files[f"{variant}_npu9"], cfg)
    if known:  # the same build, images and calibration set: its row and outputs
        _, vrows, vouts = known
        q = next(r for r in vrows if r["runtime"].startswith("RKNN INT8"))
        first = {"mAP50": q["mAP50"], "mAP50_95": q["mAP50_95"], "cosine": q["cosine"], "rknn_MB": q["rknn_MB"]}
        results = [(first, vouts["int8"])] + side_by_side(build, specs[1:])
    else:
        results = side_by_side(build, specs)
    rows, outs = [], {}
    for (label, onnx, ref, names, adapt, use_sum), (row, o) in zip(specs, results):
        cls = cls_values(o, names)
        rows.append({"head": label, "mAP50": row["mAP50"], "mAP50_95": row["mAP50_95"],
                     "min_cls_cosine": lowest_cosine(row["cosine"], "cls"),
                     "cls_distinct_values": int(len(np.unique(cls))),
                     "cls_distinct_above_0.01": int(len(np.unique(cls[cls > 0.01]))),
                     "rknn_MB": row["rknn_MB"], "onnx": str(onnx)})
        outs[label] = (o, names)
    return rows, outs


def stock_head_advised(onnx, int8_cfg: BuildConfig, es: EvalSet, dataset, out_dir) -> dict:
    """The stock head (DFL and decode inside, one output ``[1, 4 + nc, N]``) built the way the toolkit
    advises when it breaks: with the failing graph rule disabled (``jobs.run_build``). Then measured
    like the others: INT8 mAP (decoded by ``postprocess_decoded``), cosine to onnxruntime for the box
    rows and the class rows of its one output, and what INT8 left of the class scores."""
    from ..board.postprocess import postprocess_decoded
    from ..model.metrics import MAP_CONF, MAP_IOU, coco_map
    from ..model.parity import cosine
    from ..toolkit.jobs import simulate

    cfg = dataclasses.replace(int8_cfg, float_layers=())
    out_dir = Path(out_dir)
    ref = [o[0] for o in onnx_outputs(onnx, es)]
    res = simulate(onnx, cfg, es.nhwc(), dataset=dataset, rknn_out=out_dir / f"{Path(onnx).stem}_{cfg.name}.rknn",
                   workdir=out_dir / "work" / "stock_advised")
    sim = [np.asarray(o[0], np.float32) for o in res["outputs"]]

    def mean_ap(outs):
        return coco_map(es, [postprocess_decoded(o, MAP_CONF, MAP_IOU, letterbox=im.letterbox)
                             for o, im in zip(outs, es.images)])

    def part(outs, rows):
        return np.concatenate([o[0, rows].ravel() for o in outs]).astype(np.float64)

    cls = part(sim, slice(4, None))
    f, q = mean_ap(ref), mean_ap(sim)
    return {"head": "stock (DFL inside), rule disabled", "disable_rules": res["disable_rules"],
            "float_mAP50": f["mAP50"], "mAP50": q["mAP50"], "mAP50_95": q["mAP50_95"],
            "box_rows_cosine": round(cosine(part(ref, slice(0, 4)), part(sim, slice(0, 4))), 6),
            "cls_rows_cosine": round(cosine(part(ref, slice(4, None)), cls), 6),
            "cls_distinct_above_0.01": int(len(np.unique(cls[cls > 0.01]))),
            "rknn_MB": round(res["rknn_bytes"] / 2**20, 3), "build_s": res["build_seconds"]}


def map_row(map_rows: list[dict], variant: str, runtime: str) -> dict:
    """The row of :func:`variant_comparison` for ``variant`` whose runtime starts with ``runtime``."""
    return next(r for r in map_rows if r["variant"] == variant and r["runtime"].startswith(runtime))


def silu_vs_relu(map_rows: list[dict], outs: dict, names) -> dict:
    """Per variant: float and INT8 mAP, file sizes, and what INT8 left of the class scores."""
    side = {}
    for v in outs:
        cls = cls_values(outs[v]["int8"], names)
        f, q, h = map_row(map_rows, v, "onnx"), map_row(map_rows, v, "RKNN INT8"), map_row(map_rows, v, "RKNN FP16")
        side[v] = {"float_mAP50": f["mAP50"], "int8_mAP50": q["mAP50"], "float_mAP50_95": f["mAP50_95"],
                   "int8_mAP50_95": q["mAP50_95"], "int8_rknn_MB": q["rknn_MB"], "fp16_rknn_MB": h["rknn_MB"],
                   "int8_cls_distinct": int(len(np.unique(cls))),
                   "int8_cls_above_0_01": int((cls > 0.01).sum()),
                   "cls_share_at_0_5": round(float((np.abs(cls - 0.5) < 1e-6).mean()), 5),
                   "min_cls_cosine": lowest_cosine(q["cosine"], "cls")}
    return side


def cls_values(outputs: list, names) -> np.ndarray:
    """All class-score values of every cls output over every image, flattened."""
    return np.concatenate([np.asarray(o[k], np.float32).ravel() for o in outputs
                           for k, n in enumerate(names) if n.startswith("cls")])


def op_counts(rows: list[dict]) -> dict:
    """From accuracy_analysis rows: how many layers of each op, and how many the toolkit fused away."""
    out: dict[str, int] = {}
    for r in rows:
        key = f"{r['op']} (fused)" if r["fused"] else r["op"]
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def analysis_frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame([r for r in rows if not r["fused"]])
    return df[["layer", "op", "entire_cos", "entire_euc", "single_cos", "single_euc", "q_zero"]]


def ap_by_size(es, outs: dict, variant: str = "relu", resamples: int = 100) -> list[dict]:
    """COCO's mAP50-95 by object size (small / medium / large), float (onnxruntime) and INT8, for one variant; the
    INT8 row adds each size's INT8 − float paired-bootstrap 95 % interval (``AP_small_low``, ``AP_small_high``, …):
    fewer objects per size, so each resolves less than the overall figure."""
    from ..model.metrics import AREA_RANGES, bootstrap_differences, coco_map, detections

    dets = {key: detections(outs[variant][key], es) for key in ("onnx", "int8")}
    rows = [{"runtime": label, **coco_map(es, dets[key], by_size=True)} for label, key in (("float", "onnx"),
                                                                                           ("INT8", "int8"))]
    boot = bootstrap_differences(es, dets["int8"], dets["onnx"], tuple(f"AP_{a}" for a in AREA_RANGES), resamples)
    for a in AREA_RANGES:
        rows[1].update({f"AP_{a}_low": boot[f"AP_{a}"]["low"], f"AP_{a}_high": boot[f"AP_{a}"]["high"]})
    return rows


def activation_answer(es: EvalSet, settings: dict, resamples: int = 100) -> list[dict]:
    """The workbook's central question, measured: which activation scores higher, float and after INT8.

    ``settings``: label -> (ReLU model's detections, SiLU model's detections) on ``es`` (the same images). Per
    setting, both models' mAP50-95 and SiLU − ReLU with its paired-bootstrap 95 % interval
    (:func:`helpers.model.metrics.bootstrap_difference`): a positive difference means SiLU scored higher.
    """
    from ..model.metrics import bootstrap_difference, coco_map

    rows = []
    for label, (relu, silu) in settings.items():
        r, s = coco_map(es, relu), coco_map(es, silu)
        boot = bootstrap_difference(es, silu, relu, n=resamples)
        rows.append({"setting": label, "relu_mAP50_95": r["mAP50_95"], "silu_mAP50_95": s["mAP50_95"],
                     "relu_mAP50": r["mAP50"], "silu_mAP50": s["mAP50"], "silu_minus_relu": boot["difference"],
                     "low": boot["low"], "high": boot["high"], "resamples": resamples, "images": len(es)})
    return rows


def activation_settings(es: EvalSet, outs: dict, ship_cfg: BuildConfig, toolkit_rows=(), toolkit_parts=None) -> dict:
    """06's settings for :func:`activation_answer`: float (onnxruntime), INT8 with 05's settings (section 2's builds)
    and INT8 with the toolkit's defaults on the pinned release (section 3's builds, when they differ from 05's)."""
    from ..model.metrics import detections

    def pair(kind):
        return tuple(detections(outs[v][kind], es) for v in ("relu", "silu"))
    hybrid = "; the ReLU model with 05's float16 layers" if ship_cfg.float_layers else ""
    out = {"float (onnxruntime)": pair("onnx"), f"INT8, 05's settings ({ship_cfg.name}{hybrid})": pair("int8")}
    pinned = {r["model"]: r for r in toolkit_rows if r.get("toolkit") == "pinned" and r.get("built")}
    if toolkit_parts and {"relu", "silu"} <= set(pinned):
        name = pinned["relu"]["path"].rsplit(", ", 1)[-1]
        if name != ship_cfg.name or ship_cfg.float_layers:
            out[f"INT8, the toolkit's defaults ({name})"] = tuple(toolkit_parts[pinned[v]["path"]]["int8_dets"]
                                                                 for v in ("relu", "silu"))
    return out
