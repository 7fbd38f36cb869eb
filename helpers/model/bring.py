"""Already trained checkpoints brought into the workbook instead of training (01's ``TRAINED_WEIGHTS``, 08's
``POSE_TRAINED_WEIGHTS``): checked against the manifest beside them (:mod:`helpers.model.checkpoints`), their head and
classes against the dataset, copied into the stage folder and validated on its val split."""

from __future__ import annotations

from pathlib import Path

from ..runfolder.artifacts import atomic_copy, stage_dir
from ..runfolder.offline import configure_ultralytics


HEADS = {"detect": "Detect", "pose": "Pose"}  # the head a brought checkpoint of each task ends in


def _brought_path(weights, param: str) -> Path:
    """A brought checkpoint's path: relative paths are taken from the project root (as RUN_DIR is), not the cwd."""
    from ..runfolder.artifacts import PROJECT_ROOT

    p = Path(str(weights).strip()).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def bring_trained(run_dir, weights, info, imgsz: int, evaluate: bool = True, stage: str = "01_train",
                  param: str = "TRAINED_WEIGHTS") -> dict:
    """An already trained checkpoint enters the workbook in place of training.

    Copied to ``<run>/<stage>/<relu|silu>.pt`` (by what its modules compute, :func:`activation_kind`),
    with its own class names, which must match the dataset's class count; its head must be the dataset's
    task's (``Detect`` for 01, ``Pose`` with the same keypoints for 08). A checkpoint with a manifest beside
    it (``<stem>.json``, as the shipped reference checkpoints have: :mod:`helpers.model.checkpoints`) must match
    the manifest's SHA-256, and the record keeps the manifest's figures. ``evaluate`` runs ultralytics'
    validation on the dataset for the record's mAP. Returns a record shaped like :func:`train_variant`'s.
    """
    configure_ultralytics(run_dir)
    from .activations import activation_kind
    from .checkpoints import verify
    from .transplant import TransplantError, load_source

    weights = _brought_path(weights, param)
    manifest = verify(weights) if weights.is_file() else None  # a damaged file with a manifest: said so first
    try:
        model = load_source(weights)
    except TransplantError as e:
        raise TransplantError(str(e).replace("WEIGHTS", param)) from None
    head = type(model.model[-1]).__name__
    if head != HEADS[info.task]:
        raise ValueError(f"{param}: {weights} ends in {head}, not {HEADS[info.task]}: " + (
            "01's chain is for detection models (a pose model goes to 08's POSE_TRAINED_WEIGHTS)"
            if info.task == "detect" else "08 takes a keypoint (pose) model"))
    names = [str(n) for n in (model.names.values() if isinstance(model.names, dict) else model.names)]
    if len(names) != info.nc:
        raise ValueError(f"{param}: the model has {len(names)} classes ({', '.join(names[:5])}...), the "
                         f"dataset {info.yaml_path} has {info.nc}: set {'DATA_YAML' if info.task == 'detect' else 'POSE_DATA_YAML'} "
                         "to the dataset it was trained on")
    if info.task == "pose" and list(getattr(model.model[-1], "kpt_shape", [])) != list(info.kpt_shape):
        raise ValueError(f"{param}: the model predicts keypoints {list(model.model[-1].kpt_shape)}, the dataset "
                         f"{info.yaml_path} has kpt_shape {list(info.kpt_shape)}: give the dataset it was trained on")
    kind = activation_kind(model)
    variant = "relu" if kind["kind"].startswith("relu") else "silu"
    out = atomic_copy(weights, stage_dir(run_dir, stage) / f"{variant}.pt")
    rec = {"variant": variant, "name": variant, "weights": str(out), "brought": str(weights),
           "names": names, "activation_census": kind["census"], "activation_kind": kind,
           "epochs": manifest["figures"]["epochs"] if manifest else 0,  # where it was trained (0: not known)
           "seconds_per_epoch": None, "parameters": int(sum(p.numel() for p in model.parameters())),
           "mAP50": float("nan"), "mAP50_95": float("nan"), "precision": None, "recall": None,
           "train_seconds": 0, "reused": False, "initial_box_px": {},
           "device": "cpu", "torch_threads": []}
    if manifest:  # how it was made: the settings and figures it reached where it was trained
        rec["manifest"] = {"name": manifest["name"], "sha256": manifest["sha256"], "figures": manifest["figures"],
                           "settings": manifest["settings"], "epochs": manifest["figures"]["epochs"]}
    if evaluate:
        rec.update(_validate(out, info, stage_dir(run_dir, stage), imgsz))
    return rec


def bring_all(run_dir, trained_weights: str, info, imgsz: int, **kw) -> dict:
    """``TRAINED_WEIGHTS``: one checkpoint, or several separated by commas (a ReLU model and its SiLU twin), each
    brought by :func:`bring_trained`; ``{variant: record}``, the ReLU model first."""
    by: dict = {}
    for w in (w for w in str(trained_weights).split(",") if w.strip()):
        rec = bring_trained(run_dir, w, info, imgsz, **kw)
        if rec["variant"] in by:
            raise ValueError(f"{kw.get('param', 'TRAINED_WEIGHTS')}: {by[rec['variant']]['brought']} and "
                             f"{rec['brought']} are both {rec['variant']} models: give one ReLU model and, "
                             "optionally, its SiLU twin, separated by a comma")
        by[rec["variant"]] = rec
    return dict(sorted(by.items(), key=lambda kv: kv[0] != "relu"))


def _validate(weights: Path, info, stage: Path, imgsz: int) -> dict:
    """ultralytics' own validation of a checkpoint on the dataset's val split (mAP as 01 and 08 report it)."""
    from ultralytics import YOLO

    resolved = info.write_resolved_yaml(stage / "data.resolved.yaml")
    m = YOLO(str(weights), task=info.task).val(data=str(resolved), imgsz=imgsz, batch=8, device="cpu", plots=False,
                                               project=str(stage / "ultralytics"), name="val_brought",
                                               exist_ok=True, verbose=False)
    out = {"mAP50": float(m.box.map50), "mAP50_95": float(m.box.map)}
    if info.task == "pose":
        out.update(pose_mAP50=float(m.pose.map50), pose_mAP50_95=float(m.pose.map))
    return out
