"""Activation swap (SiLU -> ReLU) and an activation census of a torch model.

Why ReLU: the RKNN toolkit quantizes ReLU exactly (it fuses into the preceding
convolution as a clamp), while SiLU becomes a separate lookup-table op whose
INT8 approximation costs accuracy and time. The swap is done the documented way:
the model yaml's ``activation:`` key, which ultralytics applies to every ``Conv``
and keeps in the model's stored yaml, so a model rebuilt from it stays ReLU.
(Setting ``Conv.default_act`` globally works for one build only: the stored yaml has
no activation key, so a rebuild from it - a fresh process, ultralytics' own tools -
silently returns to SiLU. ``tests/unit/test_heads_export.py`` shows both.)
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch.nn as nn

from .artifacts import atomic_write_text

#: the activation modules counted by the census
ACTIVATION_TYPES = (nn.SiLU, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.GELU,
                    nn.Mish, nn.Tanh, nn.PReLU, nn.ELU)

ACTIVATIONS = {"relu": "nn.ReLU()", "silu": "nn.SiLU()"}


def activation_census(model: nn.Module) -> dict[str, int]:
    """How many activation *uses* the model has, by type (e.g. ``{'SiLU': 0, 'ReLU': 57}``).

    Ultralytics shares one activation instance among all ``Conv`` blocks, so modules are
    counted with duplicates (each use counts once). ``SiLU`` and ``ReLU`` are always
    present in the result, with 0 when absent, so tables line up.
    """
    counts: Counter[str] = Counter()
    for _, m in model.named_modules(remove_duplicate=False):
        if isinstance(m, ACTIVATION_TYPES):
            counts[type(m).__name__] += 1
    out = {"SiLU": counts.pop("SiLU", 0), "ReLU": counts.pop("ReLU", 0)}
    out.update(sorted(counts.items()))
    return out


def write_model_yaml(target_dir: str | os.PathLike, activation: str = "relu", scale: str = "n",
                     nc: int | None = None) -> Path:
    """Write ``yolov8<scale>-<activation>.yaml``: ultralytics' own yolov8.yaml plus ``activation:``.

    The base file is read from the installed ultralytics (never edited). The scale letter
    stays in the file name because ultralytics picks the model scale from it.
    """
    import yaml
    from ultralytics.utils import ROOT

    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if scale not in "nsmlx" or len(scale) != 1:
        raise ValueError(f"scale must be one of n, s, m, l, x; got {scale!r}")
    base = ROOT / "cfg" / "models" / "v8" / "yolov8.yaml"
    cfg = yaml.safe_load(base.read_text())
    cfg["activation"] = ACTIVATIONS[activation]
    if nc is not None:
        cfg["nc"] = int(nc)
    target = Path(target_dir) / f"yolov8{scale}-{activation}.yaml"
    header = (f"# Generated from {base.name} of ultralytics (unchanged but for the keys below).\n"
              f"# activation: {ACTIVATIONS[activation]} is applied to every Conv block and saved in checkpoints.\n")
    atomic_write_text(target, header + yaml.safe_dump(cfg, sort_keys=False))
    return target


def build_model(model_yaml: str | os.PathLike, nc: int):
    """An untrained DetectionModel from a yaml (what training starts from)."""
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel(str(model_yaml), nc=nc, verbose=False)
