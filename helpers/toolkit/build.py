"""The one place a model is built: config → load → build (or hybrid step 2) → export, then the simulator.

Every job (simulate, accuracy analysis, the TorchScript and custom-op routes, the simulator backend)
goes through :func:`built_model`. It lives apart from :mod:`.session` (the toolkit's calls) and
:mod:`.hybrid` (the two hybrid steps) because it uses both.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from ..board.atomic import atomic_path
from .config import BuildConfig
from .hybrid import hybrid_step2
from .logs import ToolkitError
from .session import Toolkit, load_model


@dataclass
class Built:
    tk: Toolkit
    build_seconds: float
    rknn_bytes: int | None


@contextlib.contextmanager
def built_model(cfg: BuildConfig, model, dataset=None, log_file=None, rknn_out=None, imgsz: int | None = None,
                custom_op=None):
    """RKNN() → config → load → build → export_rknn, yield the built session, → release."""
    if cfg.quantize and not dataset:
        raise ToolkitError("build", "INT8 needs a calibration list (dataset.txt); build one with "
                           "helpers.toolkit.calibration.write_calibration_set")
    t0 = time.perf_counter()
    with Toolkit(log_file) as tk:                                              # RKNN(); release() on exit
        if custom_op is not None:
            tk.step("reg_custom_op", tk.rknn.reg_custom_op, custom_op)
        tk.step("config", tk.rknn.config, **cfg.config_kwargs())
        if cfg.float_layers:                                                   # hybrid: step 1 elsewhere,
            hybrid_step2(tk, cfg, model, dataset, log_file)                    # step 2 here: load + build
        else:
            load_model(tk, cfg, model, imgsz)
            tk.step("build", tk.rknn.build, **cfg.build_kwargs(dataset))
        build_s = time.perf_counter() - t0
        size = None
        if rknn_out:
            with atomic_path(rknn_out, suffix=".rknn") as tmp:
                tk.step("export_rknn", tk.rknn.export_rknn, str(tmp))
            size = Path(rknn_out).stat().st_size
        yield Built(tk, build_s, size)


def simulate_all(tk: Toolkit, inputs) -> tuple[list, float | None]:
    """``init_runtime()`` (the simulator) and ``inference`` over every input; seconds per image."""
    if inputs is None or not len(inputs):
        return [], None
    tk.init_simulator()
    outs, t0 = [], time.perf_counter()
    for x in inputs:
        outs.append(tk.infer(x))
    return outs, round((time.perf_counter() - t0) / len(inputs), 4)
