"""Activation swap (SiLU -> ReLU) and an activation census of a torch model.

Why ReLU: the RKNN toolkit quantizes ReLU exactly (it fuses into the preceding
convolution as a clamp), while SiLU becomes a separate lookup-table op whose
INT8 approximation costs accuracy and time. The swap is done the documented way:
the model yaml's ``activation:`` key, which ultralytics applies to every ``Conv``
and keeps in the model's stored yaml, so a model rebuilt from it stays ReLU.
(Setting ``Conv.default_act`` globally works for one build only: the stored yaml has
no activation key, so a rebuild from it - a fresh process, ultralytics' own tools -
silently returns to SiLU. ``tests/unit/model/test_heads_export.py`` shows both.)
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch.nn as nn

from ..runfolder.artifacts import atomic_write_text

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


#: model families: name -> ultralytics' base yaml (under cfg/models/); a "-pose" family is the keypoint model
FAMILIES = {"yolov8": "v8/yolov8.yaml", "yolo11": "11/yolo11.yaml", "yolov8-pose": "v8/yolov8-pose.yaml",
            "yolo11-pose": "11/yolo11-pose.yaml"}
SCALES = "nsmlx"


def model_name(family: str, scale: str) -> str:
    """``("yolov8-pose", "n")`` -> ``"yolov8n-pose"`` (ultralytics' naming: the scale follows the version)."""
    base, _, task = family.partition("-")
    return f"{base}{scale}" + (f"-{task}" if task else "")


def parse_model(name: str) -> tuple[str, str]:
    """``"yolov8n"`` -> ``("yolov8", "n")``; ``"yolo11s"`` -> ``("yolo11", "s")``; ``"yolov8n-pose"`` ->
    ``("yolov8-pose", "n")``; a clear error otherwise."""
    n = str(name).strip().lower().removesuffix(".pt").removesuffix(".yaml")
    for family in FAMILIES:
        for scale in SCALES:
            if n == model_name(family, scale):
                return family, scale
    raise ValueError(f"MODEL {name!r}: use one of {', '.join(model_name(f, s) for f in FAMILIES for s in SCALES)} "
                     "(a family and a scale letter; the yaml is ultralytics' own, the weights yours or trained here)")


def write_model_yaml(target_dir: str | os.PathLike, activation: str = "relu", scale: str = "n",
                     nc: int | None = None, family: str = "yolov8") -> Path:
    """Write ``<family><scale>-<activation>.yaml``: ultralytics' own model yaml plus ``activation:``.

    The base file is read from the installed ultralytics (never edited). The scale letter
    stays in the file name because ultralytics picks the model scale from it.
    """
    import yaml

    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if scale not in SCALES or len(scale) != 1:
        raise ValueError(f"scale must be one of n, s, m, l, x; got {scale!r}")
    base = stock_yaml(family)
    cfg = yaml.safe_load(base.read_text())
    cfg["activation"] = ACTIVATIONS[activation]
    if nc is not None:
        cfg["nc"] = int(nc)
    dest = Path(target_dir) / f"{model_name(family, scale)}-{activation}.yaml"
    header = (f"# Generated from {base.name} of ultralytics (unchanged but for the keys below).\n"
              f"# activation: {ACTIVATIONS[activation]} is applied to every Conv block and saved in checkpoints.\n")
    atomic_write_text(dest, header + yaml.safe_dump(cfg, sort_keys=False))
    return dest


def build_model(model_yaml: str | os.PathLike, nc: int, kpt_shape=None):
    """An untrained DetectionModel (a PoseModel with ``kpt_shape``) from a yaml (what training starts from)."""
    from ultralytics.nn.tasks import DetectionModel, PoseModel

    if kpt_shape:
        return PoseModel(str(model_yaml), nc=nc, data_kpt_shape=tuple(kpt_shape), verbose=False)
    return DetectionModel(str(model_yaml), nc=nc, verbose=False)


def activation_kind(model: nn.Module) -> dict:
    """What a checkpoint's model really computes, and what its stored yaml would rebuild.

    - ``relu-yaml``: ReLU modules and ``activation: nn.ReLU()`` in the yaml (rebuilds as ReLU: safe);
    - ``relu-edited``: ReLU modules but no activation key (made by editing ``Conv.default_act``):
      the modules are ReLU, a rebuild from the yaml silently gives SiLU, so the workbook uses the
      modules and never rebuilds it;
    - ``silu``: the stock activation;
    - ``mixed``: anything else.
    """
    census = activation_census(model)
    key = str((getattr(model, "yaml", None) or {}).get("activation", ""))
    if census["ReLU"] and not census["SiLU"]:
        kind = "relu-yaml" if "ReLU" in key else "relu-edited"
    elif census["SiLU"] and not census["ReLU"]:
        kind = "silu"
    else:
        kind = "mixed"
    notes = {"relu-yaml": "ReLU, stored in its yaml: rebuilding it keeps ReLU.",
             "relu-edited": "ReLU modules, but its yaml has no activation key (Conv.default_act was edited): "
                            "rebuilding it from the yaml would silently give SiLU, so the workbook uses the "
                            "checkpoint's modules as they are.",
             "silu": "SiLU: notebook 06 measures what that costs after INT8; to retrain it with ReLU, run 01 with "
                     "WEIGHTS set to this file (its weights are transplanted into a ReLU model).",
             "mixed": "a mix of activations: check the census."}
    return {"kind": kind, "census": census, "yaml_activation": key or None, "note": notes[kind]}


def stock_yaml(family: str) -> Path:
    """Ultralytics' own model yaml for a family (``"yolov8"``, ``"yolo11"``, ...): read, never edited."""
    from ultralytics.utils import ROOT

    return ROOT / "cfg" / "models" / FAMILIES[family]


def yaml_diff(model_yaml: str | os.PathLike, family: str) -> list[str]:
    """What a written model yaml changes in ultralytics' own (both parsed, so comments and layout do not count)."""
    import difflib

    import yaml

    def lines(path):
        return yaml.safe_dump(yaml.safe_load(Path(path).read_text()), sort_keys=True).splitlines()

    return [ln for ln in difflib.unified_diff(lines(stock_yaml(family)), lines(model_yaml), "ultralytics: " +
                                              stock_yaml(family).name, "ours: " + Path(model_yaml).name, lineterm="", n=0)
            if not ln.startswith("@@")]


def census_in_fresh_process(model_yaml: dict, nc: int) -> dict[str, int]:
    """Rebuild a model from its stored yaml (``model.yaml``) in a new Python process and count its activations.

    A fresh process is what a rebuild meets later: another notebook's kernel, ultralytics' trainer
    (``YOLO("model.pt").train()`` builds a new model from the checkpoint's yaml), an export script.
    """
    import json
    import subprocess
    import sys
    import tempfile

    from ..runfolder.artifacts import PROJECT_ROOT

    code = ("import json, sys; from ultralytics.nn.tasks import DetectionModel; "
            "from helpers.model.activations import activation_census; cfg = json.load(open(sys.argv[1])); "
            "print('CENSUS', json.dumps(activation_census(DetectionModel(cfg, nc=int(sys.argv[2]), verbose=False))))")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(model_yaml, f)
        f.flush()
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        p = subprocess.run([sys.executable, "-c", code, f.name, str(nc)], capture_output=True, text=True, env=env,
                           timeout=300)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("CENSUS ")), None)
    if p.returncode or line is None:
        raise RuntimeError(f"rebuilding the model in a fresh process failed:\n{p.stderr[-2000:]}")
    return json.loads(line[7:])
