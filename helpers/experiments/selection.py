"""Honest selection: choose an INT8 configuration on one part of the validation images, report it on another.

Picking the best of eight builds by mAP on the same 60 images that then report it flatters the winner
(a full run once showed INT8 "above" float). Here the evaluation images are split in two halves
(even / odd positions): the configuration is chosen on the *selection* half, and its figure against
float is read on the *report* half, which played no part in the choice. A paired bootstrap over all
images says how large a difference this evaluation can resolve at all.

Choosing must not depend on luck either: configurations this evaluation cannot tell apart are equally
good, so among those within the selection half's resolution of its best, the cheapest to build ships
(mmse builds in minutes where normal takes seconds, and every later build of the shipped model, 06's
rebuild and 07's simulator runner, pays that again). Experiments that only need *an* INT8 build
(hybrid, pruning, the target table, the calibration curve, the pitfalls) use :data:`EXPERIMENT`, a fixed
cheap configuration, whatever the sweep ranks first.
"""

from __future__ import annotations

from ..model.metrics import EvalSet, bootstrap_difference, coco_map, detections

KEY = "mAP50_95"
#: the INT8 configuration of the experiments that need "an INT8 build": the toolkit's own defaults
#: (quantized_algorithm "normal", quantized_method "channel"), seconds to build
EXPERIMENT = {"algorithm": "normal", "method": "channel"}
#: builds within this factor of the cheapest candidate's build time count as equally cheap (build times
#: vary from run to run by far less; normal vs mmse differ by 30x)
COST_TIE = 2.0


def experiment_config(target: str, **common):
    """The fixed cheap INT8 :class:`~helpers.toolkit.config.BuildConfig` the experiments build (:data:`EXPERIMENT`)."""
    from ..toolkit.config import BuildConfig

    return BuildConfig(target=target, quantize=True, **EXPERIMENT, **common)


def halves(n: int) -> tuple[list[int], list[int]]:
    """Selection and report image indices: even and odd positions (both halves see every kind of image)."""
    return list(range(0, n, 2)), list(range(1, n, 2))


def score_halves(rows: list[dict], outputs: dict, es: EvalSet) -> list[dict]:
    """Add ``select_mAP50_95`` and ``report_mAP50_95`` to every built row (in place; returns the rows)."""
    sel, rep = halves(len(es))
    for r in rows:
        if r["config"] in outputs:
            d = detections(outputs[r["config"]], es)
            r["select_mAP50_95"] = coco_map(es, d, sel)[KEY]
            r["report_mAP50_95"] = coco_map(es, d, rep)[KEY]
    return rows


def _built(rows: list[dict]) -> list[dict]:
    ok = [r for r in rows if "select_mAP50_95" in r]
    if not ok:
        raise RuntimeError("no configuration built successfully; see the errors in the table")
    return ok


def _rank(r: dict):
    return r["select_mAP50_95"], r["min_cosine"]


def candidates(rows: list[dict], resolution: float = 0.0) -> list[dict]:
    """The built rows this evaluation cannot tell apart from the best on the selection half.

    A row is a candidate when its selection-half mAP50-95 is within ``resolution`` of the best one's
    (0: only the best and its exact ties).
    """
    ok = _built(rows)
    top = max(r["select_mAP50_95"] for r in ok)
    return [r for r in ok if r["select_mAP50_95"] >= round(top - resolution, 6)]


def choose(rows: list[dict], resolution: float = 0.0) -> dict:
    """The row to ship: the cheapest to build among :func:`candidates`, the best of those on the selection half.

    Builds within :data:`COST_TIE` times the cheapest candidate's ``build_s`` count as equally cheap;
    among them the higher selection-half mAP50-95 wins (ties: the higher lowest cosine).
    """
    cand = candidates(rows, resolution)
    cheapest = min(r["build_s"] for r in cand)
    return max((r for r in cand if r["build_s"] <= COST_TIE * cheapest), key=_rank)


def rule_table(rows: list[dict], resolution: float) -> list[dict]:
    """:func:`choose`'s rule as a table: per built configuration its build seconds, selection-half mAP50-95, whether
    it is within ``resolution`` of the best (a candidate), whether it builds within :data:`COST_TIE` × the cheapest
    candidate's time (equally cheap), and which one ships."""
    cand = {r["config"] for r in candidates(rows, resolution)}
    cheapest = min(r["build_s"] for r in _built(rows) if r["config"] in cand)
    ship = choose(rows, resolution)["config"]
    return [{"config": r["config"], "build_s": r["build_s"], "select_mAP50_95": r["select_mAP50_95"],
             "within_resolution": r["config"] in cand,
             "within_cost_tier": r["config"] in cand and r["build_s"] <= COST_TIE * cheapest,
             "ships": r["config"] == ship} for r in sorted(_built(rows), key=lambda r: -r["select_mAP50_95"])]


def honest_report(rows: list[dict], outputs: dict, es: EvalSet, float_outputs: list, resamples: int = 200,
                  seed: int = 0) -> dict:
    """The shipped row chosen on the selection half, and what the evaluation can tell apart.

    The selection half's own resolution (twice the paired-bootstrap sd of its best vs worst row, on
    those images only) decides which rows are candidates; :func:`choose` ships the cheapest of them.
    ``ship_vs_float`` and ``best_vs_worst`` are paired bootstraps over every image (mAP50-95); the
    report-half figures are the shipped configuration's and float's on images the choice never saw.
    """
    score_halves(rows, outputs, es)
    sel, rep = halves(len(es))
    built = _built(rows)
    top, bottom = max(built, key=_rank), min(built, key=_rank)  # ties: the first in the table, as choose() takes
    by_full = sorted(built, key=lambda r: r[KEY])
    dets = {r["config"]: detections(outputs[r["config"]], es) for r in (bottom, top, by_full[0], by_full[-1])}
    sel_spread = bootstrap_difference(es, dets[top["config"]], dets[bottom["config"]], resamples, seed, idx=sel)
    sel_resolution = round(2 * sel_spread["sd"], 4)
    cand = candidates(rows, sel_resolution)
    ship = choose(rows, sel_resolution)
    dets.setdefault(ship["config"], detections(outputs[ship["config"]], es))
    fdet = detections(float_outputs, es)
    float_sel, float_rep = coco_map(es, fdet, sel)[KEY], coco_map(es, fdet, rep)[KEY]
    ship_vs_float = bootstrap_difference(es, dets[ship["config"]], fdet, resamples, seed)
    spread = bootstrap_difference(es, dets[by_full[-1]["config"]], dets[by_full[0]["config"]], resamples, seed)
    return {"ship": ship["config"], "selection_images": len(sel), "report_images": len(rep),
            "ship_select": ship["select_mAP50_95"], "ship_report": ship["report_mAP50_95"],
            "ship_build_s": ship["build_s"],
            "float_select": float_sel, "float_report": float_rep,
            "report_gap": round(ship["report_mAP50_95"] - float_rep, 4),
            # the choice: what the selection half resolves, who was within it, the best there and its cost
            "selection_best": top["config"], "selection_best_build_s": top["build_s"], "cost_tie": COST_TIE,
            "selection_resolution": sel_resolution, "candidates": [r["config"] for r in cand],
            "rule": rule_table(rows, sel_resolution),
            "full_set_winner": by_full[-1]["config"], "full_set_loser": by_full[0]["config"],
            "ship_vs_float": ship_vs_float, "best_vs_worst": spread,
            # configurations are compared on the same images (paired): twice the paired sd of best vs worst is the
            # smallest difference between two of them this evaluation resolves
            "resolution": round(2 * spread["sd"], 4)}


def within_noise(boot: dict) -> bool:
    """True when the bootstrap interval of a difference contains zero."""
    return boot["low"] <= 0 <= boot["high"]
