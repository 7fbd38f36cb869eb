"""CPU post-processing of the NPU head's outputs. Board-side: numpy only.

The patched head (see ``helpers.heads``) gives, per stride s in (8, 16, 32):

* box ``[1, 4*16, H, W]`` raw DFL logits (16 bins for each of left, top, right, bottom),
* cls ``[1, nc, H, W]`` class probabilities (after sigmoid),
* sum ``[1, 1, H, W]`` clamp(sum of class probabilities, 0, 1)  (9-output layout only).

Decoding, vectorised over cells (no Python loop over the grid):

1. prefilter: keep cells whose score-sum reaches the threshold (lossless in float, because
   the best class score never exceeds the sum); the 6-output layout uses the max instead;
2. class = argmax, score = max of the kept cells;
3. DFL: softmax over the 16 bins, then the expectation -> distances in grid units;
4. box = (grid + 0.5 -/+ distance) * stride (xyxy, model-input pixels);
5. per-class NMS, highest score first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

REG_MAX = 16


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


@dataclass(frozen=True)
class Level:
    box: np.ndarray  # (4*reg_max, H, W)
    cls: np.ndarray  # (nc, H, W)
    score_sum: np.ndarray | None  # (1, H, W) or None
    stride: float


def split_levels(outputs, input_hw=None) -> list[Level]:
    """Group the flat output list into levels; accepts the 9-output and the 6-output layouts.

    ``input_hw`` gives the strides (input size / grid size); without it the first level
    is taken as stride 8 and the others follow from their grid sizes.
    """
    outs = [np.asarray(o) for o in outputs]
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


def dfl_expectation(logits: np.ndarray) -> np.ndarray:
    """(4*reg_max, N) bin logits -> (4, N) expected distances: softmax over bins, then sum(p * bin)."""
    reg = logits.shape[0] // 4
    x = logits.reshape(4, reg, -1).astype(np.float32)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return (e * np.arange(reg, dtype=np.float32)[None, :, None]).sum(1) / e.sum(1)


def _decode_cells(level: Level, idx: np.ndarray) -> np.ndarray:
    """xyxy boxes (input pixels) of the flat cell indices ``idx`` of one level."""
    h, w = level.box.shape[1:]
    logits = level.box.reshape(level.box.shape[0], h * w)[:, idx]
    ltrb = dfl_expectation(logits)
    gx = (idx % w).astype(np.float32) + 0.5
    gy = (idx // w).astype(np.float32) + 0.5
    return (np.stack([gx - ltrb[0], gy - ltrb[1], gx + ltrb[2], gy + ltrb[3]], 1) * level.stride).astype(np.float32)


def decode_dense(outputs, input_hw=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cell, no threshold: boxes (N, 4) xyxy, class scores (N, nc), level (N,).

    Cells are ordered level by level, row-major: the order of ultralytics' own
    concatenated prediction, so the two can be compared element by element.
    """
    boxes, scores, lv = [], [], []
    for k, level in enumerate(split_levels(outputs, input_hw)):
        n = level.box.shape[1] * level.box.shape[2]
        boxes.append(_decode_cells(level, np.arange(n)))
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


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS; indices kept, highest score first. A box is dropped when IoU > iou_thres."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes[order]
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep = []
    alive = np.ones(len(order), bool)
    for i in range(len(order)):  # loop over surviving boxes, vectorised over the rest
        if not alive[i]:
            continue
        keep.append(i)
        rest = np.nonzero(alive[i + 1:])[0] + i + 1
        if not len(rest):
            break
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        alive[rest[iou > iou_thres]] = False
    return order[np.array(keep, dtype=np.int64)]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_thres: float) -> np.ndarray:
    """Per-class NMS in one pass: boxes of different classes are shifted apart so they never overlap."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    offset = classes.astype(np.float32)[:, None] * (float(np.abs(boxes).max()) + 1.0)
    return nms(boxes + offset, scores, iou_thres)


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


def postprocess(outputs, input_hw=None, conf_thres: float = 0.25, iou_thres: float = 0.45, max_det: int = 300,
                letterbox=None, use_score_sum: bool = True) -> Detections:
    """Head outputs of one image -> :class:`Detections`.

    Args:
        outputs: the 9 (or 6) head outputs, each ``[1, C, H, W]``.
        input_hw: model input (height, width); gives the strides.
        conf_thres: keep a cell when its best class score is above this.
        iou_thres: per-class NMS IoU threshold.
        max_det: keep at most this many detections.
        letterbox: a :class:`helpers.preprocess.Letterbox` to map boxes back to the original image.
        use_score_sum: use the score-sum output to skip cells early (9-output layout).
    """
    boxes, scores, classes, levels = [], [], [], []
    prefiltered = 0
    for k, level in enumerate(split_levels(outputs, input_hw)):
        nc, h, w = level.cls.shape
        cls = level.cls.reshape(nc, h * w)
        if use_score_sum and level.score_sum is not None:
            idx = np.flatnonzero(level.score_sum.reshape(-1) >= conf_thres)  # cheap prefilter
            cls = cls[:, idx]
        else:
            idx = np.arange(h * w)
        prefiltered += len(idx)
        best = cls.argmax(0)
        score = cls[best, np.arange(cls.shape[1])]
        sel = score > conf_thres
        idx, best, score = idx[sel], best[sel], score[sel]
        if not len(idx):
            continue
        boxes.append(_decode_cells(level, idx))
        scores.append(score.astype(np.float32))
        classes.append(best)
        levels.append(np.full(len(idx), k))
    if not boxes:
        return Detections(prefiltered=prefiltered)
    det = Detections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes).astype(np.int64),
                     np.concatenate(levels).astype(np.int64), prefiltered=prefiltered)
    det.candidates = len(det)
    keep = batched_nms(det.boxes, det.scores, det.classes, iou_thres)[:max_det]
    det = det.take(keep)
    if letterbox is not None:
        det.boxes = letterbox.to_original(det.boxes)
    return det
