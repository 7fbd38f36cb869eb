"""Run folders, stage artifacts and atomic writes.

Every notebook writes into its own stage folder under one run directory
(``runs/<name>/01_train/``, ``runs/<name>/02_patch/`` ...) and records what it
measured in that folder's ``metrics.json``. The next notebook asks for what it
needs with :func:`require_artifact`, which fails with a message naming the
notebook to run first.

Writes are atomic (:mod:`helpers.board.atomic`, re-exported here): an interrupted
run never leaves a half-written file that a later stage would trust.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..board.atomic import jsonable, atomic_copy, atomic_path, atomic_write_bytes, atomic_write_text, write_json  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: stage folder -> the notebook that produces it
STAGES: dict[str, str] = {
    "01_train": "01_train_relu.ipynb",
    "02_patch": "02_patch_heads.ipynb",
    "03_export": "03_export_onnx.ipynb",
    "04_convert": "04_convert_rknn.ipynb",
    "05_quantize": "05_quantize_int8.ipynb",
    "06_analyze": "06_analyze_accuracy.ipynb",
    "07_deploy": "07_deploy_board.ipynb",
    "08_pose": "08_pose_ncnn.ipynb",
    "09_compare": "09_compare_paths.ipynb",
}


class ArtifactMissing(FileNotFoundError):
    """An artifact an earlier notebook should have produced is not there."""


def resolve_run_dir(run_dir: str | os.PathLike) -> Path:
    """Absolute run directory. A relative path is taken from the project root, never from the cwd."""
    p = Path(run_dir).expanduser()
    if not p.is_absolute():
        p = PROJECT_ROOT / p
    return p.resolve()


def stage_dir(run_dir: str | os.PathLike, stage: str, create: bool = True) -> Path:
    """The folder of one stage inside a run (created on demand)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    d = resolve_run_dir(run_dir) / stage
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


# --------------------------------------------------------------------------- metrics
def metrics_path(run_dir: str | os.PathLike, stage: str) -> Path:
    return stage_dir(run_dir, stage, create=False) / "metrics.json"


def read_metrics(run_dir: str | os.PathLike, stage: str) -> dict:
    """The metrics a stage recorded; a clear error if the stage has not run yet."""
    p = metrics_path(run_dir, stage)
    if not p.is_file():
        raise ArtifactMissing(_missing_message(run_dir, stage, p))
    return json.loads(p.read_text())


def recorded(run_dir: str | os.PathLike) -> dict[str, dict]:
    """Every stage's metrics.json that exists in ``run_dir``, in pipeline order (``{}`` for a new run)."""
    out = {}
    for stage in STAGES:
        p = Path(run_dir) / stage / "metrics.json"
        if p.is_file():
            out[stage] = json.loads(p.read_text())
    return out


def update_metrics(run_dir: str | os.PathLike, stage: str, **entries: Any) -> dict:
    """Merge ``entries`` into a stage's metrics.json (atomically) and return the whole record."""
    p = stage_dir(run_dir, stage) / "metrics.json"
    current = json.loads(p.read_text()) if p.is_file() else {}
    current.update(jsonable(entries))
    write_json(p, current)
    return current


def _missing_message(run_dir, stage: str, path: Path) -> str:
    nb = STAGES[stage]
    return (f"{path} does not exist. It is made by notebooks/{nb}: run that notebook first "
            f"with the same RUN_DIR ({resolve_run_dir(run_dir)}).")


def require_artifact(run_dir: str | os.PathLike, stage: str, key: str) -> Any:
    """Fetch ``key`` from a stage's metrics.json; if it names a file, check that the file exists.

    Raises :class:`ArtifactMissing` naming the notebook to run first.
    """
    m = read_metrics(run_dir, stage)
    if key not in m:
        raise ArtifactMissing(f"{metrics_path(run_dir, stage)} has no entry {key!r}: re-run notebooks/{STAGES[stage]} "
                              f"(it may have been interrupted, or run with an older version of the workbook).")
    value = m[key]
    if isinstance(value, str) and ("/" in value or os.sep in value) and not Path(value).exists():
        raise ArtifactMissing(_missing_message(run_dir, stage, Path(value)))
    return value
