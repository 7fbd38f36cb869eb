"""``%%toolkit``: a notebook cell of plain rknn-toolkit2 calls, run in a child process.

The reader sees and edits the toolkit's own sequence (``RKNN()``, ``config``, ``load_onnx``, ``build``,
``export_rknn``, ``init_runtime``, ``inference``, ``release``), yet the kernel never hosts the toolkit:
the cell's code runs in a fresh process through :func:`.isolation.run_isolated`, the path every helper
takes, so the toolkit's ``exit()`` or a hard abort becomes a :class:`.logs.ToolkitError` in the notebook.

Usage, after ``%load_ext helpers.toolkit.cell``::

    %%toolkit --in onnx_path,image --out outputs --workdir runs/x/work/cell
    rknn = RKNN(verbose=False)
    ...

Names after ``--in`` are copied from the notebook into the cell (picklable values: paths, numpy arrays,
numbers); names after ``--out`` come back into the notebook. ``RKNN`` is imported for the cell. What the
cell prints is shown; the toolkit's own log lines stay in the log file (its path is printed).
``--toolkit 2.3.2`` runs the cell with another rknn-toolkit2 release set up beside the pinned one
(:mod:`.versions`); without it, the pinned release.
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path

from .isolation import run_isolated

#: what the cell itself prints goes here too (the toolkit's own lines only to the log)
PRINTS = "cell.prints.txt"


def _cell_job(log_file: str, code: str, inputs: dict, outputs: list) -> dict:
    import builtins

    from rknn.api import RKNN

    prints = Path(log_file).with_name(PRINTS)

    def cell_print(*args, **kw):  # the cell's own print: to its own file (and the log)
        builtins.print(*args, **kw)
        if kw.get("file") is None:
            with open(prints, "a") as f:
                builtins.print(*args, **{**kw, "file": f})

    ns = {"RKNN": RKNN, "print": cell_print, "__name__": "__toolkit_cell__", **inputs}
    exec(compile(code, "<%%toolkit cell>", "exec"), ns)  # noqa: S102 - the reader's own cell, in its own process
    missing = [k for k in outputs if k not in ns]
    if missing:
        raise NameError(f"the cell defined no {', '.join(missing)} (listed after --out)")
    return {k: ns[k] for k in outputs}


def run_cell(code: str, inputs: dict | None = None, outputs=(), workdir=None, timeout: float | None = 1800,
             toolkit: str = "") -> dict:
    """Run ``code`` with ``inputs`` as its variables in a toolkit child process (of release ``toolkit``, "" = the
    pinned one); return the ``outputs`` it set."""
    from .versions import python_for

    workdir = Path(workdir or tempfile.mkdtemp(prefix="toolkit-cell-"))
    (workdir / PRINTS).unlink(missing_ok=True)
    return run_isolated(_cell_job, workdir, workdir / "cell.log", timeout, python=python_for(toolkit), code=code,
                        inputs=dict(inputs or {}), outputs=list(outputs))


def own_prints(log_file) -> str:
    """What the cell printed (not the toolkit's log lines, which stay in ``log_file``)."""
    p = Path(log_file).with_name(PRINTS)
    return p.read_text(errors="replace").rstrip("\n") if p.is_file() else ""


class _Args(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit(); a magic must not end the kernel
        raise ValueError(f"%%toolkit: {message} (usage: %%toolkit --in a,b --out c --workdir \"path\")")


def _parse(line: str):
    p = _Args(prog="%%toolkit", add_help=False)
    p.add_argument("--in", dest="inputs", default="")
    p.add_argument("--out", dest="outputs", default="")
    p.add_argument("--workdir", default=None)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--toolkit", default="")
    a = p.parse_args(shlex.split(line))
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    return split(a.inputs), split(a.outputs), a.workdir, a.timeout, a.toolkit


def load_ipython_extension(ipython) -> None:
    from IPython.core.magic import register_cell_magic

    @register_cell_magic("toolkit")
    def toolkit(line, cell):
        ins, outs, workdir, timeout, release = _parse(line)
        missing = [k for k in ins if k not in ipython.user_ns]
        if missing:
            raise NameError(f"%%toolkit --in names not defined in the notebook: {', '.join(missing)}")
        workdir = Path(workdir or tempfile.mkdtemp(prefix="toolkit-cell-"))
        try:
            result = run_cell(cell, {k: ipython.user_ns[k] for k in ins}, outs, workdir, timeout, release)
        finally:
            log = workdir / "cell.log"
            if log.is_file():
                printed = own_prints(log)
                if printed:
                    print(printed)
                print(f"(the toolkit's log: {log})")
        ipython.user_ns.update(result)
