"""Start a model from another checkpoint's weights: every tensor whose name and shape match.

The use: a ReLU model started from SiLU weights (COCO's ``yolov8n.pt``, or the SiLU twin notebook
01 trains). The activations differ, but the convolutions' filters are a far better start than
random ones (notebook 01 measures by how much). The transplant is ours, not ultralytics'
``pretrained=`` path: that one rebuilds the class branch from the source model when the class
counts differ — source modules, source activations (SiLU) — which would silently break the ReLU
census. Here only tensors move; the modules stay the ones built from the ReLU yaml.

A transplant is refused (:class:`TransplantError`) when it would be meaningless: when less than
:data:`MIN_SHARE` of the model's parameters find a match — another scale (``yolov8s.pt`` into an
``n`` model) or another architecture. A different class count only leaves the last class
convolutions untouched, which is ordinary fine-tuning; the report says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: below this share of the model's parameters matched by name and shape, a transplant is refused
MIN_SHARE = 0.5


class TransplantError(ValueError):
    """The checkpoint does not fit the model (the message says what to change)."""


@dataclass
class Plan:
    weights: str
    matched: dict = field(repr=False)  # name -> tensor, to load
    tensors_matched: int
    tensors_total: int
    params_matched: int
    params_total: int
    mismatched: list  # [(name, source shape, model shape)]
    source: dict      # scale, class count, yaml file of the checkpoint

    @property
    def share(self) -> float:
        return self.params_matched / max(self.params_total, 1)

    def summary(self) -> dict:
        return {"weights": self.weights, "tensors_matched": self.tensors_matched, "tensors_total": self.tensors_total,
                "params_matched": self.params_matched, "params_total": self.params_total,
                "share": round(self.share, 4), "not_transplanted": [m[0] for m in self.mismatched], **self.source}


def load_source(weights: str | os.PathLike):
    """The model object of a local ultralytics checkpoint (never downloads)."""
    from ultralytics.nn.tasks import load_checkpoint

    p = Path(weights).expanduser()
    if not p.is_file():
        raise TransplantError(f"WEIGHTS: no file at {p}. This workbook never downloads weights: put the checkpoint "
                              "there (official ones come from the ultralytics releases page, e.g. yolov8n.pt)")
    try:
        model, _ = load_checkpoint(p)
    except Exception as e:  # noqa: BLE001 - anything torch.load or ultralytics raises on a foreign file
        raise TransplantError(f"WEIGHTS: {p} is not an ultralytics checkpoint ({type(e).__name__}: {e})") from None
    return model


def plan(model, weights: str | os.PathLike) -> Plan:
    """Which tensors of ``weights`` fit ``model`` (same name, same shape), counted by tensors and parameters."""
    src = load_source(weights)
    csd = src.float().state_dict()
    dst = model.state_dict()
    matched = {k: v for k, v in csd.items() if k in dst and v.shape == dst[k].shape}
    mismatched = [(k, list(csd[k].shape), list(v.shape)) for k, v in dst.items() if k in csd and k not in matched]
    yaml = getattr(src, "yaml", {}) or {}
    source = {"source_scale": yaml.get("scale"), "source_yaml": str(yaml.get("yaml_file", "")),
              "source_nc": int(getattr(src.model[-1], "nc", -1)) if hasattr(src, "model") else None}
    return Plan(str(weights), matched, len(matched), len(dst), sum(v.numel() for v in matched.values()),
                sum(v.numel() for v in dst.values()), mismatched, source)


def check(p: Plan, model: str) -> Plan:
    """Refuse a transplant that would leave most of the model random; returns the plan."""
    if p.share < MIN_SHARE:
        src = p.source.get("source_scale") or "?"
        raise TransplantError(
            f"WEIGHTS: only {p.share:.0%} of the model's parameters find a tensor of the same name and shape in "
            f"{p.weights} ({p.tensors_matched} of {p.tensors_total} tensors). It is a scale-'{src}' model "
            f"({p.source.get('source_yaml') or 'unknown yaml'}), the workbook builds {model}: set MODEL to the "
            f"checkpoint's family and scale, or train from scratch (WEIGHTS = '').")
    return p


def apply(model, p: Plan) -> int:
    """Load the matched tensors into ``model`` (its modules untouched); returns how many were loaded."""
    missing_ok = model.load_state_dict(p.matched, strict=False)
    if missing_ok.unexpected_keys:  # pragma: no cover - plan() only keeps names the model has
        raise TransplantError(f"unexpected tensors: {missing_ok.unexpected_keys[:5]}")
    return len(p.matched)
