"""The deploy bundle's runner: images, a folder, a video, a camera or a stream in; annotated pictures, an MP4
and JSON out.

Board side: numpy and OpenCV only, plus the runtime of the chosen backend. In a bundle this
module is ``rkdeploy/runner.py``; ``run.py`` calls :func:`.cli.main`, which calls :func:`run`::

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

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import atomic_path, write_json
from .draw import annotate
from .pool import OrderedPool
from .decode import decoder
from .postprocess import DEFAULT_CONF, DEFAULT_IOU, Detections, batched_nms, postprocess
from .preprocess import letterbox
from .recording import Terminated, VideoOut, WholeFrame
from .records import read_bundle_config, verify_model_file
from .runtimes import default_backend, model_file, open_runtime, uses_npu, version_tuple
from .rate import rate_verdict
from .inputs import check_source, classify, iter_files, parse_size
from .sources import DEFAULT_STALL_S, FrameSource
from .targets import SOCS, soc_from_compatible
from .tiling import merge_tiles, tile_grid

#: what the runner times for each frame (milliseconds)
TIMING_KEYS = ("preprocess_ms", "inference_ms", "postprocess_ms", "end_to_end_ms")
#: where a Rockchip board names its SoC (RKDEPLOY_COMPATIBLE overrides it, for tests)
COMPATIBLE = "/proc/device-tree/compatible"


def check_board_soc(target: str, backend: str) -> str | None:
    """On a board (its device tree names a SoC), refuse an NPU model built for another SoC; returns the SoC."""
    path = os.environ.get("RKDEPLOY_COMPATIBLE", COMPATIBLE)
    try:
        with open(path, "rb") as f:
            soc = soc_from_compatible(f.read().decode(errors="replace"))
    except OSError:
        return None  # not a board (or no device tree): nothing to compare
    if soc and uses_npu(backend) and soc != target:  # an NPU model is built for one SoC
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


def detect(runtime, frame: np.ndarray, imgsz: int, conf: float, iou: float, use_score_sum: bool = True,
           timings: dict | None = None, decode=None) -> Detections:
    """Letterbox, run, post-process one frame (boxes in frame pixels); adds stage times to ``timings``.
    ``decode``: a :func:`.decode.decoder` post-process (default: detection)."""
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
    """(name, BGR frame) from an image file, a folder of images, or a video file, in order (:func:`.inputs.iter_files`)."""
    return iter_files(source, max_frames, skipped)


def summarize_timings(per_frame: list[dict]) -> dict:
    out = {}
    for k in TIMING_KEYS:
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


def _progress(fs: FrameSource, processed: int, t_start: float) -> str:
    st, wall = fs.stats, max(time.perf_counter() - t_start, 1e-9)
    return (f"  {wall:6.1f} s: the source delivered {st.delivered} frame(s), processed {processed} "
            f"({processed / wall:.1f}/s), dropped {st.dropped}")


@dataclass
class Job:
    """What :func:`run` resolved from the bundle and the settings before the first frame."""

    cfg: dict
    model_path: Path
    imgsz: int
    labels: list
    conf: float
    iou: float
    backend: str
    task: str
    npu_cores: int


def resolve(source, bundle: Path, out_dir: Path, s: RunSettings) -> Job:
    """The model, thresholds and backend of a run, after every check that costs nothing (the board's SoC, the
    model files' recorded sizes, the source's path, the output folder): a mistake is one line before any model
    is loaded."""
    cfg = read_bundle_config(bundle)
    task = cfg.get("task", "detect")
    if task != "detect" and (s.tile or s.cascade):  # tiles merge boxes only: a task's extras would be cut
        raise ValueError(f"--tile and --cascade are for detection bundles; this is a {task} bundle")
    model_path = Path(s.model) if s.model else model_file(bundle, cfg, s.backend)
    target = cfg.get("target", "rk3588")
    backend = s.backend if s.backend != "auto" else default_backend(model_path)
    check_board_soc(target, backend)
    for f in (model_path, model_path.with_suffix(".bin")) if model_path.suffix == ".param" else (model_path,):
        verify_model_file(bundle, cfg, f)
    check_source(source)
    require_writable(out_dir)
    soc = SOCS.get(target)
    return Job(cfg, model_path, int(cfg["imgsz"]), cfg.get("labels", []),
               cfg.get("conf", DEFAULT_CONF) if s.conf is None else s.conf,
               cfg.get("iou", DEFAULT_IOU) if s.iou is None else s.iou, backend, task, soc.npu_cores if soc else 1)


def _open_source(source, s: RunSettings, skipped: list, contexts: list, log) -> FrameSource:
    """The frame source (its runtimes closed if it cannot open); a camera says what it granted."""
    try:
        fs = FrameSource(source, s.frames, s.max_frames, s.seconds, s.stall_timeout, s.reconnect, s.camera_fps,
                         parse_size(s.camera_size), skipped, camera_fourcc=s.camera_fourcc)
    except BaseException:
        for rt in contexts:
            rt.close()
        raise
    if log and fs.granted and fs.kind == "camera":
        g = fs.granted
        log(f"camera {source}: granted {g['size'][0]}x{g['size'][1]} at {g['fps']:g} frames/s ({g['fourcc'] or '?'})"
            + (f", asked {s.camera_size or '-'} at {s.camera_fps or '-'} {s.camera_fourcc or ''}".rstrip()
               if s.camera_fps or s.camera_size or s.camera_fourcc else ""))
    return fs


class _Recorder:
    """Each processed frame into the run's outputs, whole: its record, its picture, its MP4 frame."""

    def __init__(self, job: Job, s: RunSettings, out_dir: Path, video, log, fs: FrameSource):
        self.job, self.s, self.out_dir, self.video, self.log, self.fs = job, s, out_dir, video, log, fs
        self.skeleton = [tuple(e) for e in job.cfg.get("skeleton", [])]
        self.frames, self.per_frame = [], []
        self.t_start = time.perf_counter()
        self.next_report = self.t_start + s.progress_s

    def add(self, item, frame, det, t) -> None:
        s, video = self.s, self.video
        with WholeFrame():  # the frame's picture, MP4 frame and record, or none of them
            record = {"source": item.name, "index": item.index, "t": round(item.t, 3),
                      "size": [int(frame.shape[1]), int(frame.shape[0])], "detections": det.to_records(self.job.labels)}
            if s.save_images or video:
                fps = (len(self.frames) + 1) / max(time.perf_counter() - self.t_start, 1e-9)
                picture = annotate(frame, det, self.job.labels, self.skeleton, fps if video else None)
            if s.save_images:
                with atomic_path(self.out_dir / f"{item.name}.jpg") as tmp:
                    cv2.imwrite(str(tmp), picture)
            if video:
                video.write(picture)
            self.frames.append(record)
            self.per_frame.append(t)
            if self.log and self.fs.live and s.progress_s and time.perf_counter() >= self.next_report:
                self.log(_progress(self.fs, len(self.frames), self.t_start))
                self.next_report += s.progress_s


def _process(fs: FrameSource, contexts: list, work, job: Job, s: RunSettings, out_dir: Path, log, source,
             skipped: list) -> tuple[_Recorder, float]:
    """Every frame of ``fs`` through the pool of runtimes, recorded; the runtimes closed and the MP4 finished
    (or dropped, after a failure) whatever happens. Returns the recorder and the wall time."""
    runtimes, complete, video = contexts[0], False, None
    try:
        video = VideoOut(s.video, fs.nominal_fps or 10.0) if s.video else None
        rec = _Recorder(job, s, out_dir, video, log, fs)
        # a live source: one frame per context in flight, so a frame is taken when a context can start on it
        with fs, OrderedPool(runtimes, work, max_pending=len(runtimes) if fs.mode == "newest" else None) as pool:
            try:
                for item, frame, det, t in pool.map(fs):
                    rec.add(item, frame, det, t)
            except KeyboardInterrupt as e:  # the way a live run is usually ended: what was done is kept, whole
                fs.stats.stopped = "terminated" if isinstance(e, Terminated) else "interrupted"
        wall = time.perf_counter() - rec.t_start
        if not rec.frames:
            why = "; ".join(f"{k['file']}: {k['why']}" for k in skipped) or fs.summary()["stopped_why"]
            raise ValueError(f"no readable frame in {source}: {why}")
        complete = True
    finally:
        for rt in runtimes + contexts[1]:
            rt.close()
        if video:
            video.close(complete)
    return rec, wall


def _log_result(result: dict, skipped: list, out_dir: Path, cores: int, log) -> None:
    for k in skipped:
        log(f"skipped {k['file']}: {k['why']}")
    log(f"{len(result['frames'])} frame(s), backend {result['backend']}, {cores} context(s): "
        f"{result['frames_per_second']} frames/s; stopped: {result['source']['stopped_why']}")
    for k, v in result["timings"].items():
        log(f"  {k:<16} mean {v['mean']:8.2f}  median {v['median']:8.2f}")
    log(result["rate"]["sentence"])
    log(f"results: {out_dir / 'detections.json'}")


def run(source, bundle, out_dir, settings: RunSettings | None = None, log=print) -> dict:
    """Run the bundle's model over ``source``; write ``detections.json`` (and pictures, an MP4) to ``out_dir``."""
    s = settings or RunSettings()
    bundle, out_dir = Path(bundle), Path(out_dir)
    job = resolve(source, bundle, out_dir, s)
    runtimes, large = _open_contexts(job.model_path, s, job.npu_cores)
    if classify(source)[1] or s.frames == "newest":  # a live source: its first frame must not wait on a cold runtime
        _warm_up(runtimes, job.imgsz)
    work, tile = _frame_worker(s, job.imgsz, job.conf, job.iou, bool(job.cfg.get("score_sum", True)), large,
                               decoder(job.cfg, job.backend))
    skipped = []
    fs = _open_source(source, s, skipped, runtimes + list(large.values()), log)
    rec, wall = _process(fs, (runtimes, list(large.values())), work, job, s, out_dir, log, source, skipped)
    timings, src = summarize_timings(rec.per_frame), fs.summary()
    result = {"backend": runtimes[0].backend, "model": str(job.model_path), "task": job.task,
              "cores": s.cores, "tile": tile, "video": str(s.video) if s.video else None,
              "overlap": s.overlap, "cascade": s.cascade, "conf": job.conf, "iou": job.iou, "frames": rec.frames,
              "skipped": skipped, "timings": timings,
              "frames_per_second": round(len(rec.frames) / wall, 2) if wall else None,
              "video_frames": rec.video.frames if rec.video else None,
              "source": src, "rate": rate_verdict(src, len(rec.frames), wall, timings, len(runtimes))}
    write_json(out_dir / "detections.json", result)
    if log:
        _log_result(result, skipped, out_dir, s.cores, log)
    return result
