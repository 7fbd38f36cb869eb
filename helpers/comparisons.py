"""What notebook 06 compares: SiLU vs ReLU through float, FP16 and INT8; three head layouts; per-layer tables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .board.postprocess import drop_score_sum
from .builds import evaluate_build
from .metrics import EvalSet, evaluate_outputs, onnx_outputs
from .routes import concat_adapter, export_concat_head
from .toolkit.config import BuildConfig


def variant_comparison(onnx_files: dict, variants, int8_cfg: BuildConfig, es: EvalSet, dataset, out_dir,
                       progress: bool = True) -> tuple[list[dict], dict]:
    """For each variant's 9-output ONNX: onnxruntime float, FP16 simulator and INT8 simulator.

    Returns table rows (variant, runtime, mAP50, mAP50-95, lowest output cosine, .rknn MB) and
    ``{variant: {"onnx": outputs, "fp16": outputs, "int8": outputs}}``. Hybrid layer names belong
    to one model, so a config with ``float_layers`` is applied without them to other variants.
    """
    from tqdm.auto import tqdm

    from .heads import output_names

    names = output_names()
    rows, outs = [], {}
    fp16 = BuildConfig(target=int8_cfg.target)
    for v in tqdm(list(variants), desc="variants", disable=not progress):
        onnx = onnx_files[f"{v}_npu9"]
        ref = onnx_outputs(onnx, es)
        m = evaluate_outputs(ref, es)
        rows.append({"variant": v, "runtime": "onnxruntime float32", "config": "-", **m, "min_cosine": 1.0,
                     "rknn_MB": None})
        outs[v] = {"onnx": ref}
        for kind, cfg in (("fp16", fp16), ("int8", int8_cfg)):
            if kind == "int8" and cfg.float_layers and v != "relu":
                cfg = dataclasses.replace(cfg, float_layers=())
            row, o = evaluate_build(onnx, cfg, es, ref, names, dataset=dataset if cfg.quantize else None,
                                    rknn_out=Path(out_dir) / f"{v}_npu9_{cfg.name}.rknn", workdir=Path(out_dir) / "work")
            rows.append({"variant": v, "runtime": f"RKNN {kind.upper()} simulator", "config": cfg.name,
                         "mAP50": row["mAP50"], "mAP50_95": row["mAP50_95"], "min_cosine": row["min_cosine"],
                         "rknn_MB": row["rknn_MB"], "cosine": row["cosine"]})
            outs[v][kind] = o
    return rows, outs


def layout_comparison(onnx_files: dict, weights: str, variant: str, int8_cfg: BuildConfig, es: EvalSet,
                      dataset, out_dir, imgsz: int, nc: int) -> tuple[list[dict], dict]:
    """INT8 with the same settings for three head layouts: 9 outputs, 6 outputs, boxes+scores in one tensor."""
    from .heads import output_names

    cfg = dataclasses.replace(int8_cfg, float_layers=())
    out_dir = Path(out_dir)
    names9, names6 = output_names(), output_names(score_sum=False)
    ref9 = onnx_outputs(onnx_files[f"{variant}_npu9"], es)
    ref6 = [drop_score_sum(r) for r in ref9]
    concat_onnx = export_concat_head(weights, out_dir / f"{variant}_concat.onnx", imgsz)
    specs = [("patched, 9 outputs", onnx_files[f"{variant}_npu9"], ref9, names9, None, True),
             ("patched, 6 outputs", onnx_files[f"{variant}_npu6"], ref6, names6, None, False),
             ("boxes+scores in one output", concat_onnx, ref6, names6, concat_adapter(imgsz, nc), False)]
    rows, outs = [], {}
    for label, onnx, ref, names, adapt, use_sum in specs:
        row, o = evaluate_build(onnx, cfg, es, ref, names, dataset=dataset, adapt=adapt, use_score_sum=use_sum,
                                rknn_out=out_dir / f"{Path(onnx).stem}_{cfg.name}.rknn", workdir=out_dir / "work")
        cls = cls_values(o, names)
        rows.append({"head": label, "mAP50": row["mAP50"], "mAP50_95": row["mAP50_95"],
                     "min_cls_cosine": min(v for k, v in row["cosine"].items() if k.startswith("cls")),
                     "cls_distinct_values": int(len(np.unique(cls))),
                     "cls_distinct_above_0.01": int(len(np.unique(cls[cls > 0.01]))),
                     "rknn_MB": row["rknn_MB"], "onnx": str(onnx)})
        outs[label] = (o, names)
    return rows, outs


def map_row(map_rows: list[dict], variant: str, runtime: str) -> dict:
    """The row of :func:`variant_comparison` for ``variant`` whose runtime starts with ``runtime``."""
    return next(r for r in map_rows if r["variant"] == variant and r["runtime"].startswith(runtime))


def silu_vs_relu(map_rows: list[dict], outs: dict, names) -> dict:
    """Per variant: float and INT8 mAP, file sizes, and what INT8 left of the class scores."""
    side = {}
    for v in outs:
        cls = cls_values(outs[v]["int8"], names)
        f, q, h = map_row(map_rows, v, "onnx"), map_row(map_rows, v, "RKNN INT8"), map_row(map_rows, v, "RKNN FP16")
        side[v] = {"float mAP50": f["mAP50"], "INT8 mAP50": q["mAP50"], "float mAP50-95": f["mAP50_95"],
                   "INT8 mAP50-95": q["mAP50_95"], "INT8 .rknn MB": q["rknn_MB"], "FP16 .rknn MB": h["rknn_MB"],
                   "INT8 class-score distinct values": int(len(np.unique(cls))),
                   "INT8 class scores > 0.01": int((cls > 0.01).sum()),
                   "share of class scores at 0.5": round(float((np.abs(cls - 0.5) < 1e-6).mean()), 5),
                   "min cls-output cosine": min(c for k, c in q["cosine"].items() if k.startswith("cls"))}
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

