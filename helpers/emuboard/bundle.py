"""A deploy bundle run inside the emulated board, as ``python3 run.py`` on a board runs it.

The bundle is copied into the board's own ``/tmp`` (as a push would), run there with the profile's
``python3``, and its output folder copied back; the copy inside is removed afterwards.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BoardRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path | None        # the runner's output folder, copied back (None when it wrote none)
    seconds: float          # wall time under emulation: NOT a board time

    @property
    def last_line(self) -> str:
        lines = [x for x in (self.stderr or self.stdout).strip().splitlines() if x.strip()]
        return lines[-1] if lines else ""


@contextlib.contextmanager
def copied_in(board, bundle, prefix: str = "rkbundle", skip: tuple = ()):
    """``bundle`` copied into the board's ``/tmp`` (as a push would, without ``skip``'s patterns) for the ``with``
    block: yields its path inside the board and on this host; the copy is removed afterwards."""
    inside = f"/tmp/{prefix}-{uuid.uuid4().hex[:8]}"
    host_copy = board.path(inside)
    shutil.copytree(bundle, host_copy, ignore=shutil.ignore_patterns("__pycache__", "out", "out-*", *skip))
    try:
        yield inside, host_copy
    finally:
        shutil.rmtree(host_copy, ignore_errors=True)


def run_emulated(board, bundle, args: list[str], out_local=None, timeout: float = 900,
               prepare: str = "") -> BoardRun:
    """Copy ``bundle`` into the board, run ``python3 run.py ARGS --out out`` there, copy ``out`` back.

    ``prepare`` is a shell line run in the bundle's folder first (to break a file on purpose, say).
    ``out_local`` receives the runner's output folder (replaced when it exists).
    """
    import time

    with copied_in(board, bundle) as (inside, host_copy):
        cmd = f"cd {shlex.quote(inside)} && " + (f"{prepare} && " if prepare else "")
        cmd += "python3 run.py " + " ".join(shlex.quote(a) for a in args) + " --out out"
        t0 = time.perf_counter()
        try:
            r = board.run(cmd, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"the bundle did not finish within {timeout} s on the emulated board {board.name} "
                               "(emulation is ~350x slower than a board: give it fewer frames)") from e
        seconds = time.perf_counter() - t0
        out = None
        if (host_copy / "out").is_dir() and out_local is not None:
            out = Path(out_local)
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(host_copy / "out", out)
        return BoardRun(r.returncode, r.stdout, r.stderr, out, round(seconds, 1))
