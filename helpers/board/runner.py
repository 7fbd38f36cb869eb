"""The deploy bundle's runner: images, a folder, a video, a camera or a stream in; annotated pictures, an MP4
and JSON out.

Board side: numpy and OpenCV only, plus the runtime of the chosen backend. In a bundle this
module is ``rkdeploy/runner.py`` and ``run.py`` calls :func:`main`::

    python3 run.py images/ --backend rknnlite --cores 3 --out out/
    python3 run.py street.mp4 --tile 320 --overlap 64 --cascade --video out/annotated.mp4
    python3 run.py people.mp4 --backend ncnn --video out/pose.mp4     # a pose bundle on ncnn
    python3 run.py rtsp://cam.local/stream1 --cores 3 --seconds 60 --no-images --video out/cam.mp4
    python3 run.py /dev/video0 --camera-size 1280x720 --camera-fps 30 --cores 3

Detection and pose bundles alike (``config.json`` says which, ``"task"``): a pose model's keypoints
go into the JSON and its skeletons onto the pictures.

Per frame it measures preprocess (letterbox + layout), inference, postprocess (decode + NMS +
undo letterbox) and end to end, and prints a summary table. Frames are read on their own thread
(:mod:`.sources`): a live source (camera, stream) gives the newest frame and drops the stale ones,
a file every frame in order; the run ends with one sentence that says whether the source or the
pipeline limits the frame rate, and the figures behind it go into the JSON. Ctrl-C, SIGTERM, ``--max-frames``,
``--seconds``, the end of the source or a stall end a run alike: the MP4 finalised, the JSON written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import atomic_path, commit, write_json
from .draw import annotate
from .pool import OrderedPool
from .pose import postprocess_pose
from .postprocess import DEFAULT_CONF, DEFAULT_IOU, Detections, batched_nms, postprocess
from .preprocess import letterbox
from .records import read_bundle_config, verify_model_file
from .runtime import BACKENDS, default_backend, open_runtime, version_tuple
from .sources import DEFAULT_STALL_S, FrameSource, check_source, classify, iter_files, parse_size, rate_verdict
from .sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES  # noqa: F401 - where the runner's users look for them
from .targets import SOCS, soc_from_compatible
from .tiling import merge_tiles, tile_grid

STAGES = ("preprocess_ms", "inference_ms", "postprocess_ms", "end_to_end_ms")
#: where a Rockchip board names its SoC (RKDEPLOY_COMPATIBLE overrides it, for tests)
COMPATIBLE = "/proc/device-tree/compatible"
#: backends that run the .rknn on an NPU: the model must have been built for this board's SoC
NPU_BACKENDS = ("rknnlite", "toolkit")


def check_board_soc(target: str, backend: str) -> str | None:
    """On a board (its device tree names a SoC), refuse an NPU model built for another SoC; returns the SoC."""
    path = os.environ.get("RKDEPLOY_COMPATIBLE", COMPATIBLE)
    try:
        with open(path, "rb") as f:
            soc = soc_from_compatible(f.read().decode(errors="replace"))
    except OSError:
        return None  # not a board (or no device tree): nothing to compare
    if soc and backend in NPU_BACKENDS and soc != target:
        raise ValueError(f"this board is an {soc} ({path}), the model was built for {target}: rebuild it with "
                         f"TARGET='{soc}' (notebooks 04 and 05) or run it on an {target}")
    return soc


#: the oldest numpy and OpenCV the board code is proven with (Debian 11's own: python3-numpy, python3-opencv)
MIN_NUMPY, MIN_OPENCV = (1, 19), (4, 5)


def check_stack() -> None:
    """Refuse a numpy or OpenCV older than the ones this code is proven with, saying what to install."""
    too_old = [f"{name} {have} (needs >= {'.'.join(map(str, need))})"
               for name, have, need in (("numpy", np.__version__, MIN_NUMPY), ("OpenCV", cv2.__version__, MIN_OPENCV))
               if version_tuple(have, 2) < need]
    if too_old:
        raise RuntimeError("this board's " + " and ".join(too_old) + " is too old for the bundle: apt install "
                           "python3-numpy python3-opencv from Debian 11 or newer, or pip install "
                           "'numpy>=1.19' 'opencv-python-headless>=4.5' in a venv")


def require_writable(out_dir: Path) -> None:
    """The output folder exists (made if needed) and takes a file, before any work is done."""
    probe = out_dir / f".write-test-{os.getpid()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"cannot write the results to {out_dir} ({e.strerror or e}): choose another --out") from None


def make_decoder(cfg: dict, backend: str):
    """The bundle model's post-process, ``decode(outputs, imgsz, conf, iou, letterbox)``: detection (9 or 6
    outputs), or pose (``kpt_shape`` from the config; the ncnn model has the ncnn layout, the others the rknn one)."""
    if cfg.get("task", "detect") != "pose":
        use_sum = bool(cfg.get("score_sum", True))
        return lambda outs, imgsz, conf, iou, lb: postprocess(outs, (imgsz, imgsz), conf, iou, letterbox=lb,
                                                              use_score_sum=use_sum)
    kshape, nc = tuple(cfg["kpt_shape"]), max(1, len(cfg.get("labels", [])))
    layout = "ncnn" if backend == "ncnn" else cfg.get("layout", "rknn")
    return lambda outs, imgsz, conf, iou, lb: postprocess_pose(outs, (imgsz, imgsz), kshape, nc, conf, iou,
                                                               letterbox=lb, layout=layout)


def bundle_model(bundle: Path, cfg: dict, backend: str) -> Path:
    """The bundle's model file for ``backend``: its ONNX, its ncnn .param, else its .rknn."""
    return Path(bundle) / cfg[{"onnx": "onnx", "ncnn": "ncnn"}.get(backend, "model")]


def detect(runtime, frame: np.ndarray, imgsz: int, conf: float, iou: float, use_score_sum: bool = True,
           timings: dict | None = None, decode=None) -> Detections:
    """Letterbox, run, post-process one frame (boxes in frame pixels); adds stage times to ``timings``.
    ``decode``: a :func:`make_decoder` post-process (default: detection)."""
    t0 = time.perf_counter()
    canvas, lb = letterbox(frame, imgsz)
    x = runtime.prepare(canvas)
    t1 = time.perf_counter()
    outs = runtime.run([x])
    t2 = time.perf_counter()
    det = (decode(outs, imgsz, conf, iou, lb) if decode else
           postprocess(outs, (imgsz, imgsz), conf, iou, letterbox=lb, use_score_sum=use_score_sum))
    t3 = time.perf_counter()
    if timings is not None:
        for k, v in (("preprocess_ms", t1 - t0), ("inference_ms", t2 - t1), ("postprocess_ms", t3 - t2)):
            timings[k] = timings.get(k, 0.0) + 1000 * v
    return det


def detect_tiled(runtime, frame: np.ndarray, imgsz: int, conf: float, iou: float, tile: int, overlap: int,
                 use_score_sum: bool = True, timings: dict | None = None) -> Detections:
    per_tile = []
    for t in tile_grid(frame.shape[:2], tile, overlap):
        crop = frame[t[1]:t[3], t[0]:t[2]]
        per_tile.append((t, detect(runtime, crop, imgsz, conf, iou, use_score_sum, timings)))
    t0 = time.perf_counter()
    merged = merge_tiles(per_tile, frame.shape[:2], iou)
    if timings is not None:
        timings["postprocess_ms"] = timings.get("postprocess_ms", 0.0) + 1000 * (time.perf_counter() - t0)
    return merged


def detect_cascade(runtime, frame, imgsz, conf, iou, tile, overlap, split_px: float, large_runtime=None,
                   use_score_sum: bool = True, timings: dict | None = None) -> Detections:
    """Large objects from the whole frame (``large_runtime`` or the same model), small ones from tiles."""
    whole = detect(large_runtime or runtime, frame, imgsz, conf, iou, use_score_sum, timings)
    tiles = detect_tiled(runtime, frame, imgsz, conf, iou, tile, overlap, use_score_sum, timings)
    big = np.maximum(whole.boxes[:, 2] - whole.boxes[:, 0], whole.boxes[:, 3] - whole.boxes[:, 1]) >= split_px
    small = np.maximum(tiles.boxes[:, 2] - tiles.boxes[:, 0], tiles.boxes[:, 3] - tiles.boxes[:, 1]) < split_px
    b = np.concatenate([whole.boxes[big], tiles.boxes[small]])
    s = np.concatenate([whole.scores[big], tiles.scores[small]])
    c = np.concatenate([whole.classes[big], tiles.classes[small]])
    lv = np.concatenate([whole.levels[big], tiles.levels[small]])
    keep = batched_nms(b, s, c, iou)
    return Detections(b[keep], s[keep], c[keep], lv[keep])


def iter_frames(source: str | os.PathLike, max_frames: int | None = None, skipped: list | None = None):
    """(name, BGR frame) from an image file, a folder of images, or a video file, in order (:func:`.sources.iter_files`)."""
    return iter_files(source, max_frames, skipped)


def summarize_timings(per_frame: list[dict]) -> dict:
    out = {}
    for k in STAGES:
        v = [t[k] for t in per_frame if k in t]
        if v:
            out[k] = {"mean": round(statistics.fmean(v), 2), "median": round(statistics.median(v), 2)}
    return out


@dataclass
class RunSettings:
    """How the runner runs: the command-line options of ``run.py``, as one value."""

    backend: str = "auto"              # auto: rknnlite on a board, the simulator on a PC
    cores: int = 1                     # runtime contexts (one per NPU core: 3 on an RK3588)
    tile: int = 0                      # tile size in pixels (0: the whole frame, letterboxed)
    overlap: int = 64                  # tile overlap in pixels
    cascade: bool = False              # large objects from the whole frame, small ones from tiles
    cascade_split: float | None = None  # box size (px) between small and large; default half the tile
    cascade_model: str | None = None   # a second model for the whole-frame pass of the cascade
    conf: float | None = None          # thresholds (default: the bundle's)
    iou: float | None = None
    model: str | None = None           # a .rknn, .onnx or .param instead of the bundle's model
    max_frames: int | None = None
    save_images: bool = True
    video: str | None = None           # write the annotated frames as this MP4, with the measured frames/s
    frames: str = "auto"               # newest (drop stale frames) or every frame; auto: newest for live sources
    seconds: float | None = None       # stop after this long
    stall_timeout: float = DEFAULT_STALL_S  # a live source silent this long ends the run
    reconnect: int = 0                 # reopen a live source that dropped out, this many times
    camera_fps: float | None = None    # ask a V4L2 camera for this rate ...
    camera_size: str | None = None     # ... this size, "1280x720" ...
    camera_fourcc: str | None = None   # ... and this pixel format, "MJPG"
    progress_s: float = 5.0            # a live run prints its rates this often (0: never)


def _open_contexts(model_path, s: RunSettings, npu_cores: int) -> tuple[list, dict]:
    """One runtime per context (context i on NPU core i mod the target's cores), plus the cascade's second model."""
    runtimes, large = [], {}
    try:
        for i in range(max(1, s.cores)):
            core = i if s.cores > 1 else "auto"
            runtimes.append(open_runtime(model_path, s.backend, core=core, npu_cores=npu_cores))
            if s.cascade and s.cascade_model:
                large[id(runtimes[-1])] = open_runtime(s.cascade_model, s.backend, core=core, npu_cores=npu_cores)
    except BaseException:
        for rt in runtimes + list(large.values()):
            rt.close()
        raise
    return runtimes, large


def _warm_up(runtimes, imgsz: int) -> None:
    """One inference per context on a grey canvas before a live source opens: a runtime's first call allocates and
    plans (slower than the rest), and that first frame would come late and make the next ones stale (dropped)."""
    grey = np.full((imgsz, imgsz, 3), 114, np.uint8)
    for rt in runtimes:
        try:
            rt.infer(grey)
        except BaseException:
            for r in runtimes:
                r.close()
            raise


def _frame_worker(s: RunSettings, imgsz: int, conf: float, iou: float, use_sum: bool, large: dict, decode=None):
    tile = s.tile or (imgsz if s.cascade else 0)
    split = s.cascade_split if s.cascade_split is not None else 0.5 * tile  # objects too big for one tile

    def work(rt, item):
        frame = item.image
        t = {}
        t0 = time.perf_counter()
        if s.cascade:
            det = detect_cascade(rt, frame, imgsz, conf, iou, tile, s.overlap, split, large.get(id(rt)),
                                 use_score_sum=use_sum, timings=t)
        elif tile:
            det = detect_tiled(rt, frame, imgsz, conf, iou, tile, s.overlap, use_sum, t)
        else:
            det = detect(rt, frame, imgsz, conf, iou, use_sum, t, decode)
        t["end_to_end_ms"] = 1000 * (time.perf_counter() - t0)
        return item, frame, det, t
    return work, tile


class VideoOut:
    """Annotated frames into an MP4 (OpenCV's writer), written to a temporary name and renamed when closed;
    every frame is resized to the first one's size (a folder of images may mix sizes)."""

    def __init__(self, path, fps: float = 10.0):
        self.path, self.fps, self.writer, self.size, self.frames = Path(path), float(fps), None, None, 0
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.size = (int(frame.shape[1]), int(frame.shape[0]))
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self.writer.isOpened():
                raise ValueError(f"OpenCV cannot write an MP4 at {self.tmp} (no mp4v encoder in this OpenCV build?)")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self.writer.write(frame)
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        """Finish the file (``complete``) or, after a failure, drop it: no half-written video at the final name."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            if complete:
                commit(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)


def _progress(fs: FrameSource, processed: int, t_start: float) -> str:
    st, wall = fs.stats, max(time.perf_counter() - t_start, 1e-9)
    return (f"  {wall:6.1f} s: the source delivered {st.delivered} frame(s), processed {processed} "
            f"({processed / wall:.1f}/s), dropped {st.dropped}")


def run(source, bundle, out_dir, settings: RunSettings | None = None, log=print) -> dict:
    """Run the bundle's model over ``source``; write ``detections.json`` (and pictures, an MP4) to ``out_dir``."""
    s = settings or RunSettings()
    cfg, bundle, out_dir = read_bundle_config(bundle), Path(bundle), Path(out_dir)
    pose = cfg.get("task", "detect") == "pose"
    if pose and (s.tile or s.cascade):
        raise ValueError("--tile and --cascade are for detection bundles; this is a pose bundle")
    if s.backend == "ncnn" and not s.model and "ncnn" not in cfg:
        raise ValueError("this bundle has no ncnn model (config.json has no 'ncnn' entry): use another backend")
    model_path = Path(s.model) if s.model else bundle_model(bundle, cfg, s.backend)
    imgsz, labels = int(cfg["imgsz"]), cfg.get("labels", [])
    conf = cfg.get("conf", DEFAULT_CONF) if s.conf is None else s.conf
    iou = cfg.get("iou", DEFAULT_IOU) if s.iou is None else s.iou
    target = cfg.get("target", "rk3588")
    backend = s.backend if s.backend != "auto" else default_backend(model_path)
    check_board_soc(target, backend)
    for f in (model_path, model_path.with_suffix(".bin")) if model_path.suffix == ".param" else (model_path,):
        verify_model_file(bundle, cfg, f)
    soc = SOCS.get(target)
    check_source(source)  # a mistyped path is one line before any model is loaded
    require_writable(out_dir)
    runtimes, large = _open_contexts(model_path, s, soc.npu_cores if soc else 1)
    if classify(source)[1] or s.frames == "newest":  # a live source: its first frame must not wait on a cold runtime
        _warm_up(runtimes, imgsz)
    decode = make_decoder(cfg, backend)
    work, tile = _frame_worker(s, imgsz, conf, iou, bool(cfg.get("score_sum", True)), large, decode)
    skeleton = [tuple(e) for e in cfg.get("skeleton", [])]
    frames, per_frame, skipped, complete, video = [], [], [], False, None
    try:
        fs = FrameSource(source, s.frames, s.max_frames, s.seconds, s.stall_timeout, s.reconnect, s.camera_fps,
                         parse_size(s.camera_size), skipped, camera_fourcc=s.camera_fourcc)
    except BaseException:
        for rt in runtimes + list(large.values()):
            rt.close()
        raise
    if log and fs.granted and fs.kind == "camera":
        g = fs.granted
        log(f"camera {source}: granted {g['size'][0]}x{g['size'][1]} at {g['fps']:g} frames/s ({g['fourcc'] or '?'})"
            + (f", asked {s.camera_size or '-'} at {s.camera_fps or '-'} {s.camera_fourcc or ''}".rstrip()
               if s.camera_fps or s.camera_size or s.camera_fourcc else ""))
    try:
        video = VideoOut(s.video, fs.nominal_fps or 10.0) if s.video else None
        t_start, next_report = time.perf_counter(), time.perf_counter() + s.progress_s
        # a live source: one frame per context in flight, so a frame is taken when a context can start on it
        with fs, OrderedPool(runtimes, work, max_pending=len(runtimes) if fs.mode == "newest" else None) as pool:
            try:
                for item, frame, det, t in pool.map(fs):
                    with WholeFrame():  # the frame's picture, MP4 frame and record, or none of them
                        record = {"source": item.name, "index": item.index, "t": round(item.t, 3),
                                  "size": [int(frame.shape[1]), int(frame.shape[0])], "detections": det.to_records(labels)}
                        if s.save_images or video:
                            fps = (len(frames) + 1) / max(time.perf_counter() - t_start, 1e-9)
                            picture = annotate(frame, det, labels, skeleton, fps if video else None)
                        if s.save_images:
                            with atomic_path(out_dir / f"{item.name}.jpg") as tmp:
                                cv2.imwrite(str(tmp), picture)
                        if video:
                            video.write(picture)
                        frames.append(record)
                        per_frame.append(t)
                        if log and fs.live and s.progress_s and time.perf_counter() >= next_report:
                            log(_progress(fs, len(frames), t_start))
                            next_report += s.progress_s
            except KeyboardInterrupt as e:  # the way a live run is usually ended: what was done is kept, whole
                fs.stats.stopped = "terminated" if isinstance(e, Terminated) else "interrupted"
        wall = time.perf_counter() - t_start
        if not frames:
            why = "; ".join(f"{k['file']}: {k['why']}" for k in skipped) or fs.summary()["stopped_why"]
            raise ValueError(f"no readable frame in {source}: {why}")
        complete = True
    finally:
        for rt in runtimes + list(large.values()):
            rt.close()
        if video:
            video.close(complete)
    timings = summarize_timings(per_frame)
    src = fs.summary()
    result = {"backend": runtimes[0].backend, "model": str(model_path), "task": "pose" if pose else "detect",
              "cores": s.cores, "tile": tile, "video": str(s.video) if s.video else None,
              "overlap": s.overlap, "cascade": s.cascade, "conf": conf, "iou": iou, "frames": frames, "skipped": skipped,
              "timings": timings, "frames_per_second": round(len(frames) / wall, 2) if wall else None,
              "video_frames": video.frames if video else None,
              "source": src, "rate": rate_verdict(src, len(frames), wall, timings, len(runtimes))}
    write_json(out_dir / "detections.json", result)
    if log:
        for k in skipped:
            log(f"skipped {k['file']}: {k['why']}")
        log(f"{len(frames)} frame(s), backend {result['backend']}, {s.cores} context(s): "
            f"{result['frames_per_second']} frames/s; stopped: {src['stopped_why']}")
        for k, v in result["timings"].items():
            log(f"  {k:<16} mean {v['mean']:8.2f}  median {v['median']:8.2f}")
        log(result["rate"]["sentence"])
        log(f"results: {out_dir / 'detections.json'}")
    return result


def parse_args(argv=None, bundle_default: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="run.py", description="YOLOv8 (NPU head) detection or pose with a deploy bundle")
    p.add_argument("source", nargs="?", help="an image, a folder of images, a video file, a V4L2 camera (/dev/video0 "
                   "or 0) or a stream URL (rtsp://, http://, udp://, ...)")
    p.add_argument("--selftest", action="store_true",
                   help="decode the bundle's stored reference outputs with this board's numpy and OpenCV and compare "
                        "with the PC's detections (no runtime, no NPU needed)")
    p.add_argument("--bundle", default=bundle_default or ".", help="the bundle folder (default: this runner's)")
    p.add_argument("--model", help="a .rknn, .onnx or ncnn .param file instead of the bundle's model")
    p.add_argument("--backend", default="auto", choices=["auto", *BACKENDS],
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``systemctl stop``): ends a run as Ctrl-C does, the files whole."""


def _on_sigterm(signum, frame):
    raise Terminated("SIGTERM")


class WholeFrame:
    """Holds Ctrl-C and SIGTERM while one frame is recorded, then delivers them: a stop cannot land between the MP4's
    frame and the JSON's record of it. Waiting for a frame stays interruptible (it is outside). Main thread only
    (Python's rule for signal handlers); elsewhere it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.pending, self.old = [], {}
        if threading.current_thread() is threading.main_thread():
            self.old = {sig: signal.signal(sig, lambda signum, _f: self.pending.append(signum)) for sig in self.SIGNALS}
        return self

    def __exit__(self, kind, exc, tb):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        if self.pending and kind is None:
            signal.raise_signal(self.pending[0])  # the handler it was meant for runs now, as if it had arrived here
        return False


def main(argv=None, bundle_default: str | None = None) -> int:
    a = parse_args(argv, bundle_default)
    if threading.current_thread() is threading.main_thread():  # a service manager stops a program with SIGTERM
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        check_stack()
        if a.selftest:
            from .selftest import run_selftest

            return 0 if run_selftest(a.bundle, make_decoder(read_bundle_config(a.bundle), "onnx"))["ok"] else 1
        if not a.source:
            raise ValueError("give an image, a folder of images or a video (or --selftest)")
        run(a.source, a.bundle, a.out, settings_from_args(a))
    except (OSError, ValueError, RuntimeError) as e:  # RuntimeFailure, a PC backend's own, a missing file
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
