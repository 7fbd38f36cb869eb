"""A sentence under every figure, computed from what the figure shows (``viz.captioned`` puts it there).

Each function takes the data its figure was drawn from and says what is on it and what to look at,
with this run's numbers, so a reader of the HTML report knows what a picture proves without the code.
"""

from __future__ import annotations

import numpy as np


def dataset_samples(labels: list, names, image_names) -> str:
    n = sum(len(np.asarray(lb).reshape(-1, 5)) for lb in labels)
    classes = sorted({int(c) for lb in labels for c in np.asarray(lb).reshape(-1, 5)[:, 0]})
    empty = sum(len(np.asarray(lb).reshape(-1, 5)) == 0 for lb in labels)
    return (f"{len(labels)} training images with their ground-truth labels: dashed boxes tagged GT are annotations, "
            f"not predictions (they carry no score). {n} objects of {len(classes)} classes "
            f"({', '.join(str(names[c]) for c in classes)})" + (f"; {empty} image(s) without objects." if empty else "."))


def training_curves(histories: dict, key: str = "metrics/mAP50-95(B)", label: str = "mAP50-95") -> str:
    parts = []
    for name, rows in histories.items():
        vals = [r.get(key) for r in rows if r.get(key) is not None]
        if vals:
            k = int(np.argmax(vals))
            parts.append(f"{name} best {label} {vals[k]:.3f} at epoch {k + 1} of {len(vals)}")
    spike = ""
    for name, rows in histories.items():
        v = [r.get("val/cls_loss") for r in rows]
        v = [x for x in v if x is not None]
        if v and max(v) > 5 * v[-1]:
            k = int(np.argmax(v))
            spike = (f" {name}'s val cls loss peaks at {v[k]:.1f} in epoch {k + 1} (final {v[-1]:.2f}): early on the "
                     "class head is confidently wrong on thousands of background cells of the validation images, and "
                     "the class loss sums over every cell; the loss axes are logarithmic so the spike does not flatten "
                     "the rest.")
            break
    return ("Per epoch, ultralytics' validation (top) and the losses (bottom): " + "; ".join(parts) + ". "
            "Curves that still rise at the end mean more epochs would help." + spike)


def transplant_curves(t: dict) -> str:
    f = t["final"]
    return (f"The ReLU model started from the SiLU twin's weights ({t['epochs']['transplanted']} epochs) against the one "
            f"trained from scratch ({t['epochs']['scratch']} epochs): final mAP50 {f['transplanted']['mAP50']} vs "
            f"{f['scratch']['mAP50']}. The transplanted run starts from a lower loss; where its curve crosses the "
            "scratch run's final level is what the transplant saves.")


def side_by_side(image_name: str, conf: float) -> str:
    return (f"{image_name}, the validation image with the most detections, at conf {conf}: left ultralytics' own "
            "predict on the stock model, right the patched head decoded by the board's numpy post-processing. "
            "The same boxes, scores and classes on both sides are the point: the cut changed nothing.")


def graph_tails(counts: dict) -> str:
    s = [f"{k}: {v['nodes_after_head_convs']} nodes after the head's last convolutions, {len(v['outputs'])} output(s)"
         for k, v in counts.items()]
    return "; ".join(s) + ". Red boxes (Softmax, Concat, Reshape, Transpose) are what the patch moves off the NPU."


def calibration_samples(files, total: int, imgsz: int) -> str:
    return (f"The first {len(files)} of the {total} calibration images, as the toolkit reads them: letterboxed to "
            f"{imgsz} × {imgsz} (grey bands are padding), chosen in turn from every class × object-size group.")


def calibration_curve(curve: list, float_map: float, resolution: float) -> str:
    best = max(curve, key=lambda r: r["mAP50_95"])
    worst = min(curve, key=lambda r: r["mAP50_95"])
    span = best["mAP50_95"] - worst["mAP50_95"]
    return (f"INT8 mAP50-95 for {', '.join(str(r['images']) for r in curve)} calibration images (float "
            f"{float_map}): from {worst['mAP50_95']} ({worst['images']} images) to {best['mAP50_95']} "
            f"({best['images']}), a spread of {span:.4f} against the ±{resolution} this evaluation resolves"
            + (" — no size is measurably better here." if span <= 2 * resolution else "."))


def layer_cosine(analyses: dict) -> str:
    parts = []
    for name, a in analyses.items():
        rows = [r for r in a["rows"] if not r["fused"] and r["entire_cos"] is not None]
        worst = min(rows, key=lambda r: r["entire_cos"])
        parts.append(f"{name}: lowest accumulated cosine {worst['entire_cos']:.4f} at {worst['layer']}")
    return ("Per layer, the toolkit's accuracy_analysis: 'entire' accumulates every error up to the layer, "
            "'single' is the layer's own. " + "; ".join(parts) + ". A red line marks a tensor quantized to all zeros.")


def score_histograms(series: dict, floor: float = 0.01) -> str:
    counts = {k: len(np.unique(np.asarray(v).ravel()[np.asarray(v).ravel() > floor])) for k, v in series.items()}
    return ("Class-score values above " + str(floor) + " over the validation images, log count: "
            + ", ".join(f"{k} {n} distinct" for k, n in counts.items())
            + ". INT8 leaves a comb of levels; a few bars only means scores collapsed to a few values.")


def tile_merge(counts: dict) -> str:
    return (f"Left: the frame's {counts['tiles']} tiles (yellow) and every tile's own boxes (red where a box touches "
            f"an inner tile edge: possibly a cut object; {counts['cut_boxes']} of {counts['tile_boxes']}). Right: the "
            f"busiest edge, the tiles' boxes against the merged result (green); the merge keeps {counts['merged']}.")


def frames(modes) -> str:
    return ("The same 1920 × 1080 frame through the runner, " + " and ".join(f"'{m}'" for m in modes)
            + ": whole-frame letterboxing shrinks small objects below what the model sees; tiles keep them at "
            "full resolution.")


def pose_samples(n: int) -> str:
    return (f"{n} training images with their ground-truth keypoints and limbs (annotations, not predictions): "
            "white dots are visible keypoints, hidden ones are not drawn.")


def pose_runtimes(panels, images: int, conf: float) -> str:
    return (f"{images} validation images, each through {' and '.join(panels)} (conf {conf}): the same people, "
            "keypoints and limbs in each column is what the fp16 check's figures say in numbers.")


def annotated_frame(path) -> str:
    return (f"The first frame of {path}, as the runner wrote it: the bundle's own drawing, from a video it read "
            "frame by frame.")


def paths(rows: list) -> str:
    built = [r for r in rows if r.get("built") and r["precision"] == "INT8"]
    best = max(built, key=lambda r: r["mAP50_95"])
    worst = min(built, key=lambda r: r["mAP50_95"])
    return (f"Left: mAP50-95 per path (bar: INT8, circle: its own float graph, whiskers: the paired bootstrap's "
            f"interval of INT8 − float); highest INT8 bar {best['mAP50_95']} ({best['path']}), lowest "
            f"{worst['mAP50_95']} ({worst['path']}). Bars are heights, not verdicts: which differences these images "
            "resolve, and between which models, the conclusions say (paired intervals). Right: how much each "
            "detection's score dropped from float to INT8; a path whose curve sits right of the dotted line (0.1) "
            "loses confidence on the detections it keeps.")
