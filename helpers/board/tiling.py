"""Large frames in overlapping model-size tiles; detections mapped back and merged across tiles.

A 1920x1080 frame letterboxed into a 320-px model shrinks every object six times: small objects
vanish. Tiling runs the model on overlapping crops at full resolution instead. The merge rule
for objects cut by a tile edge:

1. map every tile's boxes to frame coordinates;
2. a box touching an *interior* tile edge (not the frame border) is a possibly cut object: drop
   it when a box of the same class that does not touch an edge covers most of it (the object is
   whole in a neighbouring tile, which the overlap guarantees for objects smaller than it);
3. cut boxes of the same class that still overlap across an edge are pieces of one object larger
   than the overlap: they are joined into their union box (highest score);
4. class-wise NMS removes the remaining duplicates from the overlap zones.

numpy only (board side).
"""

from __future__ import annotations

import numpy as np

from .postprocess import DEFAULT_IOU, Detections, batched_nms


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets along one axis: step ``tile - overlap``, the last tile flush with the end."""
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def tile_grid(frame_hw, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles (x0, y0, x1, y1) covering a frame of ``frame_hw``; each at most ``tile`` square."""
    h, w = frame_hw
    return [(x, y, min(x + tile, w), min(y + tile, h)) for y in tile_origins(h, tile, overlap)
            for x in tile_origins(w, tile, overlap)]


def touches_interior_edge(boxes: np.ndarray, tile, frame_hw, margin: float) -> np.ndarray:
    x0, y0, x1, y1 = tile
    h, w = frame_hw
    t = np.zeros(len(boxes), bool)
    if x0 > 0:
        t |= boxes[:, 0] <= x0 + margin
    if y0 > 0:
        t |= boxes[:, 1] <= y0 + margin
    if x1 < w:
        t |= boxes[:, 2] >= x1 - margin
    if y1 < h:
        t |= boxes[:, 3] >= y1 - margin
    return t


def _cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of each box in ``a`` covered by each box in ``b``: (len(a), len(b))."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = np.clip(a[:, 2:] - a[:, :2], 1e-6, None).prod(1)
    return inter / area[:, None]


def merge_tiles(per_tile: list[tuple[tuple[int, int, int, int], Detections]], frame_hw, iou: float = DEFAULT_IOU,
                edge_margin: float = 2.0, cover: float = 0.6) -> Detections:
    """Merge detections of tiles (boxes in tile pixels) into one frame-level :class:`Detections`."""
    boxes, scores, classes, levels, cut = [], [], [], [], []
    for tile, d in per_tile:
        if not len(d):
            continue
        b = d.boxes + np.array([tile[0], tile[1], tile[0], tile[1]], np.float32)
        boxes.append(b)
        scores.append(d.scores)
        classes.append(d.classes)
        levels.append(d.levels)
        cut.append(touches_interior_edge(b, tile, frame_hw, edge_margin))
    if not boxes:
        return Detections()
    b, s, c, lv, cut = (np.concatenate(x) for x in (boxes, scores, classes, levels, cut))
    keep = np.ones(len(b), bool)
    whole = np.flatnonzero(~cut)
    for i in np.flatnonzero(cut):  # rule 2: the object is whole in a neighbour
        same = whole[c[whole] == c[i]]
        if len(same) and _cover(b[i:i + 1], b[same]).max() >= cover:
            keep[i] = False
    pieces = np.flatnonzero(cut & keep)
    merged = np.zeros(len(b), bool)
    for i in pieces:  # rule 3: join pieces of one large object
        if merged[i]:
            continue
        for j in pieces:
            if j <= i or merged[j] or c[j] != c[i]:
                continue
            ov = _cover(b[i:i + 1], b[j:j + 1])[0, 0] > 0 or _cover(b[j:j + 1], b[i:i + 1])[0, 0] > 0
            if ov:
                b[i] = [min(b[i, 0], b[j, 0]), min(b[i, 1], b[j, 1]), max(b[i, 2], b[j, 2]), max(b[i, 3], b[j, 3])]
                s[i] = max(s[i], s[j])
                merged[j] = True
    keep &= ~merged
    idx = np.flatnonzero(keep)
    order = batched_nms(b[idx], s[idx], c[idx], iou)  # rule 4
    idx = idx[order]
    return Detections(b[idx], s[idx], c[idx], lv[idx], prefiltered=int(keep.sum()), candidates=len(b))
