"""The calibration set: a stratified subset of the training images, letterboxed, listed in ``dataset.txt``."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..board.atomic import atomic_write_text

#: largest object side (share of the image) below which an image counts as "small", then "medium"
SMALL_MAX, MEDIUM_MAX = 0.15, 0.40


def stratum(labels: np.ndarray, names) -> str:
    """An image's stratum: its dominant class and the size class of its largest object, or background."""
    if not len(labels):
        return "background"
    size = float(np.max(np.maximum(labels[:, 3], labels[:, 4])))
    cls = int(np.bincount(labels[:, 0].astype(int)).argmax())
    return f"{names[cls]}/{'small' if size < SMALL_MAX else 'medium' if size < MEDIUM_MAX else 'large'}"


@dataclass
class CalibrationSet:
    txt: Path
    files: list[Path] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    strata: dict = field(default_factory=dict)


def write_calibration_set(info, out_dir, count: int = 100, imgsz: int = 320, seed: int = 0,
                          split: str = "train") -> CalibrationSet:
    """Pick a stratified subset of ``split`` and write it, letterboxed at the model size, as ``dataset.txt``.

    Strata: the dominant class of an image and the size of its largest object (small / medium /
    large), plus images without objects, so calibration sees every class at every scale and some
    background. Images are written letterboxed (exactly what inference sees) as PNG; the toolkit
    reads them as RGB. Clear errors: no images, an unreadable image, a count < 1.
    """
    from ..model.labels import DatasetError, load_labels

    if count < 1:
        raise ValueError("the calibration set needs at least one image (count >= 1)")
    images = list(info.splits.get(split, []))
    if not images:
        raise DatasetError(f"the {split!r} split of {info.yaml_path} has no images to calibrate with")
    rng = np.random.default_rng(seed)
    strata: dict[str, list[Path]] = {}
    for p in images:
        strata.setdefault(stratum(load_labels(p, info.nc, info.kpt_shape), info.names), []).append(p)
    for k in strata:
        rng.shuffle(strata[k])
    # round-robin over strata: every stratum is represented before any gets a second image
    picked, picked_keys, keys = [], [], sorted(strata)
    while len(picked) < min(count, len(images)):
        for k in keys:
            if strata[k] and len(picked) < count:
                picked.append(strata[k].pop())
                picked_keys.append(k)
    out_dir = Path(out_dir)
    files = write_letterboxed(picked, out_dir / "images", imgsz)
    txt = out_dir / "dataset.txt"
    # relative to dataset.txt (the toolkit reads them so): no run-folder path, with its spaces, in the list
    atomic_write_text(txt, "".join(f"{f.relative_to(out_dir).as_posix()}\n" for f in files))
    strata_counts: dict[str, int] = {}
    for k in picked_keys:
        strata_counts[k] = strata_counts.get(k, 0) + 1
    return CalibrationSet(txt, files, picked, dict(sorted(strata_counts.items())))


def safe_stem(path) -> str:
    """A file stem the toolkit's list format can carry: it separates a line's inputs by spaces."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:60] or "image"


def read_calibration_list(txt) -> list[Path]:
    """The images of a ``dataset.txt`` (relative lines taken from its folder, as the toolkit does)."""
    p = Path(txt)
    return [(p.parent / ln.strip()) for ln in p.read_text().splitlines() if ln.strip()]


def write_letterboxed(sources, out_dir, imgsz: int) -> list[Path]:
    """Letterbox every image to ``imgsz`` and write it as PNG into ``out_dir`` (emptied first)."""
    import cv2

    from ..board.preprocess import letterbox, load_image
    from ..model.labels import DatasetError

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = []
    for i, src in enumerate(sources):
        try:
            img = load_image(src)
        except FileNotFoundError as e:
            raise DatasetError(f"image {src} is unreadable: {e}; fix or remove it") from None
        canvas, _ = letterbox(img, imgsz)
        dst = out_dir / f"{i:04d}_{safe_stem(src)}.png"
        if not cv2.imwrite(str(dst), canvas):
            raise OSError(f"could not write {dst} (disk full?)")
        files.append(dst)
    return files


def check_calibration_list(txt, imgsz: int) -> list[Path]:
    """Validate a ``dataset.txt``: not empty, every file readable, every image ``imgsz`` square."""
    import cv2

    p = Path(txt)
    if not p.is_file():
        raise FileNotFoundError(f"no calibration list at {p}: build it with write_calibration_set (05_quantize)")
    lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{p} lists no images: the toolkit would quantize without any calibration data")
    files = []
    for n, line in enumerate(lines, 1):
        if any(ch.isspace() for ch in line):
            raise ValueError(f"{p}:{n}: {line!r} contains a space; the toolkit splits a line at spaces (one input "
                             "each) and would fail with 'Unsupport file'. Rename the file (write_calibration_set does)")
        f = p.parent / line
        img = cv2.imread(str(f))
        if img is None:
            raise ValueError(f"{p}:{n}: {f} is missing or not an image")
        if img.shape[:2] != (imgsz, imgsz):
            raise ValueError(f"{p}:{n}: {f} is {img.shape[1]}x{img.shape[0]}, the model takes {imgsz}x{imgsz}; "
                             "the toolkit would stretch it. Letterbox it (write_calibration_set does).")
        files.append(f)
    return files
