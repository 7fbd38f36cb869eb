"""Records keep named fields; tables show them under words.

A stage's record (``metrics.json``) is read by code: its conclusions, its checks, the chain test,
the next notebook. Its fields are names (``int8_mAP50``, ``cls_share_at_0_5``). The tables a
notebook shows are read by people: :func:`frame` builds the DataFrame and gives each field its
heading from :data:`HEADINGS` (a field without one keeps its name).
"""

from __future__ import annotations

#: field name → the heading a table shows it under
HEADINGS = {
    # float vs INT8, per model (06: SiLU vs ReLU, model family)
    "float_mAP50": "float mAP50",
    "int8_mAP50": "INT8 mAP50",
    "int8_delta_mAP50": "INT8 − float mAP50",
    "float_mAP50_95": "float mAP50-95",
    "int8_mAP50_95": "INT8 mAP50-95",
    "fp16_rknn_MB": "FP16 .rknn MB",
    "int8_rknn_MB": "INT8 .rknn MB",
    "int8_cls_distinct": "INT8 class-score distinct values",
    "int8_cls_above_0_01": "INT8 class scores > 0.01",
    "cls_share_at_0_5": "share of class scores at 0.5",
    "min_box_cosine": "min box cosine",
    "min_cls_cosine": "min cls cosine",
    "int8_cosine": "INT8 cosine",
    # 04: channel order
    "input_order": "input order",
    "min_cosine_vs_onnxruntime": "min cosine vs onnxruntime",
    "cls_prob_s8_cosine": "cls_prob_s8 cosine",
    # 05: INT8 levels by hand
    "levels_for_scores": "levels for scores 0..1",
    "toolkit_step": "toolkit's step",
    # 01: the default_act trap, the initial boxes
    "built_here": "built here",
    "rebuilt_fresh_process": "rebuilt from its yaml, fresh process",
    "initial_box_px": "initial box px (stride: size)",
    "box_px_without_fit_boxes": "untrained box px without FIT_BOXES",
    "box_px_with_fit_boxes": "untrained box px with it (this run)",
    # 07: runner rates
    "frames_per_second": "frames/s",
}


#: headline figures (the run's summary, 00's map, the run report) under words; a field without an entry is shown
#: with "mAP50_95" as "mAP50-95" and its underscores as spaces
HEADLINE_WORDS = {
    "relu_silu_count": "SiLU layers left in the ReLU model",
    "relu_strides_firing": "strides with detections (ReLU)",
    "relu_seconds_per_epoch": "s/epoch (ReLU)",
    "max_box_diff_px": "largest box difference (px)",
    "max_score_diff": "largest score difference",
    "parity_ok": "patched head = stock head",
    "patched_max_abs_diff": "onnxruntime vs torch, largest difference",
    "flagged_ops_in_patched": "ops the NPU runs badly (patched head)",
    "fp16_unmatched_detections": "FP16 detections without a partner",
    "rgb_is_right": "RGB input agrees with onnxruntime",
    "custom_op_max_diff": "custom CPU op, largest difference",
    "ship": "shipped INT8 configuration",
    "int8_minus_float_95": "INT8 − float, 95 % interval",
    "resolution_mAP50_95": "resolution (mAP50-95)",
    "ship_report_half_vs_float": "INT8 − float on the report half",
    "swapped_minus_right_colour_mAP50_95": "swapped − right colour order (mAP50-95)",
    "activation_after_int8": "higher after INT8 (SiLU vs ReLU)",
    "runner_equals_notebook": "runner = notebook",
    "pool_equals_single": "pool = one context",
    "sim_frames_per_s_1": "simulator frames/s, 1 context",
    "sim_frames_per_s_2": "simulator frames/s, 2 contexts",
    "sim_frames_per_s_3": "simulator frames/s, 3 contexts",
    "board": "board",
    "ncnn_silu_over_relu": "ncnn SiLU / ReLU time (by threads)",
    "median_score_drop_9_vs_6": "median score drop, 9 vs 6 outputs",
}


def headline_label(field: str) -> str:
    """The words a headline figure is shown under (:data:`HEADLINE_WORDS`, else :data:`HEADINGS`, else the field)."""
    return HEADLINE_WORDS.get(field) or HEADINGS.get(field) or field.replace("mAP50_95", "mAP50-95").replace("_", " ")


def figure(v) -> str:
    """A headline value in words: five significant digits (0.99998 stays 0.99998), tiny ones in scientific
    notation, True/False as yes/no, a mapping as "key value; ...", a list comma-separated."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.2e}" if v and abs(v) < 1e-3 else f"{v:.5g}"
    if isinstance(v, dict):
        return "; ".join(f"{k} {figure(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(figure(x) for x in v)
    return "-" if v is None else str(v)


def heading(field: str) -> str:
    """The words a table shows ``field`` under (the field itself when it has none)."""
    return HEADINGS.get(field, field)


def headed(df):
    """``df`` with every column and index label that is a record field shown under its heading (a MultiIndex
    is renamed element by element, its level names too)."""
    def rename(label):
        return heading(label) if isinstance(label, str) else label
    df = df.rename(columns=rename, index=rename)
    df.index.names = [rename(n) for n in df.index.names]
    df.columns.names = [rename(n) for n in df.columns.names]
    return df


def frame(data, index: str | None = None, drop=(), transpose: bool = False):
    """A DataFrame of records (rows, or a dict of columns), fields under their headings.

    ``index`` names the field to index by, ``drop`` the fields to leave out, ``transpose`` flips it.
    """
    import pandas as pd

    df = pd.DataFrame(data)
    if drop:
        df = df.drop(columns=[c for c in drop if c in df.columns], index=[c for c in drop if c in df.index])
    if index:
        df = df.set_index(index)
    return headed(df.T if transpose else df)
