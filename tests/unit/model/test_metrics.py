"""helpers.model.metrics (pycocotools mAP, output agreement) and the concat-head split."""
import numpy as np
import pytest

from helpers.model import metrics
from helpers.board import postprocess
from helpers.board.postprocess import Detections
from helpers.board.preprocess import Letterbox


def _es(gts):
    ims = [metrics.EvalImage(path=None, canvas=None, letterbox=Letterbox((100, 100), (100, 100), (100, 100), 0, 0),
                             gt_boxes=np.asarray(b, np.float32).reshape(-1, 4), gt_classes=np.asarray(c, np.int64))
           for b, c in gts]
    return metrics.EvalSet(ims, 100, 2, ["a", "b"])


def _det(boxes, scores, classes):
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(classes, np.int64), np.zeros(len(scores), np.int64))


def test_coco_map_perfect_shifted_and_empty():
    es = _es([([[10, 10, 50, 50]], [0]), ([[20, 20, 80, 60], [5, 5, 15, 15]], [1, 0])])
    perfect = [_det([[10, 10, 50, 50]], [0.9], [0]), _det([[20, 20, 80, 60], [5, 5, 15, 15]], [0.8, 0.7], [1, 0])]
    assert metrics.coco_map(es, perfect) == {"mAP50": 1.0, "mAP50_95": 1.0, "detections": 3}
    shifted = [_det([[14, 14, 54, 54]], [0.9], [0]), perfect[1]]  # IoU 0.67: counts at .5, not at .75+
    m = metrics.coco_map(es, shifted)
    assert m["mAP50"] == 1.0 and m["mAP50_95"] < 1.0
    wrong_class = [_det([[10, 10, 50, 50]], [0.9], [1]), _det([], [], [])]
    assert metrics.coco_map(es, wrong_class)["mAP50"] == 0.0
    assert metrics.coco_map(es, [_det([], [], []), _det([], [], [])])["mAP50"] == 0.0
    with pytest.raises(ValueError, match="2 images"):
        metrics.coco_map(es, perfect[:1])


def test_output_agreement_and_class_score_values():
    rng = np.random.default_rng(0)
    a = [[rng.random((1, 4, 3, 3)), rng.random((1, 2, 3, 3))] for _ in range(3)]
    same = metrics.output_agreement(a, a, ["box_dfl_s8", "cls_prob_s8"])
    assert all(r["cosine"] == pytest.approx(1.0) and r["max_abs_diff"] == 0 for r in same)
    zero = [[np.zeros_like(x) for x in o] for o in a]
    assert metrics.output_agreement(a, zero, ["box_dfl_s8", "cls_prob_s8"])[1]["cosine"] == 0.0
    q = [[o[0], np.round(o[1] * 4) / 4] for o in a]  # 5 levels
    from helpers.experiments.comparisons import cls_values

    v = cls_values(q, ["box_dfl_s8", "cls_prob_s8"])
    assert v.size == 3 * 2 * 9 and len(np.unique(v)) <= 5


def test_split_concat_output_roundtrip():
    rng = np.random.default_rng(1)
    levels = []
    for g in (8, 4, 2):
        levels += [rng.random((1, 64, g, g)).astype(np.float32), rng.random((1, 3, g, g)).astype(np.float32)]
    cat = np.concatenate([np.concatenate(levels[k:k + 2], 1).reshape(1, 67, -1) for k in range(0, 6, 2)], 2)
    back = postprocess.split_concat_output(cat, (64, 64), 3)
    assert len(back) == len(levels) == 6
    for x, y in zip(levels, back):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="do not match a 32x32 input"):
        postprocess.split_concat_output(cat, (32, 32), 3)
    with pytest.raises(ValueError, match=r"expected \[1, 68, N\]"):
        postprocess.split_concat_output(cat, (64, 64), 4)


def test_coco_map_on_chosen_images_by_size_and_the_bootstrap():
    es = _es([([[10, 10, 50, 50]], [0]), ([[20, 20, 80, 60], [5, 5, 15, 15]], [1, 0])])
    perfect = [_det([[10, 10, 50, 50]], [0.9], [0]), _det([[20, 20, 80, 60], [5, 5, 15, 15]], [0.8, 0.7], [1, 0])]
    half = [perfect[0], _det([], [], [])]  # misses everything on image 1
    assert metrics.coco_map(es, half, [0])["mAP50"] == 1.0 and metrics.coco_map(es, half, [1])["mAP50"] == 0.0
    assert metrics.coco_map(es, half, [0, 0])["mAP50"] == 1.0  # a repeated image counts as one more image
    sized = metrics.coco_map(es, perfect, by_size=True)
    # areas: 1600 and 2400 px² are medium (32² … 96²), 100 px² is small, nothing large
    assert sized["AP_small"] == 1.0 and sized["AP_medium"] == 1.0 and sized["AP_large"] is None
    same = metrics.bootstrap_difference(es, perfect, perfect, n=20)
    assert same["difference"] == same["low"] == same["high"] == same["sd"] == 0.0
    worse = metrics.bootstrap_difference(es, perfect, half, n=50, seed=1)
    assert worse["difference"] > 0 and worse["low"] <= worse["difference"] <= worse["high"] and worse["sd"] > 0


def test_honest_selection_chooses_on_one_half_and_reports_on_the_other():
    from helpers.experiments import selection

    assert selection.halves(5) == ([0, 2, 4], [1, 3])
    rows = [{"config": "a", "min_cosine": 0.9, "select_mAP50_95": 0.5}, {"config": "b", "min_cosine": 0.99,
                                                                         "select_mAP50_95": 0.5},
            {"config": "c", "error": "build: failed"}]
    for r in rows[:2]:
        r["build_s"] = 7.0
    assert selection.choose(rows)["config"] == "b"  # ties: the higher lowest cosine
    with pytest.raises(RuntimeError, match="no configuration built"):
        selection.choose(rows[2:])
    assert selection.within_noise({"low": -0.01, "high": 0.02}) and not selection.within_noise({"low": 0.01, "high": 0.02})


def _row(config, select, build_s, cos=0.998):
    return {"config": config, "select_mAP50_95": select, "build_s": build_s, "min_cosine": cos}


def test_choice_is_cost_aware_a_slow_win_within_the_resolution_does_not_ship():
    from helpers.experiments import selection

    rows = [_row("int8_normal_layer", 0.741, 6.8), _row("int8_normal_channel", 0.744, 7.3),
            _row("int8_kl_divergence_channel", 0.743, 10.1), _row("int8_mmse_layer", 0.749, 280.0),
            _row("int8_mmse_channel", 0.702, 290.0)]
    # mmse_layer is the best by 0.005, less than the 0.012 this half resolves: normal_channel, the best of
    # the cheap ones (normal and kl within COST_TIE of the cheapest), ships; mmse_channel is no candidate
    assert [r["config"] for r in selection.candidates(rows, 0.012)] == [
        "int8_normal_layer", "int8_normal_channel", "int8_kl_divergence_channel", "int8_mmse_layer"]
    assert selection.choose(rows, 0.012)["config"] == "int8_normal_channel"
    # a win beyond the resolution ships, however slow
    assert selection.choose(rows, 0.004)["config"] == "int8_mmse_layer"
    # without a resolution only the best (and exact ties) are candidates
    assert selection.choose(rows)["config"] == "int8_mmse_layer"
    # the fixed cheap configuration of the experiments is the toolkit's defaults
    cfg = selection.experiment_config("rk3588")
    assert cfg.name == "int8_normal_channel" and cfg.quantize


def test_honest_report_ships_the_cheapest_configuration_it_cannot_tell_from_the_best(monkeypatch):
    from helpers.experiments import selection
    from helpers.stages import s05_quantize as findings

    monkeypatch.setattr(selection, "detections", lambda outputs, es: outputs)  # outputs given as detections here
    es = _es([([[10, 10, 50, 50]], [0])] * 40)
    perfect = [_det([[10, 10, 50, 50]], [0.9], [0]) for _ in range(40)]
    one_off = [_det([[14, 14, 54, 54]], [0.9], [0])] + perfect[1:]  # image 0 (selection half) found less tightly
    rows = [{"config": "fast", "build_s": 5.0, "min_cosine": 0.99, "mAP50_95": 0.9},
            {"config": "slow", "build_s": 300.0, "min_cosine": 0.99, "mAP50_95": 0.9}]
    h = selection.honest_report(rows, {"fast": one_off, "slow": perfect}, es, perfect, resamples=50)
    gap = rows[1]["select_mAP50_95"] - rows[0]["select_mAP50_95"]
    assert h["selection_best"] == "slow" and gap > 0
    assert h["selection_resolution"] > gap  # one image of twenty: within what the half resolves
    assert h["candidates"] == ["fast", "slow"] and h["ship"] == "fast" and h["ship_build_s"] == 5.0
    text = findings.honest_ship({"honest": h})["text"]
    assert ("cannot tell them apart; the cheapest of them builds in 5.0 s (fast), and every candidate within 2× that "
            "time counts as equally cheap (1: fast 5.0 s)") in text
    assert "Of the equally cheap ones the best on the selection half ships: fast (5.0 s)." in text
    # the rule as a table: both within the resolution, only the fast one within the cost tier, and it ships
    assert [(r["config"], r["within_resolution"], r["within_cost_tier"], r["ships"]) for r in h["rule"]] == [
        ("slow", True, False, False), ("fast", True, True, True)]
    # the same rows with a resolution the gap exceeds ship the slow one
    assert selection.choose(rows, gap / 2)["config"] == "slow"
    # exact ties (a compressed copy of the same model): the best on the selection half is the one choose() ships
    twins = [{"config": c, "build_s": b, "min_cosine": 0.99, "mAP50_95": 0.9} for c, b in (("plain", 5.2),
                                                                                           ("compressed", 4.8))]
    h = selection.honest_report(twins, {"plain": perfect, "compressed": perfect}, es, perfect, resamples=20)
    assert h["ship"] == h["selection_best"] == "plain" and "is the best on the selection half" in \
        findings.honest_ship({"honest": h})["text"]


def test_lowest_cosine_by_kind_of_output():
    from helpers.model.metrics import lowest_cosine

    cos = {"box_dfl_s8": 0.99, "cls_prob_s8": 0.97, "cls_prob_s16": 0.98, "kpt_raw_s8": 0.95}
    assert lowest_cosine(cos, "cls") == 0.97 and lowest_cosine(cos, "box") == 0.99
    assert lowest_cosine(cos, "kpt_raw") == 0.95 and lowest_cosine(cos, "score") is None


def _random_set(seed, n=14, nc=3):
    """Images with 0-5 objects; detections jittered, missed, duplicated, misclassified, with tied scores."""
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for i in range(n):
        k = 0 if i % 5 == 3 else int(rng.integers(1, 6))
        xy = rng.uniform(0, 70, (k, 2))
        wh = rng.uniform(4, 30, (k, 2))
        boxes, cls = np.concatenate([xy, xy + wh], 1), rng.integers(0, nc, k)
        gts.append((boxes, cls))
        keep = rng.random(k) < 0.8
        db = boxes[keep] + rng.normal(0, 2.5, (int(keep.sum()), 4))
        dc = np.where(rng.random(int(keep.sum())) < 0.1, (cls[keep] + 1) % nc, cls[keep])
        extra = int(rng.integers(0, 3)) if i % 7 != 2 else 0
        exy = rng.uniform(0, 70, (extra, 2))
        db = np.concatenate([db, np.concatenate([exy, exy + 10], 1)]) if i % 7 != 2 else np.zeros((0, 4))
        dc = np.concatenate([dc, rng.integers(0, nc, extra)]) if i % 7 != 2 else np.zeros(0, np.int64)
        sc = np.round(rng.uniform(0.05, 1.0, len(db)), 1)  # one decimal: ties across images
        dets.append(_det(db, sc, dc))
    ims = [metrics.EvalImage(path=None, canvas=None, letterbox=Letterbox((100, 100), (100, 100), (100, 100), 0, 0),
                             gt_boxes=np.asarray(b, np.float32).reshape(-1, 4), gt_classes=np.asarray(c, np.int64))
           for b, c in gts]
    return metrics.EvalSet(ims, 100, nc, ["a", "b", "c"]), dets


def test_resampled_map_equals_a_full_cocoeval_of_every_resample():
    """The bootstrap matches each image once and re-ranks per resample: the same figures as evaluating
    every resample from scratch (repeats, empty images, images without detections, tied scores)."""
    es, dets = _random_set(3)
    rng = np.random.default_rng(7)
    pool = [0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 13]
    fast = metrics.ResampledMap(es, dets, pool)
    picks = [pool, [3], [2], [3, 3], [9, 2, 2, 9]] + [rng.choice(pool, len(pool)) for _ in range(40)]
    for pick in picks:
        assert fast(pick) == metrics.coco_map(es, dets, pick), list(pick)
    nothing = [_det([], [], []) for _ in range(len(es))]
    assert metrics.ResampledMap(es, nothing, pool)(pool) == metrics.coco_map(es, nothing, pool)


def test_bootstrap_difference_is_the_resample_by_resample_difference():
    es, dets_a = _random_set(3)
    _, dets_b = _random_set(4)  # another model's detections on the same images
    for idx in (None, [0, 2, 4, 6, 8, 10, 12]):
        got = metrics.bootstrap_difference(es, dets_a, dets_b, n=30, seed=5, idx=idx)
        pool = np.arange(len(es)) if idx is None else np.asarray(idx)
        rng = np.random.default_rng(5)
        diffs = []
        for _ in range(30):
            pick = pool[rng.integers(0, len(pool), len(pool))]
            diffs.append(metrics.coco_map(es, dets_a, pick)["mAP50_95"] - metrics.coco_map(es, dets_b, pick)["mAP50_95"])
        d = np.array(diffs)
        assert got["low"] == round(float(np.percentile(d, 2.5)), 4)
        assert got["high"] == round(float(np.percentile(d, 97.5)), 4)
        assert got["sd"] == round(float(d.std(ddof=1)), 4) and got["sd"] > 0
        obs = metrics.coco_map(es, dets_a, pool)["mAP50_95"] - metrics.coco_map(es, dets_b, pool)["mAP50_95"]
        assert got["difference"] == round(float(obs), 4)


def test_resampled_map_by_size_equals_cocoeval_by_size():
    es, dets = _random_set(5, n=16)
    rng = np.random.default_rng(2)
    pool = list(range(len(es)))
    fast = metrics.ResampledMap(es, dets, pool, by_size=True)
    for pick in [pool, [3, 3], [0, 5, 5, 9]] + [rng.choice(pool, len(pool)) for _ in range(25)]:
        assert fast(pick) == metrics.coco_map(es, dets, pick, by_size=True), list(pick)
    _, other = _random_set(6, n=16)
    b = metrics.bootstrap_difference(es, dets, other, n=30, key="AP_small")
    assert b["difference"] == round(metrics.coco_map(es, dets, by_size=True)["AP_small"]
                                    - metrics.coco_map(es, other, by_size=True)["AP_small"], 4)
    assert b["low"] <= b["high"] and b["resamples"] <= 30
    none = metrics.bootstrap_difference(es, dets, other, n=5, key="AP_large")  # nothing above 96² px here
    assert none["difference"] is None and none["low"] is None


def test_several_keys_on_the_same_resamples_equal_one_key_at_a_time():
    es, dets = _random_set(5, n=16)
    _, other = _random_set(6, n=16)
    keys = ("mAP50_95", "mAP50", "AP_small", "AP_large")
    together = metrics.bootstrap_differences(es, dets, other, keys, n=20, seed=3)
    assert together == {k: metrics.bootstrap_difference(es, dets, other, n=20, seed=3, key=k) for k in keys}
