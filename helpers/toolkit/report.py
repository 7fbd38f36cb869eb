"""The toolkit's ``error_analysis.txt`` (from ``accuracy_analysis``) as rows, and the worst layers."""

from __future__ import annotations

import re

from .logs import strip_ansi

_ROW = re.compile(r"^\[(?P<op>[^\]]+)\]\s+(?P<layer>\S+)\s*(?P<rest>.*)$")
_NUM = r"(?:[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|q_zero|nan|inf)"
_VALS = re.compile(rf"^(?P<ec>{_NUM})\s*\|\s*(?P<ee>{_NUM})\s+(?P<sc>{_NUM})\s*\|\s*(?P<se>{_NUM})")


def _num(s: str) -> float | None:
    return None if s == "q_zero" else float(s)


def parse_error_analysis(text: str) -> list[dict]:
    """Parse ``error_analysis.txt`` into rows: layer, op, entire/single cosine and Euclidean.

    Layers that the toolkit fused into the next one (a Conv followed by its ReLU) have no values
    and are returned with ``fused=True``. ``q_zero`` (the tensor quantized to all zeros, so no
    cosine exists) is returned as ``None`` with ``q_zero=True``.
    """
    rows = []
    for raw in text.splitlines():
        line = strip_ansi(raw).strip()
        m = _ROW.match(line)
        if not m:
            continue
        rest = m.group("rest").strip()
        row = {"layer": m.group("layer"), "op": m.group("op"), "entire_cos": None, "entire_euc": None,
               "single_cos": None, "single_euc": None, "fused": not rest, "q_zero": "q_zero" in rest}
        v = _VALS.match(rest)
        if v:
            row.update(entire_cos=_num(v.group("ec")), entire_euc=_num(v.group("ee")),
                       single_cos=_num(v.group("sc")), single_euc=_num(v.group("se")))
        elif rest:
            raise ValueError(f"unrecognised accuracy-analysis line: {raw!r}")
        rows.append(row)
    if not rows:
        raise ValueError("no layer rows found: is this an rknn-toolkit2 error_analysis.txt?")
    return rows


def worst_layers(rows: list[dict], n: int = 5, key: str = "single_cos", exclude_ops=("exDataConvert", "Input"),
                 ) -> list[dict]:
    """The ``n`` layers with the lowest ``key`` (q_zero layers first: they lost everything)."""
    cand = [r for r in rows if not r["fused"] and r["op"] not in exclude_ops]

    def rank(r):
        v = r.get(key)
        return (-1.0 if r["q_zero"] else (v if v is not None else 2.0))
    return sorted(cand, key=rank)[:n]


def compare_tables(rows: list[dict], reference: list[dict]) -> dict:
    """Two ``accuracy_analysis`` tables of the same model: layer counts, how many layers both give a value, and
    the largest difference of the accumulated cosine over those (``None`` when none is comparable)."""
    ref = {r["layer"]: r for r in reference}
    common = [r for r in rows if r["layer"] in ref and r["entire_cos"] is not None
              and ref[r["layer"]]["entire_cos"] is not None]
    return {"layers": len(rows), "helper_layers": len(ref), "compared": len(common),
            "max_entire_cos_diff": max((abs(r["entire_cos"] - ref[r["layer"]]["entire_cos"]) for r in common),
                                       default=None)}
