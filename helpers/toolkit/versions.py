"""Other rknn-toolkit2 releases beside the pinned one, each in its own environment (PC only).

The pinned toolkit lives in ``.venv`` with everything else. A model built by another release
(2.3.2, which ultralytics' RKNN exporter asks for; 2.2.0, the nearest on PyPI to the 2.1.0 the
2024 write-ups that reported SiLU collapsing used) is built in a child process run by that release's interpreter:

* ``toolkits/<version>.txt`` (in the repository) lists the environment's pins. Its header says
  ``# layered`` when the pinned set already satisfies every requirement the release declares:
  the environment then holds the toolkit only and sees ``.venv``'s packages behind its own (one
  line in a ``.pth`` file, ``site.addsitedir`` of ``.venv``'s site-packages: the mechanism
  ``--system-site-packages`` uses), so there is no second copy of torch. ``# standalone`` when
  it declares versions the pinned set does not have (2.2.0: torch<=2.1.0, onnx==1.14.1): a
  full environment of its own.
* :func:`ensure` makes it in ``.venv/toolkits/<version>/`` (``scripts/setup.sh`` calls it) and
  runs ``pip check`` there: clean, or it fails with pip's report.
* :func:`python_for` is what :func:`helpers.toolkit.isolation.run_isolated` asks for the
  interpreter of a :class:`~helpers.toolkit.config.BuildConfig` whose ``toolkit`` names a release.

``python -m helpers.toolkit.versions [setup|status] [VERSION ...]`` does the same from a shell.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..board.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO / "toolkits"
STAMP = ".workbook-stamp"


class ToolkitEnvMissing(RuntimeError):
    """A build asked for a toolkit release whose environment is not set up."""


def pinned() -> str:
    """The toolkit installed in this environment (requirements.txt's pin)."""
    from .config import toolkit_version

    return toolkit_version()


def available() -> list[str]:
    """The releases this repository can set up beside the pinned one (``toolkits/*.txt``)."""
    return sorted((p.stem for p in SPEC_DIR.glob("*.txt")), key=lambda v: tuple(int(x) for x in v.split(".")))


def spec(version: str) -> dict:
    p = SPEC_DIR / f"{version}.txt"
    if not p.is_file():
        raise ToolkitEnvMissing(f"rknn-toolkit2 {version} is not one this workbook sets up (it can: "
                                f"{', '.join(available()) or 'none'}, and the pinned {pinned()})")
    text = p.read_text()
    layered = any(ln.strip() == "# layered" for ln in text.splitlines())
    pythons = next((ln.split()[2] for ln in text.splitlines() if ln.startswith("# pythons ")), None)
    return {"version": version, "file": p, "layered": layered, "pythons": pythons,
            "digest": hashlib.sha256(text.encode()).hexdigest()}


def unsupported_here(version: str) -> str | None:
    """Why ``version``'s environment cannot be made with this Python (its spec's ``# pythons A-B`` line), or None."""
    s = spec(version)
    if not s["pythons"]:
        return None
    lo, hi = (tuple(int(x) for x in v.split(".")) for v in s["pythons"].split("-"))
    here = sys.version_info[:2]
    return None if lo <= here <= hi else (f"rknn-toolkit2 {version}'s pins install on Python {s['pythons']} only, "
                                          f"this is {here[0]}.{here[1]}")


def env_dir(version: str) -> Path:
    """``.venv/toolkits/<version>``: beside the pinned environment, removed with it."""
    return Path(sys.prefix) / "toolkits" / version


def _env_python(version: str) -> Path:
    return env_dir(version) / "bin" / "python"


def status(version: str) -> dict:
    d, s = env_dir(version), spec(version)
    try:
        stamp = json.loads((d / STAMP).read_text())
    except (OSError, ValueError):
        stamp = None
    ready = bool(stamp) and stamp.get("digest") == s["digest"] and _env_python(version).is_file()
    return {"version": version, "dir": str(d), "layered": s["layered"], "ready": ready, "stamp": stamp}


def python_for(version: str | None) -> str | None:
    """The interpreter that runs rknn-toolkit2 ``version``: None for the pinned one (this process's)."""
    if not version or version == pinned():
        return None
    st = status(version)
    if not st["ready"]:
        if unsupported_here(version):
            raise ToolkitEnvMissing(unsupported_here(version))
        raise ToolkitEnvMissing(f"rknn-toolkit2 {version} is not set up in {st['dir']}: run `{SETUP_ALL}` "
                                f"(or: {sys.executable} -m helpers.toolkit.versions setup {version})")
    return str(_env_python(version))


SETUP_ALL = "bash scripts/setup.sh --all-toolkits"


def how_to_set_up(versions) -> str:
    """What to run for releases that are not set up, with what a standalone one costs (06 and 09 say it)."""
    big = [v for v in versions if v in available() and not spec(v)["layered"]]
    return (f"not set up here: {', '.join(versions)}; run `{SETUP_ALL}`"
            + (f" ({', '.join(big)}: an environment of its own with its own torch, about 5 GB and a minute or two)"
               if big else "") + " and run this notebook again")


def split_ready(versions) -> tuple[list[str], list[str]]:
    """``versions`` split into those set up here and those not (each missing one: run scripts/setup.sh)."""
    ready, missing = [], []
    for v in versions:
        (ready if v == pinned() or (v in available() and status(v)["ready"]) else missing).append(v)
    return ready, missing


def _run(cmd: list, log) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, text=True, check=False)


def ensure(version: str, quiet: bool = False) -> dict:
    """Make (or refresh) the environment of ``version``; ``pip check`` must come out clean."""
    st, s = status(version), spec(version)
    if st["ready"]:
        return st
    why = unsupported_here(version)
    if why:
        raise ToolkitEnvMissing(why)
    d = env_dir(version)
    d.parent.mkdir(parents=True, exist_ok=True)
    log_path = d.parent / f"{version}.setup.log"
    if not quiet:
        print(f"setup: rknn-toolkit2 {version} in {d} ({'layered over .venv' if s['layered'] else 'standalone'}; "
              f"log {log_path})", flush=True)
    with open(log_path, "w") as log:
        base = getattr(sys, "_base_executable", sys.executable)
        if (d / STAMP).exists():
            (d / STAMP).unlink()
        r = _run([base, "-m", "venv", "--clear", d], log)
        if r.returncode:
            raise RuntimeError(f"could not create {d} with {base} -m venv (see {log_path})")
        py = _env_python(version)
        if s["layered"]:
            site_dir = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                                    text=True).strip())
            shared = sysconfig.get_paths()["purelib"]  # this (the pinned) environment's site-packages
            (site_dir / "_workbook_shared.pth").write_text(f"import site; site.addsitedir({shared!r})\n")
        pip = [py, "-m", "pip", "--disable-pip-version-check"]
        r = _run(pip + ["install", "-q", "--no-cache-dir", "-r", s["file"]], log)
        if r.returncode:
            raise RuntimeError(f"pip could not install {s['file'].name} into {d} (see {log_path})")
        r = subprocess.run([str(c) for c in pip + ["check"]], capture_output=True, text=True)
        log.write(r.stdout + r.stderr)
        if r.returncode:
            raise RuntimeError(f"pip check is not clean in {d}:\n{r.stdout}{r.stderr}")
        got = subprocess.check_output([str(py), "-c", "from importlib.metadata import version; "
                                       "print(version('rknn-toolkit2'))"], text=True).strip()
        if got != version:
            raise RuntimeError(f"{d} runs rknn-toolkit2 {got}, not {version} (see {log_path})")
        freeze = subprocess.run([str(c) for c in pip + ["freeze", "--all"]], capture_output=True, text=True).stdout
    atomic_write_text(d / STAMP, json.dumps({"digest": s["digest"], "version": got, "layered": s["layered"],
                                             "pip_check": "clean", "freeze": freeze.splitlines()}, indent=1))
    return status(version)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers.toolkit.versions", description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("setup", "status"))
    ap.add_argument("versions", nargs="*", help=f"default: all ({', '.join(available())})")
    ap.add_argument("--layered-only", action="store_true", help="only the releases layered over .venv (small); the "
                    "standalone ones (their own torch, GBs) are left for an explicit setup")
    a = ap.parse_args(argv)
    for v in a.versions or available():
        if a.action == "setup" and a.layered_only and not spec(v)["layered"]:
            print(f"setup: rknn-toolkit2 {v} left out (a standalone environment, about 5 GB; notebooks 06 and 09 "
                  f"compare with it when it is there): `{SETUP_ALL}` sets it up")
            continue
        if a.action == "setup" and unsupported_here(v):
            print(f"setup: skipped: {unsupported_here(v)} (notebooks 06 and 09 leave it out)")
            continue
        st = ensure(v) if a.action == "setup" else status(v)
        print(f"rknn-toolkit2 {v}: {'ready' if st['ready'] else 'not set up'} ({st['dir']}, "
              f"{'layered' if st['layered'] else 'standalone'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
