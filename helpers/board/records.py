"""The two small JSON files a model travels with, and their one reader each.

* ``<model>.rknn.json``, the **build record** written next to every ``.rknn``: the toolkit
  settings it was built with, the ONNX it came from, the calibration list and the toolkit
  version. The simulator rebuilds the model from it (the simulator cannot load a ``.rknn``), and
  the board checks its runtime version against it.
* ``config.json`` of a deploy bundle: input size, thresholds, labels, output layout, target.

Relative paths inside a record are resolved against the record's folder, so a bundle can be
copied anywhere. Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class RecordMissing(FileNotFoundError):
    """A build record or bundle config is not where it should be (the message says who writes it)."""


def build_record_path(rknn_path: str | os.PathLike) -> Path:
    return Path(str(rknn_path) + ".json")


def read_build_record(rknn_path: str | os.PathLike) -> dict:
    """The ``<model>.rknn.json`` next to a .rknn, with its ``onnx`` and ``dataset`` paths made absolute."""
    p = build_record_path(rknn_path)
    if not p.is_file():
        raise RecordMissing(f"{p} is missing: the build record of {rknn_path} (05_quantize_int8.ipynb writes it "
                            "next to every .rknn, and a deploy bundle carries it); rebuild the model there")
    rec = json.loads(p.read_text())
    for key in ("onnx", "dataset"):
        if rec.get(key) and not Path(rec[key]).is_absolute():
            rec[key] = str((p.parent / rec[key]).resolve())
    return rec


def read_bundle_config(bundle: str | os.PathLike) -> dict:
    """A deploy bundle's ``config.json``."""
    p = Path(bundle) / "config.json"
    if not p.is_file():
        raise RecordMissing(f"{p} is missing: is {bundle} a deploy bundle (07_deploy_board.ipynb builds one)?")
    return json.loads(p.read_text())
