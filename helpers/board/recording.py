"""A run's outputs written whole: the annotated MP4 (finished or dropped, never half-written at its name), and
one frame's picture, MP4 frame and record kept together when Ctrl-C or SIGTERM arrives."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import cv2
import numpy as np

from .atomic import commit


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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``systemctl stop``): ends a run as Ctrl-C does, the files whole."""


def on_sigterm(signum, frame):
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
