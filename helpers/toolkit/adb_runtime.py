"""The ``toolkit`` backend of :mod:`helpers.board.runtimes`, PC only: rknn-toolkit2 driving a board.

The PC runs the model on a board connected over adb, through the board's ``rknn_server`` (most
RK3588 dev kits on USB); ``eval_perf`` and ``eval_memory`` measure it there. It needs rknn-toolkit2,
so it lives on the PC side; the board runtime finds it by name (:mod:`helpers.board.runtimes.pc` declares it)
where the workbook is installed, and a bundle never carries it.
"""

from __future__ import annotations

import os

from ..board.runtimes import Runtime, RuntimeFailure
from ..board.runtimes.npu import npu_outputs


def toolkit_init_kwargs(target: str, device_id: str | None = None, core_mask: int | None = None,
                        perf_debug: bool = False, eval_mem: bool = False) -> dict:
    """Keyword arguments of ``RKNN.init_runtime`` for a board (a test binds them to the real signature)."""
    kw = {"target": target, "device_id": device_id, "perf_debug": perf_debug, "eval_mem": eval_mem}
    if core_mask is not None:
        kw["core_mask"] = core_mask
    return kw


class ToolkitBoardRuntime(Runtime):
    """rknn-toolkit2 on the PC driving a board over adb through the board's ``rknn_server``.

    ``eval_mem=True`` opens the session in the toolkit's memory-evaluation mode, which
    :meth:`eval_memory` requires; open a separate session for that measurement.
    """

    backend = "toolkit"

    def __init__(self, model: str | os.PathLike, target: str = "rk3588", device_id: str | None = None,
                 core_mask: int | None = None, perf_debug: bool = False, eval_mem: bool = False):
        from rknn.api import RKNN  # rknn-toolkit2: the PC drives the board

        self.eval_mem = eval_mem
        self.rknn = RKNN(verbose=False)
        if self.rknn.load_rknn(str(model)) != 0:
            raise RuntimeFailure(f"could not load {model}")
        if self.rknn.init_runtime(**toolkit_init_kwargs(target, device_id, core_mask, perf_debug, eval_mem)) != 0:
            self.close()
            raise RuntimeFailure(f"init_runtime(target={target!r}, device_id={device_id!r}) failed: is the board "
                                 "connected (adb devices), rknn_server running on it, and its librknnrt the same "
                                 "version as this toolkit? helpers.deploy.device.check_versions tells you.")

    def run(self, inputs: list) -> list:
        return npu_outputs(self.rknn.inference(inputs=[inputs[0]], data_format="nhwc"), "inference on the board")

    def eval_perf(self) -> dict:
        return self.rknn.eval_perf(is_print=False)

    def eval_memory(self) -> dict:
        if not self.eval_mem:
            raise RuntimeFailure("eval_memory needs a session opened with eval_mem=True (the toolkit's rule)")
        return self.rknn.eval_memory(is_print=False)

    def close(self) -> None:
        if getattr(self, "rknn", None) is not None:
            self.rknn.release()
            self.rknn = None
