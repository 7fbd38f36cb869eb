"""Checks for any YOLO ``data.yaml`` (detection or pose): its splits, images and classes, and the dataset a run uses.

Users point the notebooks at their own ``data.yaml``; :func:`check_dataset` validates it and fails
with a message naming the file and line to fix (each label file's rows: :mod:`.labels`). Without one,
the embedded synthetic set (:mod:`helpers.model.synthetic`) is generated and checked the same way.

Imports only numpy, OpenCV and PyYAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .labels import DatasetError, check_labels, check_pose_labels, label_path_for, load_labels, pose_keys
from .synthetic import SynthConfig, generate_synthetic, yaml_text

#: image files ultralytics trains on (its IMG_FORMATS); the workbook also needs OpenCV to decode them
IMG_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".mpo", ".pfm", ".dng", ".jp2", ".heic",
                ".heif", ".avif")
#: ultralytics skips smaller images
MIN_IMAGE_SIDE = 10


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
        from ..runfolder.artifacts import atomic_write_text

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
    kpt_shape, flip_idx = pose_keys(d, yaml_path, lines)
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
    from ..runfolder.artifacts import stage_dir

    if data_yaml:
        return check_dataset(data_yaml)
    return check_dataset(generate_synthetic(stage_dir(run_dir, "01_train") / "dataset", cfg, progress=progress))


def prepare_pose_dataset(data_yaml: str | os.PathLike | None, run_dir, cfg=None, progress: bool = True) -> DatasetInfo:
    """The keypoint dataset 08 uses: the user's pose ``data_yaml`` (``kpt_shape`` required), else the stick
    figures generated into ``<run>/08_pose/dataset``; checked either way."""
    from ..runfolder.artifacts import stage_dir
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
