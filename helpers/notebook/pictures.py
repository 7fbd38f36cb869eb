"""Pictures of detections for the notebooks: labels, side-by-side runtimes, keypoints, the tile merge."""

from __future__ import annotations

import os

import cv2
import numpy as np

from ..board.draw import colour, draw_detections
from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU
from .viz import save_figure, show_images


def draw_labels(image_bgr: np.ndarray, labels: np.ndarray, names=None) -> np.ndarray:
    """Ground-truth YOLO labels (cls, xc, yc, w, h normalised) on a copy of the image, drawn so they cannot be
    taken for predictions: dashed boxes, tagged "GT name", no score."""
    from ..model.labels import labels_to_xyxy

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
    from ..board.postprocess import postprocess

    im = es.images[index]
    return {name: postprocess(outs[index], (es.imgsz, es.imgsz), conf, iou, letterbox=im.letterbox,
                              use_score_sum=use_score_sum) for name, outs in panels.items()}


def pose_samples(info, files, skeleton=()) -> list:
    """Dataset pictures of a pose dataset: boxes, class names and the labelled keypoints joined by ``skeleton``."""
    from ..board.draw import draw_skeletons
    from ..board.preprocess import load_image
    from ..model.labels import load_keypoints

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
    from ..board.draw import draw_detections, draw_skeletons
    from ..board.decode.pose import postprocess_pose
    from ..board.preprocess import load_image

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
    from ..board.runner import detect
    from ..board.tiling import touches_interior_edge, merge_tiles, tile_grid

    hw = frame.shape[:2]
    grid = tile_grid(hw, tile, overlap)
    per_tile = [(t, detect(runtime, frame[t[1]:t[3], t[0]:t[2]], imgsz, conf, iou)) for t in grid]
    merged = merge_tiles(per_tile, hw, iou)
    raw = [(t, d.boxes + np.array([t[0], t[1], t[0], t[1]], np.float32)) for t, d in per_tile if len(d)]
    cut = [(t, b, touches_interior_edge(b, t, hw, 2.0)) for t, b in raw]
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


def comparison_picture(weights, image_path, imgsz: int, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU, names=None,
                       save=None, run_dir=None):
    """Side by side: ultralytics' own predict (left) and the patched head + helpers.board.postprocess (right)."""
    from ..board.postprocess import postprocess
    from ..board.preprocess import load_image
    from ..model.heads import load_model, patch_for_npu, run_patched
    from ..runfolder.offline import configure_ultralytics

    if run_dir is not None:
        configure_ultralytics(run_dir)
    from ultralytics import YOLO

    img = load_image(image_path)
    r = YOLO(str(weights), task="detect").predict(img, imgsz=imgsz, conf=conf, iou=iou, rect=False, verbose=False)[0]
    outs, lb = run_patched(patch_for_npu(load_model(weights).fuse(verbose=False)), img, imgsz)
    det = postprocess(outs, (imgsz, imgsz), conf, iou, letterbox=lb)
    left = draw_detections(img, r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(int), names)
    right = draw_detections(img, det.boxes, det.scores, det.classes, names)
    return show_images([left, right], [f"ultralytics predict: {len(r.boxes)} boxes",
                                       f"patched head + numpy post-process: {len(det)} boxes"], cols=2, size=5,
                       save=save)
