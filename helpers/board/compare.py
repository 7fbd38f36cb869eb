"""Do two runs list the same detections? Frame by frame, class by class, with stated tolerances.

Two runs of one model agree exactly only on the same input and the same kernels. A board's stack
may letterbox differently (the aarch64 pip wheels of OpenCV resize through Arm's KleidiCV and
carotene HALs: up to one grey level on about a quarter of the input values when shrinking) and
round differently, so scores and boxes move a little, and a detection whose score sits right at the
threshold may appear on one side only. :func:`match_runs` pairs detections greedily (same class,
highest IoU first), reports the largest score, box and keypoint differences of the pairs, and
counts an unpaired detection as harmless only when its score lies within ``margin`` of the
threshold. Standard library only (runs in the bundle's self-test on the board).
"""

from __future__ import annotations


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)


def _pairs(ref: list, got: list, min_iou: float) -> list[tuple[int, int]]:
    cand = sorted(((_iou(r["box"], g["box"]), i, j) for i, r in enumerate(ref) for j, g in enumerate(got)
                   if r["class"] == g["class"]), reverse=True)
    used_r, used_g, out = set(), set(), []
    for iou, i, j in cand:
        if iou < min_iou:
            break
        if i not in used_r and j not in used_g:
            used_r.add(i)
            used_g.add(j)
            out.append((i, j))
    return out


def _kpt_diff(r: dict, g: dict) -> float:
    return max((max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(r.get("keypoints", []),
                                                                       g.get("keypoints", []))), default=0.0)


def match_runs(ref: dict, got: dict, conf: float, score_tol: float, box_tol: float, margin: float = 0.02,
               min_iou: float = 0.5) -> dict:
    """Compare two runner results (``{"frames": [{"source", "detections"}]}``); ``ok`` says they agree.

    Agreement: the same frames in the same order; every pair within ``score_tol`` (score) and
    ``box_tol`` (pixels, boxes and keypoints); every unpaired detection within ``margin`` of ``conf``.
    """
    out = {"frames": len(ref["frames"]), "pairs": 0, "unpaired": [], "max_score_diff": 0.0, "max_box_diff": 0.0,
           "max_keypoint_diff": 0.0, "score_tol": score_tol, "box_tol": box_tol, "margin": margin}
    same_frames = [f["source"] for f in ref["frames"]] == [f["source"] for f in got["frames"]]
    for fr, fg in zip(ref["frames"], got["frames"]):
        rd, gd = fr["detections"], fg["detections"]
        pairs = _pairs(rd, gd, min_iou)
        out["pairs"] += len(pairs)
        for i, j in pairs:
            out["max_score_diff"] = max(out["max_score_diff"], abs(rd[i]["score"] - gd[j]["score"]))
            out["max_box_diff"] = max(out["max_box_diff"], max(abs(a - b) for a, b in zip(rd[i]["box"], gd[j]["box"])))
            out["max_keypoint_diff"] = max(out["max_keypoint_diff"], _kpt_diff(rd[i], gd[j]))
        lone = [("reference", rd[i]) for i in set(range(len(rd))) - {p[0] for p in pairs}]
        lone += [("run", gd[j]) for j in set(range(len(gd))) - {p[1] for p in pairs}]
        out["unpaired"] += [{"frame": fr["source"], "in": side, "class": d["class"], "score": round(d["score"], 4)}
                            for side, d in lone]
    near = all(abs(u["score"] - conf) <= margin for u in out["unpaired"])
    out["unpaired_near_threshold"] = near
    for k in ("max_score_diff", "max_box_diff", "max_keypoint_diff"):
        out[k] = round(out[k], 6)
    out["ok"] = bool(same_frames and near and out["max_score_diff"] <= score_tol and out["max_box_diff"] <= box_tol
                     and out["max_keypoint_diff"] <= box_tol)
    return out


def describe(m: dict) -> str:
    """One line: pairs, the largest differences against their tolerances, what was left unpaired."""
    lone = (f", {len(m['unpaired'])} unpaired ({'all' if m['unpaired_near_threshold'] else 'NOT all'} within "
            f"{m['margin']} of the threshold)" if m["unpaired"] else "")
    return (f"{m['frames']} frame(s), {m['pairs']} detection pairs; largest differences: score "
            f"{m['max_score_diff']:.2g} (tolerance {m['score_tol']}), box {m['max_box_diff']:.2g} px, keypoints "
            f"{m['max_keypoint_diff']:.2g} px (tolerance {m['box_tol']}){lone}: {'agree' if m['ok'] else 'DIFFER'}")
