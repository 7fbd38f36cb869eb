"""INT8 levels by hand: how many of a tensor's 256 levels are left for class scores (05 shows the arithmetic).

The toolkit quantizes each activation tensor asymmetrically to INT8: 256 levels spread evenly over a
range that contains 0, taken from the calibration images (``normal``: their min and max). One level
is ``scale = (max - min) / 255`` wide, and the integer ``zero_point`` stands for 0.0. Class scores live
in 0..1, so they get ``1 / scale`` levels: plenty in a tensor of scores alone, less than one when the
same tensor also carries box coordinates in pixels (the stock head's single output).
"""

from __future__ import annotations

import os

import numpy as np


def int8_params(lo: float, hi: float) -> tuple[float, int]:
    """``(scale, zero_point)`` of asymmetric INT8 over ``[min(lo, 0), max(hi, 0)]``."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255 or 1.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def onnx_on_images(onnx: str | os.PathLike, files, imgsz: int) -> list[list[np.ndarray]]:
    """The float model's outputs on images already letterboxed to ``imgsz`` (the calibration set's files)."""
    from ..board.preprocess import letterbox, load_image, to_nchw_float
    from ..board.runtimes.onnx import OnnxRuntime

    with OnnxRuntime(onnx) as m:
        return [m.run([to_nchw_float(letterbox(load_image(f), imgsz)[0])]) for f in files]


def quantization_step(values: np.ndarray) -> float | None:
    """The spacing of an INT8 output's values after dequantization: the scale the toolkit chose.

    ``None`` when the tensor holds one value only (every score on the same level: nothing to read).
    """
    u = np.unique(np.asarray(values, dtype=np.float64).ravel())
    d = np.diff(u)
    d = d[d > 1e-9]
    if not len(d):
        return None
    # every gap is a whole number of steps: the smallest gaps are one step (float32 rounding aside)
    return float(np.median(d[d < d.min() * 1.5]))
