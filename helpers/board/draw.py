"""Detections drawn on a picture (OpenCV only): the one drawing routine of the workbook."""

from __future__ import annotations

import cv2
import numpy as np

# distinct, readable colours (BGR), one per class id (cycled)
_PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
            (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0)]


def colour(c: int) -> tuple[int, int, int]:
    return _PALETTE[int(c) % len(_PALETTE)]


def draw_detections(image_bgr: np.ndarray, boxes, scores, classes, names=None, thickness: int = 2) -> np.ndarray:
    """A copy of the image with boxes and 'name score' labels."""
    img = image_bgr.copy()
    for b, s, c in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(scores), np.ravel(classes)):
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        col = colour(c)
        cv2.rectangle(img, (x1, y1), (x2, y2), col, thickness)
        name = names[int(c)] if names is not None and int(c) < len(names) else int(c)
        label = f"{name} {float(s):.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        y = max(y1, th + 3)
        cv2.rectangle(img, (x1, y - th - 3), (x1 + tw + 2, y), col, -1)
        cv2.putText(img, label, (x1 + 1, y - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def draw_skeletons(image_bgr: np.ndarray, keypoints, skeleton=(), min_visibility: float = 0.5,
                   radius: int = 3) -> np.ndarray:
    """A copy of the image with each object's keypoints ``(n, K, 3)`` and the limbs of ``skeleton`` (index
    pairs) between keypoints whose visibility reaches ``min_visibility``."""
    img = image_bgr.copy()
    for k, obj in enumerate(np.asarray(keypoints, np.float32).reshape(-1, *np.shape(keypoints)[-2:])):
        col = colour(k)
        seen = obj[:, 2] >= min_visibility if obj.shape[1] > 2 else np.ones(len(obj), bool)
        for a, b in skeleton:
            if seen[a] and seen[b]:
                cv2.line(img, (int(obj[a, 0]), int(obj[a, 1])), (int(obj[b, 0]), int(obj[b, 1])), col, 2, cv2.LINE_AA)
        for (x, y), ok in zip(obj[:, :2], seen):
            if ok:
                cv2.circle(img, (int(x), int(y)), radius, (255, 255, 255), -1, cv2.LINE_AA)
                cv2.circle(img, (int(x), int(y)), radius, col, 1, cv2.LINE_AA)
    return img


def annotate(frame_bgr: np.ndarray, det, labels=None, skeleton=(), fps: float | None = None) -> np.ndarray:
    """A frame with its detections (and, for a pose model, skeletons) and the measured frames/s, if given."""
    img = draw_detections(frame_bgr, det.boxes, det.scores, det.classes, labels)
    kpts = getattr(det, "keypoints", None)
    if kpts is not None and len(kpts):
        img = draw_skeletons(img, kpts, skeleton)
    if fps is not None:
        text = f"{fps:.1f} frames/s"
        cv2.putText(img, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return img
