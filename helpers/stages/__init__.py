"""The stages of the workbook, one module each, and a notebook's first and last line.

    S = stages.open_stage(RUN_DIR, "04_convert", globals())   # parameters checked, inputs read, folder made
    ...
    stages.close(RUN_DIR, "04_convert", record)               # conclusions, checks, headline: recorded, shown

A stage is one module (``s01_train`` … ``s09_compare``): what it takes from earlier stages'
records (``STAGE.inputs``; a missing one fails with :class:`~helpers.runfolder.artifacts.ArtifactMissing`
naming the notebook to run first), its headline figures, its conclusions and its checks, all
computed from the record its notebook makes. :func:`close` runs them, so a notebook's closing
cell is one call and nothing is computed twice.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from ..runfolder.artifacts import STAGES, require_artifact, stage_dir, update_metrics
from . import (s01_train, s02_patch, s03_export, s04_convert, s05_quantize, s06_analyze, s07_deploy, s08_pose,
               s09_compare)
from .common import ExpectationFailed, Stage, report_checks, show_conclusions

#: stage name -> its definition
DEFINITIONS: dict[str, Stage] = {m.STAGE.name: m.STAGE for m in (s01_train, s02_patch, s03_export, s04_convert,
                                                                  s05_quantize, s06_analyze, s07_deploy, s08_pose,
                                                                  s09_compare)}
#: stage -> {attribute: (earlier stage, metrics key)}: what each stage needs (read from the definitions)
INPUTS: dict[str, dict[str, tuple[str, str]]] = {k: d.inputs for k, d in DEFINITIONS.items()}

__all__ = ["DEFINITIONS", "INPUTS", "ExpectationFailed", "open_stage", "close", "conclude", "main_variant",
           "require_relu"]


def open_stage(run_dir: str | os.PathLike, stage: str, params: dict | None = None,
               check_all_labels: bool = True) -> SimpleNamespace:
    """The stage folder (``.dir``), every input of the stage as an attribute, and the dataset (``.info``).

    ``params`` (a notebook passes ``globals()``): its parameter values are checked against the types its
    parameters cell declares first, so a wrong one stops here with what to type, before anything runs.
    Keeps ultralytics offline with its settings in the run folder before anything can import it.
    """
    from ..runfolder.offline import configure_ultralytics

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if params is not None:
        from ..runfolder.params import check_namespace

        check_namespace(params, where=stage)
    configure_ultralytics(run_dir)
    got = {name: require_artifact(run_dir, src, key) for name, (src, key) in INPUTS[stage].items()}
    if "data_yaml" in got:
        from ..model.data import check_dataset

        got["info"] = check_dataset(got["data_yaml"], check_all_labels=check_all_labels)
    ns = SimpleNamespace(dir=stage_dir(run_dir, stage), **got)
    print(f"{stage}: stage folder {ns.dir}" + (f"; from earlier stages: {', '.join(INPUTS[stage])}"
                                               if INPUTS[stage] else ""))
    return ns


def main_variant(variants: dict, wanted: str = "") -> str:
    """The model a notebook works on: ``wanted`` if given, else the ReLU model, else the only one (a brought one)."""
    if wanted:
        if wanted not in variants:
            raise ValueError(f"VARIANT {wanted!r}: notebook 01 recorded {', '.join(variants)}")
        return wanted
    return "relu" if "relu" in variants else next(iter(variants))


def require_relu(variants: dict) -> None:
    """06 analyses the ReLU model against its SiLU twin: a clear error when 01 recorded no ReLU model."""
    if "relu" not in variants:
        raise ValueError("06 analyses the ReLU model (and compares it with SiLU); 01 recorded only "
                         f"{list(variants)}: run 01 with WEIGHTS set to your checkpoint to train a ReLU model from it")


def conclude(stage: str, record: dict) -> dict:
    """What the stage concludes and checks from ``record``, and its headline: ``{conclusions, expectations, headline}``."""
    d = DEFINITIONS[stage]
    found = d.conclusions(record)
    checks = d.checks(record)
    return {"conclusions": found, "expectations": checks,
            "headline": d.headline({**record, "conclusions": found, "expectations": checks})}


def close(run_dir: str | os.PathLike, stage: str, record: dict, show: bool = True) -> None:
    """A notebook's closing cell: record ``record`` with its conclusions, checks and headline; show them.

    Everything is written before a failed ``stop`` check raises :class:`ExpectationFailed`, so nothing is lost.
    Returns nothing (a notebook's last line would print the whole record): read it with ``artifacts.read_metrics``.
    """
    done = conclude(stage, record)
    update_metrics(run_dir, stage, **record, **done)
    if show:
        try:
            from IPython.display import Markdown, display
        except ImportError:  # pragma: no cover - outside Jupyter
            print("\n".join(f"- {k}: {v}" for k, v in done["headline"].items()))
        else:
            from ..notebook.columns import figure, headline_label

            display(Markdown("\n".join(f"- **{headline_label(k)}**: {figure(v)}" for k, v in done["headline"].items())))
            display(show_conclusions(done["conclusions"]))
        report_checks(done["expectations"])
