"""The toolkit's own calls, in the order they happen, each failure a :class:`ToolkitError`.

:class:`Toolkit` is one ``RKNN()`` session whose every call is a named step; :func:`load_model` is
the load step. :func:`helpers.toolkit.build.built_model` composes them (with hybrid quantization's
step 2 where a configuration asks for it) into the toolkit's sequence, as in the Rockchip model
zoo's ``convert.py``::

    rknn = RKNN()                                   # Toolkit(log_file)
    rknn.config(mean_values, std_values, target_platform, quantized_algorithm, ...)
    rknn.load_onnx(model)                           # or load_pytorch(model, input_size_list)
    rknn.build(do_quantization, dataset)            # or the two hybrid-quantization steps
    rknn.export_rknn(path)
    ...                                             # init_runtime() + inference() on the simulator
    rknn.release()

Run it inside a child process (:mod:`.isolation`): the toolkit may ``exit()`` or abort.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .config import BuildConfig
from .logs import ToolkitError, error_tail


class Toolkit:
    """A context-managed ``RKNN`` object whose steps raise :class:`ToolkitError`."""

    def __init__(self, log_file=None, verbose: bool = True):
        from rknn.api import RKNN

        self.log_file = str(log_file) if log_file else None
        self.rknn = RKNN(verbose=verbose)

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

    def fail(self, step: str, reason: str) -> ToolkitError:
        return ToolkitError(step, reason, error_tail(self.log_file) if self.log_file else [], self.log_file)

    def step(self, name: str, fn: Callable, *args, **kwargs):
        """Call one toolkit method; a non-zero return, an exception or ``exit()`` becomes a :class:`ToolkitError`."""
        try:
            ret = fn(*args, **kwargs)
        except SystemExit as e:  # the toolkit calls exit() on some errors
            raise self.fail(name, f"the toolkit called exit({e.code})") from None
        except ToolkitError:
            raise
        except Exception as e:
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else type(e).__name__  # the toolkit packs a traceback in e
            raise self.fail(name, f"{type(e).__name__}: {reason}") from e
        if isinstance(ret, (int, np.integer)) and not isinstance(ret, bool) and ret != 0:
            raise self.fail(name, f"returned {ret}")
        return ret

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
            raise self.fail("inference", "returned no outputs")
        return [np.asarray(o, np.float32) for o in outs]


def load_model(tk: Toolkit, cfg: BuildConfig, model, imgsz: int | None = None) -> None:
    """``load_onnx`` (optionally cut at ``cfg.outputs``), or ``load_pytorch`` for a TorchScript file."""
    p = Path(model)
    if not p.is_file():
        raise ToolkitError("load_onnx", f"no ONNX file at {p} (run 03_export_onnx.ipynb first)")
    if p.suffix == ".onnx":
        tk.step("load_onnx", tk.rknn.load_onnx, model=str(p), **({"outputs": list(cfg.outputs)} if cfg.outputs else {}))
    else:
        tk.step("load_pytorch", tk.rknn.load_pytorch, model=str(p), input_size_list=[[1, 3, imgsz, imgsz]])
