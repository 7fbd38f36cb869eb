"""Run a toolkit job in a spawned child process, so the notebook kernel survives anything it does.

Some toolkit steps abort the whole process (hybrid quantization step 2 does on some configs),
and the toolkit calls ``exit()`` on some errors; it also drops ``check*.onnx`` files into the
*current directory*. A job therefore runs in a fresh interpreter (spawned, never a fork of a
notebook kernel) with its own work folder as the cwd and its stdout/stderr (C++ side included)
in a log file; whatever happens comes back as a result or a :class:`ToolkitError`.

Those ``check*.onnx`` files are the graph after each of the toolkit's passes, a full-size copy of
the model each (12 MB at 640 px for a YOLOv8n): worth reading when a step fails, dead weight when
it succeeds. They stay in the work folder of a job that failed and are removed after one that
succeeded (:func:`drop_scratch`); a chain run held 1.5 GB of them before.

A job for another rknn-toolkit2 release (``python=`` the interpreter of its environment,
:mod:`.versions`) runs the same way in that interpreter, started as ``python -m
helpers.toolkit.isolation REQUEST``: the job and its arguments go in a pickle file, its result
comes back in another (multiprocessing's spawn would hand the child this process's ``sys.path``,
and with it the pinned toolkit).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from ..board.atomic import atomic_write_bytes
from .logs import ToolkitError, error_tail

POLL_SECONDS = 0.2
#: what a toolkit job leaves in its work folder that nothing reads once the job succeeded: the graph
#: after each pass (``check0_base_optimize.onnx``, ``check3_fuse_ops.onnx``, ...), never a user's ``checkpoint.onnx``
SCRATCH = re.compile(r"check\d+_[a-z_]+\.onnx")


def drop_scratch(workdir) -> int:
    """Remove the toolkit's per-pass graph copies from ``workdir``; the bytes freed."""
    freed = 0
    for f in Path(workdir).glob("check*.onnx"):
        if SCRATCH.fullmatch(f.name) and f.is_file():
            freed += f.stat().st_size
            f.unlink(missing_ok=True)
    return freed


def child_setup(workdir: str, log_file: str) -> None:
    """In a toolkit child process: work in ``workdir`` and send stdout/stderr to ``log_file``."""
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def _resolve(job: Callable | str) -> Callable:
    """A module-level function, or ``"package.module:function"`` (importable in the child)."""
    if callable(job):
        return job
    mod, fn = job.split(":", 1)
    return getattr(importlib.import_module(mod), fn)


def _child_main(job, kwargs: dict, workdir: str, log_file: str, conn) -> None:
    try:
        child_setup(workdir, log_file)
        conn.send(("ok", _resolve(job)(log_file=log_file, **kwargs)))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent, including SystemExit
        step = getattr(e, "step", getattr(job, "__name__", str(job)))
        msg = e.reason if isinstance(e, ToolkitError) else f"{type(e).__name__}: {e}"
        conn.send(("error", {"step": step, "message": msg, "traceback": traceback.format_exc()}))
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass


def _wait(proc, conn, timeout: float | None, name: str, log_file: Path):
    """The child's message, or None when it ended without one; kills it after ``timeout`` seconds."""
    t0 = time.monotonic()
    while True:
        if conn.poll(POLL_SECONDS):
            try:
                return conn.recv()
            except EOFError:
                return None
        if not proc.is_alive():
            return conn.recv() if conn.poll(POLL_SECONDS) else None
        if timeout is not None and time.monotonic() - t0 > timeout:
            proc.kill()
            proc.join(5)
            raise ToolkitError(name, f"no answer after {timeout:.0f} s; the child process was stopped",
                               error_tail(log_file), str(log_file))


def _job_name(job: Callable | str) -> str:
    return job if isinstance(job, str) else f"{job.__module__}:{job.__qualname__}"


def _run_other_python(python: str, job, kwargs: dict, workdir: Path, log_file: Path, timeout: float | None, name: str):
    """The job in another interpreter (another toolkit's environment); the message as from a spawned child."""
    from .versions import REPO

    req, resp = workdir / f".{name}.request.pkl", workdir / f".{name}.result.pkl"
    resp.unlink(missing_ok=True)
    with open(req, "wb") as f:
        pickle.dump({"job": _job_name(job), "kwargs": kwargs, "workdir": str(workdir), "log_file": str(log_file),
                     "result": str(resp)}, f)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("PYTHONHOME", None)
    try:
        proc = subprocess.run([python, "-m", "helpers.toolkit.isolation", str(req)], cwd=workdir, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolkitError(name, f"no answer after {timeout:.0f} s; the child process was stopped",
                           error_tail(log_file), str(log_file)) from None
    finally:
        req.unlink(missing_ok=True)
    if not resp.is_file():
        return None, proc.returncode
    with open(resp, "rb") as f:
        msg = pickle.load(f)
    resp.unlink()
    return msg, proc.returncode


def _request_main(request: str) -> int:
    """``python -m helpers.toolkit.isolation REQUEST``: run one job from a request file (another toolkit's child)."""
    with open(request, "rb") as f:
        req = pickle.load(f)

    class _Conn:
        def send(self, msg):
            atomic_write_bytes(req["result"], pickle.dumps(msg))

    _child_main(req["job"], req["kwargs"], req["workdir"], req["log_file"], _Conn())
    return 0


def run_isolated(job: Callable | str, workdir, log_file=None, timeout: float | None = None, python: str | None = None,
                 **kwargs) -> Any:
    """Run ``job(log_file=..., **kwargs)`` in a fresh child process with ``workdir`` as its cwd.

    ``job`` is a module-level function (or ``"module:function"``). From a script, call this under
    ``if __name__ == "__main__":`` as multiprocessing requires. A failure in the child, including
    a hard abort of the process, comes back as :class:`ToolkitError`. ``python``: the interpreter
    of another toolkit release's environment (:func:`.versions.python_for`); None: this one.
    """
    name = job.split(":")[-1] if isinstance(job, str) else job.__name__.lstrip("_")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = Path(log_file) if log_file else workdir / f"{name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text("")
    if python:
        msg, code = _run_other_python(python, job, kwargs, workdir.resolve(), log_file.resolve(), timeout, name)
        return _answer(msg, code, name, log_file, workdir)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(job, kwargs, str(workdir), str(log_file), child), daemon=True)
    proc.start()
    child.close()
    try:
        msg = _wait(proc, parent, timeout, name, log_file)
        proc.join(30)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        parent.close()
    return _answer(msg, proc.exitcode, name, log_file, workdir)


def _answer(msg, code, name: str, log_file: Path, workdir: Path):
    """The job's result; a :class:`ToolkitError` (work folder kept as it was) when it failed."""
    if msg is None:
        how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 and -code in
               signal.valid_signals() else f"exited with code {code}")
        raise ToolkitError(name, f"the toolkit ended its process ({how}) without an answer; the notebook kernel "
                           "is unaffected", error_tail(log_file), str(log_file))
    status, payload = msg
    if status == "error":
        raise ToolkitError(payload["step"], payload["message"], error_tail(log_file), str(log_file))
    drop_scratch(workdir)
    return payload


if __name__ == "__main__":
    sys.exit(_request_main(sys.argv[1]))
