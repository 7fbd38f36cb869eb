import numpy as np
import pytest

from helpers.board import postprocess as pp
from helpers.model.synthetic import head_outputs
from helpers.board import preprocess


def make_outputs(boxes, classes, nc, input_hw, scores=None, levels=None, score_sum=True, strides=(8, 16, 32)):
    """Head outputs that encode the given xyxy boxes exactly (two-bin DFL distributions)."""
    h_in, w_in = input_hw
    outs = []
    per_level = []
    for s in strides:
        h, w = h_in // s, w_in // s
        per_level.append([np.full((1, 64, h, w), -30.0, np.float32), np.zeros((1, nc, h, w), np.float32)])
    for k, (b, c) in enumerate(zip(boxes, classes)):
        lv = levels[k] if levels is not None else int(np.clip(np.log2(max(b[2] - b[0], b[3] - b[1]) / 32), 0, 2))
        s = strides[lv]
        box, cls = per_level[lv]
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        gx, gy = int(cx // s), int(cy // s)
        dists = [(gx + 0.5) - b[0] / s, (gy + 0.5) - b[1] / s, b[2] / s - (gx + 0.5), b[3] / s - (gy + 0.5)]
        for side, d in enumerate(dists):
            assert 0 <= d < 15, "test box does not fit the DFL range"
            lo = int(np.floor(d))
            p_hi = d - lo
            box[0, side * 16:(side + 1) * 16, gy, gx] = -30.0
            box[0, side * 16 + lo, gy, gx] = np.log(max(1 - p_hi, 1e-12))
            box[0, side * 16 + lo + 1, gy, gx] = np.log(max(p_hi, 1e-12))
        cls[0, c, gy, gx] = 0.9 if scores is None else scores[k]
    for box, cls in per_level:
        outs += [box, cls] + ([np.clip(cls.sum(1, keepdims=True), 0, 1)] if score_sum else [])
    return outs


BOXES = np.array([[20, 30, 60, 62], [100, 40, 230, 200], [5, 5, 21, 19], [150, 220, 310, 318]], np.float32)
CLASSES = [0, 2, 1, 3]


@pytest.mark.parametrize("score_sum", [True, False])
def test_known_boxes_are_recovered(score_sum):
    outs = make_outputs(BOXES, CLASSES, 4, (320, 320), score_sum=score_sum)
    assert len(outs) == (9 if score_sum else 6)
    det = pp.postprocess(outs, (320, 320), conf_thres=0.25)
    order = np.argsort(det.classes)
    np.testing.assert_allclose(det.boxes[order], BOXES[np.argsort(CLASSES)], atol=1e-3)
    np.testing.assert_allclose(det.scores, 0.9, atol=1e-6)


def test_levels_and_strides_are_reported():
    outs = make_outputs(BOXES, CLASSES, 4, (320, 320), levels=[0, 2, 0, 1])
    det = pp.postprocess(outs, (320, 320))
    assert sorted(det.levels.tolist()) == [0, 0, 1, 2]
    assert [lv.stride for lv in pp.split_levels(outs)] == [8.0, 16.0, 32.0]


def test_score_sum_prefilter_is_lossless_and_prunes():
    rng = np.random.default_rng(0)
    nc, hw = 6, (320, 320)
    outs = []
    for s in (8, 16, 32):
        h, w = hw[0] // s, hw[1] // s
        cls = (1 / (1 + np.exp(-rng.normal(-5, 2.5, (1, nc, h, w))))).astype(np.float32)
        outs += [rng.normal(0, 2, (1, 64, h, w)).astype(np.float32), cls, np.clip(cls.sum(1, keepdims=True), 0, 1)]
    with_sum = pp.postprocess(outs, hw, conf_thres=0.3, iou_thres=0.5)
    without = pp.postprocess(outs, hw, conf_thres=0.3, iou_thres=0.5, use_score_sum=False)
    assert len(with_sum) > 0
    np.testing.assert_array_equal(with_sum.boxes, without.boxes)
    np.testing.assert_array_equal(with_sum.classes, without.classes)
    assert with_sum.prefiltered < without.prefiltered == 40 * 40 + 20 * 20 + 10 * 10


def test_nms_matches_torchvision():
    torch = pytest.importorskip("torch")
    from torchvision.ops import batched_nms

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 200, (300, 2))
    wh = rng.uniform(5, 80, (300, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    classes = rng.integers(0, 4, 300)
    ours = pp.batched_nms(boxes, scores, classes, 0.45)
    ref = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.45).numpy()
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("nc,hw", [(80, (640, 640)), (1, (256, 416)), (4, (320, 320))])
def test_any_class_count_and_input_size(nc, hw):
    boxes = np.array([[30, 40, 90, 100], [120, 60, 200, 180]], np.float32)
    outs = make_outputs(boxes, [0, nc - 1], nc, hw, levels=[0, 1])
    assert outs[1].shape == (1, nc, hw[0] // 8, hw[1] // 8)
    det = pp.postprocess(outs, hw)
    assert len(det) == 2
    np.testing.assert_allclose(det.boxes[np.argsort(det.boxes[:, 0])], boxes, atol=1e-3)


def test_decode_dense_covers_every_cell_in_order():
    outs = make_outputs(BOXES, CLASSES, 4, (320, 320))
    boxes, scores, levels = pp.decode_dense(outs, (320, 320))
    assert boxes.shape == (2100, 4) and scores.shape == (2100, 4)
    assert (np.diff(levels) >= 0).all() and np.bincount(levels).tolist() == [1600, 400, 100]


def test_bad_outputs_are_a_clear_error():
    with pytest.raises(ValueError, match=r"\[1, C, H, W\]"):
        pp.postprocess([np.zeros((64, 40, 40))], (320, 320))
    with pytest.raises(ValueError, match="do not match"):
        pp.postprocess([np.zeros((1, 64, 40, 40)), np.zeros((1, 4, 20, 20))], (320, 320))


def test_letterbox_matches_ultralytics_and_inverts():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (288, 416, 3), dtype=np.uint8)
    canvas, lb = preprocess.letterbox(img, 320)
    from ultralytics.data.augment import LetterBox

    ref = LetterBox((320, 320), auto=False)(image=img)
    np.testing.assert_array_equal(canvas, ref)
    boxes = np.array([[10, 20, 100, 200], [0, 0, 416, 288]], np.float32)
    np.testing.assert_allclose(lb.to_original(lb.to_input(boxes)), boxes, atol=1e-3)


def test_letterbox_rejects_a_missing_image():
    with pytest.raises(ValueError, match="readable"):
        preprocess.letterbox(None, 320)
    with pytest.raises(FileNotFoundError):
        preprocess.load_image("/nonexistent.jpg")


def test_batched_nms_equals_the_numpy_reference_index_for_index():
    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(1, 250))
        xy = rng.uniform(0, 600, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(2, 150, (n, 2))], 1).astype(np.float32)
        scores = rng.uniform(0.01, 1, n).astype(np.float32)
        if trial % 3 == 0:
            scores = np.round(scores, 2).astype(np.float32)  # ties: the earlier box wins in both
        classes = rng.integers(0, 5, n)
        ref = pp.nms_reference(pp.class_offset_boxes(boxes, classes), scores, 0.45)
        np.testing.assert_array_equal(pp.batched_nms(boxes, scores, classes, 0.45), ref)


def _random_nms_input(rng, trial):
    n = int(rng.integers(1, 250))
    xy = rng.uniform(0, 600, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 150, (n, 2))], 1).astype(np.float32)
    scores = rng.uniform(0.01, 1, n).astype(np.float32)
    if trial % 3 == 0:
        scores = np.round(scores, 2).astype(np.float32)
    if trial % 5 == 0:  # exact duplicates and boxes that touch the IoU threshold
        boxes[n // 2:] = boxes[:n - n // 2]
    return boxes, scores, rng.integers(0, 5, n)


def test_batched_nms_without_opencv_4_7_gives_identical_indices(monkeypatch):
    """Debian's own OpenCV (4.5.1 in Debian 11, 4.6.0 in 12) has no NMSBoxesBatched: the fallback makes the call the
    way OpenCV does inside, and keeps every index in the same order; so does the whole post-process."""
    import cv2

    rng = np.random.default_rng(11)
    cases = [_random_nms_input(rng, t) for t in range(300)]
    outs = [head_outputs(rng, 5, 320, 12) for _ in range(5)]
    fast = [pp.batched_nms(b, s, c, 0.45) for b, s, c in cases]
    fast_det = [pp.postprocess(o, (320, 320), 0.25, 0.45) for o in outs]
    monkeypatch.delattr(cv2.dnn, "NMSBoxesBatched")
    assert not hasattr(cv2.dnn, "NMSBoxesBatched")
    for (b, s, c), k in zip(cases, fast):
        np.testing.assert_array_equal(pp.batched_nms(b, s, c, 0.45), k)
    assert len(fast_det) == len(outs) == 5 and sum(len(d.scores) for d in fast_det) > 0  # compared detections
    for o, d in zip(outs, fast_det):
        e = pp.postprocess(o, (320, 320), 0.25, 0.45)
        for f in ("boxes", "scores", "classes", "levels"):
            np.testing.assert_array_equal(getattr(e, f), getattr(d, f))


@pytest.mark.parametrize("nc,imgsz,conf", [(80, 640, 0.25), (5, 320, 0.25), (5, 320, 0.001)])
def test_fast_postprocess_equals_the_plain_decode(nc, imgsz, conf):
    """The gathered, batched post-process gives the detections of the plain one: every cell decoded
    (decode_dense), thresholded on its best class, greedy numpy NMS."""
    rng = np.random.default_rng(nc + imgsz)
    for _ in range(5):
        outs = head_outputs(rng, nc, imgsz, 12)
        det = pp.postprocess(outs, (imgsz, imgsz), conf, 0.45)
        boxes, scores, levels = pp.decode_dense(outs, (imgsz, imgsz))
        best, score = scores.argmax(1), scores.max(1)
        sel = score > conf
        keep = pp.nms_reference(pp.class_offset_boxes(boxes[sel], best[sel]), score[sel], 0.45)[:300]
        assert len(det) == len(keep) > 0
        np.testing.assert_array_equal(det.classes, best[sel][keep])
        np.testing.assert_allclose(det.scores, score[sel][keep], atol=1e-6)
        np.testing.assert_allclose(det.boxes, boxes[sel][keep], atol=1e-3)
        np.testing.assert_array_equal(det.levels, levels[sel][keep])


def test_decoded_output_gives_the_same_detections_as_the_patched_head():
    """Ultralytics' own export output ([1, 4 + nc, N]: cx, cy, w, h, then probabilities) made from the same
    head outputs decodes to the patched head's detections."""
    rng = np.random.default_rng(7)
    outs = head_outputs(rng, 5, 320, 12)
    boxes, scores, _ = pp.decode_dense(outs, (320, 320))
    xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
    stock = np.concatenate([xywh, scores], 1).T[None]
    ref = pp.postprocess(outs, (320, 320), 0.25, 0.45)
    det = pp.postprocess_decoded(stock, 0.25, 0.45)
    assert len(det) == len(ref) > 0
    np.testing.assert_array_equal(det.classes, ref.classes)
    np.testing.assert_allclose(det.boxes, ref.boxes, atol=1e-3)
    with pytest.raises(ValueError, match=r"\[1, 4 \+ nc, N\]"):
        pp.postprocess_decoded(np.zeros((1, 3, 10)))
