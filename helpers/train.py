"""Train a YOLOv8 from scratch (ReLU, or the SiLU twin) with ultralytics, offline.

The trained weights are copied atomically to ``<run>/01_train/<variant>.pt``; the
ultralytics run folder (curves, plots, last/best) stays under
``<run>/01_train/ultralytics/<variant>/``. Re-running with the same settings reuses
the finished model instead of training again (``force=True`` retrains).
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
from .artifacts import atomic_copy, stage_dir, write_json
from .offline import configure_ultralytics


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

    ``weights``: a local checkpoint whose tensors (same name and shape) are transplanted into the
    model built from this variant's yaml before the first step (:mod:`helpers.transplant`; refused
    with a clear error when the checkpoint does not fit). ``name`` names the files and the run
    folder (default: the variant), so a transplanted run can sit next to the scratch one. A pose
    dataset (``kpt_shape`` in its yaml) with a ``*-pose`` model trains a keypoint model (08 does,
    into its own ``stage`` folder); its record adds the pose mAP (OKS) beside the box mAP.

    ``nbs`` is ultralytics' nominal batch size: gradients are accumulated until ``nbs`` images
    have been seen. Its default (64) means a 240-image dataset at batch 16 gets only ~4
    optimizer steps per epoch, far too few to train from scratch in a CPU budget; we default
    it to ``batch`` (one step per batch; weight decay is scaled by ultralytics accordingly).
    The optimizer is AdamW at ``lr0`` (ultralytics' automatic choice for short runs is AdamW at
    about half of that, too slow from scratch); mosaic augmentation stops for the last
    ``close_mosaic`` epochs, so the model finishes on whole, full-size images. ``fit_boxes``
    applies :func:`fit_box_init` when training starts (see there: it is what trains stride 32 at
    320 px). On a CPU, torch trains with ``cpu_threads`` threads (default: every core this
    process may use).

    The record holds: weights path, mAP50, mAP50-95 (ultralytics' final validation of the
    best epoch), epochs run, wall seconds, seconds per epoch, the activation census of the
    saved checkpoint, and the settings used. ``reuse_only``: return that record when a finished run with
    identical settings can be reused, else None, without training (:func:`train_side_by_side` asks first).
    ``beside``: the runs trained at the same time as this one (recorded: its seconds per epoch are a share's).
    """
    configure_ultralytics(run_dir)
    from ultralytics import YOLO

    from .activations import parse_model, write_model_yaml
    from .data import check_dataset

    family, scale = parse_model(model)
    stage = stage_dir(run_dir, stage)
    info = check_dataset(data_yaml)
    if (info.task == "pose") != family.endswith("-pose"):
        raise ValueError(f"MODEL {model!r} is a {'pose' if family.endswith('-pose') else 'detection'} model, but "
                         f"{data_yaml} is a {info.task} dataset: use a '-pose' model with a pose dataset (kpt_shape in "
                         "data.yaml), a plain one with a detection dataset")
    resolved_yaml = info.write_resolved_yaml(stage / "data.resolved.yaml")
    model_yaml = write_model_yaml(stage, activation=variant, scale=scale, nc=info.nc, family=family)
    device = pick_device(device)
    nbs = nbs or batch
    settings = {"variant": variant, "data_yaml": str(Path(data_yaml).resolve()), "epochs": epochs, "imgsz": imgsz,
                "batch": batch, "nbs": nbs, "seed": seed, "scale": scale, "device": device, "patience": patience,
                "lr0": lr0, "close_mosaic": close_mosaic, "fit_boxes": fit_boxes, "extra": extra or {}}
    if family != "yolov8":  # (YOLOv8 records keep the fingerprint they always had: a finished run is reused)
        settings["family"] = family
    name = name or variant
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
    log_file = stage / f"{name}.train.log"
    t0 = time.perf_counter()
    import torch

    threads_before = torch.get_num_threads()  # training sets its own; the rest of the kernel keeps this
    with training_log.to_file(log_file, name) as on_epoch, _threads_restored(threads_before):
        yolo.add_callback("on_fit_epoch_end", on_epoch)  # a line every few epochs on screen, all in the file
        yolo.train(**train_arguments(resolved_yaml, epochs=epochs, imgsz=imgsz, batch=batch, nbs=nbs, seed=seed,
                                     lr0=lr0, close_mosaic=close_mosaic, device=device, cache=cache,
                                     patience=patience, project=stage / "ultralytics", name=name, extra=extra))
        rec = _record(yolo.trainer, out, time.perf_counter() - t0, seen)
    rec.update(beside=beside or [], log_file=str(log_file), variant=variant, name=name, model=model,
               model_yaml=str(model_yaml), device=device, settings=settings,
               fingerprint=fp, reused=False,
               transplant={**plan.summary(), "loaded": seen.get("transplanted")} if plan else None)
    write_json(record_file, rec)
    return rec


@contextlib.contextmanager
def _threads_restored(threads: int):
    try:
        yield
    finally:
        import torch

        torch.set_num_threads(threads)


_CHILD_LOG_TAIL = 30  # lines of a failed child's output its error shows


def train_side_by_side(run_dir, jobs: list[dict]) -> list[dict]:
    """Train independent runs at the same time, each on its share of the CPU cores; return their records in order.

    ``jobs``: keyword arguments of :func:`train_variant` (``data_yaml`` and ``variant`` included), plain values only.
    On a CPU with two or more cores and two or more runs to train (a run that can be reused is not trained), the
    first trains in this process and each other one in a child process (``python -m helpers.train``), every run with
    ``cores // runs`` torch threads. Why: one run keeps a 2-core CPU only ~1.6 cores busy (its data loading and
    augmentation run on one thread between the steps), while two single-threaded runs keep both cores busy;
    measured on a 2-core machine at 320 px, 3 epochs of ReLU and of SiLU on 120 images: one after the other 236 s,
    side by side 176 s (1.34x the throughput); 01's full defaults (75 epochs each): 26.0 s/epoch each side by side
    against 14.0 s for one run alone (1.08x: the larger the dataset, the more of the time the steps fill). On a
    GPU, on one core, or with one run to train, the runs go one after the other, each on every core. The children's one-line-per-epoch output is printed here as it comes; a failed
    child raises with the last lines of its output (the full ultralytics log is in its ``<name>.train.log``).
    """
    import subprocess
    import sys
    import tempfile
    import threading

    cores = len(os.sched_getaffinity(0))
    on_cpu = [pick_device(j.get("device", "auto")) == "cpu" for j in jobs]
    pending = [i for i, j in enumerate(jobs) if not on_cpu[i] or train_variant(run_dir, **j, reuse_only=True) is None]
    if len(pending) < 2 or cores < 2 or not all(on_cpu[i] for i in pending):
        return [train_variant(run_dir, **j) for j in jobs]
    share = max(1, cores // len(pending))
    screen = sys.stdout  # the children's lines go here, not where the run trained here sends its own output
    names = [jobs[i].get("name") or jobs[i]["variant"] for i in pending]
    children, relays, tails = [], [], {}
    try:
        for i, name in zip(pending[1:], names[1:]):
            spec = {"run_dir": str(run_dir), **jobs[i], "cpu_threads": share, "beside": names}
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(spec, f, default=str)  # paths as text
            proc = subprocess.Popen([sys.executable, "-m", "helpers.train", f.name], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    cwd=str(Path(__file__).resolve().parent.parent))
            tails[name] = []

            def relay(proc=proc, tail=tails[name]):
                for line in proc.stdout:
                    tail.append(line.rstrip("\n"))
                    del tail[:-_CHILD_LOG_TAIL]
                    print(line, end="", file=screen, flush=True)
            t = threading.Thread(target=relay, daemon=True)
            t.start()
            children.append((i, name, proc, f.name))
            relays.append(t)
        print(f"training {', '.join(names)} side by side, {share} of {cores} cores each", flush=True)
        records = {pending[0]: train_variant(run_dir, **jobs[pending[0]], cpu_threads=share, beside=names)}
        for (i, name, proc, spec_file), t in zip(children, relays):
            code = proc.wait()
            t.join()
            if code != 0:
                raise RuntimeError(f"training {name!r} (a child process beside {names[0]!r}) failed with exit code "
                                   f"{code}; its output ends:\n" + "\n".join(tails[name]))
            records[i] = train_variant(run_dir, **{**jobs[i], "force": False}, reuse_only=True)
            if records[i] is None:
                raise RuntimeError(f"training {name!r} ended without a record to reuse; its output ends:\n"
                                   + "\n".join(tails[name]))
            records[i]["reused"] = False  # trained just now, by the child
    finally:
        for _, _, proc, spec_file in children:
            if proc.poll() is None:  # an error or an interrupt here: the children go too
                proc.terminate()
                proc.wait()
            Path(spec_file).unlink(missing_ok=True)
    return [records[i] if i in records else train_variant(run_dir, **j) for i, j in enumerate(jobs)]


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


def transplant_comparison(scratch: dict, transplanted: dict, metric: str = "mAP50") -> dict:
    """What starting from another model's weights bought: losses early on, mAP at equal epochs and at the end,
    and how many epochs the transplanted run needed to reach the scratch run's final mAP50.

    Both arguments are :func:`train_variant` records. The scratch run usually trains longer: its
    figure "at equal epochs" is read from its curve mid-schedule (learning rate still high, mosaic
    still on), which is said in the conclusion. ``metric`` is the mAP followed (``pose_mAP50`` for
    keypoint models: OKS).
    """
    col = CURVES[metric]
    rows = {k: read_results_csv(Path(r["ultralytics_run"]) / "results.csv") for k, r in
            (("scratch", scratch), ("transplanted", transplanted))}
    n = min(len(rows["scratch"]), len(rows["transplanted"]))
    loss = {k: [round(train_loss(r), 4) for r in v] for k, v in rows.items()}
    reach = next((i + 1 for i, r in enumerate(rows["transplanted"]) if r.get(col, 0) >= scratch[metric]), None)
    final_keys = ("mAP50", "mAP50_95") + (("pose_mAP50", "pose_mAP50_95") if metric.startswith("pose") else ())
    out = {"epochs": {k: len(v) for k, v in rows.items()}, "metric": metric,
           "loss_first_epochs": {k: v[:5] for k, v in loss.items()},
           "mAP50_at_equal_epochs": {k: rows[k][n - 1].get(col) for k in rows} if n else {},
           "final": {k: {m: round(r[m], 4) for m in final_keys}
                     for k, r in (("scratch", scratch), ("transplanted", transplanted))},
           "epochs_to_reach_scratch_final_mAP50": reach,
           "transplant": transplanted.get("transplant"), "census": transplanted["activation_census"]}
    return out  # the sentence that reads it is the stage's: stages.s01_train.transplant_sentence


def train_models(run_dir, info, *, trained_weights: str = "", weights: str = "", silu_twin: bool = True,
                 **common) -> dict:
    """Notebook 01's models: brought checkpoints (``trained_weights``: no training, :func:`bring_all`), or the ReLU
    model (from scratch, or started from ``weights``) and, with ``silu_twin``, its SiLU twin. ``{variant: record}``."""
    if trained_weights:
        from .bring import bring_all

        return bring_all(run_dir, trained_weights, info, common.get("imgsz", 320))
    jobs = [dict(data_yaml=str(info.yaml_path), variant="relu", weights=weights or None, **common)]
    if silu_twin:  # the twin trains beside the ReLU model on a multi-core CPU (train_side_by_side)
        jobs.append(dict(data_yaml=str(info.yaml_path), variant="silu", **common))
    return {j["variant"]: rec for j, rec in zip(jobs, train_side_by_side(run_dir, jobs))}


def measure_transplant(run_dir, info, records: dict, transplant_epochs: int,
                       **common) -> tuple[dict, dict] | tuple[None, None]:
    """A ReLU run of ``transplant_epochs`` started from the SiLU twin's weights, compared with the scratch ReLU run.

    Returns (comparison, the transplanted run's record), or (None, None) when there is nothing to measure:
    ``transplant_epochs`` is 0, or 01 did not train both a scratch ReLU model and a SiLU twin (brought models, or
    the ReLU model itself started from ``WEIGHTS``).
    """
    if (not transplant_epochs or not {"relu", "silu"} <= set(records) or records["relu"].get("transplant")
            or any(r.get("brought") for r in records.values())):  # brought models: nothing was trained here
        return None, None
    short = {**common, "epochs": transplant_epochs,
             "close_mosaic": min(common.get("close_mosaic", 15), transplant_epochs // 3)}
    moved = train_variant(run_dir, info.yaml_path, "relu", weights=records["silu"]["weights"], name="relu_from_silu",
                          **short)
    return transplant_comparison(records["relu"], moved), moved


def silu_twin_of(run_dir) -> str | None:
    """The SiLU twin 01 trained in this run (the default transplant source of 08), or None."""
    from .artifacts import metrics_path

    p = metrics_path(run_dir, "01_train")
    if not p.is_file():
        return None
    silu = json.loads(p.read_text()).get("variants", {}).get("silu")
    return silu["weights"] if silu and Path(silu["weights"]).is_file() else None


def train_pose_models(run_dir, info, *, weights: str = "", model: str = "yolov8n-pose", trained_weights: str = "",
                      **common) -> dict:
    """Notebook 08's keypoint models: ReLU from scratch and, with a source (``weights``, else 01's SiLU twin),
    ReLU started from it, same epochs. Returns ``{"scratch": rec, "transplanted": rec | None, "comparison": ...,
    "main": the better start (the transplanted one when there is one)}``. ``trained_weights``: an already trained
    keypoint checkpoint used as it is instead (``"brought"``: its record; no training, no comparison)."""
    if trained_weights:
        from .bring import bring_trained

        brought = bring_trained(run_dir, trained_weights, info, common.get("imgsz", 320), stage="08_pose",
                                param="POSE_TRAINED_WEIGHTS")
        return {"scratch": None, "transplanted": None, "brought": brought, "source": None, "comparison": None,
                "main": brought}
    source = weights or silu_twin_of(run_dir)
    kw = dict(data_yaml=str(info.yaml_path), variant="relu", model=model, stage="08_pose", **common)
    jobs = [dict(name="pose_relu_scratch", **kw)] + ([dict(name="pose_relu_transplanted", weights=str(source), **kw)]
                                                     if source else [])
    scratch, moved = (train_side_by_side(run_dir, jobs) + [None])[:2]  # side by side on a multi-core CPU
    return {"scratch": scratch, "transplanted": moved, "brought": None, "source": source,
            "comparison": transplant_comparison(scratch, moved, metric="pose_mAP50") if moved else None,
            "main": moved or scratch}


if __name__ == "__main__":  # one run of train_side_by_side, in a child process: python -m helpers.train SPEC.json
    import sys

    train_variant(**json.loads(Path(sys.argv[1]).read_text()))
