"""Evaluation on the val set: one fixed set of letterboxed images, their outputs, detections and mAP.

mAP comes from pycocotools' COCOeval (the maintained reference implementation), fed in memory.
The same letterbox and the same numpy post-processing serve every runtime (onnxruntime, the
RKNN simulator, a board), so differences in the tables come from the model, not the pipeline.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .board.postprocess import Detections, postprocess
from .board.preprocess import Letterbox, letterbox, load_image, to_nchw_float, to_nhwc_uint8
from .parity import cosine

#: ultralytics' validation settings: keep (almost) everything, let the AP integral rank it
MAP_CONF = 0.001
MAP_IOU = 0.7


@dataclass
class EvalImage:
    path: Path
    canvas: np.ndarray          # letterboxed BGR uint8 (imgsz, imgsz, 3)
    letterbox: Letterbox
    gt_boxes: np.ndarray        # (n, 4) xyxy in original pixels
    gt_classes: np.ndarray      # (n,)


@dataclass
class EvalSet:
    images: list[EvalImage]
    imgsz: int
    nc: int
    names: list

    def __len__(self) -> int:
        return len(self.images)

    def nhwc(self) -> np.ndarray:
        """All canvases as NHWC uint8 RGB: the RKNN input."""
        return np.concatenate([to_nhwc_uint8(im.canvas) for im in self.images])

    def nchw(self, i: int) -> np.ndarray:
        return to_nchw_float(self.images[i].canvas)


def make_eval_set(info, imgsz: int, n: int | None = None, split: str = "val") -> EvalSet:
    """The first ``n`` images of ``split`` (all when ``n`` is falsy), letterboxed, with their labels."""
    from .data import labels_to_xyxy, load_labels

    paths = list(info.splits[split])[: (n or None)]
    if not paths:
        raise ValueError(f"the {split!r} split of {info.yaml_path} has no images")
    out = []
    for p in paths:
        img = load_image(p)
        canvas, lb = letterbox(img, imgsz)
        lab = load_labels(p, info.nc)
        h, w = img.shape[:2]
        out.append(EvalImage(Path(p), canvas, lb, labels_to_xyxy(lab, w, h), lab[:, 0].astype(np.int64)))
    return EvalSet(out, imgsz, info.nc, list(info.names))


def onnx_outputs(onnx_path: str | os.PathLike, es: EvalSet) -> list[list[np.ndarray]]:
    from .board.runtime import OnnxRuntime

    with OnnxRuntime(onnx_path) as m:
        return [m.run([es.nchw(i)]) for i in range(len(es))]


def detections(outputs: list, es: EvalSet, conf: float = MAP_CONF, iou: float = MAP_IOU, max_det: int = 300,
               use_score_sum: bool = True) -> list[Detections]:
    """Post-process every image's outputs; boxes mapped back to original pixels."""
    return [postprocess(o, (es.imgsz, es.imgsz), conf, iou, max_det, letterbox=im.letterbox,
                        use_score_sum=use_score_sum) for o, im in zip(outputs, es.images)]


def coco_map(es: EvalSet, dets: list[Detections]) -> dict:
    """mAP50 and mAP50-95 with pycocotools' COCOeval (all images, all classes)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(dets) != len(es):
        raise ValueError(f"{len(dets)} detection lists for {len(es)} images")
    images, anns, results = [], [], []
    for i, (im, d) in enumerate(zip(es.images, dets)):
        h, w = im.letterbox.orig_hw
        images.append({"id": i, "width": w, "height": h})
        for b, c in zip(im.gt_boxes, im.gt_classes):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [float(b[0]), float(b[1]), bw, bh], "area": bw * bh})
        for b, s, c in zip(d.boxes, d.scores, d.classes):
            results.append({"image_id": i, "category_id": int(c) + 1, "score": float(s),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    if not results or not anns:
        return {"mAP50": 0.0, "mAP50_95": 0.0, "detections": len(results)}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": k + 1, "name": str(n)} for k, n in enumerate(es.names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = [1, 10, 300]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][:, :, :, 0, -1]  # [IoU thresholds, recall, class], all areas, 300 dets

    def mean_ap(p):
        p = p[p > -1]
        return round(float(p.mean()), 4) if p.size else 0.0
    return {"mAP50": mean_ap(prec[0]), "mAP50_95": mean_ap(prec), "detections": len(results)}


def evaluate_outputs(outputs: list, es: EvalSet, use_score_sum: bool = True) -> dict:
    return coco_map(es, detections(outputs, es, use_score_sum=use_score_sum))


def output_agreement(ref: list, test: list, names) -> list[dict]:
    """Per output, over all images: cosine of the flattened tensors, max and mean absolute difference."""
    rows = []
    for k, name in enumerate(names):
        a = np.concatenate([np.asarray(r[k], np.float64).ravel() for r in ref])
        b = np.concatenate([np.asarray(t[k], np.float64).ravel() for t in test])
        rows.append({"output": name, "cosine": round(cosine(a, b), 6), "max_abs_diff": float(np.abs(a - b).max()),
                     "mean_abs_diff": float(np.abs(a - b).mean()), "ref_max": float(np.abs(a).max())})
    return rows
