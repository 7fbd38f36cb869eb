"""The embedded keypoint dataset: stick figures, generated on the spot like the detection shapes.

Each figure has :data:`KEYPOINTS` (head, shoulders, hands, hips, feet): left and right are the
viewer's left and right (the smaller x of a pair is "left"), so a horizontal flip with
:data:`FLIP_IDX` (swap each pair) keeps the labels true, as ultralytics' flip augmentation needs.
Keypoints hidden behind an occluding patch are labelled but not visible (visibility 1), keypoints
outside the frame are unlabelled (visibility 0, coordinates 0 0, ultralytics' convention); several
figures per image, heights spread log-uniformly over the frame so that every stride trains. One
class, ``figure``. Backgrounds are the detection set's. A seed gives byte-identical files; numpy
and OpenCV only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .synthetic import background, scalar, write_dataset

KEYPOINTS = ("head", "left_shoulder", "right_shoulder", "left_hand", "right_hand", "left_hip", "right_hip",
             "left_foot", "right_foot")
#: the index each keypoint takes after a horizontal flip (left <-> right)
FLIP_IDX = (0, 2, 1, 4, 3, 6, 5, 8, 7)
#: limbs drawn between keypoints (also the skeleton the runner draws)
SKELETON = ((0, 1), (0, 2), (1, 2), (1, 3), (2, 4), (1, 5), (2, 6), (5, 6), (5, 7), (6, 8))
CLASSES = ("figure",)
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class PoseSynthConfig:
    n_train: int = 240
    n_val: int = 60
    seed: int = 0
    sizes: tuple = ((320, 320), (384, 288), (288, 384), (416, 320))
    min_frac: float = 0.15  # figure height, as a fraction of the shorter image side
    max_frac: float = 0.95  # (large figures give strides 16 and 32 their training targets, see synthetic.py)
    max_figures: int = 4
    occlude_prob: float = 0.3  # share of figures partly behind a patch
    empty_prob: float = 0.05

    def key(self) -> str:
        blob = json.dumps({**self.__dict__, "v": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _figure(rng: np.random.Generator, cx: float, top: float, height: float) -> np.ndarray:
    """Keypoints ``(K, 2)`` of one upright figure whose head centre is near ``top`` and feet ``height`` below."""
    head_r = 0.09 * height
    shoulder_y = top + 2.2 * head_r
    half_sh = rng.uniform(0.14, 0.2) * height
    hip_y = top + rng.uniform(0.52, 0.6) * height
    half_hip = half_sh * rng.uniform(0.55, 0.8)
    arm = rng.uniform(0.3, 0.42) * height
    leg = top + height - hip_y
    tilt = rng.uniform(-0.08, 0.08) * height  # the body leans a little
    pts = np.zeros((len(KEYPOINTS), 2), np.float64)
    pts[0] = (cx + tilt * 0.5, top + head_r)
    pts[1], pts[2] = (cx - half_sh + tilt * 0.3, shoulder_y), (cx + half_sh + tilt * 0.3, shoulder_y)
    for k, side in ((3, -1), (4, 1)):  # hands: outward, from hanging down to raised
        a = math.radians(rng.uniform(-70, 80))
        sh = pts[k - 2]
        pts[k] = (sh[0] + side * arm * math.cos(a) * rng.uniform(0.4, 1.0), sh[1] - arm * math.sin(a))
    pts[5], pts[6] = (cx - half_hip, hip_y), (cx + half_hip, hip_y)
    for k, side in ((7, -1), (8, 1)):  # feet: below the hips, spread outward
        spread = rng.uniform(0.05, 0.45) * leg
        pts[k] = (pts[k - 2][0] + side * spread, hip_y + math.sqrt(max(leg ** 2 - spread ** 2, 1.0)))
    return pts


def render_sample(cfg: PoseSynthConfig, split: str, index: int) -> tuple[np.ndarray, list[tuple]]:
    """One image (BGR uint8) and its labels ``(cls, xc, yc, w, h, [(x, y, v) * K])``, normalised."""
    rng = np.random.default_rng([cfg.seed, 7, 0 if split == "train" else 1, index])
    w, h = cfg.sizes[int(rng.integers(0, len(cfg.sizes)))]
    img = background(rng, w, h)
    n = 0 if rng.random() < cfg.empty_prob else int(rng.integers(1, cfg.max_figures + 1))
    short = min(w, h)
    heights = sorted((math.exp(rng.uniform(math.log(cfg.min_frac), math.log(cfg.max_frac))) * short
                      for _ in range(n)), reverse=True)
    figures = []
    for fh in heights:  # largest first: small figures stand in front of big ones
        cx = rng.uniform(-0.1 * fh, w + 0.1 * fh)
        top = rng.uniform(-0.15 * fh, h - 0.7 * fh)  # a figure may leave the frame at any side
        pts = _figure(rng, cx, top, fh)
        thick = max(2, int(round(0.045 * fh)))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        canvas = img.copy()
        for a, b in SKELETON:
            cv2.line(canvas, tuple(int(round(v)) for v in pts[a]), tuple(int(round(v)) for v in pts[b]), colour,
                     thick, cv2.LINE_AA)
        cv2.circle(canvas, tuple(int(round(v)) for v in pts[0]), max(3, int(round(0.09 * fh))), colour, -1,
                   cv2.LINE_AA)
        for k in (3, 4, 7, 8):  # hands and feet end in a dot
            cv2.circle(canvas, tuple(int(round(v)) for v in pts[k]), thick, colour, -1, cv2.LINE_AA)
        img = canvas
        vis = np.full(len(KEYPOINTS), 2, np.int64)
        if rng.random() < cfg.occlude_prob:  # a patch of another background hides part of the figure
            ox0 = int(rng.uniform(pts[:, 0].min() - 0.2 * fh, pts[:, 0].max()))
            oy0 = int(rng.uniform(pts[:, 1].min(), pts[:, 1].max()))
            ow, oh = int(rng.uniform(0.25, 0.6) * fh), int(rng.uniform(0.2, 0.45) * fh)
            x0, y0, x1, y1 = max(ox0, 0), max(oy0, 0), min(ox0 + ow, w), min(oy0 + oh, h)
            if x1 > x0 and y1 > y0:
                img[y0:y1, x0:x1] = background(rng, x1 - x0, y1 - y0)
                inside = (pts[:, 0] >= x0) & (pts[:, 0] < x1) & (pts[:, 1] >= y0) & (pts[:, 1] < y1)
                vis[inside] = 1
        out = (pts[:, 0] < 0) | (pts[:, 0] >= w) | (pts[:, 1] < 0) | (pts[:, 1] >= h)
        vis[out] = 0
        figures.append((pts, vis, thick, fh))
    noise = rng.normal(0, rng.uniform(3, 10), img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    labels = []
    for pts, vis, thick, fh in figures:
        if (vis > 0).sum() < 3:
            continue  # hardly anything of it in the frame
        pad = max(thick, 0.09 * fh)  # the box holds the drawn figure: limbs and head, not just the points
        inb = pts[vis > 0]
        x0, y0 = max(inb[:, 0].min() - pad, 0), max(inb[:, 1].min() - pad, 0)
        x1, y1 = min(inb[:, 0].max() + pad, w), min(inb[:, 1].max() + pad, h)
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        kp = [(float(x / w), float(y / h), int(v)) if v else (0.0, 0.0, 0) for (x, y), v in zip(pts, vis)]
        labels.append((0, (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h, kp))
    return img, labels


def label_line(label: tuple) -> str:
    c, x, y, bw, bh, kp = label
    return f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f} " + " ".join(f"{kx:.6f} {ky:.6f} {v}" for kx, ky, v in kp)


def pose_yaml_text(path: str, train: str, val: str, names, kpt_shape, flip_idx) -> str:
    """A pose data.yaml: the detection keys plus ``kpt_shape`` and ``flip_idx``."""
    lines = [f"path: {scalar(path)}", f"train: {scalar(train)}", f"val: {scalar(val)}",
             f"kpt_shape: [{int(kpt_shape[0])}, {int(kpt_shape[1])}]",
             f"flip_idx: [{', '.join(str(int(i)) for i in flip_idx)}]", f"nc: {len(names)}", "names:"]
    lines += [f"  {i}: {scalar(n)}" for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"


def generate_pose_synthetic(root: str | os.PathLike, cfg: PoseSynthConfig = PoseSynthConfig(),
                            progress: bool = True) -> Path:
    """Write the stick-figure dataset under ``root/figures-<config key>/`` and return its ``data.yaml``
    (idempotent; built in a temporary sibling and renamed into place)."""
    return write_dataset(Path(root) / f"figures-{cfg.key()}", cfg, render_sample, label_line,
                         pose_yaml_text(".", "images/train", "images/val", CLASSES, (len(KEYPOINTS), 3), FLIP_IDX),
                         {"generator_version": GENERATOR_VERSION, "keypoints": list(KEYPOINTS)}, "synthetic figures",
                         progress, count=_keypoint_counts)


def _keypoint_counts(labels) -> dict:
    vis = [v for lb in labels for _, _, v in lb[5]]
    return {"hidden_keypoints": vis.count(1), "outside_keypoints": vis.count(0)}
