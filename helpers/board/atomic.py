"""Atomic writes: a file is either the old one or the complete new one, never half of it.

Data goes to a temporary file in the destination folder and is renamed over the dest, so an
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
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it is renamed over ``dest``.

    Tools that insist on writing to a path themselves (torch.onnx.export, cv2.imwrite,
    matplotlib's savefig) write to the yielded path. If the block raises, the temporary
    file is removed and ``dest`` is left exactly as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = dest.suffix if suffix is None else suffix
    # keep the real suffix: cv2.imwrite and friends choose the format from it
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.tmp.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists() or tmp_path.stat().st_size == 0:
            raise IOError(f"nothing was written for {dest}")
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def commit(tmp: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Move a finished temporary file or folder (made next to ``dest``) over ``dest`` in one rename.

    For writers that stream into their own temporary file (a video) and for whole folders (a deploy bundle,
    a copy fetched from a board): a folder already at ``dest`` is removed first, so a reader sees the old
    complete folder or the new one.
    """
    tmp, dest = Path(tmp), Path(dest)
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif tmp.is_dir() and (dest.exists() or dest.is_symlink()):
        dest.unlink()
    os.replace(tmp, dest)  # a file over a file: replaced in place
    return dest


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(dest)


def atomic_write_text(dest: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_copy(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dest)


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


def write_json(dest: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(dest, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")
