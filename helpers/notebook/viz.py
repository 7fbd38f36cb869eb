"""Figures for the notebooks (matplotlib): plots, a row of pictures, a figure with its caption saved beside it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np



def captioned(fig, text: str) -> None:
    """Show ``fig`` with its caption under it (in this order, in Jupyter and in the HTML report); close it.

    Returns nothing, so a cell that ends with this call does not show the figure a second time.
    """
    import matplotlib.pyplot as plt

    saved = getattr(fig, "_workbook_saved", None)
    if saved:  # the run report shows the saved picture with this caption
        from ..runfolder.artifacts import atomic_write_text

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
    from ..runfolder.artifacts import atomic_path

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
    """Each graph's tail (:func:`helpers.model.graph_tail.tail`) drawn left to right: op boxes by depth, outputs named."""
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


