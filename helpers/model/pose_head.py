"""The pose heads, for export only (training code untouched), and their proof against ultralytics.

YOLOv8-pose is the detection model plus a keypoint branch ``cv4`` per stride (K keypoints of
x, y, visibility). Stock, its graph ends like detection's — DFL, anchor decode, and here also the
keypoint decode, all concatenated into one ``[1, 4 + nc + K*3, N]`` tensor. Two patched heads stop
before that tail (decoding moves to ``helpers.board.decode.pose``):

* :class:`NPUPoseModel` (``rknn`` layout): per stride box DFL logits, class probabilities,
  score-sum and raw keypoints as four NCHW outputs, so INT8 gives keypoints their own scale;
* :class:`NCNNPoseModel` (``ncnn`` layout): per stride ONE output, ``cat(class logits, DFL logits,
  raw keypoints)`` in NHWC, ``[1, H, W, nc + 64 + K*3]``; the graph ends at the concat, as the
  phone deployment this workbook grew from does it.

Both run the trained model's own layers (a wrapper, like ``helpers.model.heads``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU
from .heads import STRIDES, NPUDetectModel, export_copy, load_model
from .parity import match_pairs

LAYOUTS = ("rknn", "ncnn")
#: the proof holds when every detection pairs up and boxes and keypoints agree within this many pixels
PARITY_TOL_PX = 1e-2


def pose_output_names(layout: str = "rknn", strides=STRIDES) -> list[str]:
    """``box_dfl_s8, cls_prob_s8, score_sum_s8, kpt_raw_s8, ...`` (rknn) or ``cls_dfl_kpt_s8, ...`` (ncnn)."""
    if layout == "ncnn":
        return [f"cls_dfl_kpt_s{s}" for s in strides]
    return [f"{k}_s{s}" for s in strides for k in ("box_dfl", "cls_prob", "score_sum", "kpt_raw")]


class NPUPoseModel(NPUDetectModel):
    """A trained PoseModel whose forward returns, per stride, box / cls / score-sum / keypoints (NCHW)."""

    HEADS = ("Pose",)
    layout = "rknn"

    def __init__(self, model: nn.Module):
        super().__init__(model, score_sum=True)
        self.kpt_shape = tuple(int(v) for v in self.detect.kpt_shape)
        # the head is already a submodule (self.model.model[-1]); registered twice, a TorchScript trace names
        # its convolutions by the second path and pnnx cannot map them (it keeps them as dynamic-weight convs)
        det = self._modules.pop("detect")
        object.__setattr__(self, "detect", det)

    @property
    def output_names(self) -> list[str]:
        return pose_output_names(self.layout, self.strides)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats, d = self.features(x), self.detect
        outs = []
        for i in range(d.nl):
            cls = d.cv3[i](feats[i]).sigmoid()
            outs += [d.cv2[i](feats[i]), cls, torch.clamp(cls.sum(1, keepdim=True), 0, 1), d.cv4[i](feats[i])]
        return tuple(outs)


class NCNNPoseModel(NPUPoseModel):
    """Per stride one NHWC tensor ``cat(class logits, DFL logits, raw keypoints)``; nothing after it."""

    layout = "ncnn"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats, d = self.features(x), self.detect
        return tuple(torch.cat([d.cv3[i](feats[i]), d.cv2[i](feats[i]), d.cv4[i](feats[i])], 1).permute(0, 2, 3, 1)
                     for i in range(d.nl))


def patch_pose(model: nn.Module, layout: str = "rknn", fuse: bool = False) -> NPUPoseModel:
    """Wrap a copy of a PoseModel with the ``rknn`` or ``ncnn`` head."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    cls = NCNNPoseModel if layout == "ncnn" else NPUPoseModel
    return cls(export_copy(model, fuse)).eval()


def decode_dense_pose(outs, imgsz: int, kpt_shape, nc: int, layout: str = "rknn"):
    """Every cell, no threshold: boxes (N, 4) xyxy, class scores (N, nc), keypoints (N, K, 3) — ultralytics' order."""
    from ..board.decode.pose import decode_keypoints, pose_levels, sigmoid
    from ..board.postprocess import decode_boxes

    boxes, scores, kpts = [], [], []
    for box, cls, kpt, _, logits in pose_levels(outs, layout, nc, kpt_shape):
        h, w = box.shape[1:]
        gy, gx = np.divmod(np.arange(h * w), w)
        stride = imgsz / h
        boxes.append(decode_boxes(box.reshape(box.shape[0], -1), gx, gy, stride))
        c = cls.reshape(nc, -1).T
        scores.append(sigmoid(c) if logits else c)
        kpts.append(decode_keypoints(kpt.reshape(kpt.shape[0], -1), gx, gy, stride, kpt_shape))
    return np.concatenate(boxes), np.concatenate(scores).astype(np.float32), np.concatenate(kpts)


def pose_parity(weights, images, imgsz: int, layout: str = "rknn", conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                run_dir=None) -> dict:
    """The patched pose head + ``board.decode.pose`` against the unpatched model and ultralytics' ``predict``.

    Dense: every cell's box, score and keypoints against the stock model's own decoded tensor.
    Final: ultralytics' predict (its letterbox, NMS, rescale, clipping) against our post-process,
    detections paired one-to-one; boxes, scores and every keypoint (x, y, visibility) compared.
    """
    from ..board.decode.pose import postprocess_pose
    from ..board.preprocess import letterbox, load_image, to_nchw_float
    from .heads import run_patched
    from ..runfolder.offline import configure_ultralytics

    if run_dir is not None:
        configure_ultralytics(run_dir)
    from ultralytics import YOLO

    base = load_model(weights).fuse(verbose=False)
    patched = patch_pose(base, layout)
    nc, kshape = patched.nc, patched.kpt_shape
    yolo = YOLO(str(weights), task="pose")
    tot = {"images": 0, "dense_max_box_diff_px": 0.0, "dense_max_score_diff": 0.0, "dense_max_kpt_diff_px": 0.0,
           "dense_max_kpt_vis_diff": 0.0, "final_ultralytics": 0, "final_ours": 0, "final_unmatched": 0,
           "final_max_box_diff_px": 0.0, "final_max_score_diff": 0.0, "final_max_kpt_diff_px": 0.0,
           "final_max_kpt_vis_diff": 0.0}

    def worst(key, value):
        tot[key] = max(tot[key], float(value))

    for f in images:
        img = load_image(f)
        canvas, _ = letterbox(img, imgsz)
        with torch.no_grad():
            ref = base(torch.from_numpy(to_nchw_float(canvas)))
        ref = (ref[0] if isinstance(ref, (tuple, list)) else ref)[0].numpy().T  # (N, 4 + nc + K*3)
        outs, lb = run_patched(patched, img, imgsz)
        boxes, scores, kpts = decode_dense_pose(outs, imgsz, kshape, nc, layout)
        xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
        rk = ref[:, 4 + nc:].reshape(len(ref), *kshape)
        worst("dense_max_box_diff_px", np.abs(xywh - ref[:, :4]).max())
        worst("dense_max_score_diff", np.abs(scores - ref[:, 4:4 + nc]).max())
        worst("dense_max_kpt_diff_px", np.abs(kpts[..., :2] - rk[..., :2]).max())
        if kshape[1] == 3:
            worst("dense_max_kpt_vis_diff", np.abs(kpts[..., 2] - rk[..., 2]).max())
        r = yolo.predict(img, imgsz=imgsz, conf=conf, iou=iou, rect=False, verbose=False)[0]
        det = postprocess_pose(outs, (imgsz, imgsz), kshape, nc, conf, iou, letterbox=lb, layout=layout)
        rb, rs, rc = r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(int)
        rkp = r.keypoints.data.numpy() if r.keypoints is not None else np.zeros((0, *kshape), np.float32)
        pairs = match_pairs(rb, rs, rc, det.boxes, det.scores, det.classes)
        tot["images"] += 1
        tot["final_ultralytics"] += len(rb)
        tot["final_ours"] += len(det)
        tot["final_unmatched"] += len(rb) + len(det) - 2 * len(pairs)
        for i, j in pairs:
            worst("final_max_box_diff_px", np.abs(rb[i] - det.boxes[j]).max())
            worst("final_max_score_diff", abs(rs[i] - det.scores[j]))
            worst("final_max_kpt_diff_px", np.abs(rkp[i][:, :2] - det.keypoints[j][:, :2]).max())
            if kshape[1] == 3:
                worst("final_max_kpt_vis_diff", np.abs(rkp[i][:, 2] - det.keypoints[j][:, 2]).max())
    return tot


def parity_ok(reports: dict, tol_px: float = PARITY_TOL_PX) -> bool:
    """Every :func:`pose_parity` report: no unmatched detection, boxes and keypoints within ``tol_px``."""
    return all(r["final_unmatched"] == 0 and r["final_max_kpt_diff_px"] < tol_px and r["final_max_box_diff_px"] < tol_px
               and r["dense_max_kpt_diff_px"] < tol_px for r in reports.values())
