"""Stage 03_export · Export ONNX (03_export_onnx.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import Stage, check


#: onnxruntime reproduces PyTorch when every patched output's cosine is above this
PARITY_COSINE = 0.9999


def export_conclusions(m: dict) -> list[dict]:
    stock = {k: v for k, v in m["models"].items() if k.endswith("_stock")}
    flagged = sorted({op for v in stock.values() for op in v.get("flagged_ops", {})})
    return [{"id": "onnx_parity", "value": m["min_cosine"], "holds": m["min_cosine"] > PARITY_COSINE, "text":
             f"onnxruntime reproduces PyTorch on every patched output (lowest cosine {m['min_cosine']:.7f}, largest "
             f"difference {float(m['patched_max_abs_diff']):.1e})."},
            {"id": "npu_ops", "value": flagged, "text":
             (f"The stock graph carries ops the NPU leaves to the CPU or that break its build ({', '.join(flagged)}); "
              "the patched graphs carry none of them." if not m["flagged_in_patched"] else
              f"The patched graphs still carry flagged ops ({m['flagged_in_patched']}): a YOLO11 attention block has a "
              "Softmax of its own, which the NPU builds; any other op there means the patch left DFL or decode ops in "
              "the graph (see 02).")}]


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    return [check("onnx_parity", m["min_cosine"] > PARITY_COSINE, f"onnxruntime vs PyTorch: lowest cosine "
                   f"{m['min_cosine']:.7f}", "re-export with the pinned onnx/torch versions (scripts/setup.sh); an opset "
                   "other than 12 can change op semantics"),
            check("patched_ops", not m["flagged_in_patched"], f"ops the NPU runs poorly, in the patched graphs: "
                   f"{m['flagged_in_patched'] or 'none'}", "a YOLO11 attention block has one Softmax of its own "
                   "(expected, it builds); any other op means the patch left DFL or decode ops in the graph: see 02",
                   stop=False)]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    return {"onnx_files": len(m["onnx"]), "patched_max_abs_diff": f"{m['patched_max_abs_diff']:.2e}",
            "min_cosine": round(m["min_cosine"], 8), "flagged_ops_in_patched": m["flagged_in_patched"] or "none"}


STAGE = Stage("03_export", inputs={"variants": ('01_train', 'variants'), "imgsz": ('01_train', 'imgsz'), "data_yaml": ('01_train', 'data_yaml'), "parity_ok": ('02_patch', 'parity_ok')},
              headline=headline, conclusions=export_conclusions, checks=checks)
