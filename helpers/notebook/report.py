"""The run's report, ``<run>/html/index.html``: what a person wants to read after a long run.

At the top, the expectations that failed or warned (with what to try); then one section per stage:
its headline figures, its conclusions in words, its key figure, and a link to the notebook's own
page. Everything comes from the stages' ``metrics.json`` and the figures they saved; nothing is
typed by hand. Pictures are linked relative to the run folder, so the folder opens anywhere.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from ..runfolder.artifacts import STAGES, atomic_write_text, recorded

#: each stage's key figure (a PNG its notebook saves in its stage folder), first one found wins
KEY_FIGURES = {"01_train": ["training_curves.png"], "02_patch": ["patched_vs_stock.png"],
               "03_export": ["graph_tails.png"], "04_convert": [], "05_quantize": ["calibration_size.png",
                                                                                   "calibration_samples.png"],
               "06_analyze": ["layer_cosine.png", "score_histograms.png"], "07_deploy": ["tile_merge.png"],
               "08_pose": ["runtimes.png", "training_curves.png"], "09_compare": ["paths.png"]}

STYLE = ("body{font-family:system-ui,sans-serif;max-width:64em;margin:2em auto;padding:0 1em;line-height:1.45;"
         "color:#222}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;"
         "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}img{max-width:100%;"
         "border:1px solid #eee}.fail{background:#fde8e8;border-left:4px solid #c33;padding:.4em .8em}"
         ".warn{background:#fff6dd;border-left:4px solid #c90;padding:.4em .8em}.ok{color:#370}"
         ".muted{color:#777}")


def _label(key: str) -> str:
    from .columns import headline_label

    return headline_label(key)


def _value(v) -> str:
    from .columns import figure

    return html.escape(figure(v))


def problems(metrics: dict) -> list[dict]:
    """Every expectation that failed, stage by stage: ``{stage, id, what, fix, stop}``."""
    return [{"stage": s, **{k: c.get(k) for k in ("id", "what", "fix", "stop")}}
            for s, m in metrics.items() for c in m.get("expectations", []) if not c.get("ok")]


def render(run_dir: str | os.PathLike, executed: list[dict] | None = None) -> str:
    """The report page as HTML text (see the module's docstring)."""
    run_dir = Path(run_dir)
    metrics = recorded(run_dir)
    pages = {p.stem: p.name for p in (run_dir / "html").glob("[0-9][0-9]_*.html")}
    seconds = {e["notebook"]: e["seconds"] for e in (executed or [])}
    out = [f"<!doctype html><meta charset='utf-8'><title>Workbook run: {html.escape(run_dir.name)}</title>",
           f"<style>{STYLE}</style>", f"<h1>Workbook run <code>{html.escape(str(run_dir))}</code></h1>"]
    stages_run = [s for s in STAGES if s in metrics]
    out.append(f"<p>{len(stages_run)} of {len(STAGES)} stages recorded"
               + (f", {sum(seconds.values()) / 60:.1f} min of notebooks" if seconds else "") + ". "
               + ("<a href='00_start_here.html'>The map of the workbook</a>. " if "00_start_here" in pages else "")
               + "Each section: the stage's headline figures, its conclusions (computed from this run), its key "
               "figure, and its notebook's full page.</p>")
    bad = problems(metrics)
    if bad:
        out.append("<h2>Expectations that did not hold</h2>")
        for p in bad:
            cls = "fail" if p["stop"] else "warn"
            out.append(f"<p class='{cls}'><b>{html.escape(p['stage'])} · {html.escape(str(p['id']))}</b> "
                       f"({'stopped the run' if p['stop'] else 'a warning'}): {html.escape(str(p['what']))}. "
                       f"<i>Try:</i> {html.escape(str(p['fix']))}</p>")
    else:
        out.append("<p class='ok'>Every stage's expectations held.</p>")
    for stage in stages_run:
        m = metrics[stage]
        nb = STAGES[stage]
        page = pages.get(Path(nb).stem)
        title = html.escape(nb[:-6])
        out.append(f"<h2 id='{stage}'>" + (f'<a href="{html.escape(page)}">{title}</a>' if page else title)
                   + (f" <span class='muted'>({seconds[nb] / 60:.1f} min)</span>" if nb in seconds else "") + "</h2>")
        checks = m.get("expectations", [])
        if checks:
            held = sum(bool(c.get("ok")) for c in checks)
            out.append(f"<p class='muted'>Expectations: {held} of {len(checks)} held.</p>")
        head = m.get("headline", {})
        if head:
            out.append("<table>" + "".join(f"<tr><th>{html.escape(_label(k))}</th><td>{_value(v)}</td></tr>"
                                           for k, v in head.items()) + "</table>")
        texts = [c.get("text") for c in m.get("conclusions", []) if c.get("text")]
        if texts:
            out.append("<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in texts) + "</ul>")
        for name in KEY_FIGURES.get(stage, []):
            if (run_dir / stage / name).is_file():
                cap = Path(f"{run_dir / stage / name}.caption.txt")
                out.append(f"<figure><img src='../{stage}/{html.escape(name)}' alt='{html.escape(stage)}: "
                           f"{html.escape(name)}' loading='lazy'>"
                           + (f"<figcaption><i>Figure.</i> {html.escape(cap.read_text())}</figcaption>"
                              if cap.is_file() else "") + "</figure>")
                break
    if seconds:
        out.append("<h2>Time per notebook</h2><table><tr><th>notebook</th><th>minutes</th></tr>"
                   + "".join(f"<tr><td>{html.escape(k)}</td><td>{v / 60:.1f}</td></tr>" for k, v in seconds.items())
                   + "</table>")
    return "\n".join(out)


def write(run_dir: str | os.PathLike, executed: list[dict] | None = None) -> Path:
    """Write ``<run>/html/index.html`` atomically."""
    run_dir = Path(run_dir)
    return atomic_write_text(run_dir / "html" / "index.html", render(run_dir, executed))
