"""Honest selection: choose an INT8 configuration on one part of the validation images, report it on another.

Picking the best of eight builds by mAP on the same 60 images that then report it flatters the winner
(a full run once showed INT8 "above" float). Here the evaluation images are split in two halves
(even / odd positions): the configuration is chosen on the *selection* half, and its figure against
float is read on the *report* half, which played no part in the choice. A paired bootstrap over all
images says how large a difference this evaluation can resolve at all.
"""

from __future__ import annotations

from .metrics import EvalSet, bootstrap_difference, coco_map, detections

KEY = "mAP50_95"


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


def choose(rows: list[dict]) -> dict:
    """The row with the best selection-half mAP50-95 (ties: the higher lowest cosine)."""
    ok = [r for r in rows if "select_mAP50_95" in r]
    if not ok:
        raise RuntimeError("no configuration built successfully; see the errors in the table")
    return max(ok, key=lambda r: (r["select_mAP50_95"], r["min_cosine"]))


def honest_report(rows: list[dict], outputs: dict, es: EvalSet, float_outputs: list, resamples: int = 200,
                  seed: int = 0) -> dict:
    """The shipped row chosen on the selection half, and what the evaluation can tell apart.

    ``ship_vs_float`` and ``best_vs_worst`` are paired bootstraps over every image (mAP50-95); the
    report-half figures are the shipped configuration's and float's on images the choice never saw.
    """
    score_halves(rows, outputs, es)
    ship = choose(rows)
    sel, rep = halves(len(es))
    fdet = detections(float_outputs, es)
    float_sel, float_rep = coco_map(es, fdet, sel)[KEY], coco_map(es, fdet, rep)[KEY]
    built = [r for r in rows if "select_mAP50_95" in r]
    by_full = sorted(built, key=lambda r: r[KEY])
    dets = {r["config"]: detections(outputs[r["config"]], es) for r in (ship, by_full[0], by_full[-1])}
    ship_vs_float = bootstrap_difference(es, dets[ship["config"]], fdet, resamples, seed)
    spread = bootstrap_difference(es, dets[by_full[-1]["config"]], dets[by_full[0]["config"]], resamples, seed)
    return {"ship": ship["config"], "selection_images": len(sel), "report_images": len(rep),
            "ship_select": ship["select_mAP50_95"], "ship_report": ship["report_mAP50_95"],
            "float_select": float_sel, "float_report": float_rep,
            "report_gap": round(ship["report_mAP50_95"] - float_rep, 4),
            "full_set_winner": by_full[-1]["config"], "full_set_loser": by_full[0]["config"],
            "ship_vs_float": ship_vs_float, "best_vs_worst": spread,
            # configurations are compared on the same images (paired): twice the paired sd of best vs worst is the
            # smallest difference between two of them this evaluation resolves
            "resolution": round(2 * spread["sd"], 4)}


def within_noise(boot: dict) -> bool:
    """True when the bootstrap interval of a difference contains zero."""
    return boot["low"] <= 0 <= boot["high"]
