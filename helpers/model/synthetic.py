"""The embedded synthetic dataset: the workbook's default, generated on the spot, never downloaded.

Coloured shapes (5 classes) on textured, noisy backgrounds, with partial occlusion, some empty
images, and object sizes spread log-uniformly from ~6 % to ~90 % of the image so that all three
detection strides (8, 16, 32) get work (why so large: see ``SynthConfig.max_frac``). A seed gives
byte-identical files. Imports only numpy and OpenCV.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..runfolder.artifacts import PROJECT_ROOT, write_json
from ..board.atomic import commit

CLASSES = ("circle", "square", "triangle", "star", "cross")
#: bump when the generator's output changes, so cached datasets are regenerated
GENERATOR_VERSION = 2
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data" / "synthetic"


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


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
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
    img = background(rng, w, h)
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
    return write_dataset(root / f"shapes-{cfg.key()}", cfg, render_sample,
                         lambda lb: "{} {:.6f} {:.6f} {:.6f} {:.6f}".format(*lb),
                         yaml_text(".", "images/train", "images/val", CLASSES),
                         {"generator_version": GENERATOR_VERSION, "classes": list(CLASSES)}, "synthetic dataset",
                         progress)


def write_dataset(final: Path, cfg, render, line, yaml: str, manifest: dict, desc: str, progress: bool = True,
                  count=None) -> Path:
    """Write a generated YOLO dataset (``images/``, ``labels/``, ``manifest.json``, ``data.yaml``) as ``final``.

    ``render(cfg, split, index) -> (BGR image, labels)`` and ``line(label) -> str`` make the files of
    ``cfg.n_train`` + ``cfg.n_val`` samples; ``count(labels) -> {name: n}`` adds per-split counts to the
    manifest. Idempotent: a folder generated with the same configuration is reused. Built in a
    temporary sibling and renamed into place, so an interrupted run leaves nothing half-made. The
    data.yaml has a relative root: the folder can be moved as a whole.
    """
    final = Path(final)
    if (final / "data.yaml").is_file():
        return final / "data.yaml"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-tmp-", dir=final.parent))
    try:
        from tqdm.auto import tqdm

        jobs = [("train", i) for i in range(cfg.n_train)] + [("val", i) for i in range(cfg.n_val)]
        counts: dict = {"train": {}, "val": {}}
        for split, i in tqdm(jobs, desc=desc, disable=not progress):
            img, labels = render(cfg, split, i)
            for sub in ("images", "labels"):
                (tmp / sub / split).mkdir(parents=True, exist_ok=True)
            stem = f"{split}_{i:05d}"
            if not cv2.imwrite(str(tmp / "images" / split / f"{stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92]):
                raise OSError(f"could not write {stem}.jpg under {tmp}")
            (tmp / "labels" / split / f"{stem}.txt").write_text("".join(line(lb) + "\n" for lb in labels))
            c = counts[split]
            for k, v in {"images": 1, "objects": len(labels), "empty": int(not labels),
                         **(count(labels) if count else {})}.items():
                c[k] = c.get(k, 0) + v
        write_json(tmp / "manifest.json", {**manifest, "config": cfg.__dict__, "counts": counts})
        (tmp / "data.yaml").write_text(yaml)
        if final.exists():  # a concurrent run finished first
            shutil.rmtree(tmp)
        else:
            commit(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final / "data.yaml"


def scalar(value) -> str:
    """A YAML scalar: plain when it reads back as itself, else quoted (a JSON string is valid YAML)."""
    import yaml

    text = str(value)
    try:
        plain_ok = yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        plain_ok = False
    return text if plain_ok else json.dumps(text)


def yaml_text(path: str, train: str, val: str, names) -> str:
    """A detection data.yaml; values quoted where needed, so names with spaces, colons or '#' survive."""
    lines = [f"path: {scalar(path)}", f"train: {scalar(train)}", f"val: {scalar(val)}", f"nc: {len(names)}",
             "names:"]
    lines += [f"  {i}: {scalar(n)}" for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"


def head_outputs(rng: np.random.Generator, nc: int, imgsz: int, objects: int) -> list[np.ndarray]:
    """One frame's 9 NPU-head outputs, as a trained head gives them (for benchmarks and tests).

    Background cells score ~0; each object fires on the 3x3 cells around its centre at one stride,
    and those cells' DFL logits peak at that object's box, so NMS merges them into one detection.
    """
    outs, bins = [], np.arange(16, dtype=np.float32)
    for k, s in enumerate((8, 16, 32)):
        n = imgsz // s
        logits = rng.normal(-9.0, 1.5, (1, nc, n, n))
        box = rng.normal(0, 1, (1, 64, n, n)).astype(np.float32)
        for _ in range(objects // 3 + (k < objects % 3)):
            c, y, x = rng.integers(0, nc), rng.integers(1, n - 1), rng.integers(1, n - 1)
            half = rng.uniform(1.5, 6.0, 2) * s  # box half width/height in pixels
            cx, cy = (x + 0.5) * s, (y + 0.5) * s
            for yy in range(y - 1, y + 2):
                for xx in range(x - 1, x + 2):
                    px, py = (xx + 0.5) * s, (yy + 0.5) * s
                    ltrb = np.array([px - cx + half[0], py - cy + half[1], cx + half[0] - px, cy + half[1] - py]) / s
                    box[0, :, yy, xx] = (4.0 - 1.5 * np.abs(bins[None] - np.clip(ltrb, 0, 15)[:, None])).ravel()
            logits[0, c, y - 1:y + 2, x - 1:x + 2] = rng.normal(1.5, 1.0, (3, 3))
        cls = (1 / (1 + np.exp(-logits))).astype(np.float32)
        outs += [box, cls, np.clip(cls.sum(1, keepdims=True), 0, 1)]
    return outs
