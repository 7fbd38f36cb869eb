"""The bundle's command line, ``python3 run.py``: its options, and errors as one line and exit code 2.

In a bundle this module is ``rkdeploy/cli.py`` and ``run.py`` calls :func:`main`; the work is
:func:`.runner.run`.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading

from .decode import decoder
from .records import read_bundle_config
from .recording import on_sigterm
from .runner import RunSettings, check_stack, run
from .runtimes import names as backend_names
from .sources import DEFAULT_STALL_S


def parse_args(argv=None, bundle_default: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="run.py", description="YOLOv8 (NPU head) detection or pose with a deploy bundle")
    p.add_argument("source", nargs="?", help="an image, a folder of images, a video file, a V4L2 camera (/dev/video0 "
                   "or 0) or a stream URL (rtsp://, http://, udp://, ...)")
    p.add_argument("--selftest", action="store_true",
                   help="decode the bundle's stored reference outputs with this board's numpy and OpenCV and compare "
                        "with the PC's detections (no runtime, no NPU needed)")
    p.add_argument("--bundle", default=bundle_default or ".", help="the bundle folder (default: this runner's)")
    p.add_argument("--model", help="a .rknn, .onnx or ncnn .param file instead of the bundle's model")
    p.add_argument("--backend", default="auto", choices=["auto", *backend_names()],
                   help="auto: rknnlite on a board, the simulator on a PC")
    p.add_argument("--cores", type=int, default=1, help="runtime contexts; on an RK3588 use 3 (one per NPU core)")
    p.add_argument("--tile", type=int, default=0, help="tile size in pixels (0: whole frame letterboxed)")
    p.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels")
    p.add_argument("--cascade", action="store_true", help="large objects from the whole frame, small from tiles")
    p.add_argument("--cascade-model", help="a second model (same input size) for the whole-frame pass of the cascade")
    p.add_argument("--cascade-split", type=float, help="box size (px) between 'small' and 'large' (default: half the tile)")
    p.add_argument("--conf", type=float, help="confidence threshold (default: the bundle's)")
    p.add_argument("--iou", type=float, help="NMS IoU threshold (default: the bundle's)")
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--no-images", action="store_true", help="write no annotated pictures")
    p.add_argument("--video", help="also write the annotated frames as this MP4 (with the measured frames/s)")
    live = p.add_argument_group("live sources (cameras, streams)")
    live.add_argument("--frames", default="auto", choices=["auto", "newest", "every"],
                      help="newest: process the newest frame, drop the stale ones (counted); every: every frame in "
                           "order; auto (default): newest for a camera or stream, every for a file")
    live.add_argument("--seconds", type=float, help="stop after this many seconds")
    live.add_argument("--stall-timeout", type=float, default=DEFAULT_STALL_S,
                      help=f"end the run when a live source delivers nothing for this long (default {DEFAULT_STALL_S:g} s)")
    live.add_argument("--reconnect", type=int, default=0, help="reopen a live source that drops out, up to this many times")
    live.add_argument("--camera-fps", type=float, help="ask a V4L2 camera for this frame rate (it says what it granted)")
    live.add_argument("--camera-size", help="ask a V4L2 camera for this size, WIDTHxHEIGHT (e.g. 1280x720)")
    live.add_argument("--camera-fourcc", help="ask a V4L2 camera for this pixel format: MJPG reaches 30 frames/s at "
                                             "720p and above over USB 2.0, uncompressed YUYV does not")
    return p.parse_args(argv)


def settings_from_args(a: argparse.Namespace) -> RunSettings:
    known = {f.name for f in dataclasses.fields(RunSettings)}
    return RunSettings(**{k: v for k, v in vars(a).items() if k in known}, save_images=not a.no_images)


def main(argv=None, bundle_default: str | None = None) -> int:
    a = parse_args(argv, bundle_default)
    if threading.current_thread() is threading.main_thread():  # a service manager stops a program with SIGTERM
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        check_stack()
        if a.selftest:
            from .selftest import run_selftest

            return 0 if run_selftest(a.bundle, decoder(read_bundle_config(a.bundle), "onnx"))["ok"] else 1
        if not a.source:
            raise ValueError("give an image, a folder of images or a video (or --selftest)")
        run(a.source, a.bundle, a.out, settings_from_args(a))
    except (OSError, ValueError, RuntimeError) as e:  # RuntimeFailure, a PC backend's own, a missing file
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
