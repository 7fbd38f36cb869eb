"""The paths users take instead of the workbook's, measured the same way (notebook 09).

Every path is one ONNX graph, one :class:`~helpers.toolkit.config.BuildConfig` (which names the
toolkit release, :mod:`helpers.toolkit.versions`), one calibration list and one way of decoding
its outputs. :func:`measure` builds it on the simulator and evaluates float (onnxruntime, the same
graph) and INT8 on the same val images with the same pycocotools path as notebooks 04-06:

* mAP50 / mAP50-95 float -> INT8, and INT8 - float by 05's paired bootstrap (a difference is only
  called when the images resolve it);
* what INT8 left of the class scores: distinct values above 0.01, share exactly at 0.5, the lowest
  class-score cosine to float; score fidelity of the detections themselves (:func:`score_fidelity`);
* .rknn size, build seconds, simulator ms per frame, and the board's post-processing cost per frame
  (the board code, :mod:`helpers.board.postprocess`, timed on the simulator's outputs);
* for INT8 builds, the graph the toolkit made (op types of its layer table, :func:`~helpers.toolkit.logs.layer_ops`).

The peers: ultralytics' own ``format="rknn"`` export (:mod:`.ultralytics_rknn`, run as its users
run it, in the toolkit release's environment), the Rockchip model zoo's ``convert.py`` recipe
(:func:`model_zoo_calibration`: 20 images as they come, default settings) and the stock head.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model.metrics import EvalSet, bootstrap_difference, coco_map, detections, onnx_outputs, output_agreement
from ..toolkit.config import BuildConfig
from ..toolkit.logs import ToolkitError, layer_ops

#: decodes: the patched head with the score-sum outputs (the runner's prefilter), without them, and one
#: decoded ``[1, 4 + nc, N]`` tensor with boxes in pixels or divided by the input size (ultralytics' INT8)
LAYOUTS = ("npu9", "npu6", "decoded", "decoded_normalised")
#: a detection "loses its score" when INT8 scores it this much below float (the model zoo's #450 reports 0.98 -> 0.58)
SCORE_LOSS = 0.1
DEPLOY_CONF = 0.25
MODEL_ZOO_CALIB = 20  # rknn_model_zoo's examples/yolov8/python/convert.py: its COCO subset, 20 images


@dataclass
class PathSpec:
    """One way from trained weights to an INT8 (or FP16) ``.rknn``."""

    label: str
    family: str                 # "workbook", "model zoo", "ultralytics", "stock", "toolkit"
    onnx: str
    cfg: BuildConfig
    layout: str
    dataset: str | None = None
    calibration: str = ""       # in words: which images, how many, how prepared
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {LAYOUTS}")


def names_of(layout: str) -> list[str]:
    from ..model.heads import output_names

    if layout == "npu9":
        return output_names()
    if layout == "npu6":
        return output_names(score_sum=False)
    return ["output0"]


def decode(outputs: list, es: EvalSet, layout: str, conf: float | None = None) -> list:
    """Every image's detections, the board's way for that layout (boxes back in original pixels)."""
    from ..board.postprocess import postprocess_decoded
    from ..model.metrics import MAP_CONF, MAP_IOU

    conf = MAP_CONF if conf is None else conf
    if layout in ("npu9", "npu6"):
        return detections(outputs, es, conf, MAP_IOU, use_score_sum=layout == "npu9")
    dets = []
    for o, im in zip(outputs, es.images):
        out = np.array(o[0], np.float32)
        if layout == "decoded_normalised":  # ultralytics' RKNN backend multiplies x, w by W and y, h by H
            out[:, [0, 2]] *= es.imgsz
            out[:, [1, 3]] *= es.imgsz
        dets.append(postprocess_decoded(out, conf, MAP_IOU, letterbox=im.letterbox))
    return dets


def class_scores(outputs: list, layout: str, nc: int) -> np.ndarray:
    """Every class-score value of every image: the cls outputs, or rows 4 .. 4 + nc of the one decoded tensor."""
    if layout in ("npu9", "npu6"):
        from .comparisons import cls_values

        return cls_values(outputs, names_of(layout))
    return np.concatenate([np.asarray(o[0], np.float32)[0, 4:4 + nc].ravel() for o in outputs])


def score_fidelity(float_dets: list, int8_dets: list, iou_min: float = 0.5) -> dict:
    """The same detection scored by float and by INT8: matched one-to-one per image (same class, IoU >= iou_min,
    highest float score first); the drop is float score - INT8 score. Median and worst drop, share of matched
    detections losing more than :data:`SCORE_LOSS`, and the float detections INT8 lost altogether."""
    from ..model.parity import match_pairs

    drops, lost, total = [], 0, 0
    for a, b in zip(float_dets, int8_dets):
        total += len(a.scores)
        pairs = match_pairs(a.boxes, a.scores, a.classes, b.boxes, b.scores, b.classes, iou_min)
        lost += len(a.scores) - len(pairs)
        drops += [float(a.scores[i]) - float(b.scores[j]) for i, j in pairs]
    d = np.asarray(drops, np.float64)
    return {"float_detections": int(total), "matched": int(len(d)), "lost": int(lost),
            "median_drop": round(float(np.median(d)), 4) if len(d) else None,
            "worst_drop": round(float(d.max()), 4) if len(d) else None,
            f"share_losing_over_{SCORE_LOSS}": round(float((d > SCORE_LOSS).mean()), 4) if len(d) else None,
            "drops": [round(x, 5) for x in d.tolist()]}


def postprocess_ms(outputs: list, es: EvalSet, layout: str, repeats: int = 3) -> float:
    """The board's post-processing per frame (ms, best of ``repeats`` passes over every image), at the deploy threshold."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        decode(outputs, es, layout, conf=DEPLOY_CONF)
        best = min(best, (time.perf_counter() - t0) / max(1, len(outputs)))
    return round(1000 * best, 3)


def _float_reference(spec: PathSpec, es: EvalSet, cache: dict) -> list:
    key = str(Path(spec.onnx).resolve())
    if key not in cache:
        cache[key] = onnx_outputs(spec.onnx, es)
    return cache[key]


def measure(spec: PathSpec, es: EvalSet, out_dir, cache: dict | None = None, resamples: int = 100,
            reference: dict | None = None) -> tuple[dict, dict]:
    """Build ``spec`` on the simulator and measure it against its own float graph (module docstring).

    ``reference``: another path's measurement (the workbook's), whose INT8 detections this one's are compared
    with by the paired bootstrap on the same images (``vs_reference``). Returns a table row and the raw parts
    (outputs, detections) for figures and later comparisons. A build that fails is a row with its error.
    """
    from ..toolkit.jobs import simulate

    cache = {} if cache is None else cache
    out_dir = Path(out_dir)
    names = names_of(spec.layout)
    ref = _float_reference(spec, es, cache)
    f_dets = decode(ref, es, spec.layout)
    f_map = coco_map(es, f_dets)
    row = {"path": spec.label, "family": spec.family, "toolkit": spec.cfg.toolkit or "pinned",
           "precision": "INT8" if spec.cfg.quantize else "FP16", "layout": spec.layout, "calibration": spec.calibration,
           "float_mAP50": f_map["mAP50"], "float_mAP50_95": f_map["mAP50_95"], "note": spec.note, **spec.extra}
    workdir = out_dir / "work" / _slug(spec.label)
    rknn = out_dir / f"{_slug(spec.label)}.rknn"
    try:
        res = simulate(spec.onnx, spec.cfg, es.nhwc(), dataset=spec.dataset if spec.cfg.quantize else None,
                       rknn_out=rknn, workdir=workdir)
    except ToolkitError as e:
        row.update(built=False, error=f"{e.step}: {e.reason}")
        return row, {"float": ref, "float_dets": f_dets}
    sim = res["outputs"]
    q_dets = decode(sim, es, spec.layout)
    q_map = coco_map(es, q_dets)
    agree = output_agreement(ref, sim, names)
    nc = len(es.names)
    cls = class_scores(sim, spec.layout, nc)
    cls_f = class_scores(ref, spec.layout, nc)
    from ..model.parity import cosine

    boot = bootstrap_difference(es, q_dets, f_dets, n=resamples)
    fid = score_fidelity(decode(ref, es, spec.layout, DEPLOY_CONF), decode(sim, es, spec.layout, DEPLOY_CONF))
    built_by = res.get("toolkit")
    row.update(built=True, built_by=built_by, disable_rules=res.get("disable_rules") or [],
               mAP50=q_map["mAP50"], mAP50_95=q_map["mAP50_95"],
               delta_mAP50_95=boot["difference"], delta_low=boot["low"], delta_high=boot["high"], delta_sd=boot["sd"],
               resolved=not (boot["low"] <= 0 <= boot["high"]),
               min_cosine=min(a["cosine"] for a in agree), cls_cosine=round(cosine(cls_f, cls), 6),
               cls_distinct_above_0_01=int(len(np.unique(cls[cls > 0.01]))),
               share_at_0_5=round(float((np.abs(cls - 0.5) < 1e-6).mean()), 5),
               median_score_drop=fid["median_drop"], worst_score_drop=fid["worst_drop"],
               share_losing_over_0_1=fid[f"share_losing_over_{SCORE_LOSS}"], detections_lost=fid["lost"],
               rknn_MB=round(res["rknn_bytes"] / 2**20, 3), build_s=res["build_seconds"],
               sim_ms_per_frame=round(1000 * res["infer_seconds_per_image"], 1),
               postprocess_ms=postprocess_ms(sim, es, spec.layout), rknn=str(rknn),
               ops=layer_ops(workdir / spec.cfg.name / "toolkit.log"))  # the build's own log (jobs.simulate)
    parts = {"float": ref, "int8": sim, "float_dets": f_dets, "int8_dets": q_dets, "fidelity": fid}
    if reference is not None and reference.get("int8_dets") is not None and spec.cfg.quantize:
        vs = bootstrap_difference(es, q_dets, reference["int8_dets"], n=resamples)
        row.update(vs_reference=vs["difference"], vs_low=vs["low"], vs_high=vs["high"])
    return row, parts


def _slug(label: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9.]+", "_", label).strip("_").lower()[:80]


# --------------------------------------------------------------------------- the model zoo's recipe
def model_zoo_calibration(info, out_dir, count: int = MODEL_ZOO_CALIB, split: str = "train") -> str:
    """The model zoo's calibration: the first ``count`` images of a split as they are (no letterbox: the toolkit
    resizes each to the input size itself), listed in a ``dataset.txt`` with absolute paths."""
    images = list(info.splits.get(split, []))[:count]
    if not images:
        raise ValueError(f"the {split!r} split has no images to calibrate with")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    txt = out / "dataset.txt"
    from ..board.atomic import atomic_write_text

    atomic_write_text(txt, "".join(f"{Path(p).resolve()}\n" for p in images))
    return str(txt)


# --------------------------------------------------------------------------- tables, figure, conclusion
COLUMNS = ["path", "toolkit", "precision", "float_mAP50", "mAP50", "float_mAP50_95", "mAP50_95", "delta_mAP50_95",
           "delta_low", "delta_high", "vs_reference", "cls_distinct_above_0_01", "share_at_0_5", "cls_cosine",
           "min_cosine", "median_score_drop", "share_losing_over_0_1", "rknn_MB", "build_s", "sim_ms_per_frame",
           "postprocess_ms", "error"]


def frame(rows: list[dict]):
    import pandas as pd

    from ..toolkit.versions import pinned

    df = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in rows]).set_index("path")
    df["toolkit"] = df["toolkit"].replace("pinned", f"{pinned()} (pinned)")
    return df.drop(columns=[c for c in df.columns if df[c].isna().all()])


def silu_by_toolkit(rows: list[dict]) -> list[dict]:
    """The toolkit-release rows, one per (model, release): what each toolkit made of SiLU and of the scores."""
    out = []
    for r in rows:
        if r.get("family") != "toolkit" or not r.get("built"):
            continue
        ops = r.get("ops", {})
        out.append({"model": r["model"], "toolkit": r["built_by"], "pinned": r["toolkit"] == "pinned", "mAP50": r["mAP50"], "mAP50_95": r["mAP50_95"],
                    "float_mAP50_95": r["float_mAP50_95"], "share_at_0_5": r["share_at_0_5"],
                    "cls_distinct_above_0_01": r["cls_distinct_above_0_01"], "cls_cosine": r["cls_cosine"],
                    "ConvExSwish": ops.get("ConvExSwish", 0), "exSwish": ops.get("exSwish", 0),
                    "Sigmoid": ops.get("Sigmoid", 0), "Mul": ops.get("Mul", 0), "ConvRelu": ops.get("ConvRelu", 0)})
    return out


def workbook_specs(onnx: dict, ship: BuildConfig, calibration_txt, calibration_words: str, variant: str = "relu") -> list:
    """The workbook's own path (05's shipped configuration on the 9-output head) and the same build on the 6-output
    head (the score-sum question: the hybrid layer names of one graph do not carry over, so none there)."""
    return [PathSpec(f"workbook: patched head, 9 outputs, {ship.name}", "workbook", onnx[f"{variant}_npu9"], ship, "npu9",
                     str(calibration_txt), calibration_words, "05's choice"),
            PathSpec(f"workbook head, 6 outputs (no score sum), {dataclasses.replace(ship, float_layers=()).name}",
                     "workbook", onnx[f"{variant}_npu6"], dataclasses.replace(ship, float_layers=()), "npu6",
                     str(calibration_txt), calibration_words, "the same build without the score-sum outputs")]


def peer_specs(onnx: dict, info, target: str, calibration_txt, calibration_words: str, out_dir,
               variant: str = "relu") -> list:
    """The model zoo's recipe on the workbook's 9-output ONNX, and the stock head (the toolkit's advice followed)."""
    zoo = model_zoo_calibration(info, Path(out_dir) / "model_zoo_calibration")
    defaults = BuildConfig(target=target, quantize=True)
    return [PathSpec("model zoo recipe: 9 outputs, 20 images as they come, default settings", "model zoo",
                     onnx[f"{variant}_npu9"], defaults, "npu9", zoo,
                     f"the first {MODEL_ZOO_CALIB} train images, not letterboxed (the toolkit resizes them)",
                     "rknn_model_zoo convert.py"),
            PathSpec("stock head (DFL inside), toolkit's advice followed", "stock", onnx[f"{variant}_stock"], defaults,
                     "decoded", str(calibration_txt), calibration_words,
                     "breaks in a graph rule; built with it disabled as the toolkit advises")]


def toolkit_specs(onnx: dict, cfg: BuildConfig, calibration_txt, calibration_words: str, toolkits, variants) -> list:
    """``cfg`` on the 9-output head of every variant, built by every toolkit release in ``toolkits`` ("" = pinned)."""
    specs = []
    for v in variants:
        for tk in toolkits:
            from ..toolkit.versions import pinned

            s = PathSpec(f"{v}, toolkit {tk or pinned()}, {cfg.name}", "toolkit", onnx[f"{v}_npu9"],
                         dataclasses.replace(cfg, toolkit=tk, float_layers=()), "npu9", str(calibration_txt),
                         calibration_words)
            s.extra = {"model": v}
            specs.append(s)
    return specs


def measure_all(specs: list, es: EvalSet, out_dir, resamples: int = 100, reference_label: str | None = None,
                progress: bool = True, workers: int | None = None) -> tuple[list[dict], dict]:
    """:func:`measure` for every spec (the reference, if named, first; then the others side by side,
    :func:`.toolkit.jobs.side_by_side`: each build has its own work folder and child process, so their build and
    simulator times are taken beside a neighbour); rows and ``{label: parts}``."""
    from tqdm.auto import tqdm

    from ..toolkit.jobs import side_by_side

    cache, parts = {}, {}
    for s in specs:  # every float reference once, before any thread reads them
        _float_reference(s, es, cache)
    bar = tqdm(total=len(specs), desc="paths", disable=not progress)
    first = [s for s in specs if s.label == reference_label]
    rest = [s for s in specs if s.label != reference_label]
    ref = None
    for s in first:
        row, ref = measure(s, es, out_dir, cache, resamples)
        parts[s.label] = ref
        bar.update(1)
    measured = side_by_side(lambda s: measure(s, es, out_dir, cache, resamples, reference=ref), rest, workers, bar)
    bar.close()
    rows = {s.label: r for s, (r, _) in zip(rest, measured)}
    parts.update({s.label: p for s, (_, p) in zip(rest, measured)})
    if first:
        rows[first[0].label] = row
    return [rows[s.label] for s in specs], parts
