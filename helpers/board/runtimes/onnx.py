"""The ``onnx`` backend: onnxruntime on a CPU, the float reference of every comparison in the workbook."""

from __future__ import annotations

import os

import numpy as np

from . import Backend, Runtime, RuntimeFailure, version_tuple

#: onnxruntime's declared minimum numpy (its wheels since 1.16); Debian 11's own python3-numpy is 1.19.5
ONNXRUNTIME_MIN_NUMPY = (1, 21, 6)


def onnxruntime_missing() -> str:
    """What to do when onnxruntime is not importable, said for this board's numpy."""
    if version_tuple(np.__version__) < ONNXRUNTIME_MIN_NUMPY:
        return (f"the onnx backend needs onnxruntime, which needs numpy >= 1.21.6, and this board has numpy "
                f"{np.__version__} (Debian 11's own): in a venv, pip install onnxruntime (it brings a newer numpy; "
                "see the bundle's README), or use the rknnlite backend (NPU) or ncnn")
    return "the onnx backend needs onnxruntime (pip install onnxruntime)"


class OnnxRuntime(Runtime):
    """onnxruntime on the CPU."""

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


BACKEND = Backend("onnx", ".onnx", "onnx", OnnxRuntime.layout, npu=False, where="onnxruntime, any CPU (PC or board)",
                  order=0, opens=lambda path, core, npu_cores, **kw: OnnxRuntime(path, **kw))
