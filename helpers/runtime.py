"""One runtime interface over every place the model can run.

``rt.run([x]) -> [outputs]`` with a context-manager lifetime, over:

=============  ==========================================  ==================================
backend        where                                       input it takes
=============  ==========================================  ==================================
``onnx``       onnxruntime, any PC                          NCHW float32 RGB 0..1
``simulator``  rknn-toolkit2's simulator, x86 PC            NHWC uint8 RGB
``toolkit``    rknn-toolkit2 driving a board (rknn_server)  NHWC uint8 RGB
``rknnlite``   RKNNLite on the board itself                 NHWC uint8 RGB
=============  ==========================================  ==================================

Callers never care about the layout: :meth:`Runtime.infer` takes the letterboxed BGR canvas
and converts it for the backend. Backends are imported lazily, so the board needs only its own
(``rknnlite``); this module itself imports numpy and OpenCV only.

The toolkit's simulator cannot run a ``.rknn`` read from disk. The ``simulator`` backend
therefore rebuilds the model from the ONNX file and the settings recorded next to the ``.rknn``
(``<model>.rknn.json``: config, ONNX, calibration list) in a child process that keeps the built
model for the runtime's lifetime: the same runner runs the same model config here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .preprocess import to_nchw_float, to_nhwc_uint8

BACKENDS = ("onnx", "simulator", "toolkit", "rknnlite")
#: NPU core masks of RKNNLite on the RK3588 (one context per core in a pool)
CORE_MASKS = {0: "NPU_CORE_0", 1: "NPU_CORE_1", 2: "NPU_CORE_2", "auto": "NPU_CORE_AUTO", "all": "NPU_CORE_0_1_2"}


class RuntimeFailure(RuntimeError):
    """A runtime could not be created or could not run (message says what to do)."""


class Runtime:
    """Base class: ``with open_runtime(...) as rt: outputs = rt.run([x])``."""

    backend = "?"
    layout = "nhwc_uint8"

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def run(self, inputs: list) -> list:
        raise NotImplementedError

    def prepare(self, canvas_bgr: np.ndarray) -> np.ndarray:
        """The letterboxed BGR canvas in the layout this backend takes."""
        return to_nchw_float(canvas_bgr) if self.layout == "nchw_float" else to_nhwc_uint8(canvas_bgr)

    def infer(self, canvas_bgr: np.ndarray) -> list:
        return self.run([self.prepare(canvas_bgr)])


class OnnxRuntime(Runtime):
    backend, layout = "onnx", "nchw_float"

    def __init__(self, model: str | os.PathLike, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise RuntimeFailure("the onnx backend needs onnxruntime (pip install onnxruntime)") from e
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, inputs: list) -> list:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(inputs[0], np.float32)})

    def close(self) -> None:
        self.session = None


def build_record(rknn_path: str | os.PathLike) -> dict:
    """The ``<model>.rknn.json`` written next to a .rknn; relative paths resolved against its folder."""
    p = Path(str(rknn_path) + ".json")
    if not p.is_file():
        raise RuntimeFailure(f"{p} is missing: the simulator rebuilds the model from its build record "
                            "(05_quantize_int8.ipynb writes it; a deploy bundle carries it)")
    rec = json.loads(p.read_text())
    base = p.parent
    for key in ("onnx", "dataset"):
        if rec.get(key) and not Path(rec[key]).is_absolute():
            rec[key] = str((base / rec[key]).resolve())
    return rec


def _sim_worker(conn, onnx: str, config: dict, dataset: str | None, log_file: str, workdir: str) -> None:
    """Child process: build once, then answer ``run`` requests until ``None`` arrives."""
    try:
        from .rknn_tools import BuildConfig, Toolkit, child_setup

        child_setup(workdir, log_file)
        cfg = BuildConfig.from_dict(config)
        tk = Toolkit(log_file)
        tk.configure(cfg)
        tk.load_onnx(onnx, cfg.outputs)
        tk.build(cfg, dataset)
        tk.init_simulator()
        conn.send(("ready", None))
    except BaseException as e:  # noqa: BLE001
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            try:
                conn.send(("ok", tk.infer(msg[0])))
            except BaseException as e:  # noqa: BLE001
                conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        tk.release()


class SimulatorRuntime(Runtime):
    """rknn-toolkit2's simulator, rebuilt from the ``.rknn``'s build record, in a child process."""

    backend = "simulator"

    def __init__(self, model: str | os.PathLike, workdir: str | os.PathLike | None = None, timeout: float = 600):
        import multiprocessing as mp
        import tempfile

        rec = build_record(model)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="rknn-sim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_file = self.workdir / "simulator.log"
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_sim_worker, args=(child, rec["onnx"], rec["config"], rec.get("dataset"),
                                                          str(self.log_file), str(self.workdir)), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(timeout):
            self.close()
            raise RuntimeFailure(f"the simulator did not finish building within {timeout} s; see {self.log_file}")
        status, info = self._recv()
        if status != "ready":
            self.close()
            raise RuntimeFailure(f"the simulator could not build {rec['onnx']}: {info}; see {self.log_file}")

    def _recv(self):
        try:
            return self.conn.recv()
        except EOFError:
            raise RuntimeFailure(f"the simulator process ended (exit code {self.proc.exitcode}); "
                                f"see {self.log_file}") from None

    def run(self, inputs: list) -> list:
        self.conn.send([np.ascontiguousarray(inputs[0], np.uint8)])
        status, out = self._recv()
        if status != "ok":
            raise RuntimeFailure(f"simulator inference failed: {out}")
        return out

    def close(self) -> None:
        if getattr(self, "proc", None) is None:
            return
        try:
            if self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(10)
        except (BrokenPipeError, OSError):
            pass
        finally:
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
            self.proc = None


class ToolkitBoardRuntime(Runtime):
    """rknn-toolkit2 on the PC driving a board over adb through the board's ``rknn_server``."""

    backend = "toolkit"

    def __init__(self, model: str | os.PathLike, target: str = "rk3588", device_id: str | None = None,
                 core_mask: int | None = None, perf_debug: bool = False):
        from rknn.api import RKNN  # only on the PC

        self.rknn = RKNN(verbose=False)
        if self.rknn.load_rknn(str(model)) != 0:
            raise RuntimeFailure(f"could not load {model}")
        kw = {"target": target, "device_id": device_id, "perf_debug": perf_debug}
        if core_mask is not None:
            kw["core_mask"] = core_mask
        if self.rknn.init_runtime(**kw) != 0:
            self.close()
            raise RuntimeFailure(f"init_runtime(target={target!r}, device_id={device_id!r}) failed: is the board "
                                "connected (adb devices), rknn_server running on it, and its librknnrt the same "
                                "version as this toolkit? helpers.device.check_versions tells you.")

    def run(self, inputs: list) -> list:
        out = self.rknn.inference(inputs=[inputs[0]], data_format="nhwc")
        if out is None:
            raise RuntimeFailure("inference on the board returned nothing")
        return [np.asarray(o, np.float32) for o in out]

    def eval_perf(self) -> dict:
        return self.rknn.eval_perf(is_print=False)

    def eval_memory(self) -> dict:
        return self.rknn.eval_memory(is_print=False)

    def close(self) -> None:
        if getattr(self, "rknn", None) is not None:
            self.rknn.release()
            self.rknn = None


class RknnLiteRuntime(Runtime):
    """RKNNLite on the board (aarch64, with the board's librknnrt.so); one NPU core per context."""

    backend = "rknnlite"

    def __init__(self, model: str | os.PathLike, core: int | str = "auto"):
        try:
            from rknnlite.api import RKNNLite
        except ImportError as e:
            raise RuntimeFailure("the rknnlite backend runs on the board: pip install the rknn-toolkit-lite2 wheel "
                                "for the board's Python (aarch64) there") from e
        self.rknn = RKNNLite(verbose=False)
        if self.rknn.load_rknn(str(model)) != 0:
            raise RuntimeFailure(f"could not load {model}: built for another platform or toolkit version?")
        mask = getattr(RKNNLite, CORE_MASKS.get(core, "NPU_CORE_AUTO"))
        if self.rknn.init_runtime(core_mask=mask) != 0:
            self.close()
            raise RuntimeFailure("init_runtime failed: is /usr/lib/librknnrt.so present and the same version as the "
                                "toolkit that built the model?")

    def run(self, inputs: list) -> list:
        out = self.rknn.inference(inputs=[inputs[0]], data_format="nhwc")
        if out is None:
            raise RuntimeFailure("RKNNLite inference returned nothing")
        return [np.asarray(o, np.float32) for o in out]

    def close(self) -> None:
        if getattr(self, "rknn", None) is not None:
            self.rknn.release()
            self.rknn = None


def default_backend(model: str | os.PathLike) -> str:
    """By file suffix: ``.onnx`` -> onnx; ``.rknn`` -> rknnlite on a board (importable), else the simulator."""
    suffix = Path(model).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".rknn":
        import importlib.util

        return "rknnlite" if importlib.util.find_spec("rknnlite") else "simulator"
    raise RuntimeFailure(f"cannot tell the backend from {model}: expected a .onnx or .rknn file")


def open_runtime(model: str | os.PathLike, backend: str | None = None, core: int | str = "auto", **kw) -> Runtime:
    """A runtime for ``model``, by backend name or (``None`` / "auto") by file suffix."""
    p = Path(model)
    if not p.is_file():
        raise RuntimeFailure(f"no model file at {p}")
    backend = default_backend(p) if backend in (None, "auto") else backend
    if backend == "onnx":
        return OnnxRuntime(p, **kw)
    if backend == "simulator":
        return SimulatorRuntime(p, **kw)
    if backend == "toolkit":
        return ToolkitBoardRuntime(p, core_mask=None if core == "auto" else 1 << int(core), **kw)
    if backend == "rknnlite":
        return RknnLiteRuntime(p, core=core)
    raise RuntimeFailure(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)} or auto")
