"""No board yet? Run a bundle on the emulated one.

    python -m helpers.emuboard build [--suite bullseye ...]        # build (cached; ~1.5 min a suite)
    python -m helpers.emuboard run BUNDLE [--suite S] [--profile P] [--soc rk3588] -- samples --backend onnx
    python -m helpers.emuboard shell [--suite S] [--profile P] [-- CMD ...]
    python -m helpers.emuboard ssh [--suite S] [--profile P]      # an SSH server into it, until Ctrl-C
    python -m helpers.emuboard status                              # what is built, where, how big
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from . import EmulatedBoard, cache_dir, ensure_board, manifests
from .bundle import run_emulated
from .recipe import PROFILES, SUITES
from .rootfs import BoardBuildError


def _board(a) -> EmulatedBoard:
    ensure_board(a.suite)  # prints what it builds, the first time
    return EmulatedBoard(a.suite, a.profile, a.soc)


def _status() -> int:
    built = manifests()
    print(f"cache: {cache_dir()}")
    for name in SUITES:
        m = built.get(name)
        if not m:
            print(f"  {name}: not built (python -m helpers.emuboard build --suite {name})")
            continue
        print(f"  {name}: {m['label']}, {m['bytes'] / 2**30:.2f} GB, built in {m['build_seconds']:.0f} s")
        for p, st in m["profiles"].items():
            print(f"    {p:<6} numpy {st['numpy']}, OpenCV {st['cv2']}, onnxruntime {st['onnxruntime']}, "
                  f"ncnn {st['ncnn']}, rknnlite {'yes' if st['rknnlite'] else 'no'}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(prog="python -m helpers.emuboard", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["build", "run", "shell", "ssh", "status"])
    ap.add_argument("bundle", nargs="?", help="the bundle folder (run)")
    ap.add_argument("--suite", default="bullseye", choices=list(SUITES))
    ap.add_argument("--profile", default="pip", choices=list(PROFILES))
    ap.add_argument("--soc", default="rk3588", help="the SoC the device tree names")
    ap.add_argument("--out", help="where the run's output folder goes (default: BUNDLE/out-emulated-SUITE-PROFILE)")
    a = ap.parse_args(argv)
    try:
        if a.command == "status":
            return _status()
        if a.command == "build":
            for name in ([a.suite] if "--suite" in argv else list(SUITES)):
                ensure_board(name)
            return _status()
        board = _board(a)
        if a.command == "run":
            if not a.bundle or not (Path(a.bundle) / "run.py").is_file():
                ap.error("run needs a bundle folder with run.py (notebook 07 or 08 writes one)")
            out = Path(a.out or Path(a.bundle) / f"out-emulated-{a.suite}-{a.profile}")
            r = run_emulated(board, a.bundle, rest or ["samples"], out)
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            print(f"[emulated {board.name}, {board.soc}: {r.seconds} s under emulation, not a board time; "
                  f"output: {r.out}]")
            return r.returncode
        if a.command == "shell":
            return subprocess.call(board.argv(" ".join(rest) if rest else "exec /bin/bash -l"))
        import signal

        from .sshd import ssh_server

        # a SIGTERM (kill, a closing terminal) must stop the server too, not only Ctrl-C
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        with ssh_server(board) as addr:
            print(json.dumps({"target": addr.target, "key_file": addr.key_file}))
            print(f"ssh -i {addr.key_file} -p {addr.port} {addr.user}@{addr.host}   (Ctrl-C stops the server)",
                  flush=True)
            try:
                while True:
                    subprocess.run(["sleep", "3600"])
            except KeyboardInterrupt:
                return 0
    except BoardBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
