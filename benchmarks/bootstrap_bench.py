"""The paired bootstrap, two ways (a benchmark: prints figures, asserts nothing).

    .venv/bin/python benchmarks/bootstrap_bench.py [--images 60] [--boxes 150] [--resamples 100]

Every resample evaluated from scratch (two COCOevals per resample: match every image, then rank) against
``metrics.bootstrap_difference`` (each image matched once per model, each resample only ranked,
``metrics.ResampledMap``), on synthetic detections shaped like the workbook's: ``--images`` validation images,
about ``--boxes`` detections each (mAP is scored at confidence 0.001, so most are low-score background). Prints
both times, the speed-up, and whether the two give the same interval.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic(images: int, boxes: int, nc: int = 5, seed: int = 0, jitter: float = 3.0):
    from helpers.model import metrics
    from helpers.board.postprocess import Detections
    from helpers.board.preprocess import Letterbox

    rng = np.random.default_rng(seed)
    ims, dets = [], []
    for _ in range(images):
        k = int(rng.integers(1, 8))
        xy = rng.uniform(0, 240, (k, 2))
        gt = np.concatenate([xy, xy + rng.uniform(8, 80, (k, 2))], 1).astype(np.float32)
        cls = rng.integers(0, nc, k)
        ims.append(metrics.EvalImage(None, None, Letterbox((320, 320), (320, 320), (320, 320), 0, 0), gt, cls))
        noise = rng.uniform(0, 280, (boxes, 2))
        b = np.concatenate([gt + rng.normal(0, jitter, gt.shape), np.concatenate([noise, noise + 30], 1)])
        s = np.concatenate([rng.uniform(0.5, 1, k), rng.uniform(0.001, 0.3, boxes)])
        c = np.concatenate([cls, rng.integers(0, nc, boxes)])
        dets.append(Detections(b.astype(np.float32), s.astype(np.float32), c, np.zeros(len(s), np.int64)))
    return metrics.EvalSet(ims, 320, nc, [str(i) for i in range(nc)]), dets


def from_scratch(es, a, b, n: int, seed: int = 0, key: str = "mAP50_95") -> dict:
    """What the bootstrap did before ResampledMap: two full COCOevals per resample."""
    from helpers.model.metrics import coco_map

    pool = np.arange(len(es))
    rng = np.random.default_rng(seed)
    d = np.array([coco_map(es, a, p)[key] - coco_map(es, b, p)[key]
                  for p in (pool[rng.integers(0, len(pool), len(pool))] for _ in range(n))])
    return {"low": round(float(np.percentile(d, 2.5)), 4), "high": round(float(np.percentile(d, 97.5)), 4)}


def main() -> None:
    from helpers.model import metrics

    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=60)
    p.add_argument("--boxes", type=int, default=150)
    p.add_argument("--resamples", type=int, default=100)
    a = p.parse_args()
    es, dets_a = synthetic(a.images, a.boxes, seed=0)
    _, dets_b = synthetic(a.images, a.boxes, seed=0, jitter=4.0)  # another "model" on the same images
    t = time.perf_counter()
    old = from_scratch(es, dets_a, dets_b, a.resamples)
    t_old = time.perf_counter() - t
    t = time.perf_counter()
    new = metrics.bootstrap_difference(es, dets_a, dets_b, n=a.resamples)
    t_new = time.perf_counter() - t
    print(f"{a.images} images, ~{a.boxes} detections each, {a.resamples} resamples")
    print(f"  every resample from scratch: {t_old:7.2f} s   interval [{old['low']:+.4f}, {old['high']:+.4f}]")
    print(f"  matched once, ranked each:   {t_new:7.2f} s   interval [{new['low']:+.4f}, {new['high']:+.4f}]")
    print(f"  speed-up {t_old / t_new:.1f}x; same interval: {(old['low'], old['high']) == (new['low'], new['high'])}")


if __name__ == "__main__":
    main()
