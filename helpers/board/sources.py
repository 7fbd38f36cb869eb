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
consumer waited for a frame; :func:`.rate.rate_verdict` turns those and the per-frame stage times into one
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
from urllib.parse import urlsplit

import cv2
import numpy as np

from .inputs import check_source, classify, iter_files, masked

#: schemes that connect over TCP first: their host and port are checked before OpenCV is asked
TCP_SCHEMES = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443, "tcp": None}
DEFAULT_STALL_S = 5.0


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


