"""Train a YOLOv8 from scratch (ReLU, or the SiLU twin) with ultralytics, offline.

The trained weights are copied atomically to ``<run>/01_train/<variant>.pt``; the
ultralytics run folder (curves, plots, last/best) stays under
``<run>/01_train/ultralytics/<variant>/``. Re-running with the same settings reuses
the finished model instead of training again (``force=True`` retrains).

How a run is set up. ``nbs`` is ultralytics' nominal batch size: gradients are accumulated until ``nbs`` images
have been seen. Its default (64) gives a dataset of a few hundred images at batch 16 only a few optimizer steps
per epoch, far too few to train from scratch in a CPU budget; here it defaults to ``batch`` (one step per batch;
ultralytics scales the weight decay accordingly). The optimizer is AdamW at ``lr0`` (ultralytics' automatic
choice for short runs is AdamW at about half of that, too slow from scratch); mosaic augmentation stops for the
last ``close_mosaic`` epochs, so the model finishes on whole, full-size images. :func:`fit_box_init` is what
trains stride 32 at 320 px. On a CPU, torch trains with ``cpu_threads`` threads (default: every core this process
may use). A run's record holds its weights, mAP50 and mAP50-95 (ultralytics' final validation of the best epoch),
epochs run, wall seconds, seconds per epoch, the activation census of the saved checkpoint and its settings.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from . import training_log
from ..runfolder.artifacts import atomic_copy, stage_dir, write_json
from ..runfolder.offline import configure_ultralytics


def pick_device(device: str = "auto") -> str:
    """'auto' -> the first CUDA GPU when present, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _fingerprint(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _bins_alpha(target: float, reg_max: int) -> float:
    """The slope ``a`` for which softmax(-a * k), k = 0..reg_max-1, has expectation ``target`` (bisection)."""
    import math

    lo, hi = 0.0, 10.0
    for _ in range(80):
        a = (lo + hi) / 2
        w = [math.exp(-a * k) for k in range(reg_max)]
        e = sum(k * wk for k, wk in enumerate(w)) / sum(w)
        lo, hi = (a, hi) if e > target else (lo, a)
    return (lo + hi) / 2


def fit_box_init(model, imgsz: int, max_frac: float = 0.75) -> dict:
    """Start each stride's boxes no larger than ``max_frac`` of the image; returns {stride: initial box px}.

    An untrained Detect head predicts a uniform distribution over the 16 DFL bins: an expected
    distance of 7.5 bins per side, a box of 15 x stride. At stride 32 that is 480 px, larger than
    a 320-px image, so the assigner (which ranks predictions by IoU with each object) never picks
    a stride-32 cell, stride 32 never gets a training target and its outputs stay empty. Tilting
    that stride's initial DFL logits towards small bins makes its first boxes fit the image and
    lets it compete for large objects. At 640 px every stride already fits: nothing changes.
    Works on ultralytics' DetectionModel (its last layer is Detect with ``cv2`` box branches).
    """
    import torch

    det = model.model[-1]
    reg_max = int(det.reg_max)
    uniform = (reg_max - 1) / 2
    out = {}
    for i, s in enumerate(float(x) for x in det.stride.tolist()):
        spread = min(uniform, max_frac * imgsz / (2 * s))
        if spread < uniform - 1e-6:
            a = _bins_alpha(spread, reg_max)
            conv = det.cv2[i][-1]
            with torch.no_grad():
                base = float(conv.bias.mean())
                conv.bias.copy_((base - a * torch.arange(reg_max, dtype=conv.bias.dtype)).repeat(4))
        out[int(s)] = round(2 * spread * s, 1)
    return out


def train_variant(run_dir, data_yaml, variant: str = "relu", *, epochs: int = 75, imgsz: int = 320,
                  batch: int = 8, nbs: int | None = None, seed: int = 0, model: str = "yolov8n", device: str = "auto",
                  lr0: float = 0.002, close_mosaic: int = 15, fit_boxes: bool = True,
                  patience: int = 100, cache: bool = True, force: bool = False, extra: dict | None = None,
                  cpu_threads: int | None = None, weights: str | None = None, name: str | None = None,
                  stage: str = "01_train", reuse_only: bool = False, beside: list | None = None) -> dict | None:
    """Train one variant ('relu' or 'silu'), from scratch or from ``weights``; return its record for metrics.json.

    ``weights``: a local checkpoint whose tensors (same name and shape) are transplanted into the model built
    from this variant's yaml (:mod:`.transplant`; refused clearly when it does not fit). ``name`` names the files
    and the run folder (default: the variant). A pose dataset with a ``*-pose`` model trains a keypoint model
    into ``stage``. ``nbs`` defaults to ``batch``, ``fit_boxes`` applies :func:`fit_box_init` (the module's
    docstring says why). ``reuse_only``: the record of a finished run with identical settings, else None, without
    training. ``beside``: the runs trained at the same time (recorded: its seconds per epoch are a share's).
    """
    configure_ultralytics(run_dir)
    from ultralytics import YOLO

    from .activations import parse_model, write_model_yaml

    family, scale = parse_model(model)
    stage = stage_dir(run_dir, stage)
    info = _checked_dataset(data_yaml, family, model)
    resolved_yaml = info.write_resolved_yaml(stage / "data.resolved.yaml")
    model_yaml = write_model_yaml(stage, activation=variant, scale=scale, nc=info.nc, family=family)
    device, nbs, name = pick_device(device), nbs or batch, name or variant
    settings = {"variant": variant, "data_yaml": str(Path(data_yaml).resolve()), "epochs": epochs, "imgsz": imgsz,
                "batch": batch, "nbs": nbs, "seed": seed, "scale": scale, "device": device, "patience": patience,
                "lr0": lr0, "close_mosaic": close_mosaic, "fit_boxes": fit_boxes, "extra": extra or {}}
    if family != "yolov8":  # (YOLOv8 records keep the fingerprint they always had: a finished run is reused)
        settings["family"] = family
    plan = _transplant_plan(weights, model_yaml, info, model, settings) if weights else None
    fp = _fingerprint(settings)
    out, record_file = stage / f"{name}.pt", stage / f"{name}.train.json"
    if not force and (rec := _reusable(record_file, out, fp)):
        return rec
    if reuse_only:
        return None
    # ultralytics appends to an existing results.csv: start the variant's run folder afresh
    # (the previous weights stay in place until the new ones replace them atomically)
    shutil.rmtree(stage / "ultralytics" / name, ignore_errors=True)
    yolo = YOLO(str(model_yaml), task=info.task)
    seen = _add_callbacks(yolo, device, imgsz, fit_boxes and plan is None, cpu_threads, plan)
    args = train_arguments(resolved_yaml, epochs=epochs, imgsz=imgsz, batch=batch, nbs=nbs, seed=seed, lr0=lr0,
                           close_mosaic=close_mosaic, device=device, cache=cache, patience=patience,
                           project=stage / "ultralytics", name=name, extra=extra)
    rec, log_file = _fit(yolo, args, out, stage, name, seen)
    rec.update(beside=beside or [], log_file=str(log_file), variant=variant, name=name, model=model,
               model_yaml=str(model_yaml), device=device, settings=settings, fingerprint=fp, reused=False,
               transplant={**plan.summary(), "loaded": seen.get("transplanted")} if plan else None)
    write_json(record_file, rec)
    return rec


def _checked_dataset(data_yaml, family: str, model: str):
    """The dataset, checked; refused when its task and the model's differ (a pose model needs a pose dataset)."""
    from .data import check_dataset

    info = check_dataset(data_yaml)
    if (info.task == "pose") != family.endswith("-pose"):
        raise ValueError(f"MODEL {model!r} is a {'pose' if family.endswith('-pose') else 'detection'} model, but "
                         f"{data_yaml} is a {info.task} dataset: use a '-pose' model with a pose dataset (kpt_shape in "
                         "data.yaml), a plain one with a detection dataset")
    return info


def _fit(yolo, args: dict, out: Path, stage: Path, name: str, seen: dict) -> tuple[dict, Path]:
    """ultralytics' training, quiet on screen (its full log in ``<name>.train.log``), torch's thread count restored
    after it; the run's record and its log file."""
    import torch

    log_file = stage / f"{name}.train.log"
    t0 = time.perf_counter()
    threads_before = torch.get_num_threads()  # training sets its own; the rest of the kernel keeps this
    with training_log.to_file(log_file, name) as on_epoch, _threads_restored(threads_before):
        yolo.add_callback("on_fit_epoch_end", on_epoch)  # a line every few epochs on screen, all in the file
        yolo.train(**args)
        return _record(yolo.trainer, out, time.perf_counter() - t0, seen), log_file


@contextlib.contextmanager
def _threads_restored(threads: int):
    try:
        yield
    finally:
        import torch

        torch.set_num_threads(threads)


def train_arguments(data_yaml, *, epochs: int, imgsz: int, batch: int, nbs: int, seed: int, lr0: float,
                    close_mosaic: int, device: str, cache: bool = True, patience: int = 100, project="ultralytics",
                    name: str = "relu", extra: dict | None = None) -> dict:
    """The keyword arguments :func:`train_variant` gives ultralytics' ``YOLO(yaml).train(...)`` (01 shows them)."""
    return dict(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, nbs=nbs, seed=seed, deterministic=True,
                optimizer="AdamW", lr0=lr0, close_mosaic=close_mosaic, device=device,
                workers=0 if device == "cpu" else 4, cache=cache, patience=patience, project=str(project), name=name,
                exist_ok=True, pretrained=False, plots=True, verbose=False, **(extra or {}))


def _transplant_plan(weights, model_yaml, info, model: str, settings: dict):
    """Check ``weights`` against the model the yaml builds (a clear error when they do not fit); note it in ``settings``."""
    from . import transplant
    from .activations import build_model

    plan = transplant.check(transplant.plan(build_model(model_yaml, info.nc, info.kpt_shape), weights), model)
    settings["weights"] = {"path": str(Path(weights).resolve()), "bytes": Path(weights).stat().st_size}
    return plan


def _reusable(record_file: Path, weights: Path, fingerprint: str) -> dict | None:
    """The record of a finished run with identical settings, if there is one (then nothing is trained again)."""
    if weights.is_file() and record_file.is_file():
        rec = json.loads(record_file.read_text())
        if rec.get("fingerprint") == fingerprint:
            return {**rec, "reused": True}
    return None


def _add_callbacks(model, device: str, imgsz: int, fit_boxes: bool, cpu_threads: int | None, plan=None) -> dict:
    """Ultralytics' documented callbacks: every CPU core, the thread count seen, the initial boxes, the transplant.

    Returns what they observe during training: ``{"threads": set, "box_init": {stride: px}}``.
    """
    import torch

    seen: dict = {"threads": set(), "box_init": {}}
    if device == "cpu":
        threads = cpu_threads or len(os.sched_getaffinity(0))
        # ultralytics' device selection leaves torch one thread fewer than the CPU has cores: on a
        # 2-core machine, one thread, half the machine idle. Training gets every core back.
        model.add_callback("on_pretrain_routine_start", lambda trainer: torch.set_num_threads(threads))
    # what torch really used, checked every epoch (recorded, and tested)
    model.add_callback("on_train_epoch_start", lambda trainer: seen["threads"].add(torch.get_num_threads()))
    if plan is not None:
        from .transplant import apply

        def _transplant(trainer):  # into the model ultralytics built from our yaml, and its EMA copy
            for m in (trainer.model, getattr(trainer.ema, "ema", None)):
                if m is not None:
                    seen["transplanted"] = apply(m, plan)
        model.add_callback("on_pretrain_routine_end", _transplant)
    if fit_boxes:
        def _fit(trainer):  # after ultralytics built the model (and its EMA copy), before the first step
            for m in (trainer.model, getattr(trainer.ema, "ema", None)):
                if m is not None:
                    seen["box_init"].update(fit_box_init(m, imgsz))
        model.add_callback("on_pretrain_routine_end", _fit)
    return seen


def _record(trainer, weights: Path, wall: float, seen: dict) -> dict:
    """Copy the best checkpoint to ``weights`` (atomically) and describe the run for metrics.json."""
    from ultralytics.nn.tasks import load_checkpoint

    from .activations import activation_census

    run_folder = Path(trainer.save_dir)
    best = run_folder / "weights" / "best.pt"
    if not best.is_file():
        raise RuntimeError(f"training finished without {best}; see the log above")
    atomic_copy(best, weights)
    m = trainer.metrics or {}
    epochs_run = len(read_results_csv(run_folder / "results.csv"))
    ckpt_model, _ = load_checkpoint(weights)
    return {
        "weights": str(weights),
        "ultralytics_run": str(run_folder),
        "mAP50": float(m.get("metrics/mAP50(B)", float("nan"))),
        "mAP50_95": float(m.get("metrics/mAP50-95(B)", float("nan"))),
        "precision": float(m.get("metrics/precision(B)", float("nan"))),
        "recall": float(m.get("metrics/recall(B)", float("nan"))),
        "epochs": epochs_run,
        "train_seconds": round(wall, 1),
        "seconds_per_epoch": round(wall / max(epochs_run, 1), 2),
        "torch_threads": sorted(seen["threads"]),
        "activation_census": activation_census(ckpt_model),
        "initial_box_px": {str(k): v for k, v in seen["box_init"].items()},
        "parameters": int(sum(p.numel() for p in ckpt_model.parameters())),
        **({"pose_mAP50": float(m["metrics/mAP50(P)"]), "pose_mAP50_95": float(m["metrics/mAP50-95(P)"])}
           if "metrics/mAP50(P)" in m else {}),
    }


def read_results_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """ultralytics' per-epoch results.csv as a list of {column: value} (column names stripped)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k.strip(): float(v) for k, v in r.items() if k is not None and v not in (None, "")} for r in rows]


def activation_census_table(run_dir, nc: int, model: str = "yolov8n") -> list[dict]:
    """Census of freshly built models: the stock yaml (SiLU) vs the generated ReLU yaml."""
    configure_ultralytics(run_dir)
    from .activations import activation_census, build_model, parse_model, write_model_yaml

    family, scale = parse_model(model)
    rows = []
    for act in ("silu", "relu"):
        yaml_path = write_model_yaml(stage_dir(run_dir, "01_train"), activation=act, scale=scale, nc=nc, family=family)
        rows.append({"model": yaml_path.name, **activation_census(build_model(yaml_path, nc))})
    return rows


def train_loss(row: dict) -> float:
    """The training loss of one epoch: the sum of every loss ultralytics logs (box, cls, dfl; pose adds pose, kobj)."""
    return sum(v for k, v in row.items() if k.startswith("train/") and k.endswith("_loss"))


#: the mAP a transplant comparison follows: record key -> ultralytics' results.csv column
CURVES = {"mAP50": "metrics/mAP50(B)", "pose_mAP50": "metrics/mAP50(P)"}
