"""The reader's own experiments: a "Try this" box per notebook, with what this run measured for it.

A box names the parameter to change, asks for a prediction first, and gives the figure measured
for that change — computed in the same run where it is cheap (the functions below), else from a
recorded run the box names. Each notebook records the figures its box states (``try_this`` in its
metrics.json), so the chain test can check them.
"""

from __future__ import annotations

import os

import numpy as np


def box(change: str, predict: str, measured: str) -> str:
    """The box as Markdown (a quote block: it stands out in JupyterLab and in the HTML report)."""
    return (f"> **Try this.** {change}\n>\n> *Predict first:* {predict}\n>\n> *Measured:* {measured}")


def show(change: str, predict: str, measured: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(box(change, predict, measured)))


def score_sum_gate(outputs: list, imgsz: int, conf: float, iou: float, letterbox=None) -> dict:
    """What the score-sum outputs do in the board's post-processing, on one image's 9 outputs.

    Cells whose score sum is below ``conf`` are skipped before any class is looked at; the detections
    with and without that gate are compared.
    """
    from ..board.postprocess import postprocess

    sums = [o for k, o in enumerate(outputs) if k % 3 == 2]
    cells = int(sum(s.size for s in sums))
    passing = int(sum((s >= conf).sum() for s in sums))
    on = postprocess(outputs, (imgsz, imgsz), conf, iou, letterbox=letterbox, use_score_sum=True)
    off = postprocess(outputs, (imgsz, imgsz), conf, iou, letterbox=letterbox, use_score_sum=False)
    same = len(on) == len(off) and (not len(on) or (np.allclose(on.boxes, off.boxes, atol=1e-4)
                                                    and np.array_equal(on.classes, off.classes)))
    return {"cells": cells, "cells_passing": passing, "share_skipped": round(1 - passing / max(cells, 1), 4),
            "detections_with_gate": len(on), "detections_without_gate": len(off), "same_detections": bool(same)}


def other_opset(module, imgsz: int, opset: int, reference_onnx: str | os.PathLike, image_nchw: np.ndarray,
                dest: str | os.PathLike) -> dict:
    """Export ``module`` at another ``opset`` and compare it with the reference file: ops and outputs."""
    from ..board.runtimes.onnx import OnnxRuntime
    from ..model.export import export_onnx, op_census

    path = export_onnx(module, dest, imgsz, opset)
    ops = {r["op"]: r["count"] for r in op_census(path)}
    ref_ops = {r["op"]: r["count"] for r in op_census(reference_onnx)}
    with OnnxRuntime(path) as a, OnnxRuntime(reference_onnx) as b:
        diff = max(float(np.abs(p - q).max()) for p, q in zip(a.run([image_nchw]), b.run([image_nchw])))
    changed = {k: [ref_ops.get(k, 0), ops.get(k, 0)] for k in sorted(set(ops) | set(ref_ops))
               if ops.get(k, 0) != ref_ops.get(k, 0)}
    return {"opset": opset, "ops_changed": changed, "max_output_diff": diff}


def detections_at(es, panels: dict, indices, conf: float, iou: float) -> dict:
    """Detections per panel over ``indices`` at ``conf`` (06's viewer, another threshold)."""
    from .pictures import viewer_detections

    out = {k: 0 for k in panels}
    for i in indices:
        for k, d in viewer_detections(es, panels, i, conf, iou).items():
            out[k] += len(d)
    return out
