"""Drawings and plots for the notebooks (matplotlib, OpenCV)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .board.draw import colour, draw_detections  # noqa: F401  (the one drawing routine)
from .board.postprocess import DEFAULT_CONF, DEFAULT_IOU


def draw_labels(image_bgr: np.ndarray, labels: np.ndarray, names=None) -> np.ndarray:
    """Ground-truth YOLO labels (cls, xc, yc, w, h normalised) on a copy of the image, drawn so they cannot be
    taken for predictions: dashed boxes, tagged "GT name", no score."""
    from .data import labels_to_xyxy

    img = image_bgr.copy()
    h, w = img.shape[:2]
    lab = np.asarray(labels, np.float32).reshape(-1, 5)
    for (x1, y1, x2, y2), c in zip(labels_to_xyxy(lab, w, h).astype(int), lab[:, 0].astype(int)):
        col = colour(c)
        for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
            n = max(1, int(np.hypot(bx - ax, by - ay) // 6))
            for k in range(0, n, 2):  # dashes of 6 px
                p0 = (int(ax + (bx - ax) * k / n), int(ay + (by - ay) * k / n))
                p1 = (int(ax + (bx - ax) * (k + 1) / n), int(ay + (by - ay) * (k + 1) / n))
                cv2.line(img, p0, p1, col, 2)
        name = names[c] if names is not None and c < len(names) else c
        cv2.putText(img, f"GT {name}", (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, col, 1, cv2.LINE_AA)
    return img


def captioned(fig, text: str) -> None:
    """Show ``fig`` with its caption under it (in this order, in Jupyter and in the HTML report); close it.

    Returns nothing, so a cell that ends with this call does not show the figure a second time.
    """
    import matplotlib.pyplot as plt

    saved = getattr(fig, "_workbook_saved", None)
    if saved:  # the run report shows the saved picture with this caption
        from .artifacts import atomic_write_text

        atomic_write_text(caption_path(saved), text)
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - outside Jupyter
        print(f"Figure. {text}")
        return
    display(fig)
    plt.close(fig)
    display(Markdown(f"*Figure.* {text}"))


def show_images(images_bgr, titles=None, cols: int = 4, size: float = 3.2, save: str | os.PathLike | None = None):
    """A grid of BGR images (matplotlib figure); optionally saved atomically as PNG."""
    import matplotlib.pyplot as plt

    n = len(images_bgr)
    cols = min(cols, n)
    rows = int(np.ceil(n / cols))
    # each cell takes the images' own aspect ratio (a 16:9 frame gets a 16:9 cell, no empty bands)
    aspect = max(im.shape[0] / im.shape[1] for im in images_bgr) if n else 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size * aspect + (0.3 if titles else 0)) * rows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images_bgr):
        ax = axes.ravel()[i]
        ax.imshow(img[..., ::-1])
        if titles:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def caption_path(png: str | os.PathLike) -> Path:
    """Where a saved figure's caption is kept (``<name>.png.caption.txt``), for the run report."""
    return Path(f"{png}.caption.txt")


def save_figure(fig, dest: str | os.PathLike, dpi: int = 110):
    from .artifacts import atomic_path

    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    fig._workbook_saved = str(dest)  # captioned() keeps its caption beside it
    return dest


DETECT_PANELS = (("metrics/mAP50(B)", "val mAP50"), ("metrics/mAP50-95(B)", "val mAP50-95"),
                 ("train/box_loss", "train box loss"), ("train/cls_loss", "train cls loss"),
                 ("val/box_loss", "val box loss"), ("val/cls_loss", "val cls loss"))
POSE_PANELS = (("metrics/mAP50(P)", "val pose mAP50 (OKS)"), ("metrics/mAP50-95(P)", "val pose mAP50-95"),
               ("metrics/mAP50(B)", "val box mAP50"), ("train/pose_loss", "train keypoint loss"),
               ("train/kobj_loss", "train keypoint visibility loss"), ("train/box_loss", "train box loss"))


def plot_training_curves(histories: dict[str, list[dict]], save: str | os.PathLike | None = None,
                         panels=DETECT_PANELS):
    """mAP and losses per epoch for each trained variant (rows of ultralytics' results.csv)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (key, title) in zip(axes.ravel(), panels):
        for name, rows in histories.items():
            ep = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
            ax.plot(ep, [r.get(key, np.nan) for r in rows], marker=".", label=name)
        ax.set_title(title + (" (log scale)" if "loss" in key else ""))
        if "loss" in key:  # an early spike (an untrained head, confidently wrong) would flatten the rest
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def plot_calibration_curve(curve: list[dict], float_map: float, resolution: float,
                           save: str | os.PathLike | None = None):
    """INT8 mAP50-95 against calibration-set size, with float and the band this evaluation cannot resolve."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    n = [r["images"] for r in curve]
    ax.plot(n, [r["mAP50_95"] for r in curve], "o-", label="INT8")
    ax.axhline(float_map, color="k", lw=1, label="float (onnxruntime)")
    ax.axhspan(float_map - resolution, float_map + resolution, color="k", alpha=0.08,
               label=f"±{resolution}: what this evaluation resolves")
    ax.set_xscale("log")
    ax.set_xticks(n, [str(x) for x in n])
    ax.set_xlabel("calibration images")
    ax.set_ylabel("mAP50-95")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def plot_layer_cosine(analyses: dict[str, list[dict]], save: str | os.PathLike | None = None):
    """Cosine per layer ("entire" accumulates errors, "single" is the layer's own) from accuracy_analysis rows."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(analyses), 1, figsize=(13, 3.2 * len(analyses)), squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], analyses.items()):
        rows = [r for r in rows if not r["fused"]]
        x = np.arange(len(rows))
        for key, style in (("entire_cos", "-"), ("single_cos", ".")):
            ax.plot(x, [np.nan if r[key] is None else r[key] for r in rows], style, label=key.replace("_cos", ""))
        for i, r in enumerate(rows):
            if r["q_zero"]:
                ax.axvline(i, color="red", alpha=0.5)
        ax.set_title(f"{name}: cosine per layer (red lines: tensor quantized to all zeros)")
        ax.set_xlabel("layer (graph order)")
        ax.set_ylim(max(0.0, min([r["entire_cos"] for r in rows if r["entire_cos"] is not None] + [0.99]) - 0.01),
                    1.001)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def plot_graph_tails(tails: dict[str, dict], save: str | os.PathLike | None = None):
    """Each graph's tail (:func:`helpers.graph_tail.tail`) drawn left to right: op boxes by depth, outputs named."""
    import matplotlib.pyplot as plt

    depth = max(max(n["depth"] for n in t["nodes"]) for t in tails.values())
    rows = [max(sum(n["depth"] == d for n in t["nodes"]) for d in range(depth + 1)) for t in tails.values()]
    fig, axes = plt.subplots(len(tails), 1, figsize=(max(8, 1.15 * (depth + 2)), sum(0.42 * r + 0.8 for r in rows)),
                             squeeze=False, gridspec_kw={"height_ratios": rows})
    for ax, (label, t) in zip(axes[:, 0], tails.items()):
        pos, seen = {}, {}
        for n in sorted(t["nodes"], key=lambda n: (n["depth"], n["name"])):
            k = seen[n["depth"]] = seen.get(n["depth"], -1) + 1
            pos[n["name"]] = (n["depth"], -k)
        for a, b in t["edges"]:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            ax.plot([x0, x1], [y0, y1], color="#999", lw=0.8, zorder=1)
        for n in t["nodes"]:
            x, y = pos[n["name"]]
            face = "#dde8f5" if n["depth"] == 0 else ("#f5dede" if n["op"] in ("Softmax", "Concat", "Reshape",
                                                                               "Transpose") else "#eeeeee")
            ax.text(x, y, n["op"], ha="center", va="center", fontsize=7, zorder=2,
                    bbox=dict(boxstyle="round,pad=0.25", fc=face, ec="#666", lw=0.6))
            for j, o in enumerate(n["outputs"]):
                ax.text(x + 0.35, y - 0.3 - 0.25 * j, o, ha="left", va="center", fontsize=6.5, color="#a33")
        ax.set_title(f"{label}: {sum(n['depth'] > 0 for n in t['nodes'])} nodes after the head's last convs "
                     f"(blue), {len(t['outputs'])} output(s) (red names)", fontsize=9)
        ax.set_xlim(-0.7, depth + 1.8)
        ax.set_ylim(-max(rows) - 0.2, 0.8)
        ax.axis("off")
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def plot_score_histograms(series: dict[str, np.ndarray], floor: float = 0.01, bins: int = 60,
                          save: str | os.PathLike | None = None):
    """Histograms of class-score values above ``floor`` (log count): how many levels INT8 left."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.2), squeeze=False)
    for ax, (name, v) in zip(axes[0], series.items()):
        v = np.asarray(v).ravel()
        v = v[v > floor]
        ax.hist(v, bins=bins, range=(0, 1), log=True)
        ax.set_title(f"{name}\n{len(np.unique(v))} distinct values > {floor}", fontsize=9)
        ax.set_xlabel("class score")
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def plot_paths(rows: list[dict], drops: dict[str, list], save: str | os.PathLike | None = None):
    """09's figure. Left: every path's mAP50-95, float (open circle) and INT8 (bar, with the paired bootstrap's
    interval of INT8 − float drawn around it). Right: the score drop float − INT8 of the same detections, per path."""
    import matplotlib.pyplot as plt

    built = [r for r in rows if r.get("built")]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 0.42 * len(built) + 1.8), gridspec_kw={"width_ratios": [1.25, 1]})
    y = np.arange(len(built))[::-1]
    q = np.array([r["mAP50_95"] for r in built])
    f = np.array([r["float_mAP50_95"] for r in built])
    err = np.array([[max(0.0, -(r.get("delta_low") or 0) + (r.get("delta_mAP50_95") or 0)),
                     max(0.0, (r.get("delta_high") or 0) - (r.get("delta_mAP50_95") or 0))] for r in built]).T
    colours = {"workbook": "tab:green", "model zoo": "tab:orange", "ultralytics": "tab:blue", "stock": "tab:red",
               "toolkit": "tab:grey"}
    a.barh(y, q, color=[colours.get(r["family"], "tab:grey") for r in built], xerr=err, capsize=3, alpha=0.85)
    a.scatter(f, y, facecolors="none", edgecolors="black", zorder=3, label="float (the same graph)")
    a.set_yticks(y, [f"{r['path'][:58]} ({r['precision']})" for r in built], fontsize=7.5)
    a.set_xlabel("mAP50-95 (pycocotools, the same val images)")
    a.legend(fontsize=8, loc="lower right")
    a.set_xlim(0, max(1e-3, float(max(q.max(), f.max()))) * 1.15)
    for label, d in drops.items():
        d = np.asarray(d, float)
        if len(d):
            b.hist(np.clip(d, -0.3, 0.6), bins=45, range=(-0.3, 0.6), histtype="step", lw=1.6,
                   label=f"{label[:48]} (median {np.median(d):+.3f})")
    b.axvline(0.1, color="black", ls=":", lw=1)
    b.set_xlabel("score drop of the same detection, float − INT8 (clipped to [−0.3, 0.6])")
    b.set_ylabel("detections")
    b.legend(fontsize=7)
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def side_by_side(es, panels: dict[str, list], index: int, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                 use_score_sum: bool = True) -> list[np.ndarray]:
    """One val image drawn with the detections of each runtime in ``panels`` ({label: outputs per image})."""
    orig = cv2.imread(str(es.images[index].path))
    out = []
    for label, d in viewer_detections(es, panels, index, conf, iou, use_score_sum).items():
        pic = draw_detections(orig, d.boxes, d.scores, d.classes, es.names)
        cv2.putText(pic, f"{label}: {len(d)}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
        out.append(pic)
    return out


def comparison_grid(es, panels: dict[str, list], indices, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                    save: str | os.PathLike | None = None):
    pics, titles = [], []
    for i in indices:
        pics += side_by_side(es, panels, i, conf, iou)
        titles += [f"{es.images[i].path.name} · {k}" for k in panels]
    return show_images(pics, titles, cols=len(panels), save=save)


def headless() -> bool:
    """True inside a workbook/papermill run (``helpers.workbook`` sets ``WORKBOOK_HEADLESS=1``).

    Interactive widgets are skipped there: nobody can move a slider, and ipywidgets' Output capture
    can stall a kernel that has no front end. The static picture before each widget is what a
    headless run shows.
    """
    return os.environ.get("WORKBOOK_HEADLESS") == "1"


def detection_viewer(es, panels: dict[str, list], conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU):
    """ipywidgets: pick a val image and thresholds; see each runtime's detections side by side."""
    if headless():
        print("(headless run: the interactive viewer is shown when you open the notebook in JupyterLab)")
        return None
    import ipywidgets as w
    import matplotlib.pyplot as plt

    index = w.IntSlider(0, 0, len(es) - 1, description="image")
    c = w.FloatSlider(conf, min=0.05, max=0.95, step=0.05, description="conf")
    u = w.FloatSlider(iou, min=0.1, max=0.9, step=0.05, description="NMS IoU")

    def draw(index, conf, iou):
        pictures = side_by_side(es, panels, index, conf, iou)
        show_images(pictures, list(panels), cols=len(panels))
        plt.show()
        print(f"{es.images[index].path.name}: " + ", ".join(
            f"{name} {len(d)} detections" for name, d in viewer_detections(es, panels, index, conf, iou).items()))
    return w.interactive(draw, index=index, conf=c, iou=u)


def grid_caption(es, panels: dict[str, list], indices, conf: float, iou: float) -> str:
    """What to see in a comparison grid: each image's detection count per panel, and where they differ."""
    parts, differ = [], []
    for i in indices:
        n = {k: len(d) for k, d in viewer_detections(es, panels, i, conf, iou).items()}
        parts.append(f"{es.images[i].path.name}: " + ", ".join(f"{k} {v}" for k, v in n.items()))
        if len(set(n.values())) > 1:
            differ.append(es.images[i].path.name)
    return (f"Detections at conf {conf} — " + "; ".join(parts) + ". "
            + (f"The counts differ on {', '.join(differ)}: look there for the boxes INT8 moved, lost or added."
               if differ else "Every image keeps its count: what differs is the last digits of scores and box edges."))


def viewer_detections(es, panels: dict[str, list], index: int, conf: float, iou: float,
                      use_score_sum: bool = True) -> dict:
    """The detections drawn for one image (the grid, the viewer): ``{panel: Detections}``, original pixels."""
    from .board.postprocess import postprocess

    im = es.images[index]
    return {name: postprocess(outs[index], (es.imgsz, es.imgsz), conf, iou, letterbox=im.letterbox,
                              use_score_sum=use_score_sum) for name, outs in panels.items()}


def pose_samples(info, files, skeleton=()) -> list:
    """Dataset pictures of a pose dataset: boxes, class names and the labelled keypoints joined by ``skeleton``."""
    from .board.draw import draw_skeletons
    from .board.preprocess import load_image
    from .data import load_keypoints

    pictures = []
    for f in files:
        img = load_image(f)
        boxes, kpts = load_keypoints(f, info.nc, info.kpt_shape)
        px = kpts.copy()
        px[..., 0] *= img.shape[1]
        px[..., 1] *= img.shape[0]
        pictures.append(draw_skeletons(draw_labels(img, boxes, info.names), px, skeleton, min_visibility=1))
    return pictures


def pose_panels(es, panels: dict, indices, conf: float, iou: float, skeleton=()) -> tuple[list, list]:
    """For each val image of ``indices`` and each ``{name: (outputs per image, layout)}``: the decoded poses drawn
    on the original image. Returns pictures and titles (row by row), for :func:`show_images`."""
    from .board.draw import draw_detections, draw_skeletons
    from .board.pose import postprocess_pose
    from .board.preprocess import load_image

    pictures, titles = [], []
    for i in indices:
        im = es.images[i]
        img = load_image(im.path)
        for name, (outs, layout) in panels.items():
            d = postprocess_pose(outs[i], (es.imgsz, es.imgsz), es.kpt_shape, es.nc, conf, iou, letterbox=im.letterbox,
                                 layout=layout)
            pictures.append(draw_skeletons(draw_detections(img, d.boxes, d.scores, d.classes, es.names), d.keypoints,
                                           skeleton))
            titles.append(f"{name}: {len(d)}")
    return pictures, titles


def tile_merge(frame, runtime, imgsz: int, conf: float, iou: float, tile: int, overlap: int) -> dict:
    """The tile grid's detections on one frame, and what the merge keeps: the grid, each tile's boxes in frame
    pixels with which touch an inner tile edge (``cut``), the merged detections, and the counts 07 records."""
    from .board.runner import detect
    from .board.tiling import _touches_interior_edge, merge_tiles, tile_grid

    hw = frame.shape[:2]
    grid = tile_grid(hw, tile, overlap)
    per_tile = [(t, detect(runtime, frame[t[1]:t[3], t[0]:t[2]], imgsz, conf, iou)) for t in grid]
    merged = merge_tiles(per_tile, hw, iou)
    raw = [(t, d.boxes + np.array([t[0], t[1], t[0], t[1]], np.float32)) for t, d in per_tile if len(d)]
    cut = [(t, b, _touches_interior_edge(b, t, hw, 2.0)) for t, b in raw]
    n_cut = int(sum(int(c.sum()) for _, _, c in cut))
    counts = {"tiles": len(grid), "tile_boxes": int(sum(len(b) for _, b in raw)), "cut_boxes": n_cut,
              "merged": int(len(merged))}
    return {"grid": grid, "cut": cut, "merged": merged, "counts": counts}


def tile_merge_picture(frame, runtime, imgsz: int, conf: float, iou: float, tile: int, overlap: int,
                       names=None, save: str | os.PathLike | None = None) -> tuple:
    """The tile grid and the merge rule on one frame: left, every tile (overlaps shaded) with each tile's own
    boxes mapped to the frame (red: touches an interior tile edge, a possibly cut object); right, a zoom on the
    busiest tile edge, the tiles' boxes (thin) against the merged result (green). Returns (figure, counts)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    tm = tile_merge(frame, runtime, imgsz, conf, iou, tile, overlap)
    hw, grid, cut, merged, counts = frame.shape[:2], tm["grid"], tm["cut"], tm["merged"], tm["counts"]
    rgb = frame[..., ::-1]
    fig, (a, z) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [16 / 9 * 1.0, 1.0]})
    for ax in (a, z):
        ax.imshow(rgb)
        ax.set_axis_off()
    for k, (x0, y0, x1, y1) in enumerate(grid):
        a.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.8, alpha=0.9))
    for t, b, c in cut:
        for bb, cc in zip(b, c):
            a.add_patch(Rectangle(bb[:2], *(bb[2:] - bb[:2]), fill=False, ec="red" if cc else "cyan", lw=1))
    # the zoom: the tile edge with the most cut boxes
    cut_boxes = np.concatenate([b[c] for _, b, c in cut]) if cut else np.zeros((0, 4))
    if len(cut_boxes):
        cx, cy = cut_boxes[:, [0, 2]].mean(1), cut_boxes[:, [1, 3]].mean(1)
        i = int(np.argmax([((abs(cx - x) < tile / 2) & (abs(cy - y) < tile / 2)).sum() for x, y in zip(cx, cy)]))
        x, y = cx[i], cy[i]
    else:
        x, y = hw[1] / 2, hw[0] / 2
    half = tile * 0.6
    for t, b, c in cut:
        for bb, cc in zip(b, c):
            z.add_patch(Rectangle(bb[:2], *(bb[2:] - bb[:2]), fill=False, ec="red" if cc else "cyan", lw=1, ls="--"))
    for bb in merged.boxes:
        z.add_patch(Rectangle(bb[:2], *(bb[2:] - bb[:2]), fill=False, ec="lime", lw=2))
    for x0, y0, x1, y1 in grid:
        z.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=1))
    z.set_xlim(max(0, x - half), min(hw[1], x + half))
    z.set_ylim(min(hw[0], y + half), max(0, y - half))
    a.set_title(f"{counts['tiles']} tiles of {tile} px, {overlap} px overlap: {counts['tile_boxes']} boxes from the "
                f"tiles (red: touching an inner edge)", fontsize=9)
    z.set_title(f"zoom: tiles' boxes (dashed) → {counts['merged']} merged (green)", fontsize=9)
    fig.tight_layout(pad=0.3, w_pad=0.5)
    if save:
        save_figure(fig, save)
    return fig, counts
