"""The workbook's reference checkpoints as files: where they are, their manifests, a damaged one refused.

Every model the notebooks after 01 need (the YOLOv8n-ReLU detector and its SiLU twin, the YOLO11n
that 06 compares with, 08's ReLU keypoint model) is shipped in ``data/checkpoints/``; beside each
``<name>.pt`` its ``<name>.json`` says how it was made (:mod:`helpers.model.references` makes them
and says when they are stale). They are what a user who brings a trained model hands notebook 01 and 08
(``TRAINED_WEIGHTS``): the fast lane (``scripts/main.sh --shipped``) and the test chain run 02 -> 09 on
them. :func:`verify` refuses a file that does not match its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..runfolder.artifacts import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "data" / "checkpoints"
COMMAND = "python scripts/train_checkpoints.py"
NOTEBOOKS = PROJECT_ROOT / "notebooks"


class CheckpointError(ValueError):
    """A shipped checkpoint that is missing, damaged or out of date; the message says what to run."""


@dataclass(frozen=True)
class Reference:
    name: str       # <name>.pt and <name>.json in data/checkpoints
    notebook: str   # whose parameters it is trained with: "01" or "08"
    model: str      # MODEL
    variant: str    # the activation: relu or silu
    role: str       # what the notebooks use it for


REFERENCES = {r.name: r for r in (
    Reference("yolov8n-relu", "01", "yolov8n", "relu", "the workbook's detector (02 -> 09)"),
    Reference("yolov8n-silu", "01", "yolov8n", "silu", "its SiLU twin (06's and 09's comparisons)"),
    Reference("yolo11n-relu", "01", "yolo11n", "relu", "the YOLO11n 06 compares with (COMPARE_RUN)"),
    Reference("yolov8n-pose-relu", "08", "yolov8n-pose", "relu",
              "08's keypoint model (ReLU, started from the SiLU twin's weights, as 08 trains it)"),
)}


def path(name: str) -> Path:
    """The shipped checkpoint ``name`` (``REFERENCES``), checked against its manifest."""
    if name not in REFERENCES:
        raise CheckpointError(f"no reference checkpoint {name!r}; they are {', '.join(REFERENCES)}")
    p = SHIPPED / f"{name}.pt"
    verify(p)
    return p


def manifest_of(weights: str | os.PathLike) -> dict | None:
    """The manifest beside a checkpoint (``<stem>.json`` with a ``sha256``), or None when it has none."""
    m = Path(weights).with_suffix(".json")
    if not m.is_file():
        return None
    try:
        d = json.loads(m.read_text())
    except ValueError:
        return None
    return d if isinstance(d, dict) and "sha256" in d else None


def sha256(p: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(weights: str | os.PathLike) -> dict | None:
    """Refuse a checkpoint whose bytes do not match the manifest beside it; its manifest (None: it has none)."""
    weights = Path(weights)
    if not weights.is_file():
        raise CheckpointError(f"{weights} does not exist" + (
            f": the shipped checkpoints come with the repository (git checkout -- {weights.parent}), or make them "
            f"again with `{COMMAND}`" if weights.parent == SHIPPED else ""))
    m = manifest_of(weights)
    if m is None:
        return None
    got = sha256(weights)
    if got != m["sha256"]:
        raise CheckpointError(
            f"{weights} does not match its manifest {weights.with_suffix('.json').name} (SHA-256 {got[:12]}..., "
            f"recorded {m['sha256'][:12]}...): the file was changed or damaged. Restore it (git checkout -- "
            f"{weights}) or make the checkpoints again: `{COMMAND}` ({training_duration(m)}).")
    return m


def training_duration(m: dict) -> str:
    total = m.get("made", {}).get("all_training_seconds")
    return (f"about {total / 60:.0f} min of training on the {m['made']['cores']}-core CPU that made them" if total
            else "an hour or more on a CPU")


def defaults(notebook: str) -> dict:
    """The main job's defaults: the literal values of a notebook's ``parameters`` cell."""
    from ..runfolder.params import declared

    (nb,) = sorted(NOTEBOOKS.glob(f"{notebook}_*.ipynb"))
    return {k: p.default for k, p in declared(nb).items()}
