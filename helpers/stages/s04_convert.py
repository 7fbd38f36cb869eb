"""Stage 04_convert · Convert to RKNN, FP16 (04_convert_rknn.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import Stage, check


#: the FP16 simulator reproduces onnxruntime when every output's cosine is above this
FP16_COSINE = 0.999


def convert_conclusions(m: dict) -> list[dict]:
    f, o = m["fp16"], m["onnx_map"]
    d = round(f["mAP50"] - o["mAP50"], 4)
    rgb, bgr = m["channel_order"]
    out = [{"id": "fp16_keeps", "value": f["min_cosine"], "holds": f["min_cosine"] > FP16_COSINE, "text":
            f"FP16 on the NPU simulator is float for practical purposes: lowest output cosine {f['min_cosine']}, "
            f"mAP50 {f['mAP50']} vs onnxruntime {o['mAP50']} (FP16 − onnxruntime {d:+.4f}), {m['detections']['unmatched']} of "
            f"{m['detections']['ref']} detections unmatched."},
           {"id": "channel_order", "value": bgr["min_cosine_vs_onnxruntime"], "text":
            f"Feeding BGR where the model expects RGB drops the lowest output cosine from "
            f"{rgb['min_cosine_vs_onnxruntime']} to {bgr['min_cosine_vs_onnxruntime']}: nothing crashes, the numbers are "
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




def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    rgb = m["channel_order"][0]["min_cosine_vs_onnxruntime"]
    return [check("fp16_cosine", m["fp16"]["min_cosine"] > FP16_COSINE, f"FP16 vs onnxruntime: lowest cosine "
                   f"{m['fp16']['min_cosine']}", "check mean/std (0, 255) and that the toolkit is 2.5.0; a cosine "
                   "well below 1 in FP16 means the graph was changed, not rounded"),
            check("rgb_input", rgb > FP16_COSINE, f"RGB input: lowest cosine {rgb}", "the input the build expects "
                   "is NHWC uint8 RGB; check the preprocessing")]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    fp16, order = m["fp16"], m["channel_order"]
    return {"fp16_min_cosine": fp16["min_cosine"], "onnx_mAP50": m["onnx_map"]["mAP50"], "fp16_mAP50": fp16["mAP50"],
            "fp16_unmatched_detections": m["detections"]["unmatched"], "fp16_rknn_MB": fp16["rknn_MB"],
            "torchscript_min_cosine": min(a["cosine"] for a in m["torchscript"]["vs_onnx_route"]),
            "stock_cut_min_cosine": m["stock_cut"]["min_cosine"],
            "rgb_is_right": order[0]["min_cosine_vs_onnxruntime"] > order[1]["min_cosine_vs_onnxruntime"]}


STAGE = Stage("04_convert", inputs={"onnx": ('03_export', 'onnx'), "variants": ('01_train', 'variants'), "imgsz": ('03_export', 'imgsz'), "data_yaml": ('01_train', 'data_yaml')},
              headline=headline, conclusions=convert_conclusions, checks=checks)
