"""How the reference checkpoints are made, and whether this code would still make them.

:func:`train_references` trains every model of :data:`~helpers.model.checkpoints.REFERENCES` with the main
job's defaults (read from the notebooks' own ``parameters`` cells, so they cannot drift) on the embedded
synthetic datasets, and stores them small: ultralytics strips the optimizer and keeps fp16 weights. Beside
each ``<name>.pt`` its ``<name>.json`` says how it was made: the settings, the dataset generator, its
configuration and the SHA-256 of every image it trained on, the model yaml, the library versions, the
checkpoint's own SHA-256 and the figures it reached. :func:`stale` says when the generator, the model yaml
or the pinned ultralytics no longer match what made them, with the command that makes them again
(``python scripts/train_checkpoints.py``) and how long it took.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from ..runfolder.artifacts import PROJECT_ROOT, atomic_copy, write_json
from .checkpoints import (COMMAND, REFERENCES, SHIPPED, CheckpointError, Reference, defaults, manifest_of, sha256,
                          training_duration, verify)


def image_hashes(files) -> list[str]:
    """The SHA-256 of each image file, in order (the exact bytes ultralytics read)."""
    return [sha256(f) for f in files]


def digest(hashes) -> str:
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def synthetic_config(notebook: str):
    """The embedded dataset's configuration at the main job's defaults (01: shapes; 08: stick figures)."""
    d = defaults(notebook)
    if notebook == "08":
        from .synthetic_pose import PoseSynthConfig

        return PoseSynthConfig(n_train=d["SYNTH_TRAIN"], n_val=d["SYNTH_VAL"], seed=d["SYNTH_SEED"])
    from .synthetic import SynthConfig

    return SynthConfig(n_train=d["SYNTH_TRAIN"], n_val=d["SYNTH_VAL"], seed=d["SYNTH_SEED"])


def generate(notebook: str, root: str | os.PathLike, cfg=None) -> Path:
    """The embedded dataset of ``notebook`` (``cfg``: the main job's by default) under ``root``; its data.yaml."""
    cfg = cfg or synthetic_config(notebook)
    if notebook == "08":
        from .synthetic_pose import generate_pose_synthetic

        return generate_pose_synthetic(root, cfg, progress=False)
    from .synthetic import generate_synthetic

    return generate_synthetic(root, cfg, progress=False)


def _generator(notebook: str) -> tuple[str, int]:
    if notebook == "08":
        from . import synthetic_pose as g
    else:
        from . import synthetic as g
    return g.__name__, g.GENERATOR_VERSION


def model_yaml_text(ref: Reference, nc: int) -> str:
    """The model yaml this code writes for ``ref`` today (what the checkpoint was built from)."""
    from .activations import parse_model, write_model_yaml

    family, scale = parse_model(ref.model)
    with tempfile.TemporaryDirectory() as d:
        return Path(write_model_yaml(d, ref.variant, scale, nc=nc, family=family)).read_text()


def versions() -> dict:
    from importlib.metadata import version

    return {"ultralytics": version("ultralytics"), "torch": version("torch"), "numpy": version("numpy"),
            "opencv-python": version("opencv-python"), "python": platform.python_version()}


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "helpers"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "") if out.returncode == 0 else None
    except OSError:
        return None


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _portable(settings: dict) -> dict:
    """Training settings without this machine's paths (the dataset and a start checkpoint by file name)."""
    out = dict(settings)
    if "data_yaml" in out:
        out["data_yaml"] = Path(out["data_yaml"]).name
    if isinstance(out.get("weights"), dict):
        out["weights"] = {**out["weights"], "path": Path(out["weights"]["path"]).name}
    return out


def manifest(ref: Reference, rec: dict, info, cfg, stored: Path) -> dict:
    """The manifest of one trained checkpoint: how it was made, and what it reached."""
    gen, gen_version = _generator(ref.notebook)
    train_files = list(info.splits["train"])
    hashes = image_hashes(train_files)
    figures = {k: rec.get(k) for k in ("mAP50", "mAP50_95", "pose_mAP50", "pose_mAP50_95", "precision", "recall")
               if rec.get(k) is not None}
    return {
        "name": ref.name, "file": stored.name, "sha256": sha256(stored), "bytes": stored.stat().st_size,
        "role": ref.role, "model": ref.model, "variant": ref.variant, "notebook": ref.notebook,
        "settings": _portable(rec.get("settings", {})),
        "started_from": Path(rec["transplant"]["weights"]).name if rec.get("transplant") else None,
        "dataset": {"generator": gen, "generator_version": gen_version, "config": dict(cfg.__dict__),
                    "names": list(info.names), "train_images": len(hashes), "val_images": len(info.splits["val"]),
                    "train_sha256": digest(hashes), "train_image_sha256": hashes},
        "model_yaml": model_yaml_text(ref, info.nc), "versions": versions(),
        "figures": {**{k: round(float(v), 4) for k, v in figures.items()}, "epochs": rec["epochs"],
                    "seconds_per_epoch": rec["seconds_per_epoch"], "train_seconds": rec["train_seconds"],
                    "torch_threads": rec.get("torch_threads"), "beside": rec.get("beside") or []},
        "made": {"command": COMMAND, "commit": _commit(), "cpu": _cpu(), "cores": len(os.sched_getaffinity(0))},
    }


def _store(ref: Reference, rec: dict, info, cfg, dest: Path) -> dict:
    """Copy a trained checkpoint into ``dest`` (optimizer stripped, fp16) and write its manifest beside it."""
    from ultralytics.utils.torch_utils import strip_optimizer

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        small = Path(tmp) / f"{ref.name}.pt"
        atomic_copy(rec["weights"], small)
        strip_optimizer(str(small))  # ultralytics already did at the end of training: this keeps it so
        stored = atomic_copy(small, dest / f"{ref.name}.pt")
    m = manifest(ref, rec, info, cfg, Path(stored))
    write_json(dest / f"{ref.name}.json", m)
    return m


def train_references(work_dir: str | os.PathLike, dest: str | os.PathLike = SHIPPED, only=None) -> dict:
    """Train every reference model as the main job's notebooks would, into ``work_dir``; store them in ``dest``.

    01's ReLU model and SiLU twin train side by side (as 01 does), then the YOLO11n (01 with
    ``MODEL='yolo11n'``, no twin), then 08's two keypoint runs side by side (scratch, and started from the
    SiLU twin: the one 08 keeps is the started one). A run finished with identical settings in ``work_dir``
    is reused, so an interrupted run goes on where it stopped. Returns ``{name: manifest}``.
    """
    from . import data, trainings

    work, dest = Path(work_dir), Path(dest)
    d01, d08 = defaults("01"), defaults("08")
    cfg = synthetic_config("01")
    info = data.prepare_dataset("", work, cfg, progress=False)
    common = dict(epochs=d01["EPOCHS"], imgsz=d01["IMGSZ"], batch=d01["BATCH"], seed=d01["SEED"],
                  device=d01["DEVICE"], lr0=d01["LR0"], close_mosaic=d01["CLOSE_MOSAIC"], fit_boxes=d01["FIT_BOXES"])
    want = set(only or REFERENCES)
    out = {}
    records = trainings.train_models(work, info, silu_twin=True, model=d01["MODEL"], **common)
    for v in ("relu", "silu"):
        if f"{d01['MODEL']}-{v}" in want:
            out[f"{d01['MODEL']}-{v}"] = _store(REFERENCES[f"{d01['MODEL']}-{v}"], records[v], info, cfg, dest)
    if "yolo11n-relu" in want:
        y11_run = work / "yolo11n"
        y11_info = data.prepare_dataset("", y11_run, cfg, progress=False)
        (y11,) = trainings.train_models(y11_run, y11_info, silu_twin=False, model="yolo11n", **common).values()
        out["yolo11n-relu"] = _store(REFERENCES["yolo11n-relu"], y11, y11_info, cfg, dest)
    if "yolov8n-pose-relu" in want:
        pcfg = synthetic_config("08")
        pinfo = data.prepare_pose_dataset("", work, pcfg, progress=False)
        pose = trainings.train_pose_models(work, pinfo, weights=records["silu"]["weights"], model=d08["MODEL"],
                                       epochs=d08["EPOCHS"], imgsz=d08["IMGSZ"], batch=d08["BATCH"], lr0=d08["LR0"],
                                       close_mosaic=d08["CLOSE_MOSAIC"])
        m = _store(REFERENCES["yolov8n-pose-relu"], pose["main"], pinfo, pcfg, dest)
        m["figures"]["scratch_run"] = {k: round(float(pose["scratch"][k]), 4)
                                       for k in ("pose_mAP50", "pose_mAP50_95", "mAP50", "mAP50_95")}
        write_json(dest / "yolov8n-pose-relu.json", m)
        out["yolov8n-pose-relu"] = m
    made = record_total(dest)
    return {n: made[n] for n in out}


def record_total(dest: Path) -> dict:
    """Write into every manifest how long making them all again takes (said where a stale one is refused)."""
    made = {n: m for n in REFERENCES if (m := manifest_of(Path(dest) / f"{n}.pt"))}
    total = wall_seconds(made.values())
    for name, m in made.items():
        m["made"]["all_training_seconds"] = total
        write_json(Path(dest) / f"{name}.json", m)
    return made


def wall_seconds(manifests) -> int:
    """The wall time of training them all: runs trained side by side (the same ``beside``) count once, the longest."""
    groups: dict = {}
    for m in manifests:
        key = tuple(m["figures"].get("beside") or [m["name"]])
        groups[key] = max(groups.get(key, 0), m["figures"]["train_seconds"])
    return round(sum(groups.values()))


# --------------------------------------------------------------------------- still what this code would make?

def stale(dest: str | os.PathLike = SHIPPED, check_images: bool = True) -> list[str]:
    """Why the shipped checkpoints no longer match this code (empty: they do), each reason one line with the fix.

    Checked: each file against its manifest's SHA-256; the pinned ultralytics; the model yaml this code
    writes; with ``check_images``, the embedded dataset regenerated from the manifest's configuration,
    image by image, against the SHA-256s it trained on (a few seconds).
    """
    dest = Path(dest)
    why = []
    fix = f"make them again with `{COMMAND}`"
    made = {}
    for name, ref in REFERENCES.items():
        p = dest / f"{name}.pt"
        try:
            m = verify(p)
        except CheckpointError as e:
            why.append(str(e))
            continue
        if m is None:
            why.append(f"{p} has no manifest beside it: {fix}")
            continue
        made[name] = m
        if m["versions"]["ultralytics"] != versions()["ultralytics"]:
            why.append(f"{name} was trained with ultralytics {m['versions']['ultralytics']}, this environment pins "
                       f"{versions()['ultralytics']}: {fix} ({training_duration(m)})")
        if m["model_yaml"] != model_yaml_text(ref, len(m["dataset"]["names"])):
            why.append(f"{name}: the model yaml this code writes for {ref.model} ({ref.variant}) changed since the "
                       f"checkpoint was trained: {fix} ({training_duration(m)})")
    if check_images:
        for notebook in sorted({REFERENCES[n].notebook for n in made}):
            ms = [m for n, m in made.items() if REFERENCES[n].notebook == notebook]
            with tempfile.TemporaryDirectory() as tmp:
                cfg = type(synthetic_config(notebook))(**ms[0]["dataset"]["config"])
                from .data import check_dataset

                info = check_dataset(generate(notebook, tmp, cfg))
                now = digest(image_hashes(info.splits["train"]))
            for m in ms:
                if m["dataset"]["train_sha256"] != now:
                    why.append(f"{m['name']}: the embedded dataset generator ({m['dataset']['generator']}) no longer "
                               f"makes the images it trained on: {fix} ({training_duration(m)})")
    return why
