"""What every stage shares: the :class:`Stage` record of one stage, a check, the thresholds used by more than one.

A stage is one module (``s01_train`` … ``s09_compare``) that defines, in one place, what the stage
needs from earlier ones (``inputs``), its headline figures, its conclusions and its checks, all
read from the record its notebook makes. :func:`helpers.stages.close` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

#: INT8 "keeps the accuracy" while its mAP50 trails float by at most this (05's check, 06's sentence: one figure)
INT8_KEEPS_MAP50 = 0.02
#: a rebuild of 05's INT8 configuration gives 05's mAP on the same images (06, 09)
REPRODUCE_MAP = 1e-4


@dataclass(frozen=True)
class Stage:
    """One stage: its name, the inputs it takes from earlier stages' records, and what it computes from its own."""
    name: str
    #: attribute -> (earlier stage, metrics key): what ``open_stage`` hands the notebook
    inputs: dict = field(default_factory=dict)
    headline: Callable[[dict], dict] = lambda m: {}
    conclusions: Callable[[dict], list] = lambda m: []
    checks: Callable[[dict], list] = lambda m: []


class ExpectationFailed(RuntimeError):
    """A notebook's key expectation failed; the message says what to try."""


def check(cid: str, ok: bool, what: str, fix: str, stop: bool = True) -> dict:
    """One expectation: ``stop`` ones raise after the stage recorded its metrics, the others warn."""
    return {"id": cid, "ok": bool(ok), "stop": stop, "what": what, "fix": "" if ok else fix}


def show_conclusions(found: list[dict]):
    """The conclusions as Markdown, one bullet each."""
    from IPython.display import Markdown

    return Markdown("\n".join(f"- {c['text']}" for c in found))


def report_checks(checks: list[dict]):
    """Show the checks; raise :class:`ExpectationFailed` for failed ``stop`` checks (a warning for the others)."""
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - outside Jupyter
        display, Markdown = print, str
    display(Markdown("\n".join(f"- {'✅' if c['ok'] else ('❌' if c['stop'] else '⚠️')} **{c['id']}**: {c['what']}"
                               + (f" — try: {c['fix']}" if c["fix"] else "") for c in checks)))
    failed = [c for c in checks if not c["ok"] and c["stop"]]
    if failed:
        raise ExpectationFailed("; ".join(f"{c['id']}: {c['what']} — try: {c['fix']}" for c in failed))
