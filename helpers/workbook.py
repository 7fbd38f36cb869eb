"""Run the workbook headless: every notebook in order, with papermill, into one run folder.

    python -m helpers.workbook run                      # full defaults -> runs/main
    python -m helpers.workbook run --run-dir runs/try --only 01 02 -p EPOCHS=5
    python -m helpers.workbook run --shipped            # 01 brings the shipped checkpoints, no training -> runs/shipped

Executed notebooks go to ``<run>/notebooks/``; a short summary of what each stage
measured goes to ``<run>/summary.md`` (and ``summary.json``); an HTML rendering of every executed
notebook and of the summary goes to ``<run>/html/`` (open ``index.html``: no Jupyter needed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .runfolder import params
from .runfolder.artifacts import PROJECT_ROOT, atomic_write_text, recorded, resolve_run_dir, write_json

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def notebooks(only=None) -> list[Path]:
    """The workbook's notebooks in pipeline order (optionally only those whose number is in ``only``).

    00, the map, runs last: it shows what the run just recorded.
    """
    nbs = sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    nbs = [p for p in nbs if not p.name.startswith("00_")] + [p for p in nbs if p.name.startswith("00_")]
    if only:
        wanted = {str(o).zfill(2) for o in only}
        nbs = [p for p in nbs if p.name[:2] in wanted]
    return nbs


def unknown_notebooks(only) -> list[str]:
    """The numbers in ``only`` that name no notebook of the workbook."""
    have = {p.name[:2] for p in notebooks()}
    return [str(o) for o in only or [] if str(o).zfill(2) not in have]


def shipped_parameters() -> dict:
    """The fast lane's parameters: 01 and 08 bring the workbook's own trained checkpoints (data/checkpoints/,
    each checked against its manifest) instead of training; every other parameter keeps its default."""
    from .model import checkpoints

    rel = {n: checkpoints.path(n).relative_to(PROJECT_ROOT).as_posix() for n in checkpoints.REFERENCES}
    return {"TRAINED_WEIGHTS": f"{rel['yolov8n-relu']},{rel['yolov8n-silu']}",
            "POSE_TRAINED_WEIGHTS": rel["yolov8n-pose-relu"]}


def notebook_parameters(path: Path) -> dict:
    """The literal values of a notebook's ``parameters`` cell."""
    return {name: p.default for name, p in params.declared(path).items()}


def declared_parameters(nbs: list[Path]) -> dict[str, params.Param]:
    """Every parameter the notebooks ``nbs`` declare (one name has one type across notebooks)."""
    out: dict[str, params.Param] = {}
    for nb in nbs:
        for name, p in params.declared(nb).items():
            if name in out and out[name].type != p.type:
                raise params.ParameterError(f"{name} is a {out[name].type} in one notebook and a {p.type} in {nb.name}")
            out.setdefault(name, p)
    return out


def check_parameters(nbs: list[Path], parameters: dict) -> None:
    """Refuse, before anything runs, a parameter no notebook in ``nbs`` declares or a value of the wrong type."""
    declared = declared_parameters(nbs)
    problems = params.unknown([k for k in parameters if k != "RUN_DIR"], declared)
    if problems:
        raise params.ParameterError("; ".join(problems) + ". Nothing was run.")
    params.check(parameters, declared)


def execute(notebook: Path, run_dir: Path, parameters: dict | None = None, log_output: bool = False) -> dict:
    """Execute one notebook with papermill into ``<run>/notebooks/``; returns name, seconds, output path."""
    import papermill as pm

    declared = notebook_parameters(notebook)
    values = {"RUN_DIR": str(run_dir)}
    values.update({k: v for k, v in (parameters or {}).items() if k in declared})
    out = run_dir / "notebooks" / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    os.environ["WORKBOOK_HEADLESS"] = "1"  # the kernel inherits it: widgets stay static (widgets.headless)
    try:
        pm.execute_notebook(str(notebook), str(out), parameters=values, kernel_name="python3",
                            cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=log_output)
    except pm.PapermillExecutionError:
        if unexpected_errors(out):
            raise
        _drop_error_banner(out)  # only the failures the notebook teaches on purpose
    return {"notebook": notebook.name, "seconds": round(time.perf_counter() - t0, 1), "output": str(out),
            "parameters": values}


def _error_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"
            and any(o.get("output_type") == "error" for o in c.get("outputs", []))]


def unexpected_errors(executed_notebook: Path) -> list[str]:
    """Sources of cells that raised but are not tagged ``raises-exception`` (a taught failure)."""
    import nbformat

    nb = nbformat.read(str(executed_notebook), as_version=4)
    return [c.source for c in _error_cells(nb) if "raises-exception" not in c.metadata.get("tags", [])]


def _drop_error_banner(executed_notebook: Path) -> None:
    """papermill reports a tagged, expected failure like any other; remove its banner cells."""
    import nbformat

    nb = nbformat.read(str(executed_notebook), as_version=4)
    nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    nbformat.write(nb, str(executed_notebook))


def summarize(run_dir: Path, executed: list[dict] | None = None) -> str:
    """A Markdown summary of what every finished stage recorded (headline figures only, in words)."""
    from .notebook.columns import figure, headline_label

    lines = [f"# Workbook run: {run_dir}", ""]
    if executed:
        lines += ["| notebook | seconds |", "|---|---:|"]
        lines += [f"| {e['notebook']} | {e['seconds']} |" for e in executed]
        lines.append("")
    for stage, data in recorded(run_dir).items():
        headline = data.get("headline", {})
        lines.append(f"## {stage}")
        lines += [f"- {headline_label(k)}: {figure(v)}" for k, v in headline.items()] or ["- (no headline figures recorded)"]
        lines.append("")
    return "\n".join(lines)


def render_html(executed_notebook: Path, out_dir: Path) -> Path:
    """One executed notebook as a standalone HTML page (nbconvert, images embedded), written atomically."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed_notebook), as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    dest = Path(out_dir) / (Path(executed_notebook).stem + ".html")
    atomic_write_text(dest, body)
    return dest


def render_index(run_dir: Path) -> Path:
    """``<run>/html/index.html``: the run's report (:mod:`helpers.notebook.report`), linking every rendered notebook."""
    from .notebook import report

    executed = []
    if (run_dir / "summary.json").is_file():
        executed = json.loads((run_dir / "summary.json").read_text()).get("executed", [])
    return report.write(run_dir, executed)


def run(run_dir="runs/main", only=None, parameters: dict | None = None, log_output: bool = False) -> list[dict]:
    check_parameters(notebooks(only), parameters or {})
    run_dir = resolve_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    earlier = []  # a partial run (--only) keeps the other notebooks' records of an earlier run
    if only and (run_dir / "summary.json").is_file():
        wanted = {str(o).zfill(2) for o in only}
        earlier = [e for e in json.loads((run_dir / "summary.json").read_text()).get("executed", [])
                   if e["notebook"][:2] not in wanted]
    for nb in notebooks(only):
        print(f"[workbook] {nb.name} ...", flush=True)
        try:
            rec = execute(nb, run_dir, parameters, log_output)
        finally:  # a failed notebook is rendered too: its HTML shows where it stopped
            if (run_dir / "notebooks" / nb.name).is_file():
                render_html(run_dir / "notebooks" / nb.name, run_dir / "html")
        print(f"[workbook] {nb.name} done in {rec['seconds']} s -> {rec['output']}", flush=True)
        executed.append(rec)
        records = sorted(earlier + executed, key=lambda e: e["notebook"])
        write_json(run_dir / "summary.json", {"executed": records})
        atomic_write_text(run_dir / "summary.md", summarize(run_dir, records))
        render_index(run_dir)
    print(summarize(run_dir, executed))
    return executed


def _split_param(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"parameters look like NAME=VALUE, got {s!r}")
    k, v = s.split("=", 1)
    return k.strip(), v


def parse_parameters(raw: list[tuple[str, str]], only=None) -> dict:
    """``-p NAME=VALUE`` pairs read by the types the notebooks declare (refused with a hint otherwise)."""
    declared = declared_parameters(notebooks(only))
    problems = params.unknown([k for k, _ in raw if k != "RUN_DIR"], declared)
    if problems:
        raise params.ParameterError("; ".join(problems) + ". Nothing was run.")
    return {k: params.parse_cli(k, v, declared) for k, v in raw}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.workbook", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebooks in order")
    r.add_argument("--run-dir", default=None, help="run folder (relative paths: from the project root; default "
                   "runs/main, with --shipped runs/shipped)")
    r.add_argument("--only", nargs="*", help="notebook numbers to run, e.g. 01 02")
    r.add_argument("-p", "--param", action="append", type=_split_param, default=[],
                   help="override a parameter in every notebook that declares it, e.g. -p EPOCHS=10")
    r.add_argument("--log-output", action="store_true", help="stream the notebooks' output")
    r.add_argument("--shipped", action="store_true", help="the fast lane: 01 and 08 bring the workbook's own trained "
                   "checkpoints (data/checkpoints/) instead of training; everything after runs as in the full run")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        if bad := unknown_notebooks(args.only):
            print(f"[workbook] no notebook numbered {', '.join(bad)}; the notebooks are: "
                  + ", ".join(p.name for p in sorted(notebooks())) + ". Nothing was run.", file=sys.stderr)
            return 2
        try:
            parameters = parse_parameters(args.param, args.only)
            if args.shipped:
                from .model.checkpoints import CheckpointError

                try:
                    parameters = {**shipped_parameters(), **parameters}
                except CheckpointError as e:
                    print(f"[workbook] {e}", file=sys.stderr)
                    return 2
        except params.ParameterError as e:
            print(f"[workbook] {e}", file=sys.stderr)
            return 2
        run(args.run_dir or ("runs/shipped" if args.shipped else "runs/main"), args.only, parameters,
            args.log_output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
