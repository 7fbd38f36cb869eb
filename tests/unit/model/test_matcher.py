"""The one detection matcher (parity.match_pairs): used by every parity and float-vs-INT8 comparison."""

from helpers.model import parity


def test_highest_iou_of_the_same_class_is_matched_highest_reference_score_first():
    ref = [[0, 0, 10, 10], [20, 20, 30, 30]]
    test = [[21, 21, 30, 30], [0, 0, 10, 11], [0, 0, 10, 10]]
    pairs = parity.match_pairs(ref, [0.9, 0.8], [0, 0], test, [0.7, 0.8, 0.9], [0, 0, 0])
    assert pairs == [(0, 2), (1, 0)]
    # another class is never a match, nor an overlap under iou_min
    assert parity.match_pairs(ref, [0.9, 0.8], [0, 0], test, [0.7, 0.8, 0.9], [1, 1, 1]) == []
    assert parity.match_pairs(ref, [0.9], [0], [[5, 5, 15, 15]], [0.9], [0], iou_min=0.5) == []


def test_equal_boxes_clipped_to_the_edge_are_told_apart_by_their_scores():
    """Two cells whose boxes coincide once clipped: each reference gets the test box with its own score."""
    edge = [0, 0, 8, 8]
    pairs = parity.match_pairs([edge, edge], [0.9, 0.4], [0, 0], [edge, edge], [0.41, 0.89], [0, 0])
    assert sorted(pairs) == [(0, 1), (1, 0)]
    m = parity.match_detections([edge, edge], [0.9, 0.4], [0, 0], [edge, edge], [0.41, 0.89], [0, 0])
    assert m["matched"] == 2 and m["unmatched"] == 0 and abs(m["max_score_diff"] - 0.01) < 1e-6
    # the same box after float rounding (6e-5 px apart, as two decoders give it): still the scores decide
    near = [0, 0, 8, 8.00006]
    assert sorted(parity.match_pairs([edge, edge], [0.9, 0.4], [0, 0], [near, edge], [0.41, 0.89], [0, 0])) == \
        [(0, 1), (1, 0)]
