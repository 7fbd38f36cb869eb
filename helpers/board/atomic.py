"""Atomic writes: a file is either the old one or the complete new one, never half of it.

Data goes to a temporary file in the destination folder and is renamed over the target, so an
interrupted run never leaves a half-written model, record or picture that a later step trusts.
Standard library only (the board runs it too).
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


def commit(tmp: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move a finished temporary file or folder (made next to ``target``) over ``target`` in one rename.

    For writers that stream into their own temporary file (a video) and for whole folders (a deploy bundle,
    a copy fetched from a board): a folder already at ``target`` is removed first, so a reader sees the old
    complete folder or the new one.
    """
    tmp, target = Path(tmp), Path(target)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif tmp.is_dir() and (target.exists() or target.is_symlink()):
        target.unlink()
    os.replace(tmp, target)  # a file over a file: replaced in place
    return target


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


def jsonable(o: Any) -> Any:
    """Make numpy scalars/arrays, Paths and non-finite floats JSON-safe."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist") and not isinstance(o, (str, bytes)):  # numpy scalar or array
        return jsonable(o.tolist())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(target, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")
