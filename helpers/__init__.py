"""Helpers for the YOLOv8 -> RK3588 workbook.

Submodules are imported explicitly (``from helpers import data``): the board-side
ones (preprocess, postprocess, ...) must import without torch or ultralytics.
"""

__version__ = "0.1.0"
