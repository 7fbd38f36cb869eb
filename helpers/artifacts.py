"""Run folders, stage artifacts and atomic writes.

Every notebook writes into its own stage folder under one run directory
(``runs/<name>/01_train/``, ``runs/<name>/02_patch/`` ...) and records what it
measured in that folder's ``metrics.json``. The next notebook asks for what it
needs with :func:`require_artifact`, which fails with a message naming the
notebook to run first.

Writes are atomic: data goes to a temporary file in the destination folder and
is renamed over the target, so an interrupted run never leaves a half-written
file that a later stage would trust.

Standard library only (this module is imported on the board too).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: stage folder -> the notebook that produces it
STAGES: dict[str, str] = {
    "01_train": "01_train_relu.ipynb",
    "02_patch": "02_patch_heads.ipynb",
    "03_export": "03_export_onnx.ipynb",
    "04_convert": "04_convert_rknn.ipynb",
    "05_quantize": "05_quantize_int8.ipynb",
    "06_analyze": "06_analyze_accuracy.ipynb",
    "07_deploy": "07_deploy_board.ipynb",
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


# --------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it is renamed over ``target``.

    Tools that insist on writing to a path themselves (torch.onnx.export, cv2.imwrite,
    matplotlib's savefig) write to the yielded path. If the block raises, the temporary
    file is removed and ``target`` is left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    # keep the real suffix: cv2.imwrite and friends choose the format from it
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.tmp.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists() or tmp_path.stat().st_size == 0:
            raise IOError(f"nothing was written for {target}")
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(target)


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_copy(src: str | os.PathLike, target: str | os.PathLike) -> Path:
    with atomic_path(target) as tmp:
        shutil.copyfile(src, tmp)
    return Path(target)


def _jsonable(o: Any) -> Any:
    """Make numpy scalars/arrays, Paths and non-finite floats JSON-safe."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist") and not isinstance(o, (str, bytes)):  # numpy scalar or array
        return _jsonable(o.tolist())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(target, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


# --------------------------------------------------------------------------- metrics
def metrics_path(run_dir: str | os.PathLike, stage: str) -> Path:
    return stage_dir(run_dir, stage, create=False) / "metrics.json"


def read_metrics(run_dir: str | os.PathLike, stage: str) -> dict:
    """The metrics a stage recorded; a clear error if the stage has not run yet."""
    p = metrics_path(run_dir, stage)
    if not p.is_file():
        raise ArtifactMissing(_missing_message(run_dir, stage, p))
    return json.loads(p.read_text())


def update_metrics(run_dir: str | os.PathLike, stage: str, **entries: Any) -> dict:
    """Merge ``entries`` into a stage's metrics.json (atomically) and return the whole record."""
    p = stage_dir(run_dir, stage) / "metrics.json"
    current = json.loads(p.read_text()) if p.is_file() else {}
    current.update(_jsonable(entries))
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
