"""Build one suite's emulated board: root file system, aarch64 wheels, one venv per profile, a manifest.

The build happens in a temporary folder next to the cache's final one and is renamed into place
only when everything succeeded (the manifest last), so an interrupted build leaves nothing a later
run trusts. A file lock keeps two processes from building the same suite at once.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from .enter import board_env, proot_argv, shell_command, write_fake_proc
from .recipe import PROFILES, SYSTEM_SITE, Suite, manylinux_platforms, profile_packages, recipe_hash, venv
from .rootfs import BoardBuildError, build_rootfs, require_host_tools

#: where the downloaded wheels are seen inside the board while the venvs are made
WHEELS_INSIDE = "/opt/wheels"
#: prints a profile's stack: python, numpy, OpenCV (and what each runtime can import)
_STACK = ("import json, sys, platform; d = {'python': platform.python_version(), 'machine': platform.machine()}\n"
          "for m in ('numpy', 'cv2', 'onnxruntime', 'ncnn', 'rknnlite'):\n"
          "    try:\n        mod = __import__(m); d[m] = getattr(mod, '__version__', 'ok')\n"
          "    except Exception as e:\n        d[m] = None\n"
          "import cv2; d['opencv_hal'] = ' '.join(l.split(':', 1)[1].strip() for l in cv2.getBuildInformation()"
          ".splitlines() if 'Custom HAL' in l)\n"
          "print(json.dumps(d))")


@contextmanager
def _locked(cache: Path, name: str):
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fresh(s: Suite, cache: Path) -> dict | None:
    f = cache / f"{s.name}.json"
    if not f.is_file():
        return None
    m = json.loads(f.read_text())
    return m if m.get("recipe") == recipe_hash(s.name) and Path(m["root"]).is_dir() else None


def download_wheels(s: Suite, dest: Path, log: Path) -> None:
    """Every profile's aarch64 wheels for this suite's Python, downloaded on the host (no arm64 code runs)."""
    pins = sorted({p for prof in PROFILES for p in profile_packages(prof, s.name)})
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-cache-dir",
           "--only-binary=:all:", "--implementation", "cp", "--python-version", s.python, "-d", str(dest)]
    for tag in manylinux_platforms(s):
        cmd += ["--platform", tag]
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd + pins) + "\n")
        f.flush()
        r = subprocess.run(cmd + pins, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise BoardBuildError(f"downloading the aarch64 wheels for Python {s.python} failed; see {log}")


def _inside(root: Path, fake: Path, profile: str, cmd: str, log: Path, what: str, wheels: Path | None = None) -> str:
    cpu, dt = write_fake_proc(fake, "rk3588")
    binds = {str(wheels): WHEELS_INSIDE} if wheels else None
    r = subprocess.run(proot_argv(root, cpu, dt, board_env(profile), shell_command(cmd), "/root", binds),
                       capture_output=True, text=True)
    with open(log, "a") as f:
        f.write(f"[board:{profile}]$ {cmd}\n{r.stdout}{r.stderr}\n")
    if r.returncode != 0:
        raise BoardBuildError(f"{what} failed inside the emulated board (exit {r.returncode}):\n{r.stderr[-1500:]}")
    return r.stdout


def make_profile(s: Suite, root: Path, fake: Path, profile: str, wheels: Path, log: Path) -> dict:
    """The profile's venv, its packages installed by the board's own pip from the downloaded wheels."""
    v = venv(profile)
    site = " --system-site-packages" if SYSTEM_SITE[profile] else ""
    pins = " ".join(f"'{p}'" for p in profile_packages(profile, s.name))
    _inside(root, fake, profile, f"python3 -m venv{site} {v}", log, f"creating the {profile} venv")
    _inside(root, fake, profile, f"{v}/bin/pip install -q --disable-pip-version-check --no-index --find-links "
                                 f"{WHEELS_INSIDE} --no-compile {pins} && {v}/bin/pip check", log,
            f"installing the {profile} profile ({pins})", wheels)
    stack = json.loads(_inside(root, fake, profile, f"{v}/bin/python3 -c \"{_STACK}\"", log,
                               f"reading the {profile} profile's versions").strip().splitlines()[-1])
    freeze = _inside(root, fake, profile, f"{v}/bin/pip freeze --disable-pip-version-check", log, "pip freeze")
    return {**stack, "venv": v, "installed": list(profile_packages(profile, s.name)),
            "freeze": [line for line in freeze.splitlines() if line.strip()]}


def _size_bytes(path: Path) -> int:
    r = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    return int(r.stdout.split()[0]) if r.returncode == 0 else 0


def build(s: Suite, cache: Path, progress=print) -> dict:
    """Build the suite's board from scratch into ``cache`` (atomically) and return its manifest."""
    require_host_tools()
    t0 = time.perf_counter()
    tmp = cache / f".{s.name}.build-{uuid.uuid4().hex[:8]}"
    root, wheels, log = tmp / "root", tmp / "wheels", cache / f"{s.name}.build.log"
    log.write_text("")
    tmp.mkdir(parents=True)
    try:
        progress(f"emulated board: building {s.label} from Debian's archive (about 1.5 min, ~1 GB; log: {log})")
        steps = build_rootfs(s, root, log)
        t_root = time.perf_counter() - t0
        download_wheels(s, wheels, log)
        profiles = {}
        for p in PROFILES:
            progress(f"emulated board: {s.name}: the {p} profile")
            profiles[p] = make_profile(s, root, cache / "fake", p, wheels, log)
        final = cache / s.name
        shutil.rmtree(final, ignore_errors=True)
        root.rename(final)
        manifest = {"suite": s.name, "label": s.label, "recipe": recipe_hash(s.name), "root": str(final),
                    "build_seconds": round(time.perf_counter() - t0, 1), "rootfs_seconds": round(t_root, 1),
                    "bytes": _size_bytes(final), "debs": steps["debs"], "alternatives": steps["alternatives"],
                    "profiles": profiles}
        part = cache / f".{s.name}.json.tmp"
        part.write_text(json.dumps(manifest, indent=1))
        part.replace(cache / f"{s.name}.json")
        progress(f"emulated board: {s.name} ready in {manifest['build_seconds']:.0f} s, "
                 f"{manifest['bytes'] / 2**30:.2f} GB")
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BoardNotBuilt(RuntimeError):
    """A notebook asked for an emulated board that setup has not built (building one downloads: setup's job)."""


def ensure(s: Suite, cache: Path, progress=print, build_missing: bool = True) -> dict:
    """The manifest of the suite's board; built first when missing or its recipe changed (``build_missing``), else
    :class:`BoardNotBuilt` with the command that builds it. A build in progress elsewhere is waited for (its lock)."""
    with _locked(cache, s.name):
        fresh = _fresh(s, cache)
        if fresh or build_missing:
            return fresh or build(s, cache, progress)
    raise BoardNotBuilt(f"the emulated board {s.name} is not built (or its recipe changed): building it downloads "
                        "Debian packages and aarch64 wheels, which setup does, not a notebook. Run "
                        "`.venv/bin/python -m helpers.emuboard build` once (about 2.5 min a board; `bash scripts/main.sh` "
                        "does it before the notebooks), or set EMULATED_BOARD = \"\" to skip the board section.")
