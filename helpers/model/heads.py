"""The NPU-friendly detection head, for export only (training code untouched).

Stock YOLOv8 ends in one output ``[1, 4+nc, N]``: DFL (a Softmax over 16 bins and a
1x1 conv), anchor decoding and the concat of pixel-sized boxes with 0..1 scores all
happen inside the graph. On the RKNN NPU that tail is slow (Softmax/Reshape/
Transpose fall back or run poorly) and quantizes badly (boxes in pixels and
probabilities share one INT8 scale). The patched head stops before that tail and
returns, per stride s in (8, 16, 32), in this order:

1. box  ``[1, 4*reg_max, H, W]`` raw DFL logits (no softmax),
2. cls  ``[1, nc, H, W]`` class probabilities (after sigmoid),
3. sum  ``[1, 1, H, W]`` clamp(sum over classes, 0, 1)   (omitted in the 6-output variant),

which is the layout the Rockchip model zoo's YOLOv8 deploy code reads. DFL,
decoding and NMS move to the CPU (``helpers.board.postprocess``).

The patch is a wrapper: it runs the trained model's own layers and the Detect
layer's own convolutions, so it has exactly the trained weights.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU

STRIDES = (8, 16, 32)


def load_model(weights: str | os.PathLike, run_dir=None) -> nn.Module:
    """Load an ultralytics checkpoint as a float32 DetectionModel in eval mode (no download, ever)."""
    if run_dir is not None:
        from ..runfolder.offline import configure_ultralytics

        configure_ultralytics(run_dir)
    from ultralytics.nn.tasks import load_checkpoint

    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"no checkpoint at {weights}: run notebooks/01_train_relu.ipynb first")
    model, _ = load_checkpoint(weights)
    return model.float().eval()


def _detect_layer(model: nn.Module, kinds=("Detect",)) -> nn.Module:
    det = model.model[-1]
    if type(det).__name__ not in kinds:
        raise TypeError(f"expected a model ending in {' or '.join(kinds)}, got {type(det).__name__}: "
                        + ("a pose model goes through helpers.model.pose_head (notebook 08)" if type(det).__name__ == "Pose"
                           else "segment/OBB heads need their own patch"))
    return det


def output_names(score_sum: bool = True, strides=STRIDES) -> list[str]:
    """Names that say what each output is: ``box_dfl_s8``, ``cls_prob_s8``, ``score_sum_s8``, ..."""
    names = []
    for s in strides:
        names += [f"box_dfl_s{s}", f"cls_prob_s{s}"] + ([f"score_sum_s{s}"] if score_sum else [])
    return names


class NPUDetectModel(nn.Module):
    """A trained DetectionModel whose forward returns the NPU head's 9 (or 6) outputs."""

    HEADS = ("Detect",)

    def __init__(self, model: nn.Module, score_sum: bool = True):
        super().__init__()
        self.model = model
        self.detect = _detect_layer(model, self.HEADS)
        self.score_sum = score_sum
        self.strides = tuple(int(s) for s in self.detect.stride.tolist())
        self.nc = int(self.detect.nc)
        self.reg_max = int(self.detect.reg_max)

    @property
    def output_names(self) -> list[str]:
        return output_names(score_sum=self.score_sum, strides=self.strides)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps the head reads, one per stride: backbone and neck exactly as the model runs them."""
        y, layers = [], self.model.model
        for m in layers[:-1]:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.model.save else None)
        return [y[j] for j in self.detect.f]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.features(x)
        outs = []
        for i in range(self.detect.nl):
            box = self.detect.cv2[i](feats[i])  # raw DFL logits: no softmax in the graph
            cls = self.detect.cv3[i](feats[i]).sigmoid()
            outs += [box, cls]
            if self.score_sum:
                outs.append(torch.clamp(cls.sum(1, keepdim=True), 0, 1))
        return tuple(outs)


class ConcatDetectModel(NPUDetectModel):
    """The "naive split": DFL moved out, but boxes and class scores still share ONE output.

    ``[1, 4*reg_max + nc, N]``: per stride the raw DFL logits and the sigmoid class scores are
    concatenated on channels and flattened, then the strides are concatenated. Upstream
    ultralytics' own RKNN export likewise keeps boxes and scores in one tensor. After INT8 one
    tensor has one scale, set by the large DFL logits, so the 0..1 scores get only a few steps:
    06_analyze measures what that does.
    """

    def __init__(self, model: nn.Module):
        super().__init__(model, score_sum=False)

    @property
    def output_names(self) -> list[str]:
        return ["box_dfl_and_cls_prob"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = super().forward(x)
        return torch.cat([torch.cat(outs[k:k + 2], 1).flatten(2) for k in range(0, len(outs), 2)], 2)


class StockDetectModel(nn.Module):
    """The unpatched model as ultralytics exports it: one ``[1, 4+nc, N]`` output, DFL inside."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        det = _detect_layer(model)
        det.export, det.format = True, "onnx"

    @property
    def output_names(self) -> list[str]:
        return ["boxes_xywh_and_class_probs"]

    def forward(self, x):
        return self.model(x)


def export_copy(model: nn.Module, fuse: bool) -> nn.Module:
    """A float32 eval-mode copy of ``model`` (``fuse=True`` folds BatchNorm into Conv, as for export)."""
    m = copy.deepcopy(model).float().eval()
    return m.fuse(verbose=False) if fuse else m


def patch_for_npu(model: nn.Module, score_sum: bool = True, fuse: bool = False) -> NPUDetectModel:
    """Wrap a copy of ``model`` with the NPU head (9 outputs, or 6 without the score-sum)."""
    return NPUDetectModel(export_copy(model, fuse), score_sum=score_sum).eval()


def concat_for_export(model: nn.Module, fuse: bool = True) -> ConcatDetectModel:
    """Wrap a copy of ``model`` with the "boxes and scores in one output" head."""
    return ConcatDetectModel(export_copy(model, fuse)).eval()


def stock_for_export(model: nn.Module, fuse: bool = True) -> StockDetectModel:
    """A copy of ``model`` as ultralytics exports it (DFL and decode inside, one output)."""
    return StockDetectModel(export_copy(model, fuse)).eval()


def describe_outputs(module: nn.Module, imgsz: int) -> list[dict]:
    """A table of a module's outputs for an ``imgsz`` input: name, shape, value range."""
    with torch.no_grad():
        outs = module(torch.zeros(1, 3, imgsz, imgsz))
    outs = outs if isinstance(outs, (tuple, list)) else [outs]
    names = getattr(module, "output_names", [f"output{i}" for i in range(len(outs))])
    return [{"output": n, "shape": list(o.shape), "min": float(o.min()), "max": float(o.max())}
            for n, o in zip(names, outs)]


# --------------------------------------------------------------------------- running on images
def run_patched(npu_model: NPUDetectModel, image_bgr: np.ndarray, imgsz: int):
    """Letterbox one BGR image, run the patched torch model; return (outputs as numpy, letterbox)."""
    from ..board.preprocess import letterbox, to_nchw_float

    canvas, lb = letterbox(image_bgr, imgsz)
    with torch.no_grad():
        outs = npu_model(torch.from_numpy(to_nchw_float(canvas)))
    return [o.numpy() for o in outs], lb


def detections_per_stride(npu_model: NPUDetectModel, images, imgsz: int, conf: float = DEFAULT_CONF,
                          iou: float = DEFAULT_IOU) -> dict[str, int]:
    """Final detections (after NMS) on ``images``, counted by the stride whose output produced them.

    A model that only ever fires at stride 8 would make the later per-output quantization
    analysis meaningless, so this is recorded (and tested) after training.
    """
    from ..board.postprocess import postprocess
    from ..board.preprocess import load_image

    counts = np.zeros(len(npu_model.strides), int)
    for f in images:
        outs, lb = run_patched(npu_model, load_image(f), imgsz)
        det = postprocess(outs, (imgsz, imgsz), conf, iou, letterbox=lb)
        np.add.at(counts, det.levels, 1)
    return {f"s{s}": int(c) for s, c in zip(npu_model.strides, counts)}


def stride_reach(imgsz: int, strides=STRIDES, reg_max: int = 16) -> list[dict]:
    """The largest box each stride can regress: (reg_max - 1) bins of its stride on each side.

    The training assigner gives an object to the cells whose predicted boxes fit it best, so an
    object that a fine stride can still reach rarely trains a coarser one: the coarse strides
    learn from the objects only they can represent (or represent better from the start).
    """
    return [{"stride": s, "max_box_px": 2 * (reg_max - 1) * s,
             "max_box_frac_of_input": round(2 * (reg_max - 1) * s / imgsz, 2)} for s in strides]
