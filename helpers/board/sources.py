"""Where the runner's frames come from: images, a folder, a video file, a V4L2 camera or a network stream.

Board side: numpy, OpenCV and the standard library only. A camera (``/dev/video0``, or an index
such as ``0``) and a stream URL (``rtsp://``, ``http://``, ``udp://``, ... read by OpenCV's FFmpeg
backend) are *live*: they deliver frames at their own rate whether or not anyone keeps up. A file
is not: it waits for its reader.

:class:`FrameSource` reads on its own thread and hands out :class:`Frame` values, each with its
index in the source (0, 1, 2, ... as the source delivered them) and the time it arrived, in one of two
ways:

``newest``  (live sources, by default) the consumer always gets the newest frame; a frame that a newer
            one replaced before anyone took it is *dropped* and counted. No backlog builds up, so
            what is shown is at most one frame old.
``every``   (files, by default) every frame, in order, through a short queue: the reader waits for
            the consumer, nothing is dropped.

It measures what the source delivered (frames, frames/s, the time each read took) and how long the
consumer waited for a frame; :func:`rate_verdict` turns those and the per-frame stage times into one
sentence that says whether the source or the pipeline limits the rate.
"""

from __future__ import annotations

import queue
import re
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".ts", ".webm"}
#: URL schemes OpenCV's FFmpeg backend reads as a stream
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")
#: schemes that connect over TCP first: their host and port are checked before OpenCV is asked
TCP_SCHEMES = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443, "tcp": None}
DEFAULT_STALL_S = 5.0
#: a live run counts as keeping up when it dropped at most this share of what the source delivered
KEEPS_UP_DROPPED = 0.05
#: ... or when it waited for frames at least this share of its time: then its drops are frames that arrived
#: together (a stream's bursts), not a backlog (a short run drops 1 of 15 frames, 7 %, that way)
KEEPS_UP_WAITING = 0.5
#: a run that hands out every frame is held by its source when it processed at least this share of the
#: rate the source gives frames at when asked (1000 / mean ms per read)
KEEPS_UP_READS = 0.9


def classify(source) -> tuple[str, bool]:
    """(kind, live): kind is image, folder, video, camera or stream; cameras and stream URLs are live,
    except an http(s) URL of a video file (``http://host/clip.mp4``), which is a file read over the network."""
    s = str(source)
    if re.fullmatch(r"\d+", s) or re.fullmatch(r"/dev/video\d+", s):
        return "camera", True
    parts = urlsplit(s)
    if parts.scheme.lower() in STREAM_SCHEMES and (parts.netloc or parts.scheme.lower() == "udp"):
        file_over_http = parts.scheme.lower() in ("http", "https") and Path(parts.path).suffix.lower() in \
            VIDEO_SUFFIXES - {".ts"}
        return "stream", not file_over_http
    p = Path(s)
    if p.is_dir():
        return "folder", False
    return ("video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"), False


def masked(url: str) -> str:
    """A URL fit to print: a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def check_source(source) -> str:
    """The source's kind, after the checks that cost nothing (a path exists, a folder has images, a camera's
    device node is there), so a typo is one line before any model is loaded; a stream is checked by opening it."""
    kind, _ = classify(source)
    p = Path(str(source))
    if kind == "camera" and str(source).startswith("/dev/") and not p.exists():
        raise ValueError(f"no camera at {source}: list the cameras with `ls /dev/video*` (or v4l2-ctl --list-devices)")
    if kind in ("image", "video", "folder") and not p.exists():
        raise FileNotFoundError(f"no image, folder or video at {p} (a camera is /dev/videoN or its index; a stream "
                                f"a URL: {', '.join(s + '://' for s in STREAM_SCHEMES[:6])}...)")
    if kind == "folder" and not any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()):
        raise FileNotFoundError(f"{p} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return kind


def iter_files(source, max_frames: int | None = None, skipped: list | None = None):
    """(name, BGR frame) from an image file, a folder of images, or a video file.

    An image that does not decode raises, or, with a ``skipped`` list, is appended to it (name, why) and passed over.
    """
    p = Path(source)
    check_source(p)
    n = 0
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    elif p.suffix.lower() in VIDEO_SUFFIXES:
        cap = cv2.VideoCapture(str(p))
        if not cap.isOpened():
            raise ValueError(f"OpenCV cannot open the video {p}")
        try:
            while max_frames is None or n < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                yield f"{p.stem}_{n:06d}", frame
                n += 1
        finally:
            cap.release()
        return
    else:
        files = [p]
    for f in files:
        if max_frames is not None and n >= max_frames:
            return
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            if skipped is None:
                raise ValueError(f"{f} is not a readable image")
            skipped.append({"file": f.name, "why": "not a readable image (corrupt, empty or not an image)"})
            continue
        yield f.stem, img
        n += 1


def _check_reachable(url: str, timeout: float) -> None:
    """For a URL that starts with a TCP connection: one clear line when nothing answers at its host and port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in TCP_SCHEMES or not parts.hostname:
        return
    port = parts.port or TCP_SCHEMES[scheme]
    if port is None:
        return
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except socket.gaierror as e:
        raise ValueError(f"cannot open the stream {masked(url)}: the host {parts.hostname!r} is unknown "
                         f"({e.strerror or e}): check the address") from None
    except (ConnectionRefusedError, socket.timeout, OSError) as e:
        why = ("connection refused: nothing listens there" if isinstance(e, ConnectionRefusedError) else
               f"no answer within {timeout:.0f} s" if isinstance(e, socket.timeout) else (e.strerror or str(e)))
        raise ValueError(f"cannot open the stream {masked(url)}: {parts.hostname}:{port}: {why}; check that the "
                         "camera or server is up and the address and port are right") from None


def _capture_params(open_timeout: float, read_timeout: float) -> list[int]:
    """OpenCV's open/read timeouts for the FFmpeg backend, where this OpenCV has them (4.5.2 and newer)."""
    keys = ("CAP_PROP_OPEN_TIMEOUT_MSEC", "CAP_PROP_READ_TIMEOUT_MSEC")
    if not all(hasattr(cv2, k) for k in keys):
        return []
    return [getattr(cv2, keys[0]), int(open_timeout * 1000), getattr(cv2, keys[1]), int(read_timeout * 1000)]


def _fourcc(value: float) -> str:
    v = int(value)
    text = "".join(chr((v >> 8 * i) & 0xFF) for i in range(4))
    return text if v and text.isprintable() else ""


def open_capture(source, kind: str, camera_fps: float | None = None, camera_size: tuple | None = None,
                 camera_fourcc: str | None = None, open_timeout: float = 10.0, read_timeout: float = DEFAULT_STALL_S):
    """(an opened cv2.VideoCapture, what it reports: frames/s, size, pixel format, backend).

    A camera is opened with V4L2, asked for ``camera_fourcc`` (``"MJPG"``: what a USB 2.0 camera needs for
    30 frames/s at 720p and above), ``camera_size`` (w, h) and ``camera_fps`` when given; what it *granted* is what it reports back (a camera gives the nearest mode it has). When a stream does not
    open, its host and port are tried, so an address nobody answers at is one line that says so.
    """
    s = str(source)
    if kind == "camera":
        check_source(s)
        cap = cv2.VideoCapture(int(s) if re.fullmatch(r"\d+", s) else s, cv2.CAP_V4L2)
        if cap.isOpened():
            if camera_fourcc:
                if len(camera_fourcc) != 4:
                    cap.release()
                    raise ValueError(f"--camera-fourcc takes four characters (MJPG, YUYV, H264), not {camera_fourcc!r}")
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*camera_fourcc))
            if camera_size:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(camera_size[0]))
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(camera_size[1]))
            if camera_fps:
                cap.set(cv2.CAP_PROP_FPS, float(camera_fps))
        what = f"the camera {s}"
    else:
        params = _capture_params(open_timeout, read_timeout)
        try:
            cap = cv2.VideoCapture(s, cv2.CAP_FFMPEG, params) if params else cv2.VideoCapture(s, cv2.CAP_FFMPEG)
        except (cv2.error, TypeError):  # an OpenCV without the parameters form
            cap = cv2.VideoCapture(s, cv2.CAP_FFMPEG)
        what = f"the stream {masked(s)}"
    if not cap.isOpened():
        cap.release()
        if kind == "stream":  # only now: a probe first would take the one client slot of a server like ffmpeg -listen
            _check_reachable(s, open_timeout)
        hint = ("another program may hold it, or this user may not be in the 'video' group" if kind == "camera" else
                "the path, the stream's format or the credentials may be wrong; `ffprobe URL` says what FFmpeg sees")
        raise ValueError(f"cannot open {what}: OpenCV's VideoCapture did not open it ({hint})")
    granted = {"fps": round(float(cap.get(cv2.CAP_PROP_FPS) or 0), 3),
               "size": [int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))],
               "fourcc": _fourcc(cap.get(cv2.CAP_PROP_FOURCC)), "backend": cap.getBackendName()}
    if kind == "camera":
        granted["asked"] = {"fps": camera_fps, "size": list(camera_size) if camera_size else None,
                            "fourcc": camera_fourcc}
    return cap, granted


@dataclass
class Frame:
    """One frame: its name, its index in the source, when it arrived (seconds since the source opened)."""

    name: str
    index: int
    t: float
    image: np.ndarray


@dataclass
class SourceStats:
    delivered: int = 0          # frames the source delivered
    dropped: int = 0            # ... that a newer frame replaced before anyone took them (newest mode)
    handed_out: int = 0
    first_t: float | None = None
    last_t: float | None = None
    waited_s: float = 0.0       # time the consumer waited for a frame
    read_ms: list = field(default_factory=list)
    reconnects: int = 0
    stopped: str = ""


class FrameSource:
    """Frames from any source, read on their own thread. ``with FrameSource(src) as fs: for f in fs: ...``

    ``frames``: ``"newest"``, ``"every"`` or ``"auto"`` (newest for live sources, every for files).
    ``max_frames`` / ``seconds`` end the run; a live source that delivers nothing for ``stall_timeout``
    seconds ends it too (``stopped`` says which), unless ``reconnect`` attempts to reopen it are left.
    """

    def __init__(self, source, frames: str = "auto", max_frames: int | None = None, seconds: float | None = None,
                 stall_timeout: float = DEFAULT_STALL_S, reconnect: int = 0, camera_fps: float | None = None,
                 camera_size: tuple | None = None, skipped: list | None = None, queue_size: int = 4,
                 camera_fourcc: str | None = None):
        if frames not in ("auto", "newest", "every"):
            raise ValueError(f"frames must be auto, newest or every, not {frames!r}")
        self.source, self.kind, self.live = str(source), *classify(source)
        self.mode = ("newest" if self.live else "every") if frames == "auto" else frames
        self.max_frames, self.seconds, self.stall_timeout = max_frames, seconds, float(stall_timeout)
        self.reconnect, self.camera = int(reconnect), (camera_fps, camera_size, camera_fourcc)
        self.skipped = skipped
        # OpenCV's own read timeout, a little past ours: the consumer calls the stall, OpenCV then frees the reader
        self._read_timeout = self.stall_timeout + 1.0
        self.stats = SourceStats()
        self.granted: dict = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._ended = False
        self._stalled = False
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._cap = None
        self._files = None
        if self.kind in ("camera", "stream"):
            self._cap, self.granted = open_capture(self.source, self.kind, *self.camera, read_timeout=self._read_timeout)
        else:
            self._files = iter_files(self.source, None, skipped)
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._read, daemon=True, name="frame-reader")
        self._thread.start()

    @property
    def nominal_fps(self) -> float | None:
        """The rate the source states (a video's, a camera's granted, a stream's header), if any."""
        if self.granted.get("fps"):
            return self.granted["fps"]
        if self.kind == "video":
            cap = cv2.VideoCapture(self.source)
            fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0
            cap.release()
            return float(fps) if fps and fps > 0 else None
        return None

    # ---- the reader thread
    def _next_raw(self):
        """(name, image), or None at the end of the source."""
        if self._files is not None:
            return next(self._files, None)
        while True:
            t0 = time.monotonic()
            ok, image = self._cap.read()
            if ok:
                return f"frame_{self.stats.delivered:06d}", image
            if self.live and time.monotonic() - t0 >= self.stall_timeout:
                self._stalled = True  # OpenCV's read timeout ended a wait for a frame: a stall, not the stream's end
            if self._stop.is_set() or self.stats.reconnects >= self.reconnect or not self.live:
                return None
            self.stats.reconnects += 1  # a live source dropped out: reopen it, as asked
            self._cap.release()
            time.sleep(min(1.0, self.stall_timeout / 2))
            try:
                self._cap, self.granted = open_capture(self.source, self.kind, *self.camera,
                                                       read_timeout=self._read_timeout)
            except ValueError:
                continue

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.monotonic()
                got = self._next_raw()
                if got is None:
                    break
                now = time.monotonic()
                st = self.stats
                st.read_ms.append(1000 * (now - t0))
                f = Frame(got[0], st.delivered, now - self.t0, got[1])
                st.delivered += 1
                st.first_t = f.t if st.first_t is None else st.first_t
                st.last_t = f.t
                if self.mode == "newest":
                    with self._cond:
                        if self._slot is not None:
                            st.dropped += 1
                        self._slot = f
                        self._cond.notify_all()
                else:
                    while not self._stop.is_set():
                        try:
                            self._queue.put(f, timeout=0.2)
                            break
                        except queue.Full:
                            continue
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self.error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            if self._cap is not None:
                self._cap.release()

    # ---- the consumer
    def _take(self) -> Frame | None:
        deadline = time.monotonic() + self.stall_timeout
        if self.mode == "newest":
            with self._cond:
                while self._slot is None and not self._ended:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(min(left, 0.2))
                f, self._slot = self._slot, None
                return f
        while True:
            try:
                return self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._ended and self._queue.empty():
                    return None
                if self.live and time.monotonic() > deadline:
                    return None

    def __iter__(self):
        st = self.stats
        while True:
            if self.max_frames is not None and st.handed_out >= self.max_frames:
                st.stopped = "max_frames"
                return
            if self.seconds is not None and time.monotonic() - self.t0 >= self.seconds:
                st.stopped = "seconds"
                return
            t0 = time.monotonic()
            f = self._take()
            st.waited_s += time.monotonic() - t0
            if f is None:
                if self.error is not None:
                    raise self.error
                ended = self._ended and (self.mode == "newest" or self._queue.empty()) and not self._stalled
                st.stopped = "end" if ended else "stalled"
                return
            st.handed_out += 1
            yield f

    def close(self) -> None:
        """Stop the reader and wait until it has released the camera or stream (after its current read returns).

        The wait matters: a program that ends while the reader is still inside OpenCV's ``read()`` would tear
        OpenCV and FFmpeg down under a running decoder (a read can take seconds: a slow stream, an emulated
        board). OpenCV's own read timeout bounds the wait for a capture (Debian 11's OpenCV 4.5.1 has none:
        there a driver that never returns is left behind after that long).
        """
        self._stop.set()
        self._thread.join(timeout=self._read_timeout + 5.0 if self._cap is not None else 5.0)

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def summary(self) -> dict:
        """What the source delivered and how it ended, for the run's JSON."""
        st = self.stats
        span = (st.last_t - st.first_t) if st.delivered > 1 else 0.0
        why = {"max_frames": "--max-frames reached", "seconds": "--seconds reached", "interrupted": "Ctrl-C",
               "terminated": "SIGTERM",
               "end": "the source ended" + (f" after {st.reconnects} reconnect(s)" if st.reconnects else ""),
               "stalled": f"no frame for {self.stall_timeout:g} s: the source stalled"}
        return {"kind": self.kind, "live": self.live, "frames": self.mode,
                "source": masked(self.source) if self.kind == "stream" else self.source,
                "granted": self.granted or None, "delivered": st.delivered, "dropped": st.dropped,
                "delivered_fps": round((st.delivered - 1) / span, 2) if span > 0 else None,
                "read_ms_median": round(statistics.median(st.read_ms), 2) if st.read_ms else None,
                # the rate the source gives frames at when asked: a file's decode, a live source's frame interval
                "read_fps": round(1000 / statistics.fmean(st.read_ms), 2) if st.read_ms and
                statistics.fmean(st.read_ms) > 0 else None,
                "waited_s": round(st.waited_s, 3), "reconnects": st.reconnects, "stopped": st.stopped,
                "stopped_why": why.get(st.stopped, st.stopped), "stall_timeout_s": self.stall_timeout}


STAGE_NAMES = {"preprocess_ms": "preprocessing (letterbox and layout)", "inference_ms": "inference",
               "postprocess_ms": "postprocessing (decode and NMS)"}


def rate_verdict(src: dict, processed: int, wall_s: float, timings: dict, contexts: int) -> dict:
    """Who limits the frame rate, from what a run measured: one sentence, and the figures behind it.

    ``src`` is :meth:`FrameSource.summary`, ``timings`` the runner's per-stage means (ms per frame).
    A live run (newest frame) keeps up when it dropped at most 5 % of what the source delivered, or when it
    spent at least half its time waiting for the next frame (its drops then came in the source's bursts):
    then the source limits the rate. A run that takes every frame is held by its source when it processed
    at least 90 % of the rate the source gives frames at (``read_fps``: 1000 / mean ms per read; a
    file decodes in a fraction of a millisecond, a throttled stream's read waits a frame interval).
    The pipeline's capacity is ``contexts × 1000 / mean end-to-end ms``: exact for one context; for
    several it assumes they run side by side (an RK3588's three NPU cores do; a PC's CPU may not).
    """
    e2e = (timings.get("end_to_end_ms") or {}).get("mean")
    capacity = round(contexts * 1000 / e2e, 1) if e2e else None
    processed_fps = round(processed / wall_s, 2) if wall_s > 0 else None
    delivered_fps = src.get("delivered_fps")
    stages = {k: v["mean"] for k, v in timings.items() if k in STAGE_NAMES}
    slowest = max(stages, key=stages.get) if stages else None
    dropped_share = src["dropped"] / src["delivered"] if src.get("delivered") else 0.0
    waiting = src.get("waited_s", 0.0) / wall_s if wall_s > 0 else 0.0
    if src["frames"] == "newest":
        source_bound = dropped_share <= KEEPS_UP_DROPPED or waiting >= KEEPS_UP_WAITING
    else:
        delivered_fps = src.get("read_fps")
        source_bound = bool(delivered_fps and processed_fps and processed_fps >= KEEPS_UP_READS * delivered_fps)
    side = ", if they run side by side" if contexts > 1 else ""
    could = (f"an estimate, not a measurement, of what the pipeline alone could do: about {capacity:g} frames/s "
             f"({contexts} context{'s' if contexts > 1 else ''} × 1000 / {e2e:g} ms per frame{side}; a file, read as "
             "fast as it decodes, measures it)") if capacity else "the pipeline had time to spare"
    if source_bound:
        got = f"delivers {delivered_fps:g} frames/s" if delivered_fps else "delivered the frames slower than"
        burst = (f", in bursts: the runner waited for frames {100 * waiting:.0f} % of the time"
                 if src["frames"] == "newest" and dropped_share > KEEPS_UP_DROPPED else "")
        sentence = (f"the source limits the rate: it {got} and the pipeline processed {processed_fps:g} frames/s "
                    f"({src['dropped']} dropped{burst}); {could}")
    else:
        stage = (f"; its slowest stage is {STAGE_NAMES[slowest]}, {stages[slowest]:g} of {e2e:g} ms per frame"
                 if slowest and e2e else "")
        if src["frames"] == "newest":
            got = (f"processed {processed_fps:g} frames/s of the {delivered_fps:g} the source delivered, "
                   f"dropping {src['dropped']} of {src['delivered']} ({100 * dropped_share:.0f} %)")
        else:
            got = f"processed {processed_fps:g} frames/s, every frame in order"
        sentence = f"the pipeline limits the rate: it {got}{stage}"
    return {"limited_by": "source" if source_bound else "pipeline", "sentence": sentence,
            "waiting_share": round(waiting, 3),
            "processed_fps": processed_fps, "delivered_fps": delivered_fps, "capacity_fps": capacity,
            "capacity_basis": "contexts × 1000 / mean end-to-end ms", "dropped_share": round(dropped_share, 4),
            "slowest_stage": slowest}


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"1280x720"`` -> (1280, 720)."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"--camera-size takes WIDTHxHEIGHT, e.g. 1280x720, not {text!r}")
    return int(m.group(1)), int(m.group(2))


