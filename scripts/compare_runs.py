"""Compare what two run folders recorded, stage by stage: the check that a refactor changed no figure.

    .venv/bin/python scripts/compare_runs.py RUN_A RUN_B [--tol 0]

Walks every ``<stage>/metrics.json`` of both runs and prints each value that differs. Values that
depend on the machine or the folder, not on the model, are left out: wall times, frame rates, file
paths, per-stage timing tables. Numbers equal within ``--tol`` (absolute) count as equal. Exit code
0 when nothing differs, 1 otherwise. Use it on the chain test's run folders
(``pytest tests/notebooks --basetemp=DIR`` keeps them in ``DIR/chain_run0``) before and after a change.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

#: keys whose values measure the machine or name a place, not the model: exact names ...
VOLATILE_KEYS = {"weights", "onnx", "rknn", "report", "log", "txt", "bundle", "ultralytics_run", "model_yaml",
                 "data_yaml", "stdout", "image", "reused", "torch_threads", "fingerprint", "files", "settings",
                 "log_file", "toolkit_errors", "path", "file", "timings", "frames_per_second", "frames/s",
                 "end_to_end_ms", "device", "config", "dump_bytes", "model", "bin", "param", "source_yaml",
                 "ms_per_image", "silu_over_relu", "emulation_factor", "note", "t", "read_ms_median"}
#: ... and endings
VOLATILE_ENDINGS = ("seconds", "_s", "_ms", "_ms_per_image", "_ms_per_frame", "seconds_per_epoch", "frames_per_s_1", "_path",
                    "_fps")


#: fields renamed since a run was recorded (display words → named fields): compared under the new name
RENAMED = {"float mAP50": "float_mAP50", "INT8 mAP50": "int8_mAP50", "INT8 Δ mAP50": "int8_delta_mAP50",
           "float mAP50-95": "float_mAP50_95", "INT8 mAP50-95": "int8_mAP50_95", "FP16 .rknn MB": "fp16_rknn_MB",
           "INT8 .rknn MB": "int8_rknn_MB", "INT8 class-score distinct values": "int8_cls_distinct",
           "INT8 class scores > 0.01": "int8_cls_above_0_01", "share of class scores at 0.5": "cls_share_at_0_5",
           "min cls-output cosine": "min_cls_cosine", "min box cosine": "min_box_cosine",
           "min cls cosine": "min_cls_cosine", "INT8 cosine": "int8_cosine", "input order": "input_order",
           "min cosine vs onnxruntime": "min_cosine_vs_onnxruntime", "cls_prob_s8 cosine": "cls_prob_s8_cosine",
           "levels for scores 0..1": "levels_for_scores", "toolkit's step": "toolkit_step", "built here": "built_here",
           "rebuilt from its yaml, fresh process": "rebuilt_fresh_process",
           "untrained box px without FIT_BOXES": "box_px_without_fit_boxes",
           "untrained box px with it (this run)": "box_px_with_fit_boxes", "frames/s": "frames_per_second"}


def renamed(value):
    """``value`` with every renamed field under its current name."""
    if isinstance(value, dict):
        return {RENAMED.get(k, k): renamed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v) for v in value]
    return value


def volatile(key: str) -> bool:
    k = key.lower()
    return (k in VOLATILE_KEYS or k.endswith(VOLATILE_ENDINGS) or k.startswith(("sim_frames_per_s", "emulated_"))
            or k == "ncnn_silu_over_relu")


def diff(a, b, path: str, tol: float, out: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if volatile(str(k)):
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'B' if k not in a else 'A'}")
                continue
            diff(a[k], b[k], f"{path}/{k}", tol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} items")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", tol, out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not (a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol)):
            out.append(f"{path}: {a} vs {b}")
    elif a != b:
        out.append(f"{path}: {a!r} vs {b!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--tol", type=float, default=0.0, help="absolute tolerance for numbers")
    args = ap.parse_args(argv)
    stages = sorted({p.parent.name for run in (args.run_a, args.run_b) for p in run.glob("*/metrics.json")})
    total = 0
    for stage in stages:
        fa, fb = args.run_a / stage / "metrics.json", args.run_b / stage / "metrics.json"
        if not (fa.is_file() and fb.is_file()):
            print(f"{stage}: only in {'A' if fa.is_file() else 'B'}")
            total += 1
            continue
        out: list[str] = []
        diff(renamed(json.loads(fa.read_text())), renamed(json.loads(fb.read_text())), stage, args.tol, out)
        print(f"{stage}: {'identical' if not out else f'{len(out)} difference(s)'}")
        for line in out:
            print(f"  {line}")
        total += len(out)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
