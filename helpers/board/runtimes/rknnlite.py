"""The ``rknnlite`` backend: RKNNLite on the board itself (aarch64, the board's librknnrt.so), one NPU core per
context."""

from __future__ import annotations

import os

from . import Backend, Runtime, RuntimeFailure
from .npu import LIBRKNNRT, batch_core_rule, core_mask_name, librknnrt_version, model_batch_size, model_toolkit, npu_outputs


class RknnLiteRuntime(Runtime):
    """RKNNLite on the board."""

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


def _open(path, core, npu_cores, **kw) -> RknnLiteRuntime:
    batch_core_rule(model_batch_size(path), core)
    return RknnLiteRuntime(path, core=core, npu_cores=npu_cores)


def _importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("rknnlite") is not None


BACKEND = Backend("rknnlite", ".rknn", "model", RknnLiteRuntime.layout, npu=True,
                  where="RKNNLite on the board's NPU", order=3, opens=_open, available=_importable)
