"""Is there room for what a command is about to do? One clear line before it starts, not a full disk half-way.

    python3 scripts/disk_check.py setup tests     # what scripts/test.sh runs
    python3 scripts/disk_check.py setup main      # what scripts/main.sh runs

Standard library only: it runs before the project's environment exists. Each job needs space in one
place; on a filesystem, what stays (the environment, the boards, a run folder) adds up, and of what
is temporary (pip's unpacked wheels during setup, the tests' folders while they run: never both at
once) the larger counts. What is already there (a ready ``.venv``, built emulated boards) needs
nothing. The figures are what a fresh-clone CI run and the main job measured on the reference
machine (README, "Disk"), rounded up; exit code 1 and a line that says where, how much and what to do
when a filesystem has less free, 0 otherwise.
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

#: the environment: .venv with the pinned set and the other toolkit releases (11.9 GB measured) ...
VENV_GB = 12.0
#: ... and, while pip installs, its unpacked wheels in the temporary folder (2.4 GB measured above .venv)
PIP_TMP_GB = 2.5
#: the two emulated boards' root filesystems (2.4 GB measured: bullseye 0.96, bookworm 1.4)
BOARDS_GB = 2.5
#: the test session's temporary folders at their largest (2.1 GB measured: the chain's run folders)
TESTS_TMP_GB = 2.5
#: a full-default run folder (runs/main)
MAIN_RUN_GB = 1.5


def _venv_ready() -> bool:
    stamp = REPO / ".venv" / ".setup-stamp"
    want = hashlib.sha256((REPO / "requirements.txt").read_bytes() + (REPO / "pyproject.toml").read_bytes())
    return stamp.is_file() and stamp.read_text().strip() == want.hexdigest()


def _boards_ready(cache: Path) -> bool:
    return all((cache / s / "usr").is_dir() for s in ("bullseye", "bookworm"))


def needs(jobs: list[str]) -> list[tuple[str, Path, float, bool]]:
    """(what, where, GB, temporary) for each job that still has to write something."""
    tmp = Path(os.environ.get("TMPDIR") or tempfile.gettempdir())
    out = []
    if "setup" in jobs and not _venv_ready():
        out += [("the environment (.venv)", REPO, VENV_GB, False), ("pip's temporary files", tmp, PIP_TMP_GB, True)]
    if "tests" in jobs:
        cache = Path(os.environ.get("RK_BOARD_CACHE") or Path.home() / ".cache" / "rk-yolo-workbook" / "boards")
        if not _boards_ready(cache):
            out.append(("the emulated boards (RK_BOARD_CACHE)", cache, BOARDS_GB, False))
        out.append(("the tests' temporary folders (TMPDIR)", tmp, TESTS_TMP_GB, True))
    if "main" in jobs:
        out.append(("the main job's run folder", REPO / "runs", MAIN_RUN_GB, False))
    return out


def _existing(p: Path) -> Path:
    while not p.exists():
        p = p.parent
    return p


def shortfalls(items: list[tuple[str, Path, float, bool]]) -> list[str]:
    """One sentence per filesystem that has less free than the jobs on it need."""
    by_fs: dict[int, list] = {}
    for item in items:
        by_fs.setdefault(os.stat(_existing(item[1])).st_dev, []).append(item)
    lines = []
    for group in by_fs.values():
        need = sum(gb for _, _, gb, temp in group if not temp) + max([gb for *_, gb, temp in group if temp] or [0])
        free = shutil.disk_usage(_existing(group[0][1])).free / GB
        if free < need:
            parts = ", ".join(f"{what} {gb:.1f} GB{' for a while' if temp else ''} in {where}"
                              for what, where, gb, temp in group)
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
