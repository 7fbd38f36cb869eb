"""An arm64 Debian root file system, built from Debian's archive without running arm64 code.

``debootstrap --foreign`` downloads the packages and unpacks the required set; the rest is
unpacked here (``dpkg-deb --fsys-tarfile | tar``, keeping merged /usr's directory links). No
maintainer script runs, so this module does by hand the few things they would have done that a
Python board needs: the ``update-alternatives`` links (numpy cannot load without
``libblas.so.3``), ``/etc/passwd`` and ``/etc/group`` from base-passwd's masters, and a real
``/proc`` directory for proot to bind over.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .recipe import DEBIAN_PACKAGES, MIRROR, Suite

#: the host tools a build needs (Debian packages): name -> package
HOST_TOOLS = {"debootstrap": "debootstrap", "proot": "proot", "qemu-aarch64-static": "qemu-user-static",
              "dpkg-deb": "dpkg"}


class BoardBuildError(RuntimeError):
    """The emulated board could not be built (the message says what to do)."""


def missing_host_tools() -> list[str]:
    """Debian packages to install before an emulated board can be built or entered."""
    return sorted({pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)})


def require_host_tools() -> None:
    missing = missing_host_tools()
    if missing:
        raise BoardBuildError(f"the emulated board needs {', '.join(missing)}: apt-get install {' '.join(missing)} "
                              "(scripts/setup.sh installs them when it runs as root)")


def _run(cmd: list[str], log: Path, what: str) -> None:
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise BoardBuildError(f"{what} failed (exit {r.returncode}); the end of {log}:\n" + "\n".join(tail))


def debootstrap(s: Suite, root: Path, log: Path) -> None:
    """Download the suite's packages (with ours) and unpack its required set into ``root``."""
    _run(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", "--include=" + ",".join(DEBIAN_PACKAGES),
          s.name, str(root), MIRROR], log, f"debootstrap of Debian {s.debian} ({s.name}) from {MIRROR}")


def unpack_all(root: Path, log: Path) -> int:
    """Unpack every downloaded .deb into ``root`` (what the second stage would do, minus the scripts)."""
    debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
    for deb in debs:
        _run(["sh", "-c", f"dpkg-deb --fsys-tarfile '{deb}' | tar -x --keep-directory-symlink -C '{root}'"], log,
             f"unpacking {deb.name}")
    return len(debs)


_INSTALL = re.compile(r"update-alternatives\s.*?--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)(.*)")
_SLAVE = re.compile(r"--slave\s+(\S+)\s+(\S+)\s+(\S+)")


def alternatives(root: Path) -> dict[str, str]:
    """Recreate the ``update-alternatives`` links the packages' postinst scripts would make.

    For every alternative the highest-priority candidate that exists in ``root`` wins, master and
    slave links alike; links are RELATIVE (an absolute one would point onto the host outside proot).
    Returns ``{link: target}`` of the links made.
    """
    best: dict[str, tuple[int, list]] = {}
    for deb in sorted((root / "var/cache/apt/archives").glob("*.deb")):
        script = subprocess.run(f"dpkg-deb --ctrl-tarfile '{deb}' | tar -x -O ./postinst 2>/dev/null", shell=True,
                                capture_output=True, text=True).stdout.replace("\\\n", " ")
        for line in script.splitlines():
            m = _INSTALL.search(line)
            if not m:
                continue
            link, name, path, prio, rest = m.groups()
            items = [(link, path)] + [(a, c) for a, _, c in _SLAVE.findall(rest)]
            if (root / path.lstrip("/")).exists() and int(prio) > best.get(name, (-1, []))[0]:
                best[name] = (int(prio), items)
    made = {}
    for _, items in best.values():
        for link, path in items:
            dst = root / link.lstrip("/")
            if "$" in link + path or os.path.lexists(dst) or not (root / path.lstrip("/")).exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(os.path.relpath(path, os.path.dirname(link)))
            made[link] = path
    return made


def finish(root: Path) -> None:
    """The rest of what maintainer scripts and the second stage would do that a board's Python needs."""
    proc = root / "proc"
    if proc.is_symlink() or not proc.is_dir():  # debootstrap leaves a link to the host's /proc
        proc.unlink(missing_ok=True)
        proc.mkdir()
    for name in ("passwd", "group"):  # base-passwd's postinst writes them from its masters
        dst = root / "etc" / name
        if not dst.exists():
            shutil.copy(root / "usr/share/base-passwd" / f"{name}.master", dst)
    for lib in (root / "usr/lib").glob("python3.*"):  # python3.X's postinst makes /usr/local's dist-packages;
        (root / "usr/local/lib" / lib.name / "dist-packages").mkdir(parents=True, exist_ok=True)  # pip needs it
    (root / "root").mkdir(exist_ok=True)
    (root / "etc/hostname").write_text("rk3588-emulated\n")
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)  # ~160 MB of .debs, unpacked now
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root / "debootstrap", ignore_errors=True)


def build_rootfs(s: Suite, root: Path, log: Path) -> dict:
    """debootstrap + unpack + alternatives + finish; returns what was done (for the board's manifest)."""
    debootstrap(s, root, log)
    n = unpack_all(root, log)
    links = alternatives(root)
    finish(root)
    return {"debs": n, "alternatives": links}
