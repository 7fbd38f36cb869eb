"""Checks for any YOLO detection ``data.yaml``, labels, and the dataset a run uses.

Users point the notebooks at their own ``data.yaml``; :func:`check_dataset` validates it and fails
with a message naming the file and line to fix. Without one, the embedded synthetic set
(:mod:`helpers.synthetic`) is generated and checked the same way.

Imports only numpy, OpenCV and PyYAML.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .synthetic import SynthConfig, generate_synthetic, yaml_text

#: image files ultralytics trains on (its IMG_FORMATS); the workbook also needs OpenCV to decode them
IMG_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".mpo", ".pfm", ".dng", ".jp2", ".heic",
                ".heif", ".avif")
#: ultralytics skips smaller images
MIN_IMAGE_SIDE = 10


class DatasetError(ValueError):
    """A dataset problem, with the file (and line) to fix in the message."""


@dataclass
class DatasetInfo:
    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, list[Path]] = field(default_factory=dict)  # split -> usable image files
    skipped: list[dict] = field(default_factory=list)  # {"split", "image", "reason"}: not usable, left out everywhere
    kpt_shape: tuple | None = None  # pose datasets: (keypoints, 2 or 3)
    flip_idx: list | None = None  # pose datasets: each keypoint's index after a horizontal flip

    @property
    def task(self) -> str:
        return "pose" if self.kpt_shape else "detect"

    @property
    def nc(self) -> int:
        return len(self.names)

    def write_resolved_yaml(self, dest: str | os.PathLike) -> Path:
        """A copy of data.yaml with absolute paths (what ultralytics is given), written atomically."""
        from .artifacts import atomic_write_text

        lists = {}
        for split, files in self.splits.items():
            lst = Path(dest).with_name(f"{Path(dest).stem}.{split}.txt")
            atomic_write_text(lst, "".join(f"{f}\n" for f in files))
            lists[split] = str(lst)
        if self.kpt_shape:
            from .synthetic_pose import pose_yaml_text

            text = pose_yaml_text(str(self.root), lists["train"], lists["val"], self.names, self.kpt_shape,
                                  self.flip_idx or list(range(self.kpt_shape[0])))
        else:
            text = yaml_text(str(self.root), lists["train"], lists["val"], self.names)
        return atomic_write_text(dest, text)


def label_path_for(image: Path) -> Path:
    """YOLO convention: .../images/<...>/x.jpg -> .../labels/<...>/x.txt (last 'images' component)."""
    parts = list(Path(image).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _yaml_lines(text: str) -> dict[str, int]:
    """1-based line of each top-level key of a YAML mapping."""
    import yaml

    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value}


def _collect_images(spec, root: Path, yaml_path: Path, line: int, split: str) -> list[Path]:
    specs = spec if isinstance(spec, list) else [spec]
    files: list[Path] = []
    for s in specs:
        p = Path(str(s)).expanduser()
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMG_SUFFIXES)
        elif p.is_file() and p.suffix == ".txt":
            for ln in p.read_text().splitlines():
                if ln.strip():
                    q = Path(ln.strip())
                    files.append(q if q.is_absolute() else p.parent / q)
        else:
            raise DatasetError(f"{yaml_path}, line {line}: {split}: {s!r} resolves to {p}, which does not exist. "
                               f"Fix the path (relative paths are taken from 'path:', here {root}).")
    return files


#: ultralytics' tolerances for label values (its verify_image_label): coordinates up to 1.01, down to -0.01
COORD_MAX, COORD_MIN = 1.01, -0.01


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


def unusable_image(path: Path) -> str | None:
    """Why an image cannot be used (OpenCV cannot decode it, or ultralytics would skip it), or None."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return "corrupt, or a format OpenCV cannot decode (convert it to PNG or JPEG)"
    h, w = img.shape[:2]
    if min(w, h) < MIN_IMAGE_SIDE:
        return f"{w}x{h} pixels: smaller than {MIN_IMAGE_SIDE} (ultralytics skips it)"
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()  # what ultralytics checks before training
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds on a broken file
        return f"ultralytics' check (PIL verify) rejects it: {type(e).__name__}: {e}"
    return None


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


def _pose_keys(d: dict, yaml_path: Path, lines: dict) -> tuple[tuple | None, list | None]:
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


def _read_yaml(data_yaml) -> tuple[Path, dict, dict[str, int]]:
    """The data.yaml's path, its mapping, and the line of each top-level key (for error messages)."""
    import yaml

    yaml_path = Path(data_yaml).expanduser()
    if not yaml_path.is_absolute():
        yaml_path = Path.cwd() / yaml_path  # a user-typed path: relative to where they are
    if not yaml_path.is_file():
        raise DatasetError(f"data.yaml not found: {yaml_path}. Set DATA_YAML to your dataset's data.yaml, or leave "
                           f"it empty to use the embedded synthetic dataset.")
    text = yaml_path.read_text()
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise DatasetError(f"{yaml_path}{where}: not valid YAML ({getattr(e, 'problem', e)}).") from None
    if not isinstance(d, dict):
        raise DatasetError(f"{yaml_path}: expected a mapping with keys path/train/val/names.")
    for key in ("train", "val", "names"):
        if key not in d:
            raise DatasetError(f"{yaml_path}: the key '{key}:' is missing (a detection data.yaml needs train, val "
                               f"and names).")
    return yaml_path, d, _yaml_lines(text)


def _class_names(d: dict, yaml_path: Path, lines: dict) -> list[str]:
    names = d["names"]
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise DatasetError(f"{yaml_path}, line {lines.get('names')}: names must be numbered 0..{len(keys) - 1} "
                               f"without gaps, got {keys}.")
        names = [str(names[k]) for k in keys]
    elif isinstance(names, list):
        names = [str(n) for n in names]
    else:
        raise DatasetError(f"{yaml_path}, line {lines.get('names')}: names must be a list or a 0..n-1 mapping.")
    if not names:
        raise DatasetError(f"{yaml_path}, line {lines.get('names')}: names is empty.")
    if "nc" in d and int(d["nc"]) != len(names):
        raise DatasetError(f"{yaml_path}, line {lines.get('nc')}: nc: {d['nc']} but names lists {len(names)} "
                           f"classes. Make them agree (or delete nc).")
    return names


def _usable(files: list[Path], split: str, skipped: list) -> list[Path]:
    """The images of a split that can be used; the others are reported (by name, with the reason) in ``skipped``."""
    usable = []
    for f in files:
        why = unusable_image(f)
        if why:
            skipped.append({"split": split, "image": str(f), "reason": why})
        else:
            usable.append(f)
    return usable


def check_dataset(data_yaml: str | os.PathLike, check_all_labels: bool = True) -> DatasetInfo:
    """Validate a YOLO detection ``data.yaml`` and everything it points to.

    Raises :class:`DatasetError` with the file and line to fix for: a missing file, bad
    YAML, missing keys, a path that does not exist, ``nc`` disagreeing with ``names``,
    a label with a class id or coordinates out of range, or an empty split. An image that
    cannot be used (corrupt, too small, a format OpenCV cannot decode) is not an error: it is
    listed in ``info.skipped`` with the reason and left out of every split, so training, the
    calibration set, evaluation and samples never see it.
    """
    yaml_path, d, lines = _read_yaml(data_yaml)
    names = _class_names(d, yaml_path, lines)
    root = Path(str(d.get("path") or ".")).expanduser()
    root = (root if root.is_absolute() else yaml_path.parent / root).resolve()
    if not root.is_dir():
        raise DatasetError(f"{yaml_path}, line {lines.get('path')}: path: {d.get('path')!r} resolves to {root}, "
                           f"which is not a folder.")
    kpt_shape, flip_idx = _pose_keys(d, yaml_path, lines)
    info = DatasetInfo(yaml_path=yaml_path, root=root, names=names, kpt_shape=kpt_shape, flip_idx=flip_idx)
    for split in ("train", "val"):
        files = _collect_images(d[split], root, yaml_path, lines.get(split), split)
        if not files:
            raise DatasetError(f"{yaml_path}, line {lines.get(split)}: the {split} split is empty (no images under "
                               f"{d[split]!r}). Add images or fix the path.")
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DatasetError(f"{yaml_path}, line {lines.get(split)}: {len(missing)} listed {split} images do not "
                               f"exist, e.g. {missing[0]}.")
        files = _usable(files, split, info.skipped)
        if not files:
            raise DatasetError(f"{yaml_path}, line {lines.get(split)}: no usable image in the {split} split: "
                               f"{info.skipped[-1]['image']}: {info.skipped[-1]['reason']}")
        if check_all_labels:
            for f in files:
                lp = label_path_for(f)
                if lp.is_file():
                    if kpt_shape:
                        check_pose_labels(lp, len(names), kpt_shape)
                    else:
                        check_labels(lp, len(names))
        info.splits[split] = files
    return info


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


def dataset_stats(info: DatasetInfo, split: str = "val") -> dict:
    """Counts and the spread of object sizes (longer box side in pixels of the source image)."""
    sizes, per_class, empty = [], np.zeros(info.nc, int), 0
    for f in info.splits[split]:
        lab = load_labels(f, info.nc, info.kpt_shape)
        if len(lab) == 0:
            empty += 1
            continue
        img = cv2.imread(str(f))
        h, w = img.shape[:2]
        sizes += list(np.maximum(lab[:, 3] * w, lab[:, 4] * h) / max(w, h))
        np.add.at(per_class, lab[:, 0].astype(int), 1)
    sizes = np.array(sizes)
    return {"images": len(info.splits[split]), "objects": int(len(sizes)), "empty_images": empty,
            "per_class": dict(zip(info.names, per_class.tolist())),
            "size_frac_percentiles": {p: float(np.percentile(sizes, p)) if len(sizes) else None
                                      for p in (5, 25, 50, 75, 95)}}


def prepare_dataset(data_yaml: str | os.PathLike | None, run_dir, cfg: SynthConfig = SynthConfig(),
                    progress: bool = True) -> DatasetInfo:
    """The dataset a run uses: the user's ``data_yaml`` if given, else the synthetic set generated
    into ``<run>/01_train/dataset``. Either way it is checked (:func:`check_dataset`)."""
    from .artifacts import stage_dir

    if data_yaml:
        return check_dataset(data_yaml)
    return check_dataset(generate_synthetic(stage_dir(run_dir, "01_train") / "dataset", cfg, progress=progress))


def prepare_pose_dataset(data_yaml: str | os.PathLike | None, run_dir, cfg=None, progress: bool = True) -> DatasetInfo:
    """The keypoint dataset 08 uses: the user's pose ``data_yaml`` (``kpt_shape`` required), else the stick
    figures generated into ``<run>/08_pose/dataset``; checked either way."""
    from .artifacts import stage_dir
    from .synthetic_pose import PoseSynthConfig, generate_pose_synthetic

    if data_yaml:
        info = check_dataset(data_yaml)
        if info.task != "pose":
            raise DatasetError(f"{info.yaml_path} has no kpt_shape: it is a detection dataset. 08 trains a keypoint "
                               "model: give it a pose data.yaml (kpt_shape, flip_idx, labels with keypoints).")
        return info
    return check_dataset(generate_pose_synthetic(stage_dir(run_dir, "08_pose") / "dataset", cfg or PoseSynthConfig(),
                                                 progress=progress))


def sample_images(info: DatasetInfo, split: str = "val", n: int | None = None, seed: int = 0) -> list[Path]:
    """A reproducible subset of a split's images (all of them when ``n`` is None or larger)."""
    files = list(info.splits[split])
    if n is None or n >= len(files):
        return files
    idx = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
    return [files[i] for i in sorted(idx)]
