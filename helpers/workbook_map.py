"""The map of the workbook (notebook 00): what each notebook does, needs and writes, and what the last run measured.

Everything is read from the notebooks and the stage definitions themselves, so the map cannot go
stale: a notebook's title and "What you'll do" come from its first cell, its inputs from
:data:`helpers.stages.INPUTS`, its time and headline figures from the run folder when a run exists.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .runfolder.artifacts import PROJECT_ROOT, STAGES, recorded, resolve_run_dir

NOTEBOOKS = PROJECT_ROOT / "notebooks"


def _first_cell(notebook: Path) -> str:
    return "".join(json.loads(notebook.read_text())["cells"][0]["source"])


def describe(notebook: Path) -> dict:
    """Title and the first sentence of "What you'll do" of one notebook."""
    text = _first_cell(notebook)
    title = next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("# ")), notebook.stem)
    m = re.search(r"\*\*What you'll do\.\*\*\s*(.+?\.)(\s|$)", text, re.S)
    return {"notebook": notebook.name, "title": title, "does": " ".join(m.group(1).split()) if m else ""}


def entries(run_dir: str | os.PathLike = "runs/main") -> list[dict]:
    """One row per stage notebook, in order, with the last run's seconds and headline when there is one."""
    from .stages import INPUTS

    run = resolve_run_dir(run_dir)
    seconds = {}
    if (run / "summary.json").is_file():
        seconds = {e["notebook"]: e["seconds"] for e in json.loads((run / "summary.json").read_text())["executed"]}
    rows, done = [], recorded(run)
    for stage, nb in STAGES.items():
        row = describe(NOTEBOOKS / nb)
        needs = sorted({src for src, _ in INPUTS[stage].values()})
        row.update(stage=stage, needs=[STAGES[s] for s in needs], writes=f"RUN_DIR/{stage}/",
                   seconds=seconds.get(nb),
                   headline=done[stage].get("headline", {}) if stage in done else None)
        rows.append(row)
    return rows


#: per stage, the headline figures the map shows (the stage's answer, not its bookkeeping); a stage not listed, or
#: a record without them, shows its first ones
MAP_FIGURES = {
    "01_train": ("relu_mAP50_95", "silu_mAP50_95", "epochs", "relu_seconds_per_epoch"),
    "02_patch": ("parity_ok", "max_box_diff_px", "max_score_diff"),
    "03_export": ("onnx_files", "min_cosine", "flagged_ops_in_patched"),
    "04_convert": ("fp16_min_cosine", "onnx_mAP50", "fp16_mAP50"),
    "05_quantize": ("ship", "ship_mAP50_95", "resolution_mAP50_95", "ship_min_cosine"),
    "06_analyze": ("relu_int8_mAP50", "silu_int8_mAP50", "activation_after_int8"),
    "07_deploy": ("runner_equals_notebook", "sim_frames_per_s_1", "sim_frames_per_s_2", "stream_limited_by"),
    "08_pose": ("pose_mAP50_95_onnxruntime", "pose_mAP50_95_rknn_int8", "ncnn_silu_over_relu"),
    "09_compare": ("workbook_int8_mAP50_95", "model_zoo_INT8_pinned_mAP50_95", "ultralytics_INT8_2.3.2_mAP50_95"),
}


def _fmt(v) -> str:
    """Five significant digits: a cosine of 0.99998 stays 0.99998, not 1 (:func:`.columns.figure`)."""
    from .notebook.columns import figure

    return figure(v)


def figures_of(stage: str, headline: dict, figures: int = 4) -> list[tuple]:
    """The headline figures the map shows for ``stage`` (:data:`MAP_FIGURES`, else the first ``figures``)."""
    chosen = [(k, headline[k]) for k in MAP_FIGURES.get(stage, ()) if k in headline]
    return chosen or list(headline.items())[:figures]


def markdown(run_dir: str | os.PathLike = "runs/main", figures: int = 4) -> str:
    """The map as a Markdown table; headline figures (the first ``figures`` of each) from the run, if any."""
    rows = entries(run_dir)
    ran = any(r["headline"] for r in rows)
    out = ["| notebook | what it does | needs | last run |", "|---|---|---|---|"]
    for r in rows:
        last = "not run yet"
        if r["headline"] is not None:
            figs = figures_of(r["stage"], r["headline"], figures)
            last = "; ".join(f"{k} {_fmt(v)}" for k, v in figs)
            if r["seconds"] is not None:
                last = f"{r['seconds'] / 60:.1f} min · " + last
        needs = ", ".join(n[:2] for n in r["needs"]) or "nothing"
        out.append(f"| **{r['notebook']}**<br>{r['title']} | {r['does']} | {needs} | {last} |")
    note = (f"Figures: the run in `{resolve_run_dir(run_dir)}`." if ran else
            f"No run in `{resolve_run_dir(run_dir)}` yet: the README lists what a full-default run measured.")
    return "\n".join(out) + "\n\n" + note
