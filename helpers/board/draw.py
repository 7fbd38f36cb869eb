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
