"""Letterbox and its inverse, and model-input layouts. Board-side: numpy and OpenCV only.

The letterbox keeps the aspect ratio, scales the image to fit ``imgsz`` and pads
the rest with grey (114), centred, with the same rounding as ultralytics, so a
model sees on the board exactly what it saw in training and validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an image of ``orig_hw`` was placed into a ``new_hw`` canvas: scaled, then padded."""

    orig_hw: tuple[int, int]
    new_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    pad_x: int  # left padding in pixels
    pad_y: int  # top padding in pixels

    @property
    def gain_x(self) -> float:
        return self.resized_hw[1] / self.orig_hw[1]

    @property
    def gain_y(self) -> float:
        return self.resized_hw[0] / self.orig_hw[0]

    def to_original(self, boxes_xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """Map boxes from model-input pixels back to the original image (a new array)."""
        b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] - self.pad_x) / self.gain_x
        b[:, [1, 3]] = (b[:, [1, 3]] - self.pad_y) / self.gain_y
        if clip:
            b[:, [0, 2]] = b[:, [0, 2]].clip(0, self.orig_hw[1])
            b[:, [1, 3]] = b[:, [1, 3]].clip(0, self.orig_hw[0])
        return b

    def to_input(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Map boxes from the original image into model-input pixels (the forward transform)."""
        b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
        b[:, [0, 2]] = b[:, [0, 2]] * self.gain_x + self.pad_x
        b[:, [1, 3]] = b[:, [1, 3]] * self.gain_y + self.pad_y
        return b


def _hw(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def letterbox(image: np.ndarray, new_size=640, pad_value: int = PAD_VALUE) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (H, W, C) to fit ``new_size`` keeping its aspect ratio; pad the rest.

    Returns the canvas and the :class:`Letterbox` that inverts it.
    """
    if image is None or image.ndim != 3:
        raise ValueError("letterbox expects an (H, W, C) image array; got "
                         f"{None if image is None else image.shape} (was the image file readable?)")
    h0, w0 = image.shape[:2]
    nh_, nw_ = _hw(new_size)
    r = min(nh_ / h0, nw_ / w0)
    rw, rh = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = (nw_ - rw) / 2, (nh_ - rh) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if (rh, rw) != (h0, w0):
        image = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)
    canvas = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                value=(pad_value,) * image.shape[2])
    return canvas, Letterbox((h0, w0), (nh_, nw_), (rh, rw), left, top)


def to_nchw_float(canvas_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> RGB float32 (1, 3, H, W) in 0..1: what the float model takes."""
    rgb = canvas_bgr[..., ::-1]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def to_nhwc_uint8(canvas_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> RGB uint8 (1, H, W, 3): what an RKNN model with mean 0 / std 255 takes."""
    return np.ascontiguousarray(canvas_bgr[..., ::-1][None])


def load_image(path) -> np.ndarray:
    """Read an image as BGR uint8, with a clear error for a missing or unreadable file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"could not read an image from {path} (missing, or not an image file)")
    return img
