"""A live stream on this PC, for the runner's live-input path: ffmpeg serves a video at its own rate on 127.0.0.1.

No camera needed. ``ffmpeg -re`` reads the file at its frame rate (a 15 frames/s file gives 15 frames/s,
like a network camera set to 15) and serves it over HTTP to one client (an MP4 as MPEG-TS, an MKV as
Matroska); the video bitstream is copied, not re-encoded, so frame *i* of the stream is frame *i* of
the file, and ``-listen 1`` waits for its client, so the stream starts at frame 0. A lossy clip (mp4v)
decodes to the same pixels wherever the *same* decoder reads it; another FFmpeg (a board's) may round
its IDCT differently, so a clip meant for comparing machines is lossless (FFV1 in ``.mkv``), exact everywhere. PC side (it starts a program; the
board folder never does): the bundle's runner reads the URL as it would read a camera's.

:func:`stream_vs_file` runs the bundle's ``run.py`` on the stream and on the file and pairs the frames
by their index in the source.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from ..board.atomic import atomic_path
from ..board.inputs import IMAGE_SUFFIXES


def ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if not found:
        raise RuntimeError("ffmpeg is not installed: `apt install ffmpeg` (scripts/setup.sh does it as root)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Something listens on TCP ``port`` (read from /proc: a connect would be the one client ffmpeg serves)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            return True
    return False


class LoopbackStream:
    """``with LoopbackStream("clip.mp4") as s: run(s.url)``: the file as a live stream, for one client."""

    def __init__(self, video, start_timeout: float = 10.0, port: int | None = None):
        self.video, self.port = Path(video), port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/live"
        # MPEG-TS needs the mp4v headers in every keyframe (dump_extra); Matroska carries them itself
        form = ["-f", "matroska"] if self.video.suffix.lower() == ".mkv" else ["-bsf:v", "dump_extra", "-f", "mpegts"]
        self.proc = subprocess.Popen([ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-i", str(self.video),
                                      "-c", "copy", *form, "-listen", "1", self.url],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + start_timeout
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"ffmpeg could not serve {self.video}: {self.proc.stderr.read().decode().strip()}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"ffmpeg did not listen on 127.0.0.1:{self.port} within {start_timeout:g} s")
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self) -> "LoopbackStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_clip(images, out, fps: int = 15, frames: int = 45, size=(640, 480)) -> Path:
    """A clip of ``frames`` frames at ``fps`` from ``images`` (files, or a folder of them): each image held a few frames and panned, so every
    frame differs (written to a temporary name, then renamed). ``.mp4``: mp4v (small, lossy); ``.mkv``: FFV1
    (lossless: the same pixels from any decoder)."""
    if isinstance(images, (str, Path)) and Path(images).is_dir():  # a folder: its images, in name order
        images = sorted(f for f in Path(images).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    pics = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in images]
    pics = [p for p in pics if p is not None]
    if not pics:
        raise ValueError(f"make_clip needs at least one readable image ({', '.join(sorted(IMAGE_SUFFIXES))})")
    w, h = size
    hold = max(1, frames // len(pics))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    codec = "FFV1" if out.suffix.lower() == ".mkv" else "mp4v"
    with atomic_path(out, suffix=out.suffix) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write an MP4 at {tmp}")
        for i in range(frames):
            pic = cv2.resize(pics[(i // hold) % len(pics)], (w + 32, h + 32))
            dx = (i % hold) * 32 // hold
            writer.write(np.ascontiguousarray(pic[16:16 + h, dx:dx + w]))
        writer.release()
    return out


def pair_by_index(stream: dict, file: dict) -> dict:
    """The stream run's frames beside the file run's frames of the same index: how many, how many equal."""
    from .bundles import detections_equal

    by_index = {f["index"]: f for f in file["frames"]}
    pairs = [(f, by_index[f["index"]]) for f in stream["frames"] if f["index"] in by_index]
    equal = sum(detections_equal({"frames": [{**a, "source": "x"}]}, {"frames": [{**b, "source": "x"}]})
                for a, b in pairs)
    return {"stream_frames": len(stream["frames"]), "paired": len(pairs), "equal": equal,
            "detections": sum(len(a["detections"]) for a, _ in pairs),
            "how": "by index in the source: the stream copies the file's bitstream from its first frame"}


def _compact(res: dict, out_dir: Path) -> dict:
    """What a run's record keeps of a runner result: the source, the verdict, the stage times, counts."""
    return {"source": res["source"], "rate": res["rate"], "timings": res["timings"], "frames": len(res["frames"]),
            "video_frames": res.get("video_frames"), "json": str(out_dir / "detections.json")}


def stream_vs_file(bundle, clip, out_dir, backend: str = "onnx", cores: int = 1, extra: tuple = ()) -> dict:
    """The bundle's runner on ``clip`` served as a live stream, then on ``clip`` as a file: each run's source
    figures, verdict and stage times (the full results stay in their ``detections.json``), and the frames
    paired by index. The stream run writes its annotated MP4 (finalised when the stream ends)."""
    from .bundles import run_here

    out_dir, clip = Path(out_dir).resolve(), Path(clip).resolve()  # the runner works in the bundle's folder
    args = ("--backend", backend, "--cores", str(cores), "--no-images", *extra)
    with LoopbackStream(clip) as served:
        live = run_here(bundle, served.url, out_dir / "stream", *args, "--video", str(out_dir / "stream" / "stream.mp4"))
    whole = run_here(bundle, clip, out_dir / "file", *args)
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return {"fps": round(float(fps), 3), "cores": int(cores), "backend": backend,
            "stream": _compact(live, out_dir / "stream"), "file": _compact(whole, out_dir / "file"),
            "pairs": pair_by_index(live, whole)}
