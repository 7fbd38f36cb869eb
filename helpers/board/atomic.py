"""Atomic writes: a file is either the old one or the complete new one, never half of it.

Data goes to a temporary file in the destination folder and is renamed over the dest, so an
interrupted run never leaves a half-written model, record or picture that a later step trusts.
A new file gets the permissions a plain ``open()`` would give it (0666 less the umask, not the temporary
file's 0600), a replaced one keeps its own: a report, a record or a bundle stays readable by whoever could
read it before (a web server, a service user on the board, a class sharing a folder).
Standard library only (the board runs it too).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it: set, then restore (done once, at import)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _mode_for(dest: Path, default: int) -> int:
    """The permissions ``dest`` has now, or ``default`` less the umask when there is none yet."""
    try:
        return stat.S_IMODE(os.stat(dest).st_mode)
    except OSError:
        return default & ~_UMASK


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
        os.chmod(tmp_path, _mode_for(dest, 0o666))
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
    if tmp.is_dir():  # a folder made by tempfile.mkdtemp is 0700: give it the mode mkdir would have
        os.chmod(tmp, _mode_for(dest, 0o777) if dest.is_dir() else 0o777 & ~_UMASK)
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
