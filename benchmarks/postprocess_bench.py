"""Post-process cost per frame on this CPU, against peers on the same outputs (prints figures, asserts nothing).

    .venv/bin/python benchmarks/postprocess_bench.py [--frames 200] [--model-zoo path/to/yolov8.py]

Head outputs (the 9-output NPU layout) are synthesised with a realistic score distribution:
almost every cell near 0, a dozen objects per frame, each firing on a small blob of cells.
Two configurations: 640 px with 80 classes (COCO-sized) and 320 px with 5 classes (this workbook).

Compared in one run, in rounds of short blocks (each method runs 10 frames in a row, the first
one not timed, then the next method's turn), with thread counts fixed (torch: 1 thread, its
fastest setting here; numpy/OpenCV: as they come), on the same outputs:

* ``ours``: :func:`helpers.board.postprocess.postprocess` (score-sum prefilter, DFL on kept
  cells, OpenCV's batched NMS);
* ``ours, numpy NMS``: the same with the plain-numpy greedy NMS (:func:`nms_reference`), i.e. the
  post-process as it was before the batched NMS;
* ``ultralytics``: DFL + anchors in torch as ultralytics' Detect head does it, then its own
  ``non_max_suppression`` (a maintained peer, installed anyway);
* ``model zoo`` (only with ``--model-zoo``): ``post_process`` of the Rockchip model zoo's
  ``examples/yolov8/python/yolov8.py`` from your own checkout (not shipped here).

Before every timed call the outputs are read once (as a runtime that just wrote them leaves
them in the cache). Frame by frame alternation instead (every call right after another method's)
roughly doubles our time, not the others': a fixed cost of cold code and caches, ~0.15 ms here.
Each row also says whether the detections equal ours (same classes, scores within 1e-4, boxes
within 0.05 px, frame by frame).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import helpers  # noqa: E402,F401  (keeps ultralytics offline, its settings out of your home)
from helpers.board import postprocess as pp  # noqa: E402
from helpers.model.synthetic import head_outputs  # noqa: E402

CONFIGS = ((640, 80), (320, 5))
OBJECTS = 12


def ours(outs, imgsz, conf, iou):
    d = pp.postprocess(outs, (imgsz, imgsz), conf, iou)
    return d.boxes, d.scores, d.classes


def ours_numpy_nms(outs, imgsz, conf, iou):
    real = pp.batched_nms
    pp.batched_nms = lambda b, s, c, t: pp.nms_reference(pp.class_offset_boxes(b, c), s, t)
    try:
        return ours(outs, imgsz, conf, iou)
    finally:
        pp.batched_nms = real


def make_ultralytics():
    import torch
    from ultralytics.utils.nms import non_max_suppression
    from ultralytics.utils.tal import dist2bbox, make_anchors

    def run(outs, imgsz, conf, iou):
        feats = [torch.from_numpy(outs[i]) for i in (0, 3, 6)]
        cls = torch.cat([torch.from_numpy(outs[i]).flatten(2) for i in (1, 4, 7)], 2)
        anchors, strides = (t.transpose(0, 1) for t in make_anchors(feats, torch.tensor([8.0, 16.0, 32.0]), 0.5))
        box = torch.cat([f.flatten(2) for f in feats], 2)  # (1, 64, N)
        b, _, a = box.shape
        dist = (box.view(b, 4, 16, a).softmax(2) * torch.arange(16, dtype=torch.float32).view(1, 1, 16, 1)).sum(2)
        xywh = dist2bbox(dist, anchors.unsqueeze(0), xywh=True, dim=1) * strides
        det = non_max_suppression(torch.cat([xywh, cls], 1), conf, iou, max_det=300)[0].numpy()
        return det[:, :4], det[:, 4], det[:, 5].astype(np.int64)
    return run


def make_model_zoo(path: str, imgsz: int, conf: float, iou: float):
    spec = importlib.util.spec_from_file_location("model_zoo_yolov8", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["py_utils"] = sys.modules["py_utils.coco_utils"] = type(sys)("stub")  # its demo-only import
    sys.modules["py_utils.coco_utils"].COCO_test_helper = object
    spec.loader.exec_module(mod)
    mod.IMG_SIZE, mod.OBJ_THRESH, mod.NMS_THRESH = (imgsz, imgsz), conf, iou

    def run(outs, imgsz_, conf_, iou_):
        b, c, s = mod.post_process(outs)
        if b is None:
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
        return b, s, c
    return run


def same(a, b, box_tol=0.05, score_tol=1e-4) -> bool:
    """Same detections as sets: sorted by (class, score), classes equal, scores and boxes within tolerance."""
    if len(a[1]) != len(b[1]):
        return False
    oa, ob = np.lexsort((-np.asarray(a[1]), a[2])), np.lexsort((-np.asarray(b[1]), b[2]))
    return (np.array_equal(np.asarray(a[2])[oa], np.asarray(b[2])[ob])
            and np.abs(np.asarray(a[1])[oa] - np.asarray(b[1])[ob]).max(initial=0) <= score_tol
            and np.abs(np.asarray(a[0])[oa] - np.asarray(b[0])[ob]).max(initial=0) <= box_tol)


BLOCK = 10  # frames a method runs in a row before the next method's turn


def bench(imgsz: int, nc: int, frames: int, conf: float, iou: float, zoo: str | None) -> list[dict]:
    rng = np.random.default_rng(0)
    data = [head_outputs(rng, nc, imgsz, OBJECTS) for _ in range(BLOCK)]
    methods = {"ours": ours, "ours, numpy NMS": ours_numpy_nms, "ultralytics": make_ultralytics()}
    if zoo:
        methods["model zoo"] = make_model_zoo(zoo, imgsz, conf, iou)
    times = {k: [] for k in methods}
    results = {k: [fn(o, imgsz, conf, iou) for o in data] for k, fn in methods.items()}
    for _ in range(max(1, frames // BLOCK)):  # rounds of blocks: every method sees the same machine state
        for name, fn in methods.items():
            for i, outs in enumerate(data):
                for o in outs:  # as just written by the runtime: the outputs are in the cache
                    o.sum()
                t0 = time.perf_counter()
                fn(outs, imgsz, conf, iou)
                if i:  # the first frame of a block warms the method's own code and data
                    times[name].append(time.perf_counter() - t0)
    equal = {k: all(same(a, b) for a, b in zip(results["ours"], results[k])) for k in methods}
    base = np.median(times["ours"])
    return [{"config": f"{imgsz} px / {nc} classes", "method": k, "ms_median": 1000 * np.median(v),
             "ms_p95": 1000 * np.percentile(v, 95), "x_slower_than_ours": np.median(v) / base,
             "same_detections": equal[k], "detections_per_frame": float(np.mean([len(r[1]) for r in results["ours"]]))}
            for k, v in times.items()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.45)
    ap.add_argument("--model-zoo", help="path to rknn_model_zoo's examples/yolov8/python/yolov8.py (your checkout)")
    args = ap.parse_args(argv)
    import cv2
    import torch

    torch.set_num_threads(1)
    print(f"post-process per frame, {args.frames} frames, {OBJECTS} objects, conf {args.conf}, iou {args.iou} "
          f"(numpy {np.__version__}, OpenCV {cv2.__version__}, torch {torch.__version__} on 1 thread)")
    print(f"{'config':<20} {'method':<16} {'ms p50':>8} {'ms p95':>8} {'× ours':>7} {'same dets':>9} {'dets':>5}")
    for imgsz, nc in CONFIGS:
        for r in bench(imgsz, nc, args.frames, args.conf, args.iou, args.model_zoo):
            print(f"{r['config']:<20} {r['method']:<16} {r['ms_median']:>8.3f} {r['ms_p95']:>8.3f} "
                  f"{r['x_slower_than_ours']:>7.1f} {str(r['same_detections']):>9} {r['detections_per_frame']:>5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
