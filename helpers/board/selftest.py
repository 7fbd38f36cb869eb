"""The bundle's self-test: does this board's numpy and OpenCV post-process exactly as the PC did?

When the bundle is built, the PC runs the bundle's ONNX model on a few sample images and stores
the raw outputs (float16, ``reference/outputs.npz``) and the detections it decoded from exactly
those values (``reference/detections.json``). On the board, ``python3 run.py --selftest`` decodes
the stored outputs with the board's own stack (letterbox geometry, DFL, score-sum prefilter, NMS,
the way back to the frame) and compares: no runtime and no NPU needed, so it runs on any board,
before ``librknnrt.so`` is even installed. The decode is arithmetic on identical inputs, so the
tolerance is rounding: :data:`SCORE_TOL`, :data:`BOX_TOL`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .atomic import write_json
from .compare import describe, match_runs
from .postprocess import DEFAULT_CONF, DEFAULT_IOU
from .preprocess import letterbox, load_image
from .records import read_bundle_config

REFERENCE_DIR = "reference"
#: float32 arithmetic on the same float16 inputs, other CPUs and libraries: the last digits may differ
SCORE_TOL = 1e-4
BOX_TOL = 0.01


def save_reference(bundle, frames: list[dict]) -> Path:
    """``frames``: ``{"source", "file", "outputs" (list of arrays), "detections" (runner records)}``."""
    d = Path(bundle) / REFERENCE_DIR
    d.mkdir(parents=True, exist_ok=True)
    arrays = {f"{f['source']}__{k}": np.asarray(o, np.float16) for f in frames for k, o in enumerate(f["outputs"])}
    tmp = d / ".outputs.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(d / "outputs.npz")
    write_json(d / "detections.json", {"frames": [{"source": f["source"], "file": f["file"],
                                                   "outputs": len(f["outputs"]), "detections": f["detections"]}
                                                  for f in frames]})
    return d


def rounded(outputs: list) -> list:
    """The outputs as the reference stores them (float16), back in float32: what both sides decode."""
    return [np.asarray(o, np.float16).astype(np.float32) for o in outputs]


def run_selftest(bundle, decode, log=print) -> dict:
    """Decode the stored outputs with this board's stack and compare with the PC's detections."""
    bundle = Path(bundle)
    cfg, d = read_bundle_config(bundle), bundle / REFERENCE_DIR
    if not (d / "detections.json").is_file() or not (d / "outputs.npz").is_file():
        raise FileNotFoundError(f"{d} is missing: this bundle carries no self-test reference (notebooks 07 and 08 "
                                "write one); copy the whole bundle folder")
    ref = json.loads((d / "detections.json").read_text())
    imgsz, labels = int(cfg["imgsz"]), cfg.get("labels", [])
    conf, iou = cfg.get("conf", DEFAULT_CONF), cfg.get("iou", DEFAULT_IOU)
    frames = []
    with np.load(d / "outputs.npz") as data:
        for fr in ref["frames"]:
            _, lb = letterbox(load_image(bundle / fr["file"]), imgsz)
            outs = [data[f"{fr['source']}__{k}"].astype(np.float32) for k in range(fr["outputs"])]
            frames.append({"source": fr["source"], "detections": decode(outs, imgsz, conf, iou, lb).to_records(labels)})
    m = match_runs(ref, {"frames": frames}, conf, SCORE_TOL, BOX_TOL, margin=0.0)
    m["versions"] = stack_versions()
    if log:
        log(f"self-test (numpy {m['versions']['numpy']}, OpenCV {m['versions']['opencv']}): {describe(m)}")
    return m


def stack_versions() -> dict:
    import platform

    import cv2

    return {"python": platform.python_version(), "machine": platform.machine(), "numpy": np.__version__,
            "opencv": cv2.__version__, "nms": "NMSBoxesBatched" if hasattr(cv2.dnn, "NMSBoxesBatched") else
            "NMSBoxes on class-offset boxes (OpenCV < 4.7)"}
