"""One runtime interface over every place the model can run.

``rt.run([x]) -> [outputs]`` with a context-manager lifetime, over:

=============  ==========================================  ==================================
backend        where                                       input it takes
=============  ==========================================  ==================================
``onnx``       onnxruntime, any PC                          NCHW float32 RGB 0..1
``simulator``  rknn-toolkit2's simulator, x86 PC            NHWC uint8 RGB
``toolkit``    rknn-toolkit2 on a PC driving a board (adb)  NHWC uint8 RGB
``rknnlite``   RKNNLite on the board itself                 NHWC uint8 RGB
``ncnn``       ncnn on a CPU (board, phone, PC): ``.param``  NCHW float32 RGB 0..1
=============  ==========================================  ==================================

Callers never care about the layout: :meth:`Runtime.infer` takes the letterboxed BGR canvas
and converts it for the backend. Backends are imported lazily, so the board needs only its own
(``rknnlite`` or ``ncnn``); this module itself imports numpy and OpenCV only.

The ``simulator`` and ``toolkit`` backends are not here: they need the workbook's PC package and
rknn-toolkit2 (``helpers.toolkit.simulator``, ``helpers.toolkit.board_runtime``). :func:`open_runtime`
finds them by name (:data:`PC_BACKENDS`) only where that package is installed, so the same runner
runs them on a PC and never carries toolkit code to a board.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from .preprocess import to_nchw_float, to_nhwc_uint8

#: every backend name, in the order the runner offers them (the one list)
BACKENDS = ("onnx", "simulator", "toolkit", "rknnlite", "ncnn")
#: backends provided by the PC package, not by this folder: name -> "module:class"
PC_BACKENDS = {"simulator": "helpers.toolkit.simulator:SimulatorRuntime",
               "toolkit": "helpers.toolkit.board_runtime:ToolkitBoardRuntime"}


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


#: onnxruntime's declared minimum numpy (its wheels since 1.16); Debian 11's own python3-numpy is 1.19.5
ONNXRUNTIME_MIN_NUMPY = (1, 21, 6)


def version_tuple(text: str, parts: int = 3) -> tuple:
    """``"1.19.5"`` -> (1, 19, 5); ``"4.5.1+dfsg"`` -> (4, 5, 1): the leading digits of each dotted part."""
    import re

    out = []
    for p in text.split(".")[:parts]:
        m = re.match(r"\d+", p)
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


def onnxruntime_missing() -> str:
    """What to do when onnxruntime is not importable, said for this board's numpy."""
    if version_tuple(np.__version__) < ONNXRUNTIME_MIN_NUMPY:
        return (f"the onnx backend needs onnxruntime, which needs numpy >= 1.21.6, and this board has numpy "
                f"{np.__version__} (Debian 11's own): in a venv, pip install onnxruntime (it brings a newer numpy; "
                "see the bundle's README), or use the rknnlite backend (NPU) or ncnn")
    return "the onnx backend needs onnxruntime (pip install onnxruntime)"


#: where a board keeps Rockchip's NPU runtime library (RKNNLite loads it)
LIBRKNNRT = "/usr/lib/librknnrt.so"


def librknnrt_version(path: str = LIBRKNNRT) -> str | None:
    """The version string inside the board's librknnrt.so (what ``strings | grep`` finds), or None when absent."""
    import re

    try:
        with open(path, "rb") as f:
            m = re.search(rb"librknnrt version:?\s*([0-9]+\.[0-9]+\.[0-9]+)", f.read())
    except OSError:
        return None
    return m.group(1).decode() if m else "unknown"


def model_toolkit(model: str | os.PathLike) -> str | None:
    """The rknn-toolkit2 version that built a .rknn, from its build record (None without one)."""
    from .records import RecordMissing, read_build_record

    try:
        return read_build_record(model).get("toolkit")
    except (RecordMissing, ValueError):
        return None


class OnnxRuntime(Runtime):
    """onnxruntime on the CPU: the float reference of every comparison in the workbook."""

    backend, layout = "onnx", "nchw_float"

    def __init__(self, model: str | os.PathLike, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise RuntimeFailure(onnxruntime_missing()) from e
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own kinds on a damaged file
            raise RuntimeFailure(f"onnxruntime cannot load {model}: {str(e).splitlines()[0][:300]} (a truncated or "
                                 "damaged copy? copy the bundle again)") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, inputs: list) -> list:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(inputs[0], np.float32)})

    def close(self) -> None:
        self.session = None


def ncnn_blobs(param_file: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Input and output blob names of an ncnn ``.param`` file (outputs: produced, never consumed; in file order)."""
    lines = Path(param_file).read_text().split("\n")
    if not lines or lines[0].strip() != "7767517":
        raise RuntimeFailure(f"{param_file} is not an ncnn .param file (its first line is not the magic 7767517)")
    inputs, produced, consumed = [], [], set()
    for line in lines[2:]:
        f = line.split()
        if len(f) < 4:
            continue
        n_in, n_out = int(f[2]), int(f[3])
        ins, outs = f[4:4 + n_in], f[4 + n_in:4 + n_in + n_out]
        if f[0] == "Input":
            inputs += outs
        consumed.update(ins)
        produced += outs
    return inputs, [b for b in produced if b not in consumed]


class NcnnRuntime(Runtime):
    """ncnn on the CPU (``pip install ncnn``): a ``.param`` with its ``.bin`` next to it.

    ``fp16`` switches on fp16 storage and arithmetic (what ncnn does on ARM by default); off, it
    computes in fp32. Outputs come back as numpy arrays shaped like the torch model's (batch 1).
    """

    backend, layout = "ncnn", "nchw_float"

    def __init__(self, model: str | os.PathLike, threads: int = 1, fp16: bool = False):
        try:
            import ncnn
        except ImportError as e:
            raise RuntimeFailure("the ncnn backend needs the ncnn Python package (pip install ncnn)") from e
        param = Path(model)
        weights = param.with_suffix(".bin")
        if not weights.is_file():
            raise RuntimeFailure(f"no {weights.name} next to {param.name}: an ncnn model is the .param and its .bin")
        self.input_names, self.output_names = ncnn_blobs(param)
        self.net = ncnn.Net()
        self.net.opt.num_threads = int(threads)
        for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic"):
            setattr(self.net.opt, flag, bool(fp16))
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise RuntimeFailure(f"ncnn could not load {param} / {weights} (a truncated or damaged copy? copy the "
                                 "bundle again)")
        self._mat = ncnn.Mat

    def run(self, inputs: list) -> list:
        x = np.ascontiguousarray(np.asarray(inputs[0], np.float32)[0])  # (C, H, W): ncnn mats hold one image
        with self.net.create_extractor() as ex:
            ex.input(self.input_names[0], self._mat(x))
            outs = []
            for name in self.output_names:
                ret, mat = ex.extract(name)
                if ret != 0:
                    raise RuntimeFailure(f"ncnn could not compute output {name} (code {ret})")
                outs.append(np.array(mat)[None])
        return outs

    def close(self) -> None:
        self.net = None


def npu_outputs(out, what: str) -> list:
    if out is None:
        raise RuntimeFailure(f"{what} returned nothing")
    return [np.asarray(o, np.float32) for o in out]


def core_mask_name(core: int | str, npu_cores: int = 3) -> str:
    """RKNNLite's constant for a context: core index i -> ``NPU_CORE_<i mod cores>``; "auto" -> ``NPU_CORE_AUTO``."""
    if core == "auto":
        return "NPU_CORE_AUTO"
    if core == "all":
        return "NPU_CORE_" + "_".join(str(i) for i in range(npu_cores)) if npu_cores > 1 else "NPU_CORE_0"
    return f"NPU_CORE_{int(core) % max(1, npu_cores)}"


def core_bitmask(core: int | str, npu_cores: int = 3) -> int | None:
    """rknn-toolkit2's ``core_mask`` bits for a context: core index i -> ``1 << (i mod cores)``; "auto" -> None."""
    return None if core == "auto" else 1 << (int(core) % max(1, npu_cores))


def batch_core_rule(rknn_batch_size: int, core: int | str) -> None:
    """A model built with ``rknn_batch_size`` > 1 cannot be pinned to one NPU core: the runtime prints
    "core mask ... is invalid for batch size", falls back to NPU_CORE_AUTO, and one frame then costs about three
    times as long (reported by a 2024 write-up measured on an RK3588). A pool pins one context per core, so it refuses such a model."""
    if int(rknn_batch_size or 1) > 1 and core not in ("auto", None):
        raise RuntimeFailure(
            f"this model was built with rknn_batch_size={rknn_batch_size}: it cannot be pinned to NPU core {core} "
            "(the runtime would ignore the core mask, fall back to auto-core and run about 3x slower per frame); "
            "build it with rknn_batch_size=1 for a pool of one context per core, or run one context with core='auto'")


def model_batch_size(model: str | os.PathLike) -> int:
    """The ``rknn_batch_size`` a ``.rknn`` was built with, from its build record (1 when there is none)."""
    from .records import RecordMissing, read_build_record

    try:
        return int(read_build_record(model)["config"].get("rknn_batch_size", 1) or 1)
    except (RecordMissing, KeyError, TypeError, ValueError):
        return 1


class RknnLiteRuntime(Runtime):
    """RKNNLite on the board (aarch64, with the board's librknnrt.so); one NPU core per context."""

    backend = "rknnlite"

    def __init__(self, model: str | os.PathLike, core: int | str = "auto", npu_cores: int = 3):
        try:
            from rknnlite.api import RKNNLite
        except ImportError as e:
            raise RuntimeFailure("the rknnlite backend runs on the board: pip install the rknn-toolkit-lite2 wheel "
                                 "for the board's Python (aarch64) there") from e
        self.rknn = RKNNLite(verbose=False)
        if self.rknn.load_rknn(str(model)) != 0:
            raise RuntimeFailure(f"could not load {model}: built for another platform or toolkit version, or a "
                                 "truncated copy?")
        mask = getattr(RKNNLite, core_mask_name(core, npu_cores))
        if self.rknn.init_runtime(core_mask=mask) != 0:
            self.close()
            built, have = model_toolkit(model) or "unknown (no build record)", librknnrt_version()
            raise RuntimeFailure(f"init_runtime failed: is {LIBRKNNRT} present and the same version as the toolkit "
                                 f"that built the model? This model was built by rknn-toolkit2 {built}; this board's "
                                 f"{LIBRKNNRT} is " + ("missing" if have is None else f"version {have}") +
                                 f": copy librknnrt.so of the rknn-toolkit2 {built} release "
                                 "(rknpu2/runtime/Linux/librknn_api/aarch64/) to /usr/lib/")

    def run(self, inputs: list) -> list:
        return npu_outputs(self.rknn.inference(inputs=[inputs[0]], data_format="nhwc"), "RKNNLite inference")

    def close(self) -> None:
        if getattr(self, "rknn", None) is not None:
            self.rknn.release()
            self.rknn = None


def default_backend(model: str | os.PathLike) -> str:
    """By file suffix: ``.onnx`` -> onnx; ``.param`` -> ncnn; ``.rknn`` -> rknnlite on a board (importable), else
    the simulator."""
    suffix = Path(model).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".param":
        return "ncnn"
    if suffix == ".rknn":
        import importlib.util

        return "rknnlite" if importlib.util.find_spec("rknnlite") else "simulator"
    raise RuntimeFailure(f"cannot tell the backend from {model}: expected a .onnx, .param (ncnn) or .rknn file")


def _pc_backend(name: str):
    module, cls = PC_BACKENDS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise RuntimeFailure(f"the {name} backend runs on a PC with the workbook installed (pip install -e . and "
                             f"rknn-toolkit2): {e}") from e


def open_runtime(model: str | os.PathLike, backend: str | None = None, core: int | str = "auto",
                 npu_cores: int = 3, **kw) -> Runtime:
    """A runtime for ``model``, by backend name or (``None`` / "auto") by file suffix.

    ``core`` picks the NPU core of this context (an index, or "auto"); ``npu_cores`` is the
    target's core count (:mod:`.targets`), so context ``i`` lands on core ``i mod npu_cores``.
    """
    p = Path(model)
    if not p.is_file():
        raise RuntimeFailure(f"no model file at {p}")
    backend = default_backend(p) if backend in (None, "auto") else backend
    if backend == "onnx":
        return OnnxRuntime(p, **kw)
    if backend in ("toolkit", "rknnlite"):
        batch_core_rule(model_batch_size(p), core)
    if backend == "toolkit":
        kw = {**kw, "core_mask": core_bitmask(core, npu_cores)}
    if backend in PC_BACKENDS:  # its errors come back as this module's RuntimeFailure (a bundle's own copy)
        try:
            return _pc_backend(backend)(p, **kw)
        except RuntimeError as e:
            raise e if isinstance(e, RuntimeFailure) else RuntimeFailure(str(e)) from e
    if backend == "rknnlite":
        return RknnLiteRuntime(p, core=core, npu_cores=npu_cores)
    if backend == "ncnn":
        return NcnnRuntime(p, **kw)
    raise RuntimeFailure(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)} or auto")
