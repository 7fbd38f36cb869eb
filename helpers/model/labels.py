"""YOLO label files: each row checked (boxes, polygons, keypoints) with the file and line to fix, and read back
as arrays (class, box; keypoints with their visibility)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

#: ultralytics' tolerances for label values (its verify_image_label): coordinates up to 1.01, down to -0.01
COORD_MAX, COORD_MIN = 1.01, -0.01


class DatasetError(ValueError):
    """A dataset problem, with the file (and line) to fix in the message."""


def label_path_for(image: Path) -> Path:
    """YOLO convention: .../images/<...>/x.jpg -> .../labels/<...>/x.txt (last 'images' component)."""
    parts = list(Path(image).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _label_rows(label_file: Path) -> list[tuple[int, list[str]]]:
    text = label_file.read_text(encoding="utf-8-sig")
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _numbers(label_file: Path, n: int, raw: list[str]) -> list[float]:
    """One label row's values as finite floats; ``nan`` and ``inf`` parse as floats and pass every range
    comparison (NaN compares false), so they are refused here, as ultralytics' loader refuses them."""
    try:
        values = [float(v) for v in raw]
    except ValueError:
        raise DatasetError(f"{label_file}, line {n}: not numbers: {' '.join(raw)!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise DatasetError(f"{label_file}, line {n}: {' '.join(raw)!r} holds nan or inf: every value of a YOLO label "
                           "is a finite number. Fix or delete the line (a broken export or a division by zero?).")
    return values


def _row_box(label_file: Path, n: int, values: list[float], polygon: bool) -> list[float]:
    """One row's ``cls xc yc w h``: a box row as it is, a polygon row as the box around its points."""
    if not polygon:
        if len(values) != 5:
            raise DatasetError(f"{label_file}, line {n}: expected 5 values 'class xc yc w h' (or a polygon 'class x1 "
                               f"y1 x2 y2 x3 y3 ...'), got {len(values)}.")
        return values
    if (len(values) - 1) % 2:
        raise DatasetError(f"{label_file}, line {n}: a polygon row is 'class x1 y1 x2 y2 ...': {len(values) - 1} "
                           "coordinates is not a whole number of points (pose labels need kpt_shape in data.yaml).")
    xs, ys = values[1::2], values[2::2]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return [values[0], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]


def check_labels(label_file: Path, nc: int) -> list[tuple[int, float, float, float, float]]:
    """Parse one YOLO label file as ultralytics' loader does; errors name the file and line.

    Accepted, as ultralytics accepts them: box rows ``class xc yc w h``; polygon rows ``class x1 y1
    x2 y2 ...`` (segmentation labels, turned into the box around the points); coordinates within
    [-0.01, 1.01]; duplicate rows (dropped); an empty file (a background image). Refused, as
    ultralytics refuses the image: box and polygon rows mixed in one file, a class id that is not a
    whole number or not below ``nc``, values outside that range (pixel coordinates, most likely).
    """
    rows = _label_rows(label_file)
    polygon = any(len(r) > 6 for _, r in rows)
    if polygon and any(len(r) == 5 for _, r in rows):
        raise DatasetError(f"{label_file}: mixes box rows (5 values) and polygon rows; ultralytics skips such an "
                           "image. Use one kind per file.")
    out, seen = [], set()
    for n, raw in rows:
        values = _numbers(label_file, n, raw)
        c, xc, yc, w, h = _row_box(label_file, n, values, polygon)
        if c % 1 or not 0 <= c < nc:
            raise DatasetError(f"{label_file}, line {n}: class id {raw[0]} is outside 0..{nc - 1} (data.yaml has "
                               f"{nc} names). Fix the label or add the class to data.yaml's names.")
        coords = values[1:]
        if max(coords) > COORD_MAX or min(coords) < COORD_MIN or w < 0 or h < 0:
            raise DatasetError(f"{label_file}, line {n}: box coordinates {' '.join(raw[1:])} are out of range: YOLO labels "
                               "are normalised to 0..1 by the image size. Were pixel coordinates written?")
        box = (int(c), xc, yc, w, h)
        if box not in seen:  # ultralytics drops duplicate rows
            seen.add(box)
            out.append(box)
    return out


def check_pose_labels(label_file: Path, nc: int, kpt_shape) -> tuple[list, np.ndarray]:
    """Parse one pose label file as ultralytics' loader does: ``class xc yc w h`` then ``K`` keypoints of
    ``x y`` (or ``x y v``), all normalised. Returns the boxes and the keypoints ``(n, K, ndim)``."""
    k, ndim = kpt_shape
    want = 5 + k * ndim
    boxes, kpts, seen = [], [], set()
    for n, raw in _label_rows(label_file):
        if len(raw) != want:
            raise DatasetError(f"{label_file}, line {n}: {len(raw)} values, but kpt_shape [{k}, {ndim}] needs "
                               f"{want}: 'class xc yc w h' then {k} keypoints of {'x y v' if ndim == 3 else 'x y'}. "
                               "Fix the line, or kpt_shape in data.yaml.")
        values = _numbers(label_file, n, raw)
        c, xc, yc, w, h = values[:5]
        pts = np.array(values[5:], np.float32).reshape(k, ndim)
        if c % 1 or not 0 <= c < nc:
            raise DatasetError(f"{label_file}, line {n}: class id {raw[0]} is outside 0..{nc - 1} (data.yaml has "
                               f"{nc} names).")
        coords = values[1:5] + pts[:, :2].ravel().tolist()
        if max(coords) > COORD_MAX or min(coords) < COORD_MIN or w < 0 or h < 0:
            raise DatasetError(f"{label_file}, line {n}: coordinates out of range: YOLO pose labels are normalised "
                               "to 0..1 by the image size (a keypoint outside the image is written '0 0 0'). Were "
                               "pixel coordinates written?")
        if ndim == 3 and not np.isin(pts[:, 2], (0, 1, 2)).all():
            raise DatasetError(f"{label_file}, line {n}: keypoint visibility must be 0 (not labelled), 1 (hidden) or "
                               f"2 (visible), got {sorted(set(pts[:, 2].tolist()))}.")
        key = tuple(values)
        if key not in seen:  # ultralytics drops duplicate rows
            seen.add(key)
            boxes.append((int(c), xc, yc, w, h))
            kpts.append(pts)
    return boxes, np.array(kpts, np.float32).reshape(-1, k, ndim)


def pose_keys(d: dict, yaml_path: Path, lines: dict) -> tuple[tuple | None, list | None]:
    """``kpt_shape`` and ``flip_idx`` of a pose data.yaml, checked; (None, None) for a detection one."""
    if "kpt_shape" not in d:
        if "flip_idx" in d:
            raise DatasetError(f"{yaml_path}, line {lines.get('flip_idx')}: flip_idx without kpt_shape: a pose "
                               "data.yaml needs 'kpt_shape: [keypoints, 2 or 3]'.")
        return None, None
    ks = d["kpt_shape"]
    if not (isinstance(ks, list) and len(ks) == 2 and all(isinstance(v, int) for v in ks) and ks[0] >= 1
            and ks[1] in (2, 3)):
        raise DatasetError(f"{yaml_path}, line {lines.get('kpt_shape')}: kpt_shape must be [number of keypoints, 2 or "
                           f"3] (3 when labels carry a visibility per keypoint), got {ks!r}.")
    k = ks[0]
    flip = d.get("flip_idx")
    if flip is not None:
        if not (isinstance(flip, list) and sorted(flip) == list(range(k))):
            raise DatasetError(f"{yaml_path}, line {lines.get('flip_idx')}: flip_idx must list each keypoint's index "
                               f"after a horizontal flip: a permutation of 0..{k - 1} ({k} values), got {flip!r}.")
        bad = [i for i in range(k) if flip[flip[i]] != i]
        if bad:
            raise DatasetError(f"{yaml_path}, line {lines.get('flip_idx')}: flip_idx must swap pairs (flipping twice "
                               f"gives the original), but keypoint {bad[0]} goes to {flip[bad[0]]}, which goes to "
                               f"{flip[flip[bad[0]]]}.")
    return (k, ks[1]), (list(flip) if flip is not None else None)


def load_labels(image: str | os.PathLike, nc: int | None = None, kpt_shape=None) -> np.ndarray:
    """Labels of one image as an ``(n, 5)`` float array ``cls, xc, yc, w, h`` (empty if unlabeled).
    With ``kpt_shape`` (a pose dataset: ``info.kpt_shape``) the rows' keypoints are read past."""
    lp = label_path_for(Path(image))
    if not lp.is_file():
        return np.zeros((0, 5), np.float32)
    if kpt_shape:
        return load_keypoints(image, nc if nc is not None else 10**9, kpt_shape)[0]
    rows = check_labels(lp, nc if nc is not None else 10**9)
    return np.array(rows, np.float32).reshape(-1, 5)


def load_keypoints(image: str | os.PathLike, nc: int, kpt_shape) -> tuple[np.ndarray, np.ndarray]:
    """Pose labels of one image: ``(n, 5)`` boxes ``cls, xc, yc, w, h`` and ``(n, K, ndim)`` keypoints, normalised."""
    lp = label_path_for(Path(image))
    if not lp.is_file():
        return np.zeros((0, 5), np.float32), np.zeros((0, *kpt_shape), np.float32)
    boxes, kpts = check_pose_labels(lp, nc, kpt_shape)
    return np.array(boxes, np.float32).reshape(-1, 5), kpts


def labels_to_xyxy(labels: np.ndarray, width: float, height: float) -> np.ndarray:
    """YOLO rows ``cls, xc, yc, w, h`` (normalised) -> ``(n, 4)`` float32 xyxy boxes in pixels of a ``width x height`` image."""
    lab = np.asarray(labels, np.float32).reshape(-1, 5)
    cx, cy, bw, bh = lab[:, 1] * width, lab[:, 2] * height, lab[:, 3] * width, lab[:, 4] * height
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32).reshape(-1, 4)
