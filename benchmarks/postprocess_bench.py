"""Post-process cost per frame on this CPU (a benchmark: prints figures, asserts nothing).

    .venv/bin/python benchmarks/postprocess_bench.py [--frames 200]

Head outputs are synthesised with a realistic score distribution (almost every cell near 0, a
few dozen objects), for 640 px input with 80 classes (COCO-sized) and with 4 classes. The figure
includes the score-sum prefilter, DFL on the kept cells, decoding and NMS; it is reported with
and without the prefilter, with the number of cells the prefilter keeps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers.postprocess import postprocess  # noqa: E402


def synth_outputs(nc: int, imgsz: int, objects: int, rng: np.random.Generator, score_sum: bool = True):
    outs = []
    for s in (8, 16, 32):
        n = imgsz // s
        logits = rng.normal(-9.0, 1.5, (1, nc, n, n))
        for _ in range(objects // 3):  # a few objects per level, each firing on a small blob of cells
            c, y, x = rng.integers(0, nc), rng.integers(1, n - 1), rng.integers(1, n - 1)
            logits[0, c, y - 1:y + 2, x - 1:x + 2] = rng.normal(1.5, 1.0, (3, 3))
        cls = (1 / (1 + np.exp(-logits))).astype(np.float32)
        box = rng.normal(0, 2, (1, 64, n, n)).astype(np.float32)
        outs += [box, cls] + ([np.clip(cls.sum(1, keepdims=True), 0, 1)] if score_sum else [])
    return outs


def bench(nc: int, imgsz: int, frames: int, conf: float, use_score_sum: bool) -> dict:
    rng = np.random.default_rng(0)
    data = [synth_outputs(nc, imgsz, 30, rng) for _ in range(min(frames, 20))]
    postprocess(data[0], (imgsz, imgsz), conf)  # warm-up
    times, kept, dets = [], [], []
    for i in range(frames):
        outs = data[i % len(data)]
        t0 = time.perf_counter()
        det = postprocess(outs, (imgsz, imgsz), conf, 0.45, use_score_sum=use_score_sum)
        times.append(time.perf_counter() - t0)
        kept.append(det.prefiltered)
        dets.append(len(det))
    t = np.array(times) * 1000
    return {"ms_mean": t.mean(), "ms_p50": np.median(t), "ms_p95": np.percentile(t, 95),
            "cells": sum((imgsz // s) ** 2 for s in (8, 16, 32)), "kept": np.mean(kept), "dets": np.mean(dets)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--conf", type=float, default=0.25)
    args = ap.parse_args(argv)
    print(f"post-process, {args.imgsz} px input, conf {args.conf}, {args.frames} frames (numpy {np.__version__})")
    print(f"{'classes':>7} {'prefilter':>9} {'ms/frame':>9} {'p50':>7} {'p95':>7} {'cells':>6} {'kept':>7} {'dets':>5}")
    for nc in (80, 4):
        for use in (True, False):
            r = bench(nc, args.imgsz, args.frames, args.conf, use)
            print(f"{nc:>7} {'score-sum' if use else 'none':>9} {r['ms_mean']:>9.3f} {r['ms_p50']:>7.3f} "
                  f"{r['ms_p95']:>7.3f} {r['cells']:>6} {r['kept']:>7.1f} {r['dets']:>5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
