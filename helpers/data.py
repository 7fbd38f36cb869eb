"""The embedded synthetic dataset, and checks for any YOLO ``data.yaml``.

The synthetic set is the workbook's default: coloured shapes (5 classes) on
textured, noisy backgrounds, with partial occlusion, some empty images, and
object sizes spread log-uniformly from ~6 % to ~90 % of the image so that all
three detection strides (8, 16, 32) get work (why so large: see ``SynthConfig.max_frac``). A seed gives byte-identical files.

Users point the notebooks at their own ``data.yaml`` instead; :func:`check_dataset`
validates it and fails with a message naming the file and line to fix.

Imports only numpy, OpenCV and PyYAML.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .artifacts import PROJECT_ROOT, write_json

CLASSES = ("circle", "square", "triangle", "star", "cross")
IMG_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: bump when the generator's output changes, so cached datasets are regenerated
GENERATOR_VERSION = 2
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data" / "synthetic"


class DatasetError(ValueError):
    """A dataset problem, with the file (and line) to fix in the message."""


# =========================================================================== generator
@dataclass(frozen=True)
class SynthConfig:
    n_train: int = 240
    n_val: int = 60
    seed: int = 0
    #: generated frames take one of these (width, height) sizes, so letterboxing is exercised
    sizes: tuple = ((320, 320), (384, 288), (288, 384), (416, 320), (352, 352))
    min_frac: float = 0.06  # smallest object side, as a fraction of the shorter image side
    #: largest. Stride 8's DFL reach is 15 bins x 8 px each side of a cell, i.e. boxes up to 240 px: at
    #: 320 px input an object must fill most of the frame before stride 8 cannot represent it, and
    #: only then do the stride-16/32 heads get training targets. So sizes reach ~90 % of the frame.
    max_frac: float = 0.9
    max_objects: int = 6
    empty_prob: float = 0.08  # share of images with no object at all
    min_visible: float = 0.4  # an object less visible than this (occluded) gets no label

    def key(self) -> str:
        blob = json.dumps({**self.__dict__, "v": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    kind = rng.integers(0, 4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # linear gradient between two colours
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
        img = c0 + t[..., None] * (c1 - c0)
    elif kind == 1:  # stripes / checker texture
        period = rng.uniform(6, 30)
        ang = rng.uniform(0, math.pi)
        u = xx * math.cos(ang) + yy * math.sin(ang)
        v = -xx * math.sin(ang) + yy * math.cos(ang)
        pat = (np.floor(u / period) + (np.floor(v / period) if rng.random() < 0.5 else 0)) % 2
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = c0 + pat[..., None] * (c1 - c0) * rng.uniform(0.2, 0.6)
    elif kind == 2:  # smooth blobs: upsampled noise
        small = rng.uniform(0, 255, (int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)).astype(np.float32)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # flat colour with clutter lines
        img = np.empty((h, w, 3), np.float32)
        img[:] = rng.uniform(0, 255, 3)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 6))):  # thin distractor lines (not a class)
        p1 = tuple(int(v) for v in rng.integers(0, (w, h)))
        p2 = tuple(int(v) for v in rng.integers(0, (w, h)))
        cv2.line(img, p1, p2, tuple(float(c) for c in rng.uniform(0, 255, 3)), int(rng.integers(1, 3)))
    return img


def _shape_mask(rng: np.random.Generator, cls: int, w: int, h: int, cx: float, cy: float, r: float) -> np.ndarray:
    """A filled mask for class ``cls`` centred at (cx, cy) with circumradius ~r."""
    mask = np.zeros((h, w), np.uint8)
    rot = rng.uniform(0, 2 * math.pi)

    def poly(points):
        pts = np.array(points, np.float64)
        c, s = math.cos(rot), math.sin(rot)
        rotm = np.array([[c, -s], [s, c]])
        pts = pts @ rotm.T + (cx, cy)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)

    name = CLASSES[cls]
    if name == "circle":
        cv2.circle(mask, (int(round(cx)), int(round(cy))), max(int(round(r)), 2), 1, -1)
    elif name == "square":
        a = r / math.sqrt(2)
        poly([(-a, -a), (a, -a), (a, a), (-a, a)])
    elif name == "triangle":
        poly([(r * math.cos(t), r * math.sin(t)) for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    elif name == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            t = -math.pi / 2 + k * math.pi / 5
            pts.append((rad * math.cos(t), rad * math.sin(t)))
        poly(pts)
    elif name == "cross":
        a, b = r * 0.95, r * 0.32
        poly([(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b),
              (-b, -b)])
    return mask.astype(bool)


def render_sample(cfg: SynthConfig, split: str, index: int) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """One image (BGR uint8) and its YOLO labels ``(cls, xc, yc, w, h)`` normalised."""
    rng = np.random.default_rng([cfg.seed, 0 if split == "train" else 1, index])
    w, h = cfg.sizes[int(rng.integers(0, len(cfg.sizes)))]
    img = _background(rng, w, h)
    n = 0 if rng.random() < cfg.empty_prob else int(rng.integers(1, cfg.max_objects + 1))
    owner = np.full((h, w), -1, np.int16)
    objects = []
    short = min(w, h)
    # sizes first, then draw the largest first: small shapes sit on (and partly hide) big ones
    sides = sorted((math.exp(rng.uniform(math.log(cfg.min_frac), math.log(cfg.max_frac))) * short
                    for _ in range(n)), reverse=True)
    for k, side in enumerate(sides):
        r = side / 2
        cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)  # may touch the border
        cls = int(rng.integers(0, len(CLASSES)))
        mask = _shape_mask(rng, cls, w, h, cx, cy, r)
        if mask.sum() < 12:
            continue
        colour = rng.uniform(0, 255, 3)
        fill = np.empty((int(mask.sum()), 3), np.float32)
        fill[:] = colour
        if rng.random() < 0.4:  # textured object: modulate by its own stripes
            ys, xs = np.nonzero(mask)
            fill *= (0.75 + 0.25 * np.sin((xs + ys) / rng.uniform(2, 6)))[:, None]
        img[mask] = np.clip(fill, 0, 255).astype(np.uint8)
        owner[mask] = k
        objects.append((k, cls, int(mask.sum())))
    # sensor-like noise and the odd blur
    noise = rng.normal(0, rng.uniform(3, 14), img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    labels = []
    for k, cls, area in objects:
        vis = owner == k
        if not vis.any() or vis.sum() < cfg.min_visible * area:
            continue  # mostly hidden behind later shapes: unlabeled, like a real annotator would
        ys, xs = np.nonzero(vis)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        labels.append((cls, (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h))
    return img, labels


def generate_synthetic(root: str | os.PathLike | None = None, cfg: SynthConfig = SynthConfig(),
                       progress: bool = True) -> Path:
    """Write the synthetic dataset under ``root/<config key>/`` and return its ``data.yaml``.

    Idempotent: a folder generated with the same configuration is reused. The folder is
    built in a temporary sibling and renamed into place, so an interrupted run leaves
    nothing half-made behind.
    """
    root = Path(root) if root is not None else DEFAULT_DATA_ROOT
    final = root / f"shapes-{cfg.key()}"
    if (final / "data.yaml").is_file():
        return final / "data.yaml"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".shapes-tmp-", dir=root))
    try:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            tqdm = None
        jobs = [("train", i) for i in range(cfg.n_train)] + [("val", i) for i in range(cfg.n_val)]
        it = tqdm(jobs, desc="synthetic dataset", disable=not progress) if tqdm else jobs
        counts = {"train": {"images": 0, "objects": 0, "empty": 0}, "val": {"images": 0, "objects": 0, "empty": 0}}
        for split, i in it:
            img, labels = render_sample(cfg, split, i)
            (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
            (tmp / "labels" / split).mkdir(parents=True, exist_ok=True)
            stem = f"{split}_{i:05d}"
            if not cv2.imwrite(str(tmp / "images" / split / f"{stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92]):
                raise IOError(f"could not write {stem}.jpg under {tmp}")
            (tmp / "labels" / split / f"{stem}.txt").write_text(
                "".join(f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}\n" for c, x, y, bw, bh in labels))
            counts[split]["images"] += 1
            counts[split]["objects"] += len(labels)
            counts[split]["empty"] += int(not labels)
        write_json(tmp / "manifest.json", {"generator_version": GENERATOR_VERSION, "config": cfg.__dict__,
                                           "counts": counts, "classes": list(CLASSES)})
        # data.yaml with a relative root: the folder can be moved as a whole
        (tmp / "data.yaml").write_text(_yaml_text(".", "images/train", "images/val", CLASSES))
        if final.exists():  # a concurrent run finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final / "data.yaml"


def _yaml_text(path: str, train: str, val: str, names) -> str:
    lines = [f"path: {path}", f"train: {train}", f"val: {val}", f"nc: {len(names)}", "names:"]
    lines += [f"  {i}: {n}" for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"


# =========================================================================== checks
@dataclass
class DatasetInfo:
    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, list[Path]] = field(default_factory=dict)  # split -> image files

    @property
    def nc(self) -> int:
        return len(self.names)

    def write_resolved_yaml(self, target: str | os.PathLike) -> Path:
        """A copy of data.yaml with absolute paths (what ultralytics is given), written atomically."""
        from .artifacts import atomic_write_text

        lists = {}
        for split, files in self.splits.items():
            lst = Path(target).with_name(f"{Path(target).stem}.{split}.txt")
            atomic_write_text(lst, "".join(f"{f}\n" for f in files))
            lists[split] = str(lst)
        return atomic_write_text(target, _yaml_text(str(self.root), lists["train"], lists["val"], self.names))


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


def check_labels(label_file: Path, nc: int) -> list[tuple[int, float, float, float, float]]:
    """Parse one YOLO label file; errors name the file and line."""
    out = []
    for n, line in enumerate(label_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 5:
            raise DatasetError(f"{label_file}, line {n}: expected 5 values 'class xc yc w h', got {len(parts)}: "
                               f"{line.strip()!r}. (Segmentation/pose labels are not detection labels.)")
        try:
            c = int(parts[0])
            xc, yc, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise DatasetError(f"{label_file}, line {n}: not numbers: {line.strip()!r}") from None
        if not 0 <= c < nc:
            raise DatasetError(f"{label_file}, line {n}: class id {c} is outside 0..{nc - 1} (data.yaml has {nc} "
                               f"names). Fix the label or add the class to data.yaml's names.")
        eps = 1e-3
        if not (-eps <= xc <= 1 + eps and -eps <= yc <= 1 + eps and 0 < w <= 1 + eps and 0 < h <= 1 + eps
                and xc - w / 2 >= -eps and xc + w / 2 <= 1 + eps and yc - h / 2 >= -eps and yc + h / 2 <= 1 + eps):
            raise DatasetError(f"{label_file}, line {n}: box {xc:g} {yc:g} {w:g} {h:g} is out of range: YOLO labels "
                               f"are centre x, centre y, width, height normalised to 0..1 by the image size, and the "
                               f"box must lie inside the image. Were pixel coordinates written?")
        out.append((c, xc, yc, w, h))
    return out


def check_dataset(data_yaml: str | os.PathLike, check_all_labels: bool = True) -> DatasetInfo:
    """Validate a YOLO detection ``data.yaml`` and everything it points to.

    Raises :class:`DatasetError` with the file and line to fix for: a missing file, bad
    YAML, missing keys, a path that does not exist, ``nc`` disagreeing with ``names``,
    a label with a class id or coordinates out of range, or an empty split.
    """
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
    lines = _yaml_lines(text)
    for key in ("train", "val", "names"):
        if key not in d:
            raise DatasetError(f"{yaml_path}: the key '{key}:' is missing (a detection data.yaml needs train, val "
                               f"and names).")
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
    root = Path(str(d.get("path") or ".")).expanduser()
    root = (root if root.is_absolute() else yaml_path.parent / root).resolve()
    if not root.is_dir():
        raise DatasetError(f"{yaml_path}, line {lines.get('path')}: path: {d.get('path')!r} resolves to {root}, "
                           f"which is not a folder.")
    info = DatasetInfo(yaml_path=yaml_path, root=root, names=names)
    for split in ("train", "val"):
        files = _collect_images(d[split], root, yaml_path, lines.get(split), split)
        if not files:
            raise DatasetError(f"{yaml_path}, line {lines.get(split)}: the {split} split is empty (no images under "
                               f"{d[split]!r}). Add images or fix the path.")
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DatasetError(f"{yaml_path}, line {lines.get(split)}: {len(missing)} listed {split} images do not "
                               f"exist, e.g. {missing[0]}.")
        if check_all_labels:
            for f in files:
                lp = label_path_for(f)
                if lp.is_file():
                    check_labels(lp, len(names))
        info.splits[split] = files
    return info


def load_labels(image: str | os.PathLike, nc: int | None = None) -> np.ndarray:
    """Labels of one image as an ``(n, 5)`` float array ``cls, xc, yc, w, h`` (empty if unlabeled)."""
    lp = label_path_for(Path(image))
    if not lp.is_file():
        return np.zeros((0, 5), np.float32)
    rows = check_labels(lp, nc if nc is not None else 10**9)
    return np.array(rows, np.float32).reshape(-1, 5)


def dataset_stats(info: DatasetInfo, split: str = "val") -> dict:
    """Counts and the spread of object sizes (longer box side in pixels of the source image)."""
    sizes, per_class, empty = [], np.zeros(info.nc, int), 0
    for f in info.splits[split]:
        lab = load_labels(f, info.nc)
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


def sample_images(info: DatasetInfo, split: str = "val", n: int | None = None, seed: int = 0) -> list[Path]:
    """A reproducible subset of a split's images (all of them when ``n`` is None or larger)."""
    files = list(info.splits[split])
    if n is None or n >= len(files):
        return files
    idx = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
    return [files[i] for i in sorted(idx)]
