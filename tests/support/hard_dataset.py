"""A small dataset unlike the synthetic default, the way a new user's own data looks (made by the tests).

PNG frames of 480x360 (not square), file names with spaces, class names with spaces, images whose
label file is empty, one image with no label file at all, one label file in ultralytics' polygon
(segmentation) format, and one corrupt image file. ``names`` as a mapping, ``path`` relative.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from helpers.model import synthetic

NAMES = ["round thing", "square thing", "three corners", "star: five points", "plus sign"]
CORRUPT = "img 0003.png"      # in train
NO_LABEL = "img 0004.png"     # in train: a background image without a label file
POLYGON = "img 0005.png"      # in train: its labels written as polygons


def make_hard_dataset(root: Path, n_train: int = 24, n_val: int = 8, seed: int = 5) -> Path:
    cfg = synthetic.SynthConfig(n_train=n_train, n_val=n_val, seed=seed, sizes=((480, 360),), empty_prob=0.15)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, labels = synthetic.render_sample(cfg, split, i)
            name = f"img {i:04d}.png"
            cv2.imwrite(str(root / "images" / split / name), img)
            if split == "train" and name == NO_LABEL:
                continue
            rows = []
            for c, x, y, w, h in labels:
                if split == "train" and name == POLYGON:  # the same box as a 4-point polygon
                    pts = [x - w / 2, y - h / 2, x + w / 2, y - h / 2, x + w / 2, y + h / 2, x - w / 2, y + h / 2]
                    rows.append(f"{c} " + " ".join(f"{v:.6f}" for v in pts))
                else:
                    rows.append(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}")
            (root / "labels" / split / f"img {i:04d}.txt").write_text("".join(r + "\n" for r in rows))
    (root / "images" / "train" / CORRUPT).write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).bytes(300))
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames:\n" +
                                    "".join(f"  {i}: {json.dumps(n)}\n" for i, n in enumerate(NAMES)))
    return root / "data.yaml"
