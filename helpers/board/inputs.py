"""What the runner is pointed at: an image, a folder, a video, a camera or a stream URL, told apart and checked
before any model is loaded; images and video files read in order (live sources: :mod:`.sources`)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import cv2

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".ts", ".webm"}
#: URL schemes OpenCV's FFmpeg backend reads as a stream
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")


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


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"1280x720"`` -> (1280, 720)."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"--camera-size takes WIDTHxHEIGHT, e.g. 1280x720, not {text!r}")
    return int(m.group(1)), int(m.group(2))
