"""CPU post-processing of the NPU head's outputs. Board-side: numpy and OpenCV only.

The patched head (see ``helpers.model.heads``) gives, per stride s in (8, 16, 32):

* box ``[1, 4*16, H, W]`` raw DFL logits (16 bins for each of left, top, right, bottom),
* cls ``[1, nc, H, W]`` class probabilities (after sigmoid),
* sum ``[1, 1, H, W]`` clamp(sum of class probabilities, 0, 1)  (9-output layout only).

Decoding, vectorised over cells (no Python loop over the grid):

1. prefilter: keep cells whose score-sum reaches the threshold (lossless in float, because
   the best class score never exceeds the sum); the 6-output layout uses the max instead;
2. class = argmax, score = max of the kept cells;
3. DFL: softmax over the 16 bins, then the expectation -> distances in grid units;
4. box = (grid + 0.5 -/+ distance) * stride (xyxy, model-input pixels);
5. per-class NMS, highest score first (OpenCV's batched NMS, in C++).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

REG_MAX = 16
#: the default confidence threshold and NMS IoU of every detection path (notebooks, bundle, board)
DEFAULT_CONF, DEFAULT_IOU = 0.25, 0.45


@dataclass
class Detections:
    """Detections of one image. Boxes are xyxy in model-input pixels unless mapped back."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    levels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))  # index of the stride
    prefiltered: int = 0  # cells kept by the score-sum prefilter (all cells without it)
    candidates: int = 0  # cells above the threshold, before NMS

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, idx) -> "Detections":
        return Detections(self.boxes[idx], self.scores[idx], self.classes[idx], self.levels[idx], self.prefiltered,
                          self.candidates)

    def to_records(self, names=None) -> list[dict]:
        out = []
        for b, s, c, lv in zip(self.boxes.tolist(), self.scores.tolist(), self.classes.tolist(), self.levels.tolist()):
            r = {"box": [round(v, 2) for v in b], "score": round(s, 5), "class": int(c), "level": int(lv)}
            if names is not None:
                r["name"] = names[int(c)]
            out.append(r)
        return out


class Level(NamedTuple):
    """One stride's outputs (a named tuple: cheap to make, as the post-process makes three per frame)."""

    box: np.ndarray  # (4*reg_max, H, W)
    cls: np.ndarray  # (nc, H, W)
    score_sum: np.ndarray | None  # (1, H, W) or None
    stride: float


def split_levels(outputs, input_hw=None) -> list[Level]:
    """Group the flat output list into levels; accepts the 9-output and the 6-output layouts.

    ``input_hw`` gives the strides (input size / grid size); without it the first level
    is taken as stride 8 and the others follow from their grid sizes.
    """
    outs = [o if isinstance(o, np.ndarray) else np.asarray(o) for o in outputs]
    if any(o.ndim != 4 or o.shape[0] != 1 for o in outs):
        raise ValueError(f"expected [1, C, H, W] outputs, got shapes {[o.shape for o in outs]}")
    group = 3 if len(outs) >= 3 and outs[2].shape[1] == 1 and outs[2].shape[2:] == outs[0].shape[2:] else 2
    if len(outs) % group:
        raise ValueError(f"{len(outs)} outputs do not form (box, cls[, sum]) groups; shapes: "
                         f"{[o.shape for o in outs]}")
    levels = []
    for i in range(0, len(outs), group):
        box, cls = outs[i][0], outs[i + 1][0]
        ssum = outs[i + 2][0] if group == 3 else None
        if box.shape[0] % 4 or box.shape[1:] != cls.shape[1:]:
            raise ValueError(f"level {i // group}: box {box.shape} and cls {cls.shape} do not match "
                             f"(box must have 4*reg_max channels on the same grid)")
        if input_hw is not None:
            stride = input_hw[0] / box.shape[1]
        else:
            stride = 8.0 * outs[0].shape[2] / box.shape[1]
        levels.append(Level(box, cls, ssum, float(stride)))
    return levels


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (the one softmax of the workbook)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def dfl_expectation(logits: np.ndarray) -> np.ndarray:
    """(4*reg_max, N) bin logits -> (4, N) expected distances: softmax over bins, then sum(p * bin)."""
    reg = logits.shape[0] // 4
    x = logits.reshape(4, reg, -1).astype(np.float32, copy=False)
    e = np.exp(x - x.max(axis=1, keepdims=True))  # softmax, normalised once at the end:
    moments = _moment_weights(reg) @ e  # (4, 2, N): sum(e) and sum(e * bin) in one matmul
    return moments[:, 1] / moments[:, 0]


@functools.lru_cache(maxsize=4)
def _moment_weights(reg: int) -> np.ndarray:
    return np.stack([np.ones(reg, np.float32), np.arange(reg, dtype=np.float32)])


def decode_boxes(logits: np.ndarray, gx: np.ndarray, gy: np.ndarray, stride) -> np.ndarray:
    """xyxy boxes (input pixels, float32) of cells at grid column ``gx`` / row ``gy``: DFL distances
    around the cell centre, times the stride."""
    ltrb = dfl_expectation(logits)
    centre = np.stack([gx, gy]).astype(np.float32) + 0.5
    return (np.concatenate([centre - ltrb[:2], centre + ltrb[2:]]) * np.asarray(stride, np.float32)).T


def decode_dense(outputs, input_hw=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cell, no threshold: boxes (N, 4) xyxy, class scores (N, nc), level (N,).

    Cells are ordered level by level, row-major: the order of ultralytics' own
    concatenated prediction, so the two can be compared element by element.
    """
    boxes, scores, lv = [], [], []
    for k, level in enumerate(split_levels(outputs, input_hw)):
        n = level.box.shape[1] * level.box.shape[2]
        gy, gx = np.divmod(np.arange(n), level.box.shape[2])
        boxes.append(decode_boxes(level.box.reshape(level.box.shape[0], n), gx, gy, level.stride))
        scores.append(level.cls.reshape(level.cls.shape[0], n).T)
        lv.append(np.full(n, k))
    return np.concatenate(boxes), np.concatenate(scores).astype(np.float32), np.concatenate(lv)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS in plain numpy (float64), the readable reference of :func:`batched_nms`.

    Indices kept, highest score first (ties: the earlier box first). A box is dropped when its
    IoU with a kept box is above ``iou_thres``. One Python iteration per kept box.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    x1, y1, x2, y2 = np.asarray(boxes, np.float64)[order].T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep, alive = [], np.ones(len(order), bool)
    for i in range(len(order)):  # loop over surviving boxes, vectorised over the rest
        if not alive[i]:
            continue
        keep.append(i)
        rest = np.nonzero(alive[i + 1:])[0] + i + 1
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        alive[rest[inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9) > iou_thres]] = False
    return order[np.array(keep, dtype=np.int64)]


def class_offset_boxes(boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Boxes of different classes shifted apart (float64) so that one NMS pass never mixes classes."""
    b = np.asarray(boxes, np.float64)
    return b + classes.astype(np.float64)[:, None] * (float(np.abs(b).max()) + 1.0)


def opencv_batch_offsets(xywh: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """xywh boxes (float64) shifted apart by class exactly as OpenCV's ``NMSBoxesBatched`` shifts them.

    OpenCV (``modules/dnn/src/nms.cpp``) takes ``max_coord`` = the largest of 0 and every box's x, y,
    x + w and y + h, then moves box i by ``class_i * (max_coord + 1)`` in x and y: boxes of different
    classes can no longer overlap, so one ``NMSBoxes`` pass is a per-class NMS.
    """
    b = np.array(xywh, np.float64)
    max_coord = max(0.0, float(np.max(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)))) if len(b) else 0.0
    b[:, :2] += np.asarray(classes, np.float64)[:, None] * (max_coord + 1.0)
    return b


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_thres: float) -> np.ndarray:
    """Per-class NMS in one pass (OpenCV's C++ ``NMSBoxesBatched``): indices kept, highest score first.

    The same rule as :func:`nms_reference` on class-offset boxes (a unit test checks they agree
    index for index), without a Python loop: this is what makes the post-process cheap.
    ``NMSBoxesBatched`` came with OpenCV 4.7; the OpenCV Debian ships (4.5.1 in Debian 11, 4.6.0 in
    12) lacks it, and there the same call is made the way OpenCV makes it inside: ``NMSBoxes`` on
    boxes shifted apart by class (:func:`opencv_batch_offsets`; a test hides the fast path and gets
    identical indices).
    """
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    xywh = np.array(boxes, np.float64)  # a copy: xyxy -> xywh in place
    xywh[:, 2:] -= xywh[:, :2]
    # Python lists cross OpenCV's binding faster than arrays (measured: 27 vs 48 us for 100 boxes)
    score_list = np.asarray(scores, np.float32).tolist()
    fast = getattr(cv2.dnn, "NMSBoxesBatched", None)
    if fast is not None:
        keep = fast(xywh.tolist(), score_list, np.asarray(classes).tolist(), 0.0, float(iou_thres))
    else:
        keep = cv2.dnn.NMSBoxes(opencv_batch_offsets(xywh, classes).tolist(), score_list, 0.0, float(iou_thres))
    return np.asarray(keep, np.int64).reshape(-1)


def drop_score_sum(outputs: list) -> list:
    """The 9-output layout without its score-sum outputs: the 6-output layout (box, cls per stride)."""
    if len(outputs) != 9:
        raise ValueError(f"expected the 9 outputs (box, cls, score-sum per stride), got {len(outputs)}")
    return [o for i, o in enumerate(outputs) if i % 3 != 2]


def split_concat_output(output: np.ndarray, input_hw, nc: int, strides=(8, 16, 32), reg_max: int = REG_MAX
                        ) -> list[np.ndarray]:
    """``[1, 4*reg_max + nc, N]`` (boxes and scores in one tensor) -> the 6-output NPU layout."""
    out = np.asarray(output)
    h, w = input_hw
    if out.ndim != 3 or out.shape[1] != 4 * reg_max + nc:
        raise ValueError(f"expected [1, {4 * reg_max + nc}, N], got {out.shape}")
    res, start = [], 0
    for s in strides:
        gh, gw = h // s, w // s
        block = out[:, :, start:start + gh * gw].reshape(1, -1, gh, gw)
        res += [block[:, :4 * reg_max], block[:, 4 * reg_max:]]
        start += gh * gw
    if start != out.shape[2]:
        raise ValueError(f"{out.shape[2]} cells do not match a {h}x{w} input at strides {strides}")
    return res


def _prefilter(levels: list[Level], conf_thres: float, use_score_sum: bool):
    """Cells worth a look, all levels together: class scores (nc, K), DFL logits (4*reg_max, K), flat cell
    index within its level, level. A cell is kept when its score-sum reaches the threshold (the best class
    score never exceeds the sum); without a score-sum output, every cell is."""
    cols = []
    for level in levels:
        nc, h, w = level.cls.shape
        cls = level.cls.reshape(nc, h * w)
        box = level.box.reshape(level.box.shape[0], h * w)
        if use_score_sum and level.score_sum is not None:
            idx = np.flatnonzero(level.score_sum.reshape(-1) >= conf_thres)
            # np.take keeps the logits C-contiguous: the DFL softmax on them is 3x faster than on a fancy-indexed copy
            cols.append((cls[:, idx], np.take(box, idx, axis=1), idx))
        else:  # every cell
            cols.append((cls, box, np.arange(h * w)))
    cls, logits, idx = (np.concatenate(x, axis=-1) for x in zip(*cols))
    return cls, logits, idx, np.repeat(np.arange(len(levels)), [len(c[2]) for c in cols])


def postprocess(outputs, input_hw=None, conf_thres: float = DEFAULT_CONF, iou_thres: float = DEFAULT_IOU, max_det: int = 300,
                letterbox=None, use_score_sum: bool = True) -> Detections:
    """Head outputs of one image -> :class:`Detections`.

    Args:
        outputs: the 9 (or 6) head outputs, each ``[1, C, H, W]``.
        input_hw: model input (height, width); gives the strides.
        conf_thres: keep a cell when its best class score is above this.
        iou_thres: per-class NMS IoU threshold.
        max_det: keep at most this many detections.
        letterbox: a :class:`helpers.board.preprocess.Letterbox` to map boxes back to the original image.
        use_score_sum: use the score-sum output to skip cells early (9-output layout).

    The cells of every level are gathered first and decoded together (one DFL softmax, one NMS):
    at these sizes the cost is the number of numpy calls, not the arithmetic.
    """
    lv = split_levels(outputs, input_hw)
    cls, logits, idx, levels = _prefilter(lv, conf_thres, use_score_sum)
    best = cls.argmax(0)
    scores = cls[best, np.arange(len(best))]  # (faster than cls.max(0) on the gathered layout)
    sel = np.flatnonzero(scores > conf_thres)
    if not len(sel):
        return Detections(prefiltered=len(best))
    levels = levels[sel]
    grid = np.array([(level.box.shape[2], level.stride) for level in lv], np.float32)[levels]  # width, stride
    gy, gx = np.divmod(idx[sel], grid[:, 0].astype(np.int64))
    boxes = decode_boxes(np.take(logits, sel, axis=1), gx, gy, grid[:, 1])
    scores, classes = scores[sel], best[sel]
    keep = batched_nms(boxes, scores, classes, iou_thres)[:max_det]
    det = Detections(boxes[keep], scores[keep], classes[keep], levels[keep], prefiltered=len(best),
                     candidates=len(sel))
    if letterbox is not None:
        det.boxes = letterbox.to_original(det.boxes)
    return det


def postprocess_decoded(output, conf_thres: float = DEFAULT_CONF, iou_thres: float = DEFAULT_IOU, max_det: int = 300,
                        letterbox=None) -> Detections:
    """Ultralytics' own export output ``[1, 4 + nc, N]`` (DFL and decode inside the graph: boxes
    cx, cy, w, h in model-input pixels, then class probabilities) -> :class:`Detections`.

    Not the board's path (the patched head is): here to measure the stock head where it builds.
    """
    out = np.asarray(output, np.float32)
    if out.ndim != 3 or out.shape[0] != 1 or out.shape[1] < 5:
        raise ValueError(f"expected [1, 4 + nc, N], got {out.shape}")
    xywh, cls = out[0, :4], out[0, 4:]
    best = cls.argmax(0)
    scores = cls[best, np.arange(cls.shape[1])]
    sel = np.flatnonzero(scores > conf_thres)
    if not len(sel):
        return Detections(prefiltered=cls.shape[1])
    cx, cy, w, h = xywh[:, sel]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    scores, classes = scores[sel], best[sel]
    keep = batched_nms(boxes, scores, classes, iou_thres)[:max_det]
    det = Detections(boxes[keep], scores[keep], classes[keep], np.zeros(len(keep), np.int64),
                     prefiltered=cls.shape[1], candidates=len(sel))
    if letterbox is not None:
        det.boxes = letterbox.to_original(det.boxes)
    return det
