"""Helpers for the YOLOv8 -> Rockchip NPU workbook (map of modules: helpers/README.md).

Submodules are imported explicitly, by layer (``from helpers.model import data``); the layers, in the
order the data flows, are in helpers/README.md. Everything that runs on a board lives in
:mod:`helpers.board` (numpy, OpenCV and the standard library only); the deploy bundle is a
verbatim copy of that folder.

Importing ``helpers`` keeps ultralytics off the network wherever the workbook may import it
(its import-time connectivity probe, pip auto-install), and keeps its settings out of the
user's home unless ``YOLO_CONFIG_DIR`` says otherwise; :func:`helpers.runfolder.offline.configure_ultralytics`
then moves them into the run folder (every notebook's first line does).
"""

import os as _os
from pathlib import Path as _Path

__version__ = "0.2.0"

_os.environ["YOLO_OFFLINE"] = "1"
_os.environ["YOLO_AUTOINSTALL"] = "0"
_os.environ.setdefault("YOLO_CONFIG_DIR", str(_Path(__file__).resolve().parent.parent / "runs" / ".ultralytics"))
