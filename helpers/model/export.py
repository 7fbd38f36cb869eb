"""ONNX export of the patched (and stock) model, with the checks a converter will care about.

* classic TorchScript-based exporter (``dynamo=False``), opset 12, fixed input shape
  ``images [1, 3, imgsz, imgsz]``;
* C2f blocks switched to their ``forward_split`` (one Split op instead of the
  Shape/Gather/Slice chains ``chunk`` exports to), as ultralytics' own exporter does;
* ``onnx.checker`` (full check with shape inference), output names and shapes asserted;
* an op census, with a flag on ops the RKNN NPU handles badly.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from ..runfolder.artifacts import atomic_path

OPSET = 12

#: op type -> why it is a problem on the RKNN NPU (shown in the census table)
NPU_UNFRIENDLY = {
    "Softmax": "DFL softmax in the graph: slow on the NPU and quantizes poorly; do it on the CPU",
    "Shape": "dynamic shape arithmetic (e.g. C2f chunk): runs on the CPU, breaks the NPU graph",
    "Gather": "indexing (often from chunk/shape chains): CPU fallback",
    "Range": "dynamic range: not an NPU op",
    "ScatterND": "not an NPU op",
    "NonMaxSuppression": "NMS in the graph: not an NPU op",
    "TopK": "not an NPU op",
    "Expand": "dynamic broadcast: CPU fallback",
    "Equal": "dynamic comparison: CPU fallback",
    "Where": "dynamic select: CPU fallback",
    "ConstantOfShape": "dynamic shape op",
}
#: ops that are fine alone but mark a pattern worth knowing
NOTES = {
    "Transpose": "layout shuffle (DFL reshape in the stock head)",
    "Reshape": "reshapes (DFL / anchor decode in the stock head)",
    "Sigmoid": "Sigmoid: fine for class scores; with Mul it is SiLU (x*sigmoid(x)), a LUT op after INT8",
}


def use_split(module) -> int:
    """Switch every C2f-like block to forward_split; returns how many were switched."""
    from ultralytics.nn.modules.block import C2f

    n = 0
    for m in module.modules():
        if isinstance(m, C2f) and hasattr(m, "forward_split"):
            m.forward = m.forward_split
            n += 1
    return n


def export_onnx(module, dest: str | os.PathLike, imgsz: int, opset: int = OPSET, names=None) -> Path:
    """Export ``module`` (NPUDetectModel or StockDetectModel) to ``dest`` atomically; check it; return the path."""
    import onnx
    import torch

    names = list(names or module.output_names)
    use_split(module)
    module.eval()
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad():
        expected = module(dummy)
    expected = expected if isinstance(expected, (tuple, list)) else [expected]
    if len(expected) != len(names):
        raise ValueError(f"module returns {len(expected)} outputs but {len(names)} names were given")
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    with atomic_path(dest) as tmp:
        torch.onnx.export(module, dummy, str(tmp), opset_version=opset, input_names=["images"], output_names=names,
                          do_constant_folding=True, dynamic_axes=None, **kwargs)
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model, full_check=True)
        got = graph_io(model)
        want = [{"name": n, "shape": list(t.shape)} for n, t in zip(names, expected)]
        if got["outputs"] != want:
            raise AssertionError(f"exported outputs {got['outputs']} differ from the module's {want}")
        if got["inputs"] != [{"name": "images", "shape": [1, 3, imgsz, imgsz]}]:
            raise AssertionError(f"unexpected inputs {got['inputs']}")
    return Path(dest)


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value_info.type.tensor_type.shape.dim]


def graph_io(model) -> dict:
    """Inputs and outputs of an ONNX model: name and shape."""
    init = {i.name for i in model.graph.initializer}
    return {"inputs": [{"name": i.name, "shape": _dims(i)} for i in model.graph.input if i.name not in init],
            "outputs": [{"name": o.name, "shape": _dims(o)} for o in model.graph.output]}


def op_census(onnx_path: str | os.PathLike) -> list[dict]:
    """Op types with counts, sorted by count, each with a flag/note for the NPU."""
    import onnx

    model = onnx.load(str(onnx_path))
    counts = Counter(n.op_type for n in model.graph.node)
    rows = []
    for op, n in counts.most_common():
        rows.append({"op": op, "count": n, "npu_flag": op in NPU_UNFRIENDLY,
                     "note": NPU_UNFRIENDLY.get(op) or NOTES.get(op, "")})
    return rows


def silu_patterns(onnx_path: str | os.PathLike) -> int:
    """How many Sigmoid nodes feed a Mul that also takes the Sigmoid's input: x * sigmoid(x) = SiLU."""
    import onnx

    g = onnx.load(str(onnx_path)).graph
    sig = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Sigmoid"}
    return sum(1 for n in g.node if n.op_type == "Mul" and any(i in sig and sig[i] in n.input for i in n.input))


def onnx_summary(onnx_path: str | os.PathLike) -> dict:
    import onnx

    model = onnx.load(str(onnx_path))
    census = op_census(onnx_path)
    return {"path": str(onnx_path), "size_mb": round(Path(onnx_path).stat().st_size / 2**20, 3),
            "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            **graph_io(model), "nodes": sum(r["count"] for r in census),
            "flagged_ops": {r["op"]: r["count"] for r in census if r["npu_flag"]},
            "silu_patterns": silu_patterns(onnx_path)}


def ort_torch_parity(onnx_path, module, images, imgsz: int) -> list[dict]:
    """Per output, over ``images``: worst max-abs difference and lowest cosine, onnxruntime vs torch."""
    import torch

    from ..board.preprocess import letterbox, load_image, to_nchw_float
    from ..board.runtimes.onnx import OnnxRuntime
    from .metrics import output_agreement

    ort_model = OnnxRuntime(onnx_path)
    worst: dict[str, dict] = {}
    for f in images:
        x = to_nchw_float(letterbox(load_image(f), imgsz)[0])
        with torch.no_grad():
            ref = module(torch.from_numpy(x))
        ref = [r.numpy() for r in (ref if isinstance(ref, (tuple, list)) else [ref])]
        for row in output_agreement([ref], [ort_model.run([x])], ort_model.output_names, digits=None):
            w = worst.setdefault(row["output"], {**row, "images": 0})
            w["max_abs_diff"] = max(w["max_abs_diff"], row["max_abs_diff"])
            w["mean_abs_diff"] = max(w["mean_abs_diff"], row["mean_abs_diff"])
            w["cosine"] = min(w["cosine"], row["cosine"])
            w["images"] += 1
    return list(worst.values())


#: the heads exported for each trained variant
HEADS = {"npu9": "patched, 9 outputs (box, cls, score-sum per stride)",
         "npu6": "patched, 6 outputs (no score-sum)",
         "stock": "unpatched ultralytics head (DFL + decode inside, 1 output)"}


def export_variant(weights, out_dir, variant: str, imgsz: int, images, opset: int = OPSET) -> dict:
    """Export one trained variant with every head in :data:`HEADS`; check, census and ORT-vs-torch parity each.

    Returns ``{head: record}``; the ONNX files are ``<out_dir>/<variant>_<head>.onnx``.
    """
    from .heads import load_model, patch_for_npu, stock_for_export

    base = load_model(weights)
    modules = {"npu9": patch_for_npu(base, score_sum=True, fuse=True),
               "npu6": patch_for_npu(base, score_sum=False, fuse=True),
               "stock": stock_for_export(base, fuse=True)}
    records = {}
    for head, module in modules.items():
        path = export_onnx(module, Path(out_dir) / f"{variant}_{head}.onnx", imgsz, opset)
        parity = ort_torch_parity(path, module, images, imgsz)
        records[head] = {**onnx_summary(path), "description": HEADS[head], "census": op_census(path),
                         "ort_vs_torch": parity,
                         "max_abs_diff": max(p["max_abs_diff"] for p in parity),
                         "min_cosine": min(p["cosine"] for p in parity)}
    return records


def summarize_exports(exports: dict) -> dict:
    """Fold ``{variant: export_variant(...)}`` into the figures 03 records in metrics.json."""
    flat = {f"{v}_{h}": r for v, heads_ in exports.items() for h, r in heads_.items()}
    patched = {k: r for k, r in flat.items() if not k.endswith("_stock")}
    return {
        "onnx": {k: r["path"] for k, r in flat.items()},
        "models": {k: {kk: vv for kk, vv in r.items() if kk != "census"} for k, r in flat.items()},
        "census": {k: {row["op"]: row["count"] for row in r["census"]} for k, r in flat.items()},
        "patched_max_abs_diff": max(r["max_abs_diff"] for r in patched.values()),
        "min_cosine": min(r["min_cosine"] for r in flat.values()),
        "flagged_in_patched": {k: r["flagged_ops"] for k, r in patched.items() if r["flagged_ops"]},
    }


def census_frame(exports: dict):
    """Op counts per exported model (pandas DataFrame), with the NPU flag and note of each op."""
    import pandas as pd

    flat = {f"{v}_{h}": r for v, heads_ in exports.items() for h, r in heads_.items()}
    df = pd.DataFrame({k: {row["op"]: row["count"] for row in r["census"]} for k, r in flat.items()})
    df = df.fillna(0).astype(int)
    df["npu_flag"] = [op in NPU_UNFRIENDLY for op in df.index]
    df["note"] = [NPU_UNFRIENDLY.get(op) or NOTES.get(op, "") for op in df.index]
    return df.sort_values(["npu_flag"], ascending=False, kind="stable")


def files_frame(exports: dict):
    """One row per exported ONNX file: size, opset, nodes, outputs, flagged ops, SiLU patterns."""
    import pandas as pd

    rows = [{"model": f"{v}_{h}", "file": Path(r["path"]).name, "MB": r["size_mb"], "opset": r["opset"],
             "nodes": r["nodes"], "outputs": len(r["outputs"]), "flagged ops": r["flagged_ops"] or "-",
             "SiLU (Sigmoid·Mul)": r["silu_patterns"]}
            for v, heads_ in exports.items() for h, r in heads_.items()]
    return pd.DataFrame(rows).set_index("model")
