"""helpers.board.pool (ordered, bounded) and helpers.board.tiling (grid, cross-tile merge)."""
import threading
import time

import numpy as np
import pytest

from helpers.board import tiling
from helpers.board.pool import OrderedPool
from helpers.board.postprocess import Detections


class SlowRuntime:
    def __init__(self, name):
        self.name, self.calls = name, 0


def test_pool_keeps_input_order_uses_every_context_and_bounds_the_queue():
    rts = [SlowRuntime("a"), SlowRuntime("b"), SlowRuntime("c")]
    in_flight, peak, lock = [0], [0], threading.Lock()
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.02, 40)

    def fn(rt, i):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(delays[i])
        rt.calls += 1
        with lock:
            in_flight[0] -= 1
        return i, rt.name

    with OrderedPool(rts, fn, max_pending=4) as pool:
        out = list(pool.map(range(40)))
    assert [i for i, _ in out] == list(range(40))
    assert all(rt.calls > 0 for rt in rts) and sum(rt.calls for rt in rts) == 40
    assert peak[0] <= 3


def test_pool_reraises_at_the_failing_item():
    def fn(rt, i):
        if i == 3:
            raise ValueError("bad frame 3")
        return i

    got = []
    with OrderedPool([object(), object()], fn) as pool:
        with pytest.raises(ValueError, match="bad frame 3"):
            for r in pool.map(range(6)):
                got.append(r)
    assert got == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one"):
        OrderedPool([], fn)


def test_tile_grid_covers_the_frame_with_overlap():
    tiles = tiling.tile_grid((1080, 1920), 320, 64)
    assert all(x1 - x0 == 320 and y1 - y0 == 320 for x0, y0, x1, y1 in tiles)
    cover = np.zeros((1080, 1920), bool)
    for x0, y0, x1, y1 in tiles:
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    xs = sorted({t[0] for t in tiles})
    assert all(b - a <= 320 - 64 for a, b in zip(xs, xs[1:]))
    assert tiling.tile_grid((200, 300), 320, 64) == [(0, 0, 300, 200)]
    with pytest.raises(ValueError, match="larger than the overlap"):
        tiling.tile_origins(1000, 64, 64)


def _d(boxes, scores, classes):
    n = len(scores)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(classes, np.int64), np.zeros(n, np.int64))


def test_merge_drops_cut_halves_joins_large_objects_and_removes_duplicates():
    frame = (320, 576)
    left, right = (0, 0, 320, 320), (256, 0, 576, 320)
    # object A (class 0) at x 280..310: whole in the left tile, cut by the right tile's left edge
    # object B (class 1) at x 100..500: larger than the overlap, cut in both tiles
    # object C (class 0) at x 400..440, only in the right tile
    per_tile = [
        (left, _d([[280, 10, 310, 40], [100, 100, 320, 200]], [0.9, 0.8], [0, 1])),
        (right, _d([[0, 10, 54, 40], [0, 100, 244, 200], [144, 50, 184, 90], [145, 51, 185, 91]],
                   [0.6, 0.7, 0.85, 0.5], [0, 1, 0, 0])),
    ]
    m = tiling.merge_tiles(per_tile, frame)
    got = sorted(zip(m.classes.tolist(), np.round(m.boxes).astype(int).tolist(), [round(s, 2) for s in m.scores.tolist()]))
    assert got == [(0, [280, 10, 310, 40], 0.9), (0, [400, 50, 440, 90], 0.85), (1, [100, 100, 500, 200], 0.8)]
    assert len(tiling.merge_tiles([(left, _d([], [], []))], frame)) == 0
