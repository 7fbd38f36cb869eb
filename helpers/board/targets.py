"""The Rockchip SoCs this workbook builds for, and what their NPUs offer. Standard library only.

One table, used by the toolkit settings on the PC (which targets exist), by the runner and its
pool (how many NPU cores, so how many contexts) and by the board checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Soc:
    name: str
    npu_cores: int
    tops: float
    note: str = ""

    def describe(self) -> str:
        cores = f"{self.npu_cores} NPU core{'s' if self.npu_cores > 1 else ''}"
        return f"{self.name.upper()}: {cores}, {self.tops:g} TOPS" + (f" ({self.note})" if self.note else "")


SOCS: dict[str, Soc] = {s.name: s for s in (
    Soc("rk3588", 3, 6.0, "also RK3588S"),
    Soc("rk3576", 2, 6.0),
    Soc("rk3568", 1, 1.0),
    Soc("rk3566", 1, 1.0),
    Soc("rk3562", 1, 1.0),
)}


def check_target(target: str) -> str:
    """The normalised SoC name, or a clear error listing the ones this workbook knows."""
    t = str(target).strip().lower()
    if t not in SOCS:
        raise ValueError(f"unknown target platform {target!r}; use one of {', '.join(SOCS)} "
                         "(the SoC on your board: `cat /proc/device-tree/compatible` on the board tells you)")
    return t
