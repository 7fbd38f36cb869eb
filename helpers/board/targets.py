"""The Rockchip SoCs this workbook builds for, and what their NPUs offer. Standard library only.

One table, used by the toolkit settings on the PC (which targets exist, which precisions they
build), by the runner and its pool (how many NPU cores, so how many contexts, and which
``core_mask`` values exist) and by the board checks (the SoC a board reports).

Measured with rknn-toolkit2 2.5.0 on a small model (notebooks 04 and 05 measure it again on yours):
the RK35xx parts build FP16 and INT8 and the simulator runs them; RV1103/RV1106 build INT8 only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Soc:
    name: str
    npu_cores: int
    tops: float
    fp16: bool = True          # the toolkit builds float16 models for it
    note: str = ""

    def describe(self) -> str:
        cores = f"{self.npu_cores} NPU core{'s' if self.npu_cores > 1 else ''}"
        extra = [self.note] if self.note else []
        if not self.fp16:
            extra.append("INT8 only")
        return f"{self.name.upper()}: {cores}, {self.tops:g} TOPS" + (f" ({', '.join(extra)})" if extra else "")

    def core_masks(self) -> list[str]:
        """The RKNNLite constants that address this SoC's cores one by one (a pool uses one context per core)."""
        return [f"NPU_CORE_{i}" for i in range(self.npu_cores)] if self.npu_cores > 1 else ["NPU_CORE_AUTO"]


SOCS: dict[str, Soc] = {s.name: s for s in (
    Soc("rk3588", 3, 6.0, note="also RK3588S"),
    Soc("rk3576", 2, 6.0),
    Soc("rk3568", 1, 1.0),
    Soc("rk3566", 1, 1.0),
    Soc("rk3562", 1, 1.0),
    Soc("rv1106", 1, 1.0, fp16=False),
    Soc("rv1103", 1, 0.5, fp16=False),
)}


def check_target(target: str) -> str:
    """The normalised SoC name, or a clear error listing the ones this workbook knows."""
    t = str(target).strip().lower()
    if t not in SOCS:
        raise ValueError(f"unknown target platform {target!r}; use one of {', '.join(SOCS)} "
                         "(the SoC on your board: `cat /proc/device-tree/compatible` on the board tells you)")
    return t


def soc_from_compatible(text: str) -> str | None:
    """The SoC named by a board's ``/proc/device-tree/compatible`` (NUL-separated strings), if known."""
    for name in re.findall(r"r[kv]\d{4}", text.replace("\0", " ").lower()):
        if name in SOCS:
            return name
    m = re.search(r"r[kv]\d{4}", text.lower())
    return m.group(0) if m else None
