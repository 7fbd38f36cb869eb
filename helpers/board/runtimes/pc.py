"""The backends the workbook's PC package provides, declared here so a bundle's runner lists them.

``simulator`` (rknn-toolkit2's simulator on an x86 PC) and ``toolkit`` (rknn-toolkit2 on a PC driving a board
over adb, through the board's ``rknn_server``) need rknn-toolkit2: their code lives in ``helpers.toolkit`` and is
imported by name only when one is opened, so a board never carries it and says where they run instead.
"""

from __future__ import annotations

import importlib

from . import Backend, RuntimeFailure
from .npu import batch_core_rule, core_bitmask, model_batch_size


def _pc_class(name: str, where: str):
    module, cls = where.split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise RuntimeFailure(f"the {name} backend runs on a PC with the workbook installed (pip install -e . and "
                             f"rknn-toolkit2): {e}") from e


def _opened(name: str, where: str, path, **kw):
    try:  # its errors come back as this package's RuntimeFailure (a bundle's own copy)
        return _pc_class(name, where)(path, **kw)
    except RuntimeError as e:
        raise e if isinstance(e, RuntimeFailure) else RuntimeFailure(str(e)) from e


def _open_simulator(path, core, npu_cores, **kw):
    return _opened("simulator", "helpers.toolkit.simulator:SimulatorRuntime", path, **kw)


def _open_toolkit(path, core, npu_cores, **kw):
    batch_core_rule(model_batch_size(path), core)
    return _opened("toolkit", "helpers.toolkit.adb_runtime:ToolkitBoardRuntime", path,
                   **{**kw, "core_mask": core_bitmask(core, npu_cores)})


BACKENDS = (
    Backend("simulator", ".rknn", "model", "nhwc_uint8", npu=False, where="rknn-toolkit2's simulator, x86 PC",
            order=1, opens=_open_simulator),
    Backend("toolkit", ".rknn", "model", "nhwc_uint8", npu=True, where="rknn-toolkit2 on a PC driving a board (adb)",
            order=2, opens=_open_toolkit, auto=False),
)
