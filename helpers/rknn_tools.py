"""rknn-toolkit2, made safe to drive from a notebook.

What this module adds over ``rknn.api.RKNN``:

* every toolkit step that returns a non-zero code (or raises, or calls ``exit``) becomes a
  :class:`ToolkitError` naming the step and quoting the toolkit's own error lines;
* the toolkit's console output goes to a log file in the stage folder (``log_digest`` shows it
  compactly); the toolkit also drops ``check*.onnx`` files into the *current directory*, so
  every toolkit job runs with its own work folder as the cwd;
* every job runs in a child process (:func:`run_isolated`): some toolkit steps abort the whole
  process (hybrid quantization step 2 does on some configs), and the toolkit's ``exit`` calls
  would otherwise end up in the notebook kernel. The kernel survives and gets the reason;
* the RKNN object is always released.

The simulator can only run a model that was built in the same process (a ``.rknn`` loaded from
disk is refused), so "simulate" always means load ONNX -> build -> run, with the settings of a
:class:`BuildConfig`. The same config is stored next to every exported ``.rknn`` file, so a
later stage (and the deploy bundle) can rebuild exactly that model for the simulator.

Input convention (checked in the tests): the RKNN model takes **NHWC uint8 RGB** — the
letterboxed canvas as it comes from ``cv2`` (BGR) flipped to RGB — and normalises inside the NPU
with ``mean_values=[0, 0, 0]`` and ``std_values=[255, 255, 255]``, i.e. exactly the ``x / 255``
that ultralytics applies in training. Calibration images are written letterboxed at the model
size, so the toolkit never resizes (and never distorts) them.

Nothing here calls ``list_devices`` or ``init_runtime(target=...)`` (they start the toolkit's
own adb daemon); the board is reached through :mod:`helpers.runtime`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .artifacts import atomic_path, write_json

#: platforms this workbook accepts, with the NPU they carry
TARGETS: dict[str, str] = {
    "rk3588": "RK3588/RK3588S: 3 NPU cores, 6 TOPS",
    "rk3576": "RK3576: 2 NPU cores, 6 TOPS",
    "rk3568": "RK3568: 1 NPU core, 1 TOPS",
    "rk3566": "RK3566: 1 NPU core, 1 TOPS",
    "rk3562": "RK3562: 1 NPU core, 1 TOPS",
}
ALGORITHMS = ("normal", "kl_divergence", "mmse")
METHODS = ("layer", "channel")
#: x_npu = (x_uint8 - mean) / std, per RGB channel: the x / 255 of ultralytics' preprocessing
MEAN_VALUES = (0.0, 0.0, 0.0)
STD_VALUES = (255.0, 255.0, 255.0)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ToolkitError(RuntimeError):
    """A toolkit step failed. ``step`` names it; ``log_lines`` are the toolkit's own error lines."""

    def __init__(self, step: str, message: str, log_lines: list[str] | None = None, log_file: str | None = None):
        self.step, self.reason, self.log_lines, self.log_file = step, message, list(log_lines or []), log_file
        text = f"rknn-toolkit2 step '{step}' failed: {message}"
        if self.log_lines:
            text += "\ntoolkit log:\n  " + "\n  ".join(self.log_lines)
        if log_file:
            text += f"\nfull log: {log_file}"
        super().__init__(text)


def check_target(target: str) -> str:
    t = str(target).strip().lower()
    if t not in TARGETS:
        raise ValueError(f"unknown target platform {target!r}; use one of {', '.join(TARGETS)} "
                         "(the SoC on your board: `cat /proc/device-tree/compatible` on the board tells you)")
    return t


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides what the toolkit builds. Stored next to every .rknn file."""

    target: str = "rk3588"
    quantize: bool = False
    algorithm: str = "normal"          # quantized_algorithm
    method: str = "channel"            # quantized_method
    optimization_level: int = 3
    compress_weight: bool = False
    model_pruning: bool = False
    auto_hybrid: bool = False          # build(auto_hybrid=True): the toolkit picks float layers itself
    float_layers: tuple = ()           # manual hybrid: these layers stay float16
    outputs: tuple | None = None       # cut the ONNX graph at these tensors (load_onnx(outputs=...))
    mean_values: tuple = MEAN_VALUES
    std_values: tuple = STD_VALUES

    def __post_init__(self):
        object.__setattr__(self, "target", check_target(self.target))
        object.__setattr__(self, "float_layers", tuple(self.float_layers))
        if self.outputs is not None:
            object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"quantized algorithm {self.algorithm!r} is not one of {ALGORITHMS}")
        if self.method not in METHODS:
            raise ValueError(f"quantized method {self.method!r} is not one of {METHODS}")
        if not 0 <= int(self.optimization_level) <= 3:
            raise ValueError("optimization_level is 0..3")
        if (self.auto_hybrid or self.float_layers) and not self.quantize:
            raise ValueError("hybrid quantization needs quantize=True")
        if self.auto_hybrid and self.float_layers:
            raise ValueError("choose either auto_hybrid or a float_layers list, not both")
        if len(self.mean_values) != 3 or len(self.std_values) != 3 or min(self.std_values) <= 0:
            raise ValueError("mean_values and std_values need 3 values each (RGB), std > 0")

    @property
    def name(self) -> str:
        if not self.quantize:
            parts = ["fp16"]
        else:
            parts = ["int8", self.algorithm, self.method]
            if self.auto_hybrid:
                parts.append("autohybrid")
            if self.float_layers:
                parts.append(f"hybrid{len(self.float_layers)}")
        if self.model_pruning:
            parts.append("pruned")
        if self.compress_weight:
            parts.append("compressed")
        if self.optimization_level != 3:
            parts.append(f"O{self.optimization_level}")
        return "_".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BuildConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known})

    def config_kwargs(self) -> dict:
        return dict(mean_values=[list(self.mean_values)], std_values=[list(self.std_values)],
                    target_platform=self.target, quantized_dtype="w8a8", quantized_algorithm=self.algorithm,
                    quantized_method=self.method, optimization_level=int(self.optimization_level),
                    compress_weight=bool(self.compress_weight), model_pruning=bool(self.model_pruning))


# --------------------------------------------------------------------------- logs

def read_log(log_file: str | os.PathLike) -> list[str]:
    try:
        text = Path(log_file).read_text(errors="replace")
    except FileNotFoundError:
        return []
    lines = []
    for raw in text.replace("\r", "\n").splitlines():
        line = _ANSI.sub("", raw).rstrip()
        if line:
            lines.append(line)
    return lines


def _is_error(line: str) -> bool:
    return line.startswith("E ") or " E RKNN:" in line or line.startswith("E RKNN") or "Error" in line[:40] \
        or line.startswith("Traceback") or "Aborted" in line


def log_digest(log_file: str | os.PathLike, max_lines: int = 12) -> dict:
    """The toolkit log, compactly: error lines, distinct warnings (with counts), total lines."""
    lines = read_log(log_file)
    errors = [ln for ln in lines if _is_error(ln)]
    warns: dict[str, int] = {}
    for ln in lines:
        if ln.startswith("W ") or " W RKNN:" in ln:
            key = re.sub(r"\[\d\d:\d\d:\d\d\.\d+\]\s*", "", ln)
            key = re.sub(r"'[^']*'", "'…'", key)[:160]
            warns[key] = warns.get(key, 0) + 1
    return {"lines": len(lines), "errors": errors[-max_lines:],
            "warnings": [f"{n}× {w}" for w, n in sorted(warns.items(), key=lambda kv: -kv[1])][:max_lines],
            "log_file": str(log_file)}


def _error_tail(log_file, n: int = 8) -> list[str]:
    lines = read_log(log_file)
    errs = [ln for ln in lines if _is_error(ln)]
    return (errs or lines)[-n:]


# --------------------------------------------------------------------------- in-process session

class Toolkit:
    """A context-managed ``RKNN`` object whose steps raise :class:`ToolkitError`.

    Use it inside a child process (see :func:`run_isolated`) or in a throw-away process; in a
    notebook kernel prefer the module-level functions, which do exactly that.
    """

    def __init__(self, log_file: str | os.PathLike | None = None, verbose: bool = True):
        from rknn.api import RKNN

        self.log_file = str(log_file) if log_file else None
        self.rknn = RKNN(verbose=verbose)
        self.built = False

    def __enter__(self) -> "Toolkit":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self.rknn is not None:
            try:
                self.rknn.release()
            finally:
                self.rknn = None

    def step(self, name: str, fn: Callable, *args, **kwargs):
        try:
            ret = fn(*args, **kwargs)
        except SystemExit as e:  # the toolkit calls exit() on some errors
            raise ToolkitError(name, f"the toolkit called exit({e.code})", _error_tail(self.log_file),
                               self.log_file) from None
        except ToolkitError:
            raise
        except Exception as e:
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else type(e).__name__  # the toolkit packs a traceback in e
            raise ToolkitError(name, f"{type(e).__name__}: {reason}", _error_tail(self.log_file),
                               self.log_file) from e
        if isinstance(ret, (int, np.integer)) and not isinstance(ret, bool) and ret != 0:
            raise ToolkitError(name, f"returned {ret}", _error_tail(self.log_file), self.log_file)
        return ret

    def configure(self, cfg: BuildConfig) -> None:
        self.step("config", self.rknn.config, **cfg.config_kwargs())

    def load_onnx(self, onnx_path, outputs=None) -> None:
        p = Path(onnx_path)
        if not p.is_file():
            raise ToolkitError("load_onnx", f"no ONNX file at {p} (run 03_export_onnx.ipynb first)")
        kw = {"outputs": list(outputs)} if outputs else {}
        self.step("load_onnx", self.rknn.load_onnx, model=str(p), **kw)

    def load_pytorch(self, traced_path, input_size_list) -> None:
        self.step("load_pytorch", self.rknn.load_pytorch, model=str(traced_path), input_size_list=input_size_list)

    def build(self, cfg: BuildConfig, dataset: str | None = None) -> float:
        if cfg.quantize and not dataset:
            raise ToolkitError("build", "INT8 needs a calibration list (dataset.txt); build one with "
                               "helpers.rknn_tools.write_calibration_set")
        t0 = time.perf_counter()
        kw = {"do_quantization": bool(cfg.quantize)}
        if cfg.quantize:
            kw["dataset"] = str(dataset)
            if cfg.auto_hybrid:
                kw["auto_hybrid"] = True
        self.step("build", self.rknn.build, **kw)
        self.built = True
        return time.perf_counter() - t0

    def export(self, target) -> int:
        with atomic_path(target, suffix=".rknn") as tmp:
            self.step("export_rknn", self.rknn.export_rknn, str(tmp))
        return Path(target).stat().st_size

    def init_simulator(self) -> None:
        self.step("init_runtime", self.rknn.init_runtime)  # no target: the simulator

    def infer(self, nhwc_uint8: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(nhwc_uint8)
        if x.ndim == 3:
            x = x[None]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"RKNN input must be NHWC uint8 RGB (1, H, W, 3); got {x.shape} {x.dtype}")
        outs = self.step("inference", self.rknn.inference, inputs=[x], data_format="nhwc")
        if outs is None:
            raise ToolkitError("inference", "returned no outputs", _error_tail(self.log_file), self.log_file)
        return [np.asarray(o, np.float32) for o in outs]


# --------------------------------------------------------------------------- child processes

def child_setup(workdir: str, log_file: str) -> None:
    """In a toolkit child process: work in ``workdir`` (the toolkit drops files into the cwd) and
    send the process's stdout/stderr (the toolkit's console, C++ side included) to ``log_file``."""
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def _child_main(job: str, kwargs: dict, workdir: str, log_file: str, conn) -> None:
    try:
        child_setup(workdir, log_file)
        result = _resolve_job(job)(log_file=log_file, **kwargs)
        conn.send(("ok", result))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent, including SystemExit
        step = getattr(e, "step", job)
        msg = e.reason if isinstance(e, ToolkitError) else f"{type(e).__name__}: {e}"
        conn.send(("error", {"step": step, "message": msg, "traceback": traceback.format_exc()}))
    finally:
        try:
            import sys
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass


def _resolve_job(job: str) -> Callable:
    """A name from :data:`JOBS`, or ``"package.module:function"`` (importable in the child)."""
    if ":" in job:
        import importlib

        mod, fn = job.split(":", 1)
        return getattr(importlib.import_module(mod), fn)
    return JOBS[job]


def run_isolated(job: str, workdir: str | os.PathLike, log_file: str | os.PathLike | None = None,
                 timeout: float | None = None, **kwargs) -> Any:
    """Run ``JOBS[job](**kwargs)`` in a fresh child process with ``workdir`` as its cwd.

    The child is *spawned* (a fresh interpreter, never a fork of a notebook kernel); from a script,
    call this under ``if __name__ == "__main__":`` as multiprocessing requires.

    The child's stdout/stderr (the toolkit's console) go to ``log_file``. A failure in the child,
    including a hard abort of the process, comes back as :class:`ToolkitError`.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = Path(log_file) if log_file else workdir / f"{job}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text("")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(job, kwargs, str(workdir), str(log_file), child), daemon=True)
    proc.start()
    child.close()
    t0, msg = time.monotonic(), None
    try:
        while True:
            if parent.poll(0.2):
                try:
                    msg = parent.recv()
                except EOFError:
                    msg = None
                break
            if not proc.is_alive():
                if parent.poll(0.2):
                    msg = parent.recv()
                break
            if timeout is not None and time.monotonic() - t0 > timeout:
                proc.kill()
                proc.join(5)
                raise ToolkitError(job, f"no answer after {timeout:.0f} s; the child process was stopped",
                                   _error_tail(log_file), str(log_file))
        proc.join(30)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        parent.close()
    if msg is None:
        code = proc.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 and -code in
               signal.valid_signals() else f"exited with code {code}")
        raise ToolkitError(job, f"the toolkit ended its process ({how}) without an answer; the notebook kernel "
                           "is unaffected", _error_tail(log_file), str(log_file))
    status, payload = msg
    if status == "error":
        raise ToolkitError(payload["step"], payload["message"], _error_tail(log_file), str(log_file))
    return payload


# --------------------------------------------------------------------------- jobs (run in the child)

def _job_simulate(log_file: str, onnx: str, config: dict, inputs: np.ndarray | None = None,
                  dataset: str | None = None, rknn_out: str | None = None) -> dict:
    cfg = BuildConfig.from_dict(config)
    with _built(cfg, onnx, dataset, log_file) as (tk, build_s):
        size = tk.export(rknn_out) if rknn_out else None
        outputs, infer_s = _simulate_all(tk, inputs)
    return {"build_seconds": round(build_s, 2), "rknn_bytes": size, "outputs": outputs,
            "infer_seconds_per_image": infer_s}


@contextlib.contextmanager
def _built(cfg: BuildConfig, onnx: str, dataset: str | None, log_file: str):
    """A :class:`Toolkit` holding ``onnx`` built with ``cfg`` (plain build, or hybrid steps 1 and 2)."""
    t0 = time.perf_counter()
    if cfg.float_layers:
        stem = Path(onnx).stem
        with Toolkit(log_file) as tk1:  # step 1 writes <stem>.model/.data/.quantization.cfg into the cwd
            tk1.configure(cfg)
            tk1.load_onnx(onnx, cfg.outputs)
            tk1.step("hybrid_quantization_step1", tk1.rknn.hybrid_quantization_step1, dataset=str(dataset),
                     proposal=False)
        cfg_file = Path(f"{stem}.quantization.cfg")
        if not cfg_file.is_file():
            raise ToolkitError("hybrid_quantization_step1", f"did not write {cfg_file} in {os.getcwd()}")
        known = set(quantization_cfg_layers(cfg_file.read_text()))
        unknown = [n for n in cfg.float_layers if n not in known]
        if unknown:
            raise ToolkitError("hybrid_quantization_step1", f"layers not in the quantization config: {unknown}; "
                               "use names from the accuracy-analysis table or hybrid_layer_names()")
        cfg_file.write_text(set_float_layers(cfg_file.read_text(), cfg.float_layers))
        tk = Toolkit(log_file)  # step 2 refuses an object that has already loaded a model
        try:
            tk.configure(cfg)
            tk.step("hybrid_quantization_step2", tk.rknn.hybrid_quantization_step2, model_input=f"{stem}.model",
                    data_input=f"{stem}.data", model_quantization_cfg=str(cfg_file))
            tk.built = True
            yield tk, time.perf_counter() - t0
        finally:
            tk.release()
    else:
        with Toolkit(log_file) as tk:
            tk.configure(cfg)
            tk.load_onnx(onnx, cfg.outputs)
            tk.build(cfg, dataset)
            yield tk, time.perf_counter() - t0


def _simulate_all(tk: Toolkit, inputs) -> tuple[list, float | None]:
    if inputs is None or not len(inputs):
        return [], None
    tk.init_simulator()
    outs, t0 = [], time.perf_counter()
    for x in inputs:
        outs.append(tk.infer(x))
    return outs, round((time.perf_counter() - t0) / len(inputs), 4)


def set_float_layers(cfg_text: str, layers) -> str:
    """Edit the text of a ``*.quantization.cfg`` so that ``layers`` are computed in float16.

    The file is YAML whose first key is ``custom_quantize_layers: {}``; the toolkit reads
    ``layer_name: float16`` entries there.
    """
    layers = list(layers)
    lines = cfg_text.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("custom_quantize_layers:"):
            block = ["custom_quantize_layers:"] + [f"    {name}: float16" for name in layers]
            if not layers:
                block = ["custom_quantize_layers: {}"]
            j = i + 1  # drop entries already in the block
            while j < len(lines) and lines[j].startswith((" ", "\t")) and ":" in lines[j]:
                j += 1
            return "\n".join(lines[:i] + block + lines[j:]) + "\n"
    raise ValueError("not a quantization config: no 'custom_quantize_layers:' key")


def _job_hybrid_layers(log_file: str, onnx: str, config: dict, dataset: str) -> list[str]:
    """Run hybrid step 1 only and list the layer names the quantization config knows."""
    cfg = BuildConfig.from_dict(config)
    with Toolkit(log_file) as tk:
        tk.configure(cfg)
        tk.load_onnx(onnx, cfg.outputs)
        tk.step("hybrid_quantization_step1", tk.rknn.hybrid_quantization_step1, dataset=str(dataset), proposal=False)
    text = Path(f"{Path(onnx).stem}.quantization.cfg").read_text()
    return quantization_cfg_layers(text)


def quantization_cfg_layers(cfg_text: str) -> list[str]:
    """Layer names listed under ``quantize_parameters:`` in a quantization config."""
    names, inside = [], False
    for ln in cfg_text.splitlines():
        if ln.startswith("quantize_parameters:"):
            inside = True
            continue
        if inside:
            if ln and not ln.startswith(" "):
                break
            m = re.match(r"^    (\S.*?):\s*$", ln)
            if m:
                names.append(m.group(1).strip("'\""))
    return names


def _job_accuracy(log_file: str, onnx: str, config: dict, dataset: str | None, image: str,
                  out_dir: str, keep_dumps: bool = False) -> dict:
    cfg = BuildConfig.from_dict(config)
    with _built(cfg, onnx, dataset, log_file) as (tk, _):
        t0 = time.perf_counter()
        tk.step("accuracy_analysis", tk.rknn.accuracy_analysis, inputs=[str(image)], output_dir=str(out_dir))
        seconds = time.perf_counter() - t0
    report = Path(out_dir) / "error_analysis.txt"
    text = report.read_text()
    dump_bytes = sum(f.stat().st_size for f in Path(out_dir).rglob("*") if f.is_file())
    if not keep_dumps:  # per-layer tensor dumps: hundreds of MB
        for sub in ("golden", "simulator"):
            shutil.rmtree(Path(out_dir) / sub, ignore_errors=True)
    return {"report": str(report), "text": text, "seconds": round(seconds, 1), "dump_bytes": dump_bytes}


def _job_pytorch(log_file: str, traced: str, imgsz: int, config: dict, inputs: np.ndarray) -> dict:
    cfg = BuildConfig.from_dict(config)
    with Toolkit(log_file) as tk:
        tk.configure(cfg)
        tk.load_pytorch(traced, [[1, 3, imgsz, imgsz]])
        build_s = tk.build(cfg)
        outputs, infer_s = _simulate_all(tk, inputs)
    return {"build_seconds": round(build_s, 2), "outputs": outputs, "infer_seconds_per_image": infer_s}


def _job_custom_op(log_file: str, onnx: str, config: dict, op_type: str, inputs: np.ndarray) -> dict:
    cfg = BuildConfig.from_dict(config)
    with Toolkit(log_file) as tk:
        tk.step("reg_custom_op", tk.rknn.reg_custom_op, make_cpu_op(op_type))
        tk.configure(cfg)
        tk.load_onnx(onnx, cfg.outputs)
        build_s = tk.build(cfg)
        outputs, infer_s = _simulate_all(tk, inputs)
    return {"build_seconds": round(build_s, 2), "outputs": outputs, "infer_seconds_per_image": infer_s}


def _job_check_rknn(log_file: str, path: str) -> dict:
    with Toolkit(log_file) as tk:
        tk.step("load_rknn", tk.rknn.load_rknn, str(path))
    return {"path": str(path), "bytes": Path(path).stat().st_size}


def _job_version(log_file: str) -> str:
    from importlib.metadata import version

    return version("rknn-toolkit2")


JOBS: dict[str, Callable] = {
    "simulate": _job_simulate,
    "hybrid_layers": _job_hybrid_layers,
    "accuracy": _job_accuracy,
    "pytorch": _job_pytorch,
    "custom_op": _job_custom_op,
    "version": _job_version,
    "check_rknn": _job_check_rknn,
}


# --------------------------------------------------------------------------- custom CPU op

def make_cpu_op(op_type: str):
    """A CPU implementation of ``op_type`` for ``RKNN.reg_custom_op`` (built in the child process).

    The toolkit asks for a class with ``op_type``, ``shape_infer(node, in_shapes, in_dtypes)``
    and ``compute(node, inputs)``; this one implements the ONNX ``Softmax`` (attribute ``axis``)
    with numpy.
    """
    if op_type != "cstSoftmax":
        raise ValueError("only the example op 'cstSoftmax' (a numpy Softmax) is implemented")
    from rknn.api.custom_op import get_node_attr

    class CstSoftmax:
        op_type = "cstSoftmax"

        def shape_infer(self, node, in_shapes, in_dtypes):
            return [list(in_shapes[0])], [in_dtypes[0]]

        def compute(self, node, inputs):
            axis = int(get_node_attr(node, "axis"))
            x = inputs[0].astype(np.float32)
            e = np.exp(x - x.max(axis=axis, keepdims=True))
            return [e / e.sum(axis=axis, keepdims=True)]

    return CstSoftmax()


# --------------------------------------------------------------------------- public calls (parent process)

def _inputs_array(inputs) -> np.ndarray | None:
    if inputs is None:
        return None
    arr = np.asarray(inputs)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"simulator inputs must be NHWC uint8 RGB (N, H, W, 3); got {arr.shape} {arr.dtype}")
    return arr


def save_config(rknn_path: str | os.PathLike, cfg: BuildConfig, onnx: str | os.PathLike,
                dataset: str | os.PathLike | None) -> Path:
    """Write ``<model>.rknn.json`` next to a .rknn: what it was built from, so it can be rebuilt."""
    from importlib.metadata import version

    return write_json(str(rknn_path) + ".json", {"config": cfg.to_dict(), "onnx": str(onnx),
                                                 "dataset": str(dataset) if dataset else None,
                                                 "toolkit": version("rknn-toolkit2")})


def load_config(rknn_path: str | os.PathLike) -> dict:
    p = Path(str(rknn_path) + ".json")
    if not p.is_file():
        raise FileNotFoundError(f"{p} is missing: the build record of {rknn_path} (rebuild it in 05_quantize_int8.ipynb)")
    d = json.loads(p.read_text())
    d["config"] = BuildConfig.from_dict(d["config"])
    return d


def simulate(onnx, cfg: BuildConfig, inputs=None, dataset=None, rknn_out=None, workdir=None,
             timeout: float | None = None) -> dict:
    """Build ``onnx`` with ``cfg`` (and export to ``rknn_out``), then run ``inputs`` on the simulator.

    Returns build seconds, .rknn bytes, per-image outputs, seconds per image and a log digest.
    Runs in a child process; a failure raises :class:`ToolkitError`.
    """
    workdir = Path(workdir or Path(rknn_out or onnx).parent / "work") / cfg.name
    log = workdir / "toolkit.log"
    res = run_isolated("simulate", workdir, log, timeout=timeout, onnx=str(onnx), config=cfg.to_dict(),
                       inputs=_inputs_array(inputs), dataset=str(dataset) if dataset else None,
                       rknn_out=str(rknn_out) if rknn_out else None)
    if rknn_out:
        save_config(rknn_out, cfg, onnx, dataset)
    res["log"] = log_digest(log)
    return res


def hybrid_layer_names(onnx, cfg: BuildConfig, dataset, workdir) -> list[str]:
    """The layer names the toolkit's quantization config uses (step 1 of hybrid quantization)."""
    return run_isolated("hybrid_layers", Path(workdir), Path(workdir) / "hybrid_step1.log", onnx=str(onnx),
                        config=cfg.to_dict(), dataset=str(dataset))


def accuracy_analysis(onnx, cfg: BuildConfig, image, out_dir, dataset=None, keep_dumps: bool = False) -> dict:
    """Run the toolkit's ``accuracy_analysis`` on one ``image`` (a letterboxed file at the model size).

    The toolkit takes one file per model input, so one image per call: the float ("golden") and
    the quantized simulator run it layer by layer.

    Returns the parsed table (``rows``), the report path and seconds; the per-layer dumps are
    deleted unless ``keep_dumps`` (they take hundreds of MB).
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    res = run_isolated("accuracy", out_dir.parent / "work" / f"analysis_{cfg.name}",
                       out_dir.parent / f"analysis_{cfg.name}.log", onnx=str(onnx), config=cfg.to_dict(),
                       dataset=str(dataset) if dataset else None, image=str(image),
                       out_dir=str(out_dir), keep_dumps=keep_dumps)
    res["rows"] = parse_error_analysis(res.pop("text"))
    return res


def pytorch_route(traced, imgsz: int, cfg: BuildConfig, inputs, workdir) -> dict:
    """Build from a TorchScript file (``torch.jit.trace`` + ``save``) and simulate."""
    return run_isolated("pytorch", Path(workdir), Path(workdir) / "toolkit.log", traced=str(traced), imgsz=int(imgsz),
                        config=cfg.to_dict(), inputs=_inputs_array(inputs))


def custom_op_route(onnx, cfg: BuildConfig, inputs, workdir, op_type: str = "cstSoftmax") -> dict:
    """Register a numpy CPU op with ``reg_custom_op``, build ``onnx`` (which uses it) and simulate."""
    return run_isolated("custom_op", Path(workdir), Path(workdir) / "toolkit.log", onnx=str(onnx),
                        config=cfg.to_dict(), op_type=op_type, inputs=_inputs_array(inputs))


def check_rknn(path, workdir=None) -> dict:
    """Load a ``.rknn`` file with the toolkit: a truncated or foreign file is a :class:`ToolkitError`."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no RKNN model at {p} (build it in 05_quantize_int8.ipynb)")
    wd = Path(workdir) if workdir else p.parent / "work" / "check_rknn"
    return run_isolated("check_rknn", wd, wd / "toolkit.log", path=str(p.resolve()))


def toolkit_version() -> str:
    from importlib.metadata import version

    return version("rknn-toolkit2")


# --------------------------------------------------------------------------- accuracy report

_ROW = re.compile(r"^\[(?P<op>[^\]]+)\]\s+(?P<layer>\S+)\s*(?P<rest>.*)$")
_NUM = r"(?:[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|q_zero|nan|inf)"
_VALS = re.compile(rf"^(?P<ec>{_NUM})\s*\|\s*(?P<ee>{_NUM})\s+(?P<sc>{_NUM})\s*\|\s*(?P<se>{_NUM})")


def _num(s: str) -> float | None:
    return None if s == "q_zero" else float(s)


def parse_error_analysis(text: str) -> list[dict]:
    """Parse ``error_analysis.txt`` into rows: layer, op, entire/single cosine and Euclidean.

    Layers that the toolkit fused into the next one (a Conv followed by its ReLU) have no values
    and are returned with ``fused=True``. ``q_zero`` (the tensor quantized to all zeros, so no
    cosine exists) is returned as ``None`` with ``q_zero=True``.
    """
    rows = []
    for raw in text.splitlines():
        line = _ANSI.sub("", raw).strip()
        m = _ROW.match(line)
        if not m:
            continue
        rest = m.group("rest").strip()
        row = {"layer": m.group("layer"), "op": m.group("op"), "entire_cos": None, "entire_euc": None,
               "single_cos": None, "single_euc": None, "fused": not rest, "q_zero": "q_zero" in rest}
        v = _VALS.match(rest)
        if v:
            row.update(entire_cos=_num(v.group("ec")), entire_euc=_num(v.group("ee")),
                       single_cos=_num(v.group("sc")), single_euc=_num(v.group("se")))
        elif rest:
            raise ValueError(f"unrecognised accuracy-analysis line: {raw!r}")
        rows.append(row)
    if not rows:
        raise ValueError("no layer rows found: is this an rknn-toolkit2 error_analysis.txt?")
    return rows


def worst_layers(rows: list[dict], n: int = 5, key: str = "single_cos", exclude_ops=("exDataConvert", "Input"),
                 ) -> list[dict]:
    """The ``n`` layers with the lowest ``key`` (q_zero layers first: they lost everything)."""
    cand = [r for r in rows if not r["fused"] and r["op"] not in exclude_ops]

    def rank(r):
        v = r.get(key)
        return (-1.0 if r["q_zero"] else (v if v is not None else 2.0))
    return sorted(cand, key=rank)[:n]


# --------------------------------------------------------------------------- calibration set

@dataclass
class CalibrationSet:
    txt: Path
    files: list[Path] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    strata: dict = field(default_factory=dict)


def write_calibration_set(info, out_dir, count: int = 100, imgsz: int = 320, seed: int = 0,
                          split: str = "train") -> CalibrationSet:
    """Pick a stratified subset of ``split`` and write it, letterboxed at the model size, as ``dataset.txt``.

    Strata: the dominant class of an image and the size of its largest object (small / medium /
    large), plus images without objects, so calibration sees every class at every scale and some
    background. Images are written letterboxed (exactly what inference sees) as PNG; the toolkit
    reads them as RGB. Clear errors: no images, an unreadable image, a count < 1.
    """
    from .data import DatasetError, load_labels

    if count < 1:
        raise ValueError("the calibration set needs at least one image (count >= 1)")
    images = list(info.splits.get(split, []))
    if not images:
        raise DatasetError(f"the {split!r} split of {info.yaml_path} has no images to calibrate with")
    rng = np.random.default_rng(seed)
    strata: dict[str, list[Path]] = {}
    for p in images:
        lab = load_labels(p, info.nc)
        if not len(lab):
            key = "background"
        else:
            size = float(np.max(np.maximum(lab[:, 3], lab[:, 4])))
            cls = int(np.bincount(lab[:, 0].astype(int)).argmax())
            key = f"{info.names[cls]}/{'small' if size < 0.15 else 'medium' if size < 0.4 else 'large'}"
        strata.setdefault(key, []).append(p)
    for k in strata:
        rng.shuffle(strata[k])
    # round-robin over strata: every stratum is represented before any gets a second image
    picked, picked_keys, keys = [], [], sorted(strata)
    while len(picked) < min(count, len(images)):
        for k in keys:
            if strata[k] and len(picked) < count:
                picked.append(strata[k].pop())
                picked_keys.append(k)
    out_dir = Path(out_dir)
    files = write_letterboxed(picked, out_dir / "images", imgsz)
    txt = out_dir / "dataset.txt"
    from .artifacts import atomic_write_text

    atomic_write_text(txt, "".join(f"{f}\n" for f in files))
    strata_counts: dict[str, int] = {}
    for k in picked_keys:
        strata_counts[k] = strata_counts.get(k, 0) + 1
    return CalibrationSet(txt, files, picked, dict(sorted(strata_counts.items())))


def write_letterboxed(sources, out_dir, imgsz: int) -> list[Path]:
    """Letterbox every image to ``imgsz`` and write it as PNG into ``out_dir`` (emptied first)."""
    import cv2

    from .data import DatasetError
    from .preprocess import letterbox, load_image

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = []
    for i, src in enumerate(sources):
        try:
            img = load_image(src)
        except FileNotFoundError as e:
            raise DatasetError(f"image {src} is unreadable: {e}; fix or remove it") from None
        canvas, _ = letterbox(img, imgsz)
        dst = out_dir / f"{i:04d}_{Path(src).stem}.png"
        if not cv2.imwrite(str(dst), canvas):
            raise OSError(f"could not write {dst} (disk full?)")
        files.append(dst)
    return files


def check_calibration_list(txt, imgsz: int) -> list[Path]:
    """Validate a ``dataset.txt``: not empty, every file readable, every image ``imgsz`` square."""
    import cv2

    p = Path(txt)
    if not p.is_file():
        raise FileNotFoundError(f"no calibration list at {p}: build it with write_calibration_set (05_quantize)")
    files = [Path(ln.strip()) for ln in p.read_text().splitlines() if ln.strip()]
    if not files:
        raise ValueError(f"{p} lists no images: the toolkit would quantize without any calibration data")
    for n, f in enumerate(files, 1):
        img = cv2.imread(str(f))
        if img is None:
            raise ValueError(f"{p}:{n}: {f} is missing or not an image")
        if img.shape[:2] != (imgsz, imgsz):
            raise ValueError(f"{p}:{n}: {f} is {img.shape[1]}x{img.shape[0]}, the model takes {imgsz}x{imgsz}; "
                             "the toolkit would stretch it. Letterbox it (write_calibration_set does).")
    return files
