"""The detection decoder of a bundle: the 9-output head (or 6 without the score-sum) -> boxes, scores, classes.

The decode itself (DFL expectation, score-sum prefilter, batched NMS, back through the letterbox) is
:func:`..postprocess.postprocess`, which every detection path of the workbook shares.
"""

from __future__ import annotations

from ..postprocess import postprocess


def decoder(cfg: dict, backend: str):
    """``decode(outputs, imgsz, conf, iou, letterbox)`` for a detection bundle (``score_sum``: whether its model
    has the score-sum outputs)."""
    use_sum = bool(cfg.get("score_sum", True))
    return lambda outs, imgsz, conf, iou, lb: postprocess(outs, (imgsz, imgsz), conf, iou, letterbox=lb,
                                                          use_score_sum=use_sum)
