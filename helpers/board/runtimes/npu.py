"""What every NPU backend shares: core masks, the batch-size rule, the board's librknnrt, outputs as float32."""

from __future__ import annotations

import os

import numpy as np

from . import RuntimeFailure

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
    from ..records import RecordMissing, read_build_record

    try:
        return read_build_record(model).get("toolkit")
    except (RecordMissing, ValueError):
        return None


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
    times as long (reported by a 2024 write-up measured on an RK3588). A pool pins one context per core, so it
    refuses such a model."""
    if int(rknn_batch_size or 1) > 1 and core not in ("auto", None):
        raise RuntimeFailure(
            f"this model was built with rknn_batch_size={rknn_batch_size}: it cannot be pinned to NPU core {core} "
            "(the runtime would ignore the core mask, fall back to auto-core and run about 3x slower per frame); "
            "build it with rknn_batch_size=1 for a pool of one context per core, or run one context with core='auto'")


def model_batch_size(model: str | os.PathLike) -> int:
    """The ``rknn_batch_size`` a ``.rknn`` was built with, from its build record (1 when there is none)."""
    from ..records import RecordMissing, read_build_record

    try:
        return int(read_build_record(model)["config"].get("rknn_batch_size", 1) or 1)
    except (RecordMissing, KeyError, TypeError, ValueError):
        return 1
