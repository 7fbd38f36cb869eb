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


def _read_json(p: Path, what: str) -> dict:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p} is not readable JSON ({e}): {what} was damaged or cut short in the copy; "
                         "copy the bundle again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p} holds a {type(data).__name__}, not the {what}: copy the bundle again")
    return data


def build_record_path(rknn_path: str | os.PathLike) -> Path:
    return Path(str(rknn_path) + ".json")


def read_build_record(rknn_path: str | os.PathLike) -> dict:
    """The ``<model>.rknn.json`` next to a .rknn, with its ``onnx`` and ``dataset`` paths made absolute."""
    p = build_record_path(rknn_path)
    if not p.is_file():
        raise RecordMissing(f"{p} is missing: the build record of {rknn_path} (05_quantize_int8.ipynb writes it "
                            "next to every .rknn, and a deploy bundle carries it); rebuild the model there")
    rec = _read_json(p, f"the build record of {Path(rknn_path).name}")
    for key in ("onnx", "dataset"):
        if rec.get(key) and not Path(rec[key]).is_absolute():
            rec[key] = str((p.parent / rec[key]).resolve())
    return rec


def read_bundle_config(bundle: str | os.PathLike) -> dict:
    """A deploy bundle's ``config.json``."""
    p = Path(bundle) / "config.json"
    if not p.is_file():
        raise RecordMissing(f"{p} is missing: is {bundle} a deploy bundle (07_deploy_board.ipynb builds one)?")
    cfg = _read_json(p, "the bundle's config")
    missing = [k for k in ("model", "imgsz") if k not in cfg]
    if missing:
        raise ValueError(f"{p} lacks {', '.join(missing)}: not a deploy bundle's config.json (07 and 08 write one)")
    return cfg


def file_digest(path: str | os.PathLike) -> dict:
    """Size and SHA-256 of a file (what a bundle records of its model files)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": h.hexdigest()}


def verify_model_file(bundle: str | os.PathLike, cfg: dict, model: str | os.PathLike) -> None:
    """Refuse a bundle model file whose size or SHA-256 is not what ``config.json`` recorded (a cut or damaged copy).

    RKNNLite's ``load_rknn`` accepts a truncated .rknn and fails only later; this says what happened instead.
    Files the config does not list (a ``--model`` of the user's own, an older bundle) are not checked.
    """
    p = Path(model)
    try:
        rel = p.resolve().relative_to(Path(bundle).resolve()).as_posix()
    except ValueError:
        return
    want = cfg.get("files", {}).get(rel)
    if not want or not p.is_file():
        return
    have = p.stat().st_size
    if have != want["bytes"]:
        raise ValueError(f"{rel} is {have:,} bytes, the bundle recorded {want['bytes']:,}: a truncated or partial "
                         f"copy; copy the bundle ({bundle}) again")
    if file_digest(p)["sha256"] != want["sha256"]:
        raise ValueError(f"{rel} does not match the SHA-256 the bundle recorded: a damaged copy; copy the bundle "
                         f"({bundle}) again")

