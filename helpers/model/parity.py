"""Proofs that a transformed model still computes the same thing.

* :func:`head_patch_parity`: the patched NPU head, decoded on the CPU by
  ``helpers.board.postprocess``, against the unpatched model's own prediction - both the dense
  tensor (every cell, before thresholds) and the final detections of ultralytics'
  ``predict`` (its letterbox, its NMS) on real images.
"""

from __future__ import annotations

import numpy as np

from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


#: IoUs this close count as the same box (float rounding of one clipped box), and the scores decide
SAME_BOX_IOU = 1e-3


def match_pairs(ref_boxes, ref_scores, ref_classes, boxes, scores, classes, iou_min: float = 0.5) -> list[tuple]:
    """One-to-one matches ``(i, j)`` of reference detection i and test detection j: same class, highest IoU
    (at least ``iou_min``), the reference's highest scores first. Among candidates whose IoU is within
    :data:`SAME_BOX_IOU` of the best (two cells give the same box once it is clipped to the image edge) the
    closest score wins.

    The workbook's one detection matcher: 02's and 08's parity against ultralytics, 04–06's float vs
    INT8 detections, 09's score fidelity.
    """
    from ..board.postprocess import box_iou

    ref_boxes = np.asarray(ref_boxes, np.float32).reshape(-1, 4)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    ref_scores, scores = np.asarray(ref_scores, np.float64), np.asarray(scores, np.float64)
    classes = np.asarray(classes)
    used = np.zeros(len(boxes), bool)
    iou = box_iou(ref_boxes, boxes) if len(ref_boxes) and len(boxes) else np.zeros((len(ref_boxes), len(boxes)))
    pairs = []
    for i in np.argsort(-ref_scores, kind="stable"):  # equal scores: in the order given
        cand = np.flatnonzero((classes == ref_classes[i]) & ~used & (iou[i] >= iou_min))
        if not len(cand):
            continue
        best = cand[iou[i, cand] >= iou[i, cand].max() - SAME_BOX_IOU]
        j = int(best[np.argmin(np.abs(scores[best] - ref_scores[i]))])
        used[j] = True
        pairs.append((int(i), j))
    return pairs


def match_detections(ref_boxes, ref_scores, ref_classes, boxes, scores, classes, iou_min: float = 0.5) -> dict:
    """Match two detection sets one-to-one (:func:`match_pairs`); report the worst differences."""
    ref_boxes = np.asarray(ref_boxes, np.float32).reshape(-1, 4)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    pairs = match_pairs(ref_boxes, ref_scores, ref_classes, boxes, scores, classes, iou_min)
    box_diff = max((float(np.abs(ref_boxes[i] - boxes[j]).max()) for i, j in pairs), default=0.0)
    score_diff = max((abs(float(ref_scores[i]) - float(scores[j])) for i, j in pairs), default=0.0)
    matched = len(pairs)
    return {"ref": len(ref_boxes), "test": len(boxes), "matched": matched,
            "unmatched": len(ref_boxes) - matched + len(boxes) - matched,
            "max_box_diff_px": box_diff, "max_score_diff": score_diff}


def head_patch_parity(weights, images, imgsz: int, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                      score_sum: bool = True, run_dir=None) -> dict:
    """Compare the patched head with the unpatched model's own prediction on ``images``.

    Returns per-image rows and a summary: max box difference (pixels) and max score
    difference over every cell of the dense prediction, and over the final detections
    of ultralytics' ``predict`` matched one-to-one with ours (plus unmatched count).
    """
    import torch

    from .heads import load_model, patch_for_npu, run_patched
    from ..runfolder.offline import configure_ultralytics
    from ..board.postprocess import decode_dense, postprocess
    from ..board.preprocess import load_image, to_nchw_float, letterbox

    if run_dir is not None:
        configure_ultralytics(run_dir)
    from ultralytics import YOLO

    base = load_model(weights).fuse(verbose=False)  # predict() fuses too
    npu = patch_for_npu(base, score_sum=score_sum)
    yolo = YOLO(str(weights), task="detect")
    rows = []
    for f in images:
        img = load_image(f)
        canvas, lb = letterbox(img, imgsz)
        x = torch.from_numpy(to_nchw_float(canvas))
        with torch.no_grad():
            ref = base(x)
        ref = (ref[0] if isinstance(ref, (tuple, list)) else ref)[0].numpy()  # (4+nc, N): xywh px, probs
        outs, _ = run_patched(npu, img, imgsz)
        boxes, scores, _ = decode_dense(outs, (imgsz, imgsz))
        xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
        dense_box = float(np.abs(xywh - ref[:4].T).max())
        dense_score = float(np.abs(scores - ref[4:].T).max())
        # final detections: ultralytics' own predict (its letterbox, NMS, rescale) vs ours
        # rect=False: the fixed square letterbox an NPU model needs (predict defaults to a minimal rectangle)
        r = yolo.predict(img, imgsz=imgsz, conf=conf, iou=iou, rect=False, verbose=False)[0]
        det = postprocess(outs, (imgsz, imgsz), conf, iou, letterbox=lb)
        m = match_detections(r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(int),
                             det.boxes, det.scores, det.classes)
        rows.append({"image": str(f), "dense_max_box_diff_px": dense_box, "dense_max_score_diff": dense_score,
                     **{f"final_{k}": v for k, v in m.items()}})
    summary = {"images": len(rows), **_fold(rows, {
        "dense_max_box_diff_px": ("dense_max_box_diff_px", max), "dense_max_score_diff": ("dense_max_score_diff", max),
        "final_detections_ultralytics": ("final_ref", sum), "final_detections_patched": ("final_test", sum),
        "final_unmatched": ("final_unmatched", sum), "final_max_box_diff_px": ("final_max_box_diff_px", max),
        "final_max_score_diff": ("final_max_score_diff", max)})}
    return {"summary": summary, "per_image": rows}


def _fold(rows: list[dict], spec: dict) -> dict:
    """{out_key: (row_key, max|sum)} applied over ``rows``."""
    return {out: fn(r[key] for r in rows) for out, (key, fn) in spec.items()}


def summarize_head_parity(reports: dict, box_tol_px: float = 1e-2, score_tol: float = 1e-4) -> dict:
    """Fold the per-model reports of :func:`head_patch_parity` into the figures 02 records."""
    out = _fold([r["summary"] for r in reports.values()], {
        "max_box_diff_px": ("dense_max_box_diff_px", max), "max_score_diff": ("dense_max_score_diff", max),
        "final_max_box_diff_px": ("final_max_box_diff_px", max), "final_max_score_diff": ("final_max_score_diff", max),
        "final_unmatched": ("final_unmatched", sum), "final_detections_compared": ("final_detections_ultralytics", sum)})
    out["parity_ok"] = bool(out["max_box_diff_px"] < box_tol_px and out["max_score_diff"] < score_tol
                            and out["final_max_box_diff_px"] < box_tol_px and out["final_unmatched"] == 0)
    return out
