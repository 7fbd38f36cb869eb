"""Is there room for what a command is about to do? One clear line before it starts, not a full disk half-way.

    python3 scripts/disk_check.py setup tests     # what scripts/test.sh runs
    python3 scripts/disk_check.py setup main      # what scripts/main.sh runs

Standard library only: it runs before the project's environment exists. Each job needs space in one
place; jobs whose places share a filesystem add up there. What is already there (a ready ``.venv``, a
built emulated board) needs nothing. The figures are the peaks measured on the reference machine
(README, "Disk"), rounded up; exit code 1 and a line that says where, how much and what to do when
a filesystem has less free, 0 otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GB = 2**30

#: the environment: .venv with the pinned set and the other toolkit releases (11.7 GB measured) ...
VENV_GB = 12.0
#: ... and pip's unpacked wheels in the temporary folder while it installs (torch's CUDA libraries)
PIP_TMP_GB = 3.5
#: the two emulated boards' root filesystems (2.4 GB measured: bullseye 0.96, bookworm 1.4)
BOARDS_GB = 2.5
#: the test session's temporary folders at their largest (the chain's run folder and the hard chain's)
TESTS_TMP_GB = 2.5
#: a full-default run folder (runs/main)
MAIN_RUN_GB = 1.5


def _venv_ready() -> bool:
    stamp = REPO / ".venv" / ".setup-stamp"
    want = hashlib.sha256((REPO / "requirements.txt").read_bytes() + (REPO / "pyproject.toml").read_bytes())
    return stamp.is_file() and stamp.read_text().strip() == want.hexdigest()


def _boards_ready(cache: Path) -> bool:
    return all((cache / s / "usr").is_dir() for s in ("bullseye", "bookworm"))


def needs(jobs: list[str]) -> list[tuple[str, Path, float]]:
    """(what, where, GB) for each job that still has to write something."""
    tmp = Path(os.environ.get("TMPDIR") or tempfile.gettempdir())
    out = []
    if "setup" in jobs and not _venv_ready():
        out += [("the environment (.venv)", REPO, VENV_GB), ("pip's temporary files", tmp, PIP_TMP_GB)]
    if "tests" in jobs:
        cache = Path(os.environ.get("RK_BOARD_CACHE") or Path.home() / ".cache" / "rk-yolo-workbook" / "boards")
        if not _boards_ready(cache):
            out.append(("the emulated boards (RK_BOARD_CACHE)", cache, BOARDS_GB))
        out.append(("the tests' temporary folders (TMPDIR)", tmp, TESTS_TMP_GB))
    if "main" in jobs:
        out.append(("the main job's run folder", REPO / "runs", MAIN_RUN_GB))
    return out


def _existing(p: Path) -> Path:
    while not p.exists():
        p = p.parent
    return p


def shortfalls(items: list[tuple[str, Path, float]]) -> list[str]:
    """One sentence per filesystem that has less free than the jobs on it need."""
    by_fs: dict[int, list] = {}
    for what, where, gb in items:
        by_fs.setdefault(os.stat(_existing(where)).st_dev, []).append((what, where, gb))
    lines = []
    for group in by_fs.values():
        need = sum(gb for _, _, gb in group)
        free = shutil.disk_usage(_existing(group[0][1])).free / GB
        if free < need:
            parts = ", ".join(f"{what} {gb:.1f} GB in {where}" for what, where, gb in group)
            lines.append(f"not enough disk: {need:.1f} GB needed ({parts}), {free:.1f} GB free there. Free some "
                         "space, or point TMPDIR or RK_BOARD_CACHE at a larger disk.")
    return lines


def main(argv: list[str]) -> int:
    unknown = [j for j in argv if j not in ("setup", "tests", "main")]
    if unknown or not argv:
        print(f"usage: disk_check.py setup|tests|main ... (got {' '.join(argv) or 'nothing'})", file=sys.stderr)
        return 2
    lines = shortfalls(needs(argv))
    for line in lines:
        print(f"disk_check: {line}", file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
