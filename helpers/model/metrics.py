"""Evaluation on the val set: one fixed set of letterboxed images, their outputs, detections and mAP.

mAP comes from pycocotools' COCOeval (the maintained reference implementation), fed in memory.
The same letterbox and the same numpy post-processing serve every runtime (onnxruntime, the
RKNN simulator, a board), so differences in the tables come from the model, not the pipeline.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..board.postprocess import Detections, postprocess
from ..board.preprocess import Letterbox, letterbox, load_image, to_nchw_float, to_nhwc_uint8
from .parity import cosine

#: ultralytics' validation settings: keep (almost) everything, let the AP integral rank it
MAP_CONF = 0.001
MAP_IOU = 0.7


@dataclass
class EvalImage:
    path: Path
    canvas: np.ndarray          # letterboxed BGR uint8 (imgsz, imgsz, 3)
    letterbox: Letterbox
    gt_boxes: np.ndarray        # (n, 4) xyxy in original pixels
    gt_classes: np.ndarray      # (n,)
    gt_keypoints: np.ndarray | None = None  # pose: (n, K, 3) x, y in original pixels, visibility 0/1/2


@dataclass
class EvalSet:
    images: list[EvalImage]
    imgsz: int
    nc: int
    names: list
    kpt_shape: tuple | None = None

    def __len__(self) -> int:
        return len(self.images)

    def nhwc(self) -> np.ndarray:
        """All canvases as NHWC uint8 RGB: the RKNN input."""
        return np.concatenate([to_nhwc_uint8(im.canvas) for im in self.images])

    def nchw(self, i: int) -> np.ndarray:
        return to_nchw_float(self.images[i].canvas)


def make_eval_set(info, imgsz: int, n: int | None = None, split: str = "val") -> EvalSet:
    """The first ``n`` images of ``split`` (all when ``n`` is falsy), letterboxed, with their labels."""
    from .labels import labels_to_xyxy, load_keypoints, load_labels

    paths = list(info.splits[split])[: (n or None)]
    if not paths:
        raise ValueError(f"the {split!r} split of {info.yaml_path} has no images")
    out = []
    for p in paths:
        img = load_image(p)
        canvas, lb = letterbox(img, imgsz)
        h, w = img.shape[:2]
        kpts = None
        if info.kpt_shape:
            lab, kp = load_keypoints(p, info.nc, info.kpt_shape)
            kpts = np.zeros((len(kp), info.kpt_shape[0], 3), np.float32)
            kpts[..., 0], kpts[..., 1] = kp[..., 0] * w, kp[..., 1] * h
            kpts[..., 2] = kp[..., 2] if info.kpt_shape[1] == 3 else 2.0
        else:
            lab = load_labels(p, info.nc)
        out.append(EvalImage(Path(p), canvas, lb, labels_to_xyxy(lab, w, h), lab[:, 0].astype(np.int64), kpts))
    return EvalSet(out, imgsz, info.nc, list(info.names), info.kpt_shape)


def onnx_outputs(onnx_path: str | os.PathLike, es: EvalSet) -> list[list[np.ndarray]]:
    from ..board.runtimes.onnx import OnnxRuntime

    with OnnxRuntime(onnx_path) as m:
        return [m.run([es.nchw(i)]) for i in range(len(es))]


def detections(outputs: list, es: EvalSet, conf: float = MAP_CONF, iou: float = MAP_IOU, max_det: int = 300,
               use_score_sum: bool = True) -> list[Detections]:
    """Post-process every image's outputs; boxes mapped back to original pixels."""
    return [postprocess(o, (es.imgsz, es.imgsz), conf, iou, max_det, letterbox=im.letterbox,
                        use_score_sum=use_score_sum) for o, im in zip(outputs, es.images)]


#: COCO's object-size ranges (box area in original pixels): small < 32², medium < 96² <= large
AREA_RANGES = ("small", "medium", "large")


def _coco_evaluated(es: EvalSet, dets: list[Detections], idx, by_size: bool):
    """COCOeval over images ``idx`` (image ``i`` of the evaluation is ``es.images[idx[i]]``), evaluated per image
    but not yet accumulated; None when there is no detection or no ground truth. Also returns the detection count."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(dets) != len(es):
        raise ValueError(f"{len(dets)} detection lists for {len(es)} images")
    images, anns, results = [], [], []
    for i, k in enumerate(idx):
        im, d = es.images[k], dets[k]
        h, w = im.letterbox.orig_hw
        images.append({"id": i, "width": w, "height": h})
        for b, c in zip(im.gt_boxes, im.gt_classes):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [float(b[0]), float(b[1]), bw, bh], "area": bw * bh})
        for b, s, c in zip(d.boxes, d.scores, d.classes):
            results.append({"image_id": i, "category_id": int(c) + 1, "score": float(s),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    if not results or not anns:
        return None, len(results)
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": k + 1, "name": str(n)} for k, n in enumerate(es.names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = [1, 10, 300]
        if not by_size:
            ev.params.areaRng, ev.params.areaRngLbl = ev.params.areaRng[:1], ev.params.areaRngLbl[:1]
        ev.evaluate()
    return ev, len(results)


def _accumulated_map(ev, detections: int, by_size: bool) -> dict:
    """The figures :func:`coco_map` returns, from an evaluated COCOeval (None: nothing to match, all zero)."""
    if ev is None:
        return {"mAP50": 0.0, "mAP50_95": 0.0, "detections": detections,
                **({f"AP_{a}": None for a in AREA_RANGES} if by_size else {})}
    with contextlib.redirect_stdout(io.StringIO()):
        ev.accumulate()
    prec = ev.eval["precision"][..., -1]  # [IoU thresholds, recall, class, area], 300 dets

    def mean_ap(p):
        p = p[p > -1]
        return round(float(p.mean()), 4) if p.size else None
    out = {"mAP50": mean_ap(prec[0, :, :, 0]) or 0.0, "mAP50_95": mean_ap(prec[..., 0]) or 0.0,
           "detections": detections}
    if by_size:
        out.update({f"AP_{a}": mean_ap(prec[..., k + 1]) for k, a in enumerate(AREA_RANGES)})
    return out


def coco_map(es: EvalSet, dets: list[Detections], idx=None, by_size: bool = False) -> dict:
    """mAP50 and mAP50-95 with pycocotools' COCOeval (all classes).

    ``idx`` evaluates those images only, in that order, repeats allowed (each occurrence counts as an
    image of its own: what a bootstrap resample needs). ``by_size`` adds COCO's mAP50-95 by object
    area (``AP_small``, ``AP_medium``, ``AP_large``; None where no ground truth falls in the range).
    """
    ev, n = _coco_evaluated(es, dets, range(len(es)) if idx is None else idx, by_size)
    return _accumulated_map(ev, n, by_size)


class ResampledMap:
    """One model's mAP on any multiset of the images ``pool``, each image matched once.

    COCOeval matches detections to ground truth image by image (``evaluate``) and only then ranks
    every image's matches together (``accumulate``); an image's matches do not depend on the others.
    So a bootstrap resample (images drawn with replacement) needs no new matching: the per-image
    results of one ``evaluate`` over the pool, laid out in the resample's order, accumulated. The
    figures are exactly :func:`coco_map` ``(es, dets, pick)``'s (a unit test compares them).
    """

    def __init__(self, es: EvalSet, dets: list[Detections], pool, by_size: bool = False):
        self.pool, self.by_size = sorted(set(int(k) for k in pool)), by_size
        self.row = {k: j for j, k in enumerate(self.pool)}
        self.ev, _ = _coco_evaluated(es, dets, self.pool, by_size)
        self.n_det = {k: len(dets[k].scores) for k in self.pool}
        self.n_gt = {k: len(es.images[k].gt_classes) for k in self.pool}
        if self.ev is not None:
            self.per_image = self.ev.evalImgs  # [category][area][image] flattened, as COCOeval lays it out
            self.blocks = len(self.ev.params.catIds) * len(self.ev.params.areaRng)

    def __call__(self, pick) -> dict:
        pick = [int(k) for k in pick]
        detections = sum(self.n_det[k] for k in pick)
        if self.ev is None or not detections or not sum(self.n_gt[k] for k in pick):
            return _accumulated_map(None, detections, self.by_size)
        rows, n0, ev = [self.row[k] for k in pick], len(self.pool), self.ev
        ev.evalImgs = [self.per_image[b * n0 + r] for b in range(self.blocks) for r in rows]
        ev.params.imgIds = ev._paramsEval.imgIds = list(range(len(rows)))
        return _accumulated_map(ev, detections, self.by_size)


def bootstrap_difference(es: EvalSet, dets_a: list, dets_b: list, n: int = 100, seed: int = 0,
                         key: str = "mAP50_95", idx=None) -> dict:
    """How far apart two models' mAP on these images really are: a paired bootstrap over the images.

    Both are evaluated on the same ``n`` resamples (images drawn with replacement from ``idx``, by
    default every image); returns the observed difference a − b, the 2.5/97.5 percentiles of the
    resampled differences and their standard deviation (the smallest difference this evaluation can
    resolve is about twice that). Each image is matched once per model (:class:`ResampledMap`). ``key`` may be
    ``AP_small``/``AP_medium``/``AP_large``: resamples without an object of that size are left out (``resamples``
    counts those kept); with none of that size the difference is None.
    """
    return bootstrap_differences(es, dets_a, dets_b, (key,), n, seed, idx)[key]


def bootstrap_differences(es: EvalSet, dets_a: list, dets_b: list, keys=("mAP50_95",), n: int = 100, seed: int = 0,
                          idx=None) -> dict:
    """:func:`bootstrap_difference` for several ``keys`` on the same resamples, each ranked once: ``{key: record}``
    (the three object sizes cost one resampling, not three)."""
    pool = np.arange(len(es)) if idx is None else np.asarray(list(idx))
    by_size = any(k.startswith("AP_") for k in keys)
    map_a, map_b = ResampledMap(es, dets_a, pool, by_size), ResampledMap(es, dets_b, pool, by_size)
    rng = np.random.default_rng(seed)
    diffs: dict = {k: [] for k in keys}
    for _ in range(n):
        pick = pool[rng.integers(0, len(pool), len(pool))]
        ma, mb = map_a(pick), map_b(pick)
        for k in keys:
            if ma[k] is not None and mb[k] is not None:  # by size: a resample without an object of that size has no AP
                diffs[k].append(ma[k] - mb[k])
    ma, mb = map_a(pool), map_b(pool)
    out = {}
    for k in keys:
        a, b = ma[k], mb[k]
        if a is None or b is None or len(diffs[k]) < 2:
            out[k] = {"metric": k, "difference": None, "low": None, "high": None, "sd": None,
                      "resamples": len(diffs[k]), "images": len(pool)}
            continue
        d = np.array(diffs[k])
        out[k] = {"metric": k, "difference": round(float(a - b), 4), "low": round(float(np.percentile(d, 2.5)), 4),
                  "high": round(float(np.percentile(d, 97.5)), 4), "sd": round(float(d.std(ddof=1)), 4),
                  "resamples": len(diffs[k]), "images": len(pool)}
    return out


#: COCO's per-keypoint OKS sigmas (17 person keypoints); any other keypoint set gets 1/K each, as ultralytics' pose
#: validation does, so the pose mAP here and ultralytics' own are computed the same way
COCO_KPT_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
                   0.087, 0.089, 0.089)
#: OKS scale: ultralytics takes the object area as 0.53 x its box area (a person fills about half its box)
OKS_AREA_FACTOR = 0.53


def kpt_sigmas(k: int) -> np.ndarray:
    return np.array(COCO_KPT_SIGMAS if k == 17 else [1.0 / k] * k, np.float64)


def coco_pose_map(es: EvalSet, dets: list) -> dict:
    """Pose mAP50 and mAP50-95 by OKS (pycocotools' keypoint COCOeval, sigmas :func:`kpt_sigmas`), and box mAP.

    ``dets``: per image :class:`helpers.board.decode.pose.PoseDetections` with keypoints in original pixels.
    Objects without a labelled keypoint are ignored by OKS (COCO's rule), as in ultralytics.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(dets) != len(es) or es.kpt_shape is None:
        raise ValueError("coco_pose_map needs a pose EvalSet and one detection list per image")
    k = es.kpt_shape[0]
    images, anns, results = [], [], []
    for i, (im, d) in enumerate(zip(es.images, dets)):
        h, w = im.letterbox.orig_hw
        images.append({"id": i, "width": w, "height": h})
        for b, c, kp in zip(im.gt_boxes, im.gt_classes, im.gt_keypoints):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [float(b[0]), float(b[1]), bw, bh], "area": OKS_AREA_FACTOR * bw * bh,
                         "keypoints": kp.reshape(-1).tolist(), "num_keypoints": int((kp[:, 2] > 0).sum())})
        for b, s, c, kp in zip(d.boxes, d.scores, d.classes, d.keypoints):
            results.append({"image_id": i, "category_id": int(c) + 1, "score": float(s),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                            "keypoints": np.concatenate([kp[:, :2], np.ones((k, 1))], 1).reshape(-1).tolist()})
    out = {"detections": len(results)}
    if not results or not anns:
        return {**out, "box_mAP50": 0.0, "box_mAP50_95": 0.0, "pose_mAP50": 0.0, "pose_mAP50_95": 0.0}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": j + 1, "name": str(n), "keypoints": [str(x) for x in range(k)],
                                  "skeleton": []} for j, n in enumerate(es.names)]}
    for kind in ("bbox", "keypoints"):
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
            ev = COCOeval(gt, gt.loadRes(results), kind)
            ev.params.maxDets = [1, 10, 300] if kind == "bbox" else [300]
            if kind == "keypoints":
                ev.params.kpt_oks_sigmas = kpt_sigmas(k)
            ev.evaluate()
            ev.accumulate()
        prec = ev.eval["precision"][:, :, :, 0, -1]
        valid = [p[p > -1] for p in (prec[0], prec)]
        pre = "box" if kind == "bbox" else "pose"
        out[f"{pre}_mAP50"] = round(float(valid[0].mean()), 4) if valid[0].size else 0.0
        out[f"{pre}_mAP50_95"] = round(float(valid[1].mean()), 4) if valid[1].size else 0.0
    return out


def pose_detections(outputs: list, es: EvalSet, layout: str = "rknn", conf: float = MAP_CONF, iou: float = MAP_IOU,
                    max_det: int = 300) -> list:
    """The pose post-process over every image's outputs; boxes and keypoints in original pixels."""
    from ..board.decode.pose import postprocess_pose

    return [postprocess_pose(o, (es.imgsz, es.imgsz), es.kpt_shape, es.nc, conf, iou, max_det,
                             letterbox=im.letterbox, layout=layout) for o, im in zip(outputs, es.images)]


def evaluate_pose_outputs(outputs: list, es: EvalSet, layout: str = "rknn") -> dict:
    return coco_pose_map(es, pose_detections(outputs, es, layout))


def evaluate_outputs(outputs: list, es: EvalSet, use_score_sum: bool = True) -> dict:
    return coco_map(es, detections(outputs, es, use_score_sum=use_score_sum))


def lowest_cosine(cosine: dict, kind: str, default=None):
    """The lowest cosine among the outputs whose name starts with ``kind`` ("box", "cls", "kpt_raw"...)."""
    return min((c for name, c in cosine.items() if name.startswith(kind)), default=default)


def output_agreement(ref: list, test: list, names, digits: int | None = 6) -> list[dict]:
    """Per output, over all images: cosine of the flattened tensors, max and mean absolute difference.

    The workbook's one per-output comparison (``ref`` and ``test``: one list of outputs per image). The
    cosine is rounded to ``digits`` (``None``: as computed, for float-rounding-level comparisons).
    """
    if len(ref) != len(test):
        raise ValueError(f"{len(ref)} reference images vs {len(test)} test images")
    rows = []
    for k, name in enumerate(names):
        for r, t in zip(ref, test):
            if np.shape(r[k]) != np.shape(t[k]):
                raise ValueError(f"output {name}: shape {np.shape(r[k])} vs {np.shape(t[k])}")
        a = np.concatenate([np.asarray(r[k], np.float64).ravel() for r in ref])
        b = np.concatenate([np.asarray(t[k], np.float64).ravel() for t in test])
        c = cosine(a, b)
        rows.append({"output": name, "cosine": c if digits is None else round(c, digits),
                     "max_abs_diff": float(np.abs(a - b).max()), "mean_abs_diff": float(np.abs(a - b).mean()),
                     "ref_max": float(np.abs(a).max())})
    return rows
