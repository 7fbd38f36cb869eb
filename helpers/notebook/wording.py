"""How the workbook words a difference: always "A − B" with both named, against what the evaluation resolves.

One sign convention everywhere: a difference is the first-named minus the second-named, so a positive figure
means the first is higher. A difference whose paired-bootstrap 95 % interval holds zero (or, without an
interval, whose size is at or below the evaluation's resolution) is worded "within noise" and never as a
finding: 60 validation images resolve about ±0.01 mAP50-95, so a −0.005 is a coin toss, not a loss.
"""

from __future__ import annotations


def is_noise(difference: float, low: float | None = None, high: float | None = None,
             resolution: float | None = None) -> bool:
    """Below what the evaluation resolves: the 95 % interval [low, high] holds 0, else |difference| <= resolution.
    Without either nothing is resolved: a difference nobody measured the noise of is not a finding."""
    if low is not None and high is not None:
        return low <= 0 <= high
    if resolution is not None:
        return abs(difference) <= resolution
    return True


def difference(a: str, b: str, a_value: float, b_value: float, metric: str = "mAP50-95", low: float | None = None,
               high: float | None = None, resolution: float | None = None, digits: int = 4) -> dict:
    """``a − b`` in words, with its interval or resolution, and whether it is a finding.

    Returns ``{"difference", "noise", "higher", "text"}``: ``higher`` is the name of the higher one when the
    difference is resolved, else None.
    """
    d = round(a_value - b_value, digits)
    noise = is_noise(d, low, high, resolution)
    if low is not None and high is not None:
        against = f"95 % interval {low:+.{digits}f} to {high:+.{digits}f}"
    elif resolution is not None:
        against = f"this evaluation resolves ±{resolution}"
    else:
        against = "no interval measured"
    verdict = ("not a finding" if low is None and resolution is None else "within noise") if noise else \
        f"{a if d > 0 else b} higher, beyond noise"
    return {"difference": d, "noise": noise, "higher": None if noise else (a if d > 0 else b),
            "text": f"{a} − {b} {metric} {d:+.{digits}f} ({a_value} vs {b_value}; {against}): {verdict}"}
