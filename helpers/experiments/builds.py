"""Build a model with the toolkit and measure it against onnxruntime (notebooks 04 and 05).

:func:`evaluate_build` builds one :class:`~helpers.toolkit.config.BuildConfig` (in a child
process), runs the val images on the simulator and compares with onnxruntime on the same
letterboxed inputs: per-output cosine and max difference, mAP (pycocotools), build time, size.
:func:`sweep` does it for many configs; a config that fails becomes a row with its error.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU
from ..model.metrics import EvalSet, detections, evaluate_outputs, lowest_cosine, output_agreement
from ..toolkit.config import BuildConfig
from ..toolkit.jobs import side_by_side, simulate
from ..toolkit.logs import ToolkitError


def evaluate_build(onnx, cfg: BuildConfig, es: EvalSet, ref_outputs, names, dataset=None, rknn_out=None,
                   workdir=None, adapt=None, use_score_sum: bool = True) -> tuple[dict, list]:
    """Build ``onnx`` with ``cfg``, simulate ``es`` and compare with ``ref_outputs`` (onnxruntime).

    ``adapt`` turns one image's simulator outputs into the NPU layout before comparing (for cut
    or concatenated heads). Returns a table row and the simulator outputs.
    """
    t0 = time.perf_counter()
    res = simulate(onnx, cfg, es.nhwc(), dataset=dataset, rknn_out=rknn_out, workdir=workdir)
    outs = [adapt(o) for o in res["outputs"]] if adapt else res["outputs"]
    agree = output_agreement(ref_outputs, outs, names)
    m = evaluate_outputs(outs, es, use_score_sum=use_score_sum)
    row = {"config": cfg.name, "quantize": cfg.quantize, "algorithm": cfg.algorithm if cfg.quantize else "-",
           "method": cfg.method if cfg.quantize else "-", "build_s": res["build_seconds"],
           "rknn_MB": round(res["rknn_bytes"] / 2**20, 3) if res["rknn_bytes"] else None,
           "min_cosine": min(a["cosine"] for a in agree), "mAP50": m["mAP50"], "mAP50_95": m["mAP50_95"],
           "sim_ms_per_image": round(1000 * res["infer_seconds_per_image"], 1),
           "cosine": {a["output"]: a["cosine"] for a in agree}, "rknn": str(rknn_out) if rknn_out else None,
           "wall_s": round(time.perf_counter() - t0, 1), "toolkit_errors": res["log"]["errors"]}
    if res.get("disable_rules"):  # the toolkit advised skipping a graph rule that broke the build (jobs.run_build)
        row["disable_rules"] = res["disable_rules"]
    return row, outs


def compare_detections(ref_outputs, test_outputs, es: EvalSet, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                       use_score_sum: bool = True) -> dict:
    """Detections at a deployment threshold, reference vs test, matched one-to-one per image."""
    from ..model.parity import match_detections

    ref = detections(ref_outputs, es, conf, iou, use_score_sum=use_score_sum)
    test = detections(test_outputs, es, conf, iou, use_score_sum=use_score_sum)
    tot = {"images": len(es), "ref": 0, "test": 0, "matched": 0, "unmatched": 0, "max_box_diff_px": 0.0,
           "max_score_diff": 0.0}
    for a, b in zip(ref, test):
        r = match_detections(a.boxes, a.scores, a.classes, b.boxes, b.scores, b.classes)
        for k in ("ref", "test", "matched", "unmatched"):
            tot[k] += r[k]
        for k in ("max_box_diff_px", "max_score_diff"):
            tot[k] = max(tot[k], r[k])
    tot["max_box_diff_px"] = round(tot["max_box_diff_px"], 3)
    tot["max_score_diff"] = round(tot["max_score_diff"], 4)
    return tot


def sweep(onnx, configs, es, ref_outputs, names, dataset, out_dir, progress: bool = True) -> tuple[list, dict]:
    """Build and evaluate every config; returns the rows and ``{config name: simulator outputs}``.

    A config that fails to build gives a row with its error instead of stopping the sweep.
    """
    from tqdm.auto import tqdm

    rows, outputs = [], {}
    out_dir = Path(out_dir)
    # one build at a time, unlike the comparisons (jobs.side_by_side): 05 ships by build time too (selection.COST_TIE),
    # so each build is timed alone
    for cfg in tqdm(list(configs), desc="configs", disable=not progress):
        try:
            row, outs = evaluate_build(onnx, cfg, es, ref_outputs, names, dataset=dataset,
                                       rknn_out=out_dir / f"{Path(onnx).stem}_{cfg.name}.rknn",
                                       workdir=out_dir / "work")
            outputs[cfg.name] = outs
        except ToolkitError as e:
            row = {"config": cfg.name, "quantize": cfg.quantize, "algorithm": cfg.algorithm, "method": cfg.method,
                   "error": f"{e.step}: {e.reason}"}
        rows.append(row)
    return rows, outputs


def ensure_built(onnx, cfg: BuildConfig, rows: list, outputs: dict, es: EvalSet, ref_outputs, names, dataset,
                 out_dir) -> dict:
    """The row of ``cfg`` among ``rows``; built and appended (to ``rows`` and ``outputs``) when the sweep lacked it.

    Raises :class:`ToolkitError`'s message as a RuntimeError when that build failed: the experiments need it.
    """
    row = next((r for r in rows if r["config"] == cfg.name), None)
    if row is None:
        new_rows, new_outputs = sweep(onnx, [cfg], es, ref_outputs, names, dataset, out_dir, progress=False)
        rows += new_rows
        outputs.update(new_outputs)
        row = new_rows[0]
    if "error" in row:
        raise RuntimeError(f"the experiments' INT8 configuration {cfg.name} did not build ({row['error']}); "
                           "see the toolkit log in the build's work folder")
    return row


def quant_configs(target: str, algorithms, methods, **common) -> list[BuildConfig]:
    return [BuildConfig(target=target, quantize=True, algorithm=a, method=m, **common)
            for a in algorithms for m in methods]


def sweep_configs(target: str, algorithms, methods, run_mmse: bool = False) -> list[BuildConfig]:
    """05's sweep: every algorithm x method, plus mmse once (``run_mmse``) with the toolkit's default method.

    mmse builds in minutes where normal and kl_divergence take seconds, so switching it on adds one
    build, not one per method (the default method when it is swept, else the first one swept); list it in
    ``algorithms`` to sweep it with every method.
    """
    cfgs = quant_configs(target, algorithms, methods)
    if run_mmse and "mmse" not in algorithms:
        method = BuildConfig.method if BuildConfig.method in methods or not methods else methods[0]
        cfgs += quant_configs(target, ["mmse"], [method])
    return cfgs


def rows_frame(rows: list[dict]):
    import pandas as pd

    cols = ["config", "build_s", "rknn_MB", "min_cosine", "mAP50", "mAP50_95", "sim_ms_per_image", "error"]
    df = pd.DataFrame([{k: r.get(k) for k in cols} for r in rows]).set_index("config")
    return df.drop(columns=[c for c in ("error",) if df[c].isna().all()] if "error" in df else [])


def cosine_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame({r["config"]: r["cosine"] for r in rows if "cosine" in r}).T


def try_build(onnx, cfg: BuildConfig, dataset=None, workdir=None, follow_advice: bool = True) -> dict:
    """Build and report, without raising: ``{"built": bool, "error": ToolkitError | None, ...}``.

    ``follow_advice=False``: no second build without a graph rule the toolkit names (``jobs.run_build``).
    """
    try:
        res = simulate(onnx, cfg, None, dataset=dataset, workdir=workdir, follow_advice=follow_advice)
        return {"built": True, "error": None, "build_s": res["build_seconds"], "disable_rules": res["disable_rules"]}
    except ToolkitError as e:
        return {"built": False, "error": e, "step": e.step, "reason": e.reason}


def raise_if_failed(attempt: dict) -> None:
    if attempt.get("error") is not None:
        raise attempt["error"]



def target_table(onnx, cfg: BuildConfig, targets, es: EvalSet, ref_outputs, names, out_dir, dataset=None,
                 images: int = 4) -> list[dict]:
    """Build ``cfg`` for every SoC in ``targets``: built or the toolkit's error, size, build time, and the
    simulator's agreement with onnxruntime (lowest output cosine over ``images`` val images) where it runs."""
    import dataclasses

    from ..board.targets import SOCS

    n = max(1, min(images, len(es)))

    def one(t):  # each SoC in its own work folder: the builds run side by side (jobs.side_by_side)
        soc = SOCS[t]
        row = {"target": t, "npu_cores": soc.npu_cores, "config": cfg.name}
        if not cfg.quantize and not soc.fp16:
            return {**row, "built": False, "error": "INT8 only (no float16 build for this SoC)"}
        rknn = Path(out_dir) / f"{Path(onnx).stem}_{cfg.name}_{t}.rknn"
        try:
            res = simulate(onnx, dataclasses.replace(cfg, target=t), es.nhwc()[:n], dataset=dataset, rknn_out=rknn,
                           workdir=Path(out_dir) / "work" / t)
            agree = output_agreement(ref_outputs[:n], res["outputs"], names)
            row.update(built=True, rknn_MB=round(res["rknn_bytes"] / 2**20, 3), build_s=res["build_seconds"],
                       simulated=True, min_cosine=min(a["cosine"] for a in agree))
        except ToolkitError as e:
            built = rknn.is_file() and e.step not in ("config", "load_onnx", "build", "export_rknn")
            row.update(built=built, simulated=False, error=f"{e.step}: {e.reason}")
        return row

    return side_by_side(one, list(targets))


def calibration_curve(onnx, cfg: BuildConfig, info, sizes, es: EvalSet, ref_outputs, names, out_dir,
                      seed: int = 0) -> list[dict]:
    """INT8 accuracy against calibration-set size: one stratified set per size, the same ``cfg`` for all."""
    from ..toolkit.calibration import write_calibration_set

    calibs = [write_calibration_set(info, Path(out_dir) / f"calibration_{n}", int(n), es.imgsz, seed) for n in sizes]

    def one(job):  # each size in its own work folder: the builds run side by side (jobs.side_by_side)
        n, calib = job
        row, _ = evaluate_build(onnx, cfg, es, ref_outputs, names, dataset=calib.txt,
                                workdir=Path(out_dir) / "work" / f"calibration_{n}")
        return {"images": len(calib.files), "mAP50": row["mAP50"], "mAP50_95": row["mAP50_95"],
                "min_cosine": row["min_cosine"], "build_s": row["build_s"],
                "min_cls_cosine": lowest_cosine(row["cosine"], "cls")}

    return side_by_side(one, list(zip(sizes, calibs)))


def batch_build(onnx, cfg: BuildConfig, batch: int, dataset, out_dir) -> dict:
    """Build ``cfg`` with ``rknn_batch_size=batch`` next to the same build with batch 1: what the toolkit makes
    of it (file size, build time, what its log says about batch), and the rule a pool follows for it."""
    import dataclasses

    from ..board.records import read_build_record
    from ..board.runtimes import RuntimeFailure
    from ..board.runtimes.npu import batch_core_rule

    out = {"rknn_batch_size": int(batch)}
    for b in (1, int(batch)):
        c = dataclasses.replace(cfg, rknn_batch_size=b)
        rknn = Path(out_dir) / f"{Path(onnx).stem}_{c.name}.rknn"
        res = simulate(onnx, c, None, dataset=dataset, rknn_out=rknn, workdir=Path(out_dir) / "work")
        out[f"batch{b}"] = {"rknn": str(rknn), "rknn_MB": round(res["rknn_bytes"] / 2**20, 3),
                            "build_s": res["build_seconds"]}
    out["size_ratio"] = round(out[f"batch{batch}"]["rknn_MB"] / out["batch1"]["rknn_MB"], 3)
    out["recorded_batch_size"] = read_build_record(out[f"batch{batch}"]["rknn"])["config"].get("rknn_batch_size")
    try:
        batch_core_rule(batch, 0)
        out["pool_rule"] = "accepted"
    except RuntimeFailure as e:
        out["pool_rule"] = str(e)
    return out


def export_size_cost(weights, onnx, row: dict, small: int, imgsz: int, cfg: BuildConfig, out_dir) -> list[dict]:
    """The same weights exported at ``imgsz`` and built with ``cfg``, next to the model as built (``onnx`` at
    ``small`` px, its build ``row``): ONNX and .rknn size, build time, and the pixels the NPU computes per frame."""
    from ..model.export import export_onnx
    from ..model.heads import load_model, patch_for_npu

    big = export_onnx(patch_for_npu(load_model(weights)), Path(out_dir) / f"{Path(onnx).stem}_{imgsz}.onnx", imgsz)
    res = simulate(big, cfg, None, rknn_out=Path(out_dir) / f"{big.stem}_{cfg.name}.rknn", workdir=Path(out_dir) / "work")
    return [{"imgsz": small, "onnx_MB": round(Path(onnx).stat().st_size / 2**20, 3), "rknn_MB": row["rknn_MB"],
             "build_s": row["build_s"], "pixels_per_frame": small * small},
            {"imgsz": imgsz, "onnx_MB": round(big.stat().st_size / 2**20, 3),
             "rknn_MB": round(res["rknn_bytes"] / 2**20, 3), "build_s": res["build_seconds"],
             "pixels_per_frame": imgsz * imgsz}]


def colour_order_cost(onnx, cfg: BuildConfig, right_row: dict, es: EvalSet, ref_outputs, names, dataset,
                      out_dir) -> dict:
    """``cfg`` built again with the calibration images' channels swapped (``quant_img_RGB2BGR``), against the
    row of the right build: mAP, lowest output and class-output cosine of both."""
    import dataclasses

    def summary(row: dict) -> dict:
        return {**{k: row.get(k) for k in ("config", "mAP50", "mAP50_95", "min_cosine")},
                "min_cls_cosine": lowest_cosine(row.get("cosine", {}), "cls")}
    wrong, _ = sweep(onnx, [dataclasses.replace(cfg, quant_img_RGB2BGR=True)], es, ref_outputs, names, dataset,
                     out_dir, progress=False)
    return {"right": summary(right_row), "wrong": summary(wrong[0])}


def score_sum_float16(onnx, cfg: BuildConfig, dataset, workdir) -> dict:
    """Hybrid quantization with the score-sum branch (the ReduceSum tensors and the score_sum outputs) kept in
    float16: does the toolkit build it? (An earlier run of this workbook saw step 2 abort the process; the build runs in a child.)"""
    import dataclasses

    from ..toolkit.jobs import hybrid_layer_names

    layers = tuple(n for n in hybrid_layer_names(onnx, cfg, dataset, Path(workdir) / "names")
                   if n.startswith("score_sum") or "ReduceSum" in n)
    attempt = try_build(onnx, dataclasses.replace(cfg, float_layers=layers), dataset, workdir)
    return {"layers": list(layers), "built": attempt["built"],
            "error": None if attempt["built"] else f"{attempt['step']}: {attempt['reason']}"}
