"""What notebooks 04, 05 and 06 do with the toolkit, one call per step.

Each ``evaluate_*`` builds a model with :mod:`helpers.rknn_tools` (in a child process), runs the
val images on the simulator and measures it against onnxruntime on the same letterboxed inputs:
per-output cosine and max difference, mAP via :mod:`helpers.metrics`, build time and file size.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

import numpy as np

from . import metrics as M
from . import rknn_tools as rt
from .postprocess import split_concat_output

SPEC_NAMES = ("box_dfl", "cls_prob", "score_sum")


def evaluate_build(onnx, cfg: rt.BuildConfig, es: M.EvalSet, ref_outputs, names, dataset=None, rknn_out=None,
                   workdir=None, adapt=None, use_score_sum: bool = True) -> tuple[dict, list]:
    """Build ``onnx`` with ``cfg``, simulate ``es`` and compare with ``ref_outputs`` (onnxruntime).

    ``adapt`` turns one image's simulator outputs into the NPU layout before comparing (for cut
    or concatenated heads). Returns a table row and the simulator outputs.
    """
    t0 = time.perf_counter()
    res = rt.simulate(onnx, cfg, es.nhwc(), dataset=dataset, rknn_out=rknn_out, workdir=workdir)
    outs = [adapt(o) for o in res["outputs"]] if adapt else res["outputs"]
    agree = M.output_agreement(ref_outputs, outs, names)
    m = M.evaluate_outputs(outs, es, use_score_sum=use_score_sum)
    row = {"config": cfg.name, "quantize": cfg.quantize, "algorithm": cfg.algorithm if cfg.quantize else "-",
           "method": cfg.method if cfg.quantize else "-", "build_s": res["build_seconds"],
           "rknn_MB": round(res["rknn_bytes"] / 2**20, 3) if res["rknn_bytes"] else None,
           "min_cosine": min(a["cosine"] for a in agree), "mAP50": m["mAP50"], "mAP50_95": m["mAP50_95"],
           "sim_ms_per_image": round(1000 * res["infer_seconds_per_image"], 1),
           "cosine": {a["output"]: a["cosine"] for a in agree}, "rknn": str(rknn_out) if rknn_out else None,
           "wall_s": round(time.perf_counter() - t0, 1), "toolkit_errors": res["log"]["errors"]}
    return row, outs


def compare_detections(ref_outputs, test_outputs, es: M.EvalSet, conf: float = 0.25, iou: float = 0.45,
                       use_score_sum: bool = True) -> dict:
    """Detections at a deployment threshold, reference vs test, matched one-to-one per image."""
    from .parity import match_detections

    ref = M.detections(ref_outputs, es, conf, iou, use_score_sum=use_score_sum)
    test = M.detections(test_outputs, es, conf, iou, use_score_sum=use_score_sum)
    tot = {"images": len(es), "ref": 0, "test": 0, "matched": 0, "unmatched": 0, "max_box_diff_px": 0.0,
           "max_score_diff": 0.0}
    for a, b in zip(ref, test):
        r = match_detections(a.boxes, a.scores, a.classes, b.boxes, b.scores, b.classes)
        for k in ("ref", "test", "matched", "unmatched"):
            tot[k] += r[k]
        for k in ("max_box_diff_px", "max_score_diff"):
            tot[k] = max(tot[k], r[k])
    tot["max_box_diff_px"] = round(tot["max_box_diff_px"], 3)
    tot["max_score_diff"] = round(tot["max_score_diff"], 4)
    return tot


def channel_order_check(onnx, cfg: rt.BuildConfig, es: M.EvalSet, ref_outputs, names, workdir) -> list[dict]:
    """Feed one image to the RKNN model as RGB and as BGR; the one that agrees with onnxruntime is right."""
    rgb = es.nhwc()[:1]
    res = rt.simulate(onnx, cfg, np.concatenate([rgb, rgb[..., ::-1]]), workdir=workdir)
    rows = []
    for order, outs in zip(("RGB", "BGR"), res["outputs"]):
        agree = M.output_agreement(ref_outputs[:1], [outs], names)
        rows.append({"input order": order, "min cosine vs onnxruntime": min(a["cosine"] for a in agree),
                     "cls_prob_s8 cosine": agree[1]["cosine"]})
    return rows


def sweep(onnx, configs, es, ref_outputs, names, dataset, out_dir, progress: bool = True) -> tuple[list, dict]:
    """Build and evaluate every config; returns the rows and ``{config name: simulator outputs}``.

    A config that fails to build gives a row with its error instead of stopping the sweep.
    """
    from tqdm.auto import tqdm

    rows, outputs = [], {}
    out_dir = Path(out_dir)
    for cfg in tqdm(list(configs), desc="configs", disable=not progress):
        try:
            row, outs = evaluate_build(onnx, cfg, es, ref_outputs, names, dataset=dataset,
                                       rknn_out=out_dir / f"{Path(onnx).stem}_{cfg.name}.rknn",
                                       workdir=out_dir / "work")
            outputs[cfg.name] = outs
        except rt.ToolkitError as e:
            row = {"config": cfg.name, "quantize": cfg.quantize, "algorithm": cfg.algorithm, "method": cfg.method,
                   "error": f"{e.step}: {e.reason}"}
        rows.append(row)
    return rows, outputs


def quant_configs(target: str, algorithms, methods, **common) -> list[rt.BuildConfig]:
    return [rt.BuildConfig(target=target, quantize=True, algorithm=a, method=m, **common)
            for a in algorithms for m in methods]


def best_row(rows: list[dict], key: str = "mAP50_95") -> dict:
    ok = [r for r in rows if "error" not in r]
    if not ok:
        raise RuntimeError("no configuration built successfully; see the errors in the table")
    return max(ok, key=lambda r: (r[key], r["min_cosine"]))


def rows_frame(rows: list[dict]):
    import pandas as pd

    cols = ["config", "build_s", "rknn_MB", "min_cosine", "mAP50", "mAP50_95", "sim_ms_per_image", "error"]
    df = pd.DataFrame([{k: r.get(k) for k in cols} for r in rows]).set_index("config")
    return df.drop(columns=[c for c in ("error",) if df[c].isna().all()] if "error" in df else [])


def cosine_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame({r["config"]: r["cosine"] for r in rows if "cosine" in r}).T


# --------------------------------------------------------------------------- graph surgery

def stock_cut_points(onnx_path) -> list[str]:
    """Tensors of the stock graph just before its post-processing tail, as box8, cls8, box16, ...

    They are the last Conv of each Detect branch (``cv2.i`` box, ``cv3.i`` class): raw DFL
    logits and raw class logits (no sigmoid).
    """
    import onnx

    g = onnx.load(str(onnx_path), load_external_data=False).graph
    found = {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        m = re.search(r"/(cv2|cv3)\.(\d)/\1\.\2\.2/Conv$", n.name)
        if m:
            found[(int(m.group(2)), 0 if m.group(1) == "cv2" else 1)] = n.output[0]
    if len(found) != 6:
        raise ValueError(f"{onnx_path}: expected the 6 final Detect convolutions, found {len(found)}")
    return [found[k] for k in sorted(found)]


def sigmoid_cls(outputs: list) -> list:
    """Cut stock outputs (box, cls-logit per stride) -> NPU layout (box, cls-prob): the sigmoid on the CPU."""
    res = []
    for k, o in enumerate(outputs):
        res.append(o if k % 2 == 0 else 1.0 / (1.0 + np.exp(-np.asarray(o, np.float32))))
    return res


def add_cpu_softmax(onnx_in, onnx_out, op_type: str = "cstSoftmax") -> list[str]:
    """Add a DFL softmax on every ``box_dfl_s*`` output as a custom op the NPU does not have.

    ``box_dfl_sN [1, 64, H, W]`` -> Reshape ``[1, 4, 16, H*W]`` -> ``op_type`` (axis 2) ->
    output ``box_prob_sN``. The graph keeps its other outputs. Returns the new output names.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(onnx_in))
    g = m.graph
    new = []
    for out in list(g.output):
        if not out.name.startswith("box_dfl_s"):
            continue
        dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
        h, w = dims[2], dims[3]
        suffix = out.name[len("box_dfl_"):]
        shape_name = f"dfl_shape_{suffix}"
        g.initializer.append(numpy_helper.from_array(np.array([1, 4, dims[1] // 4, h * w], np.int64), shape_name))
        g.node.append(helper.make_node("Reshape", [out.name, shape_name], [f"dfl_rs_{suffix}"], name=f"dfl_rs_{suffix}"))
        g.node.append(helper.make_node(op_type, [f"dfl_rs_{suffix}"], [f"box_prob_{suffix}"], name=f"dfl_sm_{suffix}",
                                       axis=2))
        g.output.append(helper.make_tensor_value_info(f"box_prob_{suffix}", TensorProto.FLOAT,
                                                      [1, 4, dims[1] // 4, h * w]))
        new.append(f"box_prob_{suffix}")
    from .artifacts import atomic_path

    with atomic_path(onnx_out, suffix=".onnx") as tmp:
        onnx.save(m, str(tmp))
    return new


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def trace_npu_module(weights, imgsz: int, target) -> Path:
    """``torch.jit.trace`` the patched 9-output module and save it (the toolkit's PyTorch route)."""
    import torch

    from .artifacts import atomic_path
    from .heads import load_model, patch_for_npu

    module = patch_for_npu(load_model(weights), fuse=True)
    with torch.no_grad():
        traced = torch.jit.trace(module, torch.zeros(1, 3, imgsz, imgsz), check_trace=False)
    with atomic_path(target, suffix=".pt") as tmp:
        traced.save(str(tmp))
    return Path(target)


def export_concat_head(weights, target, imgsz: int) -> Path:
    """Export the "naive split" head (boxes and scores in one output) to ONNX."""
    from .export import export_onnx
    from .heads import concat_for_export, load_model

    module = concat_for_export(load_model(weights))
    return export_onnx(module, target, imgsz, names=module.output_names)


def concat_adapter(imgsz: int, nc: int):
    return lambda outs: split_concat_output(outs[0], (imgsz, imgsz), nc)


def file_mb(path: str | os.PathLike) -> float:
    return round(Path(path).stat().st_size / 2**20, 3)


def custom_op_check(onnx, target: str, es: M.EvalSet, ref_outputs, out_dir, n_images: int = 4) -> dict:
    """Add a DFL softmax as the custom CPU op ``cstSoftmax``, build FP16, simulate, check against numpy."""
    out_dir = Path(out_dir)
    onnx2 = out_dir / f"{Path(onnx).stem}_cpu_softmax.onnx"
    new = add_cpu_softmax(onnx, onnx2)
    n = max(1, min(n_images, len(es)))
    res = rt.custom_op_route(onnx2, rt.BuildConfig(target=target), es.nhwc()[:n], out_dir / "work" / "custom_op")
    first = len(res["outputs"][0]) - len(new)
    op_diff, e2e_diff, sum_err = 0.0, 0.0, 0.0
    for i in range(n):
        outs = res["outputs"][i]
        for k in range(len(new)):
            got = outs[first + k]
            # the op itself: numpy softmax of the box logits the same simulator run produced
            sim_box = np.asarray(outs[3 * k], np.float32)  # box_dfl_s*: outputs 0, 3, 6
            op_diff = max(op_diff, float(np.abs(got - softmax(sim_box.reshape(got.shape), 2)).max()))
            # end to end: against onnxruntime's float32 box logits (includes the FP16 build's rounding)
            ref_box = np.asarray(ref_outputs[i][3 * k], np.float32)
            e2e_diff = max(e2e_diff, float(np.abs(got - softmax(ref_box.reshape(got.shape), 2)).max()))
            sum_err = max(sum_err, float(np.abs(got.sum(2) - 1).max()))
    return {"onnx": str(onnx2), "new_outputs": new, "images": n, "op_max_abs_diff": op_diff,
            "vs_onnxruntime_max_abs_diff": e2e_diff, "max_sum_to_one_error": sum_err, "build_s": res["build_seconds"]}


def analysis_frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame([r for r in rows if not r["fused"]])
    return df[["layer", "op", "entire_cos", "entire_euc", "single_cos", "single_euc", "q_zero"]]


def try_build(onnx, cfg: rt.BuildConfig, dataset=None, workdir=None) -> dict:
    """Build and report, without raising: ``{"built": bool, "error": ToolkitError | None, ...}``."""
    try:
        res = rt.simulate(onnx, cfg, None, dataset=dataset, workdir=workdir)
        return {"built": True, "error": None, "build_s": res["build_seconds"]}
    except rt.ToolkitError as e:
        return {"built": False, "error": e, "step": e.step, "reason": e.reason}


def raise_if_failed(attempt: dict) -> None:
    if attempt.get("error") is not None:
        raise attempt["error"]


def op_counts(rows: list[dict]) -> dict:
    """From accuracy_analysis rows: how many layers of each op, and how many the toolkit fused away."""
    out: dict[str, int] = {}
    for r in rows:
        key = f"{r['op']} (fused)" if r["fused"] else r["op"]
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def cls_values(outputs: list, names) -> np.ndarray:
    """All class-score values of every cls output over every image, flattened."""
    return np.concatenate([np.asarray(o[k], np.float32).ravel() for o in outputs
                           for k, n in enumerate(names) if n.startswith("cls")])


def variant_comparison(onnx_files: dict, variants, int8_cfg: rt.BuildConfig, es: M.EvalSet, dataset, out_dir,
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
    fp16 = rt.BuildConfig(target=int8_cfg.target)
    for v in tqdm(list(variants), desc="variants", disable=not progress):
        onnx = onnx_files[f"{v}_npu9"]
        ref = M.onnx_outputs(onnx, es)
        m = M.evaluate_outputs(ref, es)
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


def layout_comparison(onnx_files: dict, weights: str, variant: str, int8_cfg: rt.BuildConfig, es: M.EvalSet,
                      dataset, out_dir, imgsz: int, nc: int) -> tuple[list[dict], dict]:
    """INT8 with the same settings for three head layouts: 9 outputs, 6 outputs, boxes+scores in one tensor."""
    from .heads import output_names

    cfg = dataclasses.replace(int8_cfg, float_layers=())
    out_dir = Path(out_dir)
    names9, names6 = output_names(), output_names(score_sum=False)
    ref9 = M.onnx_outputs(onnx_files[f"{variant}_npu9"], es)
    ref6 = [[r[i] for i in (0, 1, 3, 4, 6, 7)] for r in ref9]
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


def conclusions(map_rows: list[dict], side: dict, layout_rows: list[dict], stock_attempt: dict,
                analyses: dict) -> list[dict]:
    """Sentences for 06, each chosen by the measured numbers and returned with those numbers."""
    def row(v, runtime):
        return next(r for r in map_rows if r["variant"] == v and r["runtime"].startswith(runtime))

    out = []
    f, q = row("relu", "onnx"), row("relu", "RKNN INT8")
    drop = round(f["mAP50"] - q["mAP50"], 4)
    out.append({"id": "relu_int8_drop", "value": drop, "text":
                f"INT8 ({q['config']}) {'keeps' if drop <= 0.02 else 'loses'} the ReLU model's accuracy: mAP50 "
                f"{f['mAP50']} float → {q['mAP50']} INT8 (Δ {-drop:+.4f}), mAP50-95 {f['mAP50_95']} → {q['mAP50_95']}."})
    if "silu" in side:
        s, r = side["silu"], side["relu"]
        share = s["share of class scores at 0.5"]
        collapsed = share > 0.01
        out.append({"id": "silu_collapse", "value": share, "holds": collapsed, "text":
                    (f"SiLU INT8 class scores **collapsed**: {share:.1%} of them sit at 0.5."
                     if collapsed else
                     f"The claim that SiLU INT8 scores collapse to 0.5 does **not** reproduce here: {share:.3%} of the "
                     f"SiLU model's INT8 class scores are 0.5, and they keep {s['INT8 class-score distinct values']} "
                     f"distinct values (ReLU: {r['INT8 class-score distinct values']}). With the patched head the class "
                     "scores have their own output and scale, and toolkit 2.5.0 runs SiLU as one exSwish op; the "
                     "collapse was reported for older toolkits and head layouts that mix scores with other values.")})
        ratio = 1 - r["INT8 .rknn MB"] / s["INT8 .rknn MB"]
        out.append({"id": "relu_smaller", "value": round(ratio, 4), "text":
                    f"The ReLU INT8 model is {ratio:.1%} smaller than the SiLU one ({r['INT8 .rknn MB']} vs "
                    f"{s['INT8 .rknn MB']} MB){'' if abs(ratio - 0.266) < 0.03 else ', not the 26.6 % one blog reports'}: "
                    "the two have exactly the same weights, so the difference is layer overhead, most likely the "
                    "SiLU model's separate exSwish layers (ReLU fuses into the convolutions)."})
        d_relu = r["float mAP50"] - r["INT8 mAP50"]
        d_silu = s["float mAP50"] - s["INT8 mAP50"]
        out.append({"id": "int8_loss_by_activation", "value": {"relu": round(d_relu, 4), "silu": round(d_silu, 4)},
                    "text": f"mAP50 lost to INT8: ReLU {d_relu:+.4f}, SiLU {d_silu:+.4f} (positive = lost); "
                            f"{'ReLU loses less' if d_relu < d_silu else 'SiLU loses less' if d_silu < d_relu else 'equal'}."})
    if "silu" in analyses:
        oc_r = op_counts(analyses["relu"]["rows"])
        oc_s = op_counts(analyses["silu"]["rows"])
        out.append({"id": "fusion", "value": {"relu_fused_conv": oc_r.get("Conv (fused)", 0),
                                               "silu_exswish": oc_s.get("exSwish", 0)},
                    "text": f"The toolkit fused {oc_r.get('Conv (fused)', 0)} convolutions with their ReLU into one "
                            f"layer; the SiLU model keeps {oc_s.get('exSwish', 0)} separate exSwish layers."})
    out.append({"id": "stock_head", "value": stock_attempt["built"], "text":
                ("The stock head built with these settings." if stock_attempt["built"] else
                 f"The stock head (DFL inside) does not build on this toolkit: step '{stock_attempt['step']}' fails "
                 f"with {stock_attempt['reason']}. The patched head avoids it by moving DFL to the CPU.")})
    p9, p6, cat = layout_rows
    out.append({"id": "concat_layout", "value": round(p9["mAP50"] - cat["mAP50"], 4), "text":
                f"Keeping boxes and scores in one INT8 output leaves the class scores "
                f"{cat['cls_distinct_above_0.01']} distinct values above 0.01 (patched head: "
                f"{p9['cls_distinct_above_0.01']}) and gives mAP50 {cat['mAP50']} vs {p9['mAP50']} for the patched "
                "head: one tensor, one scale, set by the DFL logits."})
    out.append({"id": "six_vs_nine", "value": round(p6["mAP50"] - p9["mAP50"], 4), "text":
                f"6 outputs vs 9: mAP50 {p6['mAP50']} vs {p9['mAP50']}, lowest class-output cosine "
                f"{p6['min_cls_cosine']} vs {p9['min_cls_cosine']}; the score-sum output costs "
                f"{'nothing measurable' if abs(p6['mAP50'] - p9['mAP50']) < 0.01 else 'accuracy'} here and saves the CPU work on empty cells."})
    zero = [r["layer"] for r in analyses["relu"]["rows"] if r["q_zero"]]
    out.append({"id": "q_zero", "value": zero, "text":
                (f"{len(zero)} tensor(s) of the ReLU model quantize to all zeros ({', '.join(zero)}): that output "
                 "never fired on the calibration set, so INT8 has nothing to represent there."
                 if zero else "No tensor of the ReLU model quantizes to all zeros: every output carries signal.")})
    return out


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
