"""CPU post-processing of the pose heads' outputs. Board-side: numpy and OpenCV only.

Two layouts of the same numbers (``helpers.model.pose_head`` makes both), per stride s in (8, 16, 32):

* ``rknn``: four NCHW outputs per stride, so INT8 gives each its own scale:
  box ``[1, 4*16, H, W]`` DFL logits, cls ``[1, nc, H, W]`` probabilities, score-sum
  ``[1, 1, H, W]``, kpt ``[1, K*ndim, H, W]`` raw keypoint values;
* ``ncnn``: one NHWC output per stride, ``[1, H, W, nc + 4*16 + K*ndim]``: class *logits*, DFL
  logits, raw keypoints, concatenated (the graph ends at the concat; ncnn runs it in fp16).

Keypoints decode exactly as ultralytics' ``Pose.kpts_decode``: for the cell (gx, gy) of stride s,
``x = (2 * raw_x + gx) * s``, ``y = (2 * raw_y + gy) * s`` (its anchor is the cell centre, minus
the same 0.5), visibility ``sigmoid(raw_v)``. Boxes decode as in detection (DFL expectation),
then per-class NMS, then boxes and keypoints go back through the letterbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..postprocess import DEFAULT_CONF, DEFAULT_IOU, REG_MAX, Detections, batched_nms, decode_boxes

LAYOUTS = ("rknn", "ncnn")


@dataclass
class PoseDetections(Detections):
    """Detections with keypoints ``(n, K, 3)``: x, y (pixels) and visibility (0..1; 1.0 without one)."""

    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))

    def take(self, idx) -> "PoseDetections":
        return PoseDetections(self.boxes[idx], self.scores[idx], self.classes[idx], self.levels[idx],
                              self.prefiltered, self.candidates, self.keypoints[idx])

    def to_records(self, names=None) -> list[dict]:
        out = super().to_records(names)
        for r, k in zip(out, self.keypoints.tolist()):
            r["keypoints"] = [[round(x, 2), round(y, 2), round(v, 4)] for x, y, v in k]
        return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: float) -> float:
    """The inverse of the sigmoid: a probability threshold as a threshold on logits."""
    p = min(max(float(p), 1e-12), 1 - 1e-12)
    return float(np.log(p / (1 - p)))


def pose_levels(outputs, layout: str, nc: int, kpt_shape, reg_max: int = REG_MAX) -> list[tuple]:
    """Per stride ``(box (4*reg_max, H, W), cls, kpt (K*ndim, H, W), score_sum or None, cls_are_logits)``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    outs = [np.asarray(o) for o in outputs]
    nk = int(kpt_shape[0]) * int(kpt_shape[1])
    levels = []
    if layout == "rknn":
        if len(outs) % 4 or any(o.ndim != 4 for o in outs):
            raise ValueError(f"the rknn pose layout has 4 NCHW outputs per stride (box, cls, score-sum, kpt); got "
                             f"{[o.shape for o in outs]}")
        for i in range(0, len(outs), 4):
            box, cls, ssum, kpt = (o[0] for o in outs[i:i + 4])
            if box.shape[0] != 4 * reg_max or cls.shape[0] != nc or kpt.shape[0] != nk:
                raise ValueError(f"stride {i // 4}: expected {4 * reg_max}, {nc}, 1, {nk} channels; got "
                                 f"{[o.shape for o in outs[i:i + 4]]}")
            levels.append((box, cls, kpt, ssum, False))
    else:
        want = nc + 4 * reg_max + nk
        for o in outs:
            if o.ndim == 3:  # ncnn's Mat for batch 1: (H, W, C)
                o = o[None]
            if o.ndim != 4 or o.shape[-1] != want:
                raise ValueError(f"the ncnn pose layout has one [1, H, W, {want}] output per stride (nc {nc} + DFL "
                                 f"{4 * reg_max} + keypoints {nk}); got {o.shape}")
            chw = np.moveaxis(o[0], -1, 0)
            levels.append((chw[nc:nc + 4 * reg_max], chw[:nc], chw[nc + 4 * reg_max:], None, True))
    return levels


def decode_keypoints(raw: np.ndarray, gx: np.ndarray, gy: np.ndarray, stride, kpt_shape) -> np.ndarray:
    """Raw keypoint values ``(K*ndim, n)`` of n cells -> ``(n, K, 3)`` pixels and visibility, as ultralytics does."""
    k, ndim = int(kpt_shape[0]), int(kpt_shape[1])
    r = np.asarray(raw, np.float32).reshape(k, ndim, -1)
    s = np.asarray(stride, np.float32)
    out = np.empty((r.shape[2], k, 3), np.float32)
    out[:, :, 0] = ((2.0 * r[:, 0] + gx) * s).T
    out[:, :, 1] = ((2.0 * r[:, 1] + gy) * s).T
    out[:, :, 2] = sigmoid(r[:, 2]).T if ndim == 3 else 1.0
    return out


def postprocess_pose(outputs, input_hw, kpt_shape, nc: int = 1, conf_thres: float = DEFAULT_CONF, iou_thres: float = DEFAULT_IOU,
                     max_det: int = 300, letterbox=None, layout: str = "rknn",
                     use_score_sum: bool = True) -> PoseDetections:
    """Pose head outputs of one image (either layout) -> :class:`PoseDetections`.

    Cells are chosen first (the score-sum, or the class *logits* against ``logit(conf_thres)`` in the
    ncnn layout: no sigmoid over the whole grid), then only those are decoded.
    """
    levels = pose_levels(outputs, layout, nc, kpt_shape)
    boxes, scores, classes, kpts, lv = [], [], [], [], []
    prefiltered = 0
    for k, (box, cls, kpt, ssum, logits) in enumerate(levels):
        h, w = box.shape[1:]
        stride = input_hw[0] / h
        cls2 = cls.reshape(cls.shape[0], h * w)
        if logits:
            idx = np.flatnonzero(cls2.max(0) > logit(conf_thres))
        elif use_score_sum and ssum is not None:
            idx = np.flatnonzero(ssum.reshape(-1) >= conf_thres)
        else:
            idx = np.arange(h * w)
        prefiltered += len(idx)
        c = cls2[:, idx]
        c = sigmoid(c) if logits else c
        best = c.argmax(0)
        sc = c[best, np.arange(len(idx))]
        keep = sc > conf_thres
        idx, best, sc = idx[keep], best[keep], sc[keep]
        gy, gx = np.divmod(idx, w)
        boxes.append(decode_boxes(np.take(box.reshape(box.shape[0], h * w), idx, axis=1), gx, gy, stride))
        kpts.append(decode_keypoints(np.take(kpt.reshape(kpt.shape[0], h * w), idx, axis=1), gx, gy, stride,
                                     kpt_shape))
        scores.append(sc.astype(np.float32))
        classes.append(best)
        lv.append(np.full(len(idx), k))
    boxes, scores, classes = np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)
    kpts, lv = np.concatenate(kpts), np.concatenate(lv)
    if not len(scores):
        return PoseDetections(prefiltered=prefiltered, keypoints=np.zeros((0, int(kpt_shape[0]), 3), np.float32))
    keep = batched_nms(boxes, scores, classes, iou_thres)[:max_det]
    det = PoseDetections(boxes[keep], scores[keep], classes[keep], lv[keep], prefiltered, len(scores), kpts[keep])
    if letterbox is not None:
        det.boxes = letterbox.to_original(det.boxes)
        det.keypoints = keypoints_to_original(det.keypoints, letterbox)
    return det


def keypoints_to_original(kpts: np.ndarray, letterbox, clip: bool = True) -> np.ndarray:
    """Keypoints ``(n, K, 3)`` from model-input pixels back to the original image (visibility kept),
    clipped to the image as ultralytics clips them."""
    k = np.array(kpts, np.float32, copy=True)
    k[..., 0] = (k[..., 0] - letterbox.pad_x) / letterbox.gain_x
    k[..., 1] = (k[..., 1] - letterbox.pad_y) / letterbox.gain_y
    if clip:
        k[..., 0] = k[..., 0].clip(0, letterbox.orig_hw[1])
        k[..., 1] = k[..., 1].clip(0, letterbox.orig_hw[0])
    return k


def decoder(cfg: dict, backend: str):
    """``decode(outputs, imgsz, conf, iou, letterbox)`` for a pose bundle: ``kpt_shape`` from its config; the ncnn
    model has the ncnn layout, the others the rknn one."""
    kshape, nc = tuple(cfg["kpt_shape"]), max(1, len(cfg.get("labels", [])))
    layout = "ncnn" if backend == "ncnn" else cfg.get("layout", "rknn")
    return lambda outs, imgsz, conf, iou, lb: postprocess_pose(outs, (imgsz, imgsz), kshape, nc, conf, iou,
                                                               letterbox=lb, layout=layout)
