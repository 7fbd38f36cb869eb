"""Board-side checks that need no board: pairing two runs' detections, the self-test's reference round trip, the
runner's refusals (a too-old stack, an unwritable output folder, a cut model file) and its skipped images."""
import json

import numpy as np
import pytest

from helpers.board import cli, compare, decode, records, runner, selftest


def _run(*frames):
    return {"frames": [{"source": f"f{i}", "detections": list(d)} for i, d in enumerate(frames)]}


def _d(cls, score, box):
    return {"class": cls, "score": score, "box": list(box)}


def test_match_runs_pairs_by_class_and_iou_and_judges_unpaired_detections_by_the_threshold():
    ref = _run([_d(0, 0.9, (10, 10, 50, 50)), _d(1, 0.5, (60, 60, 90, 90))], [_d(2, 0.26, (0, 0, 20, 20))])
    got = _run([_d(1, 0.505, (60.4, 60, 90, 90.2)), _d(0, 0.897, (10, 10.3, 50, 50))], [])
    m = compare.match_runs(ref, got, conf=0.25, score_tol=0.01, box_tol=0.5, margin=0.02)
    assert m["pairs"] == 2 and m["max_score_diff"] == pytest.approx(0.005) and m["max_box_diff"] == pytest.approx(0.4)
    assert m["unpaired"] == [{"frame": "f1", "in": "reference", "class": 2, "score": 0.26}] and m["ok"]
    assert "agree" in compare.describe(m) and "all within 0.02" in compare.describe(m)
    # a lost detection far above the threshold is a disagreement, and so is a score beyond the tolerance
    ref["frames"][1]["detections"][0]["score"] = 0.8
    assert not compare.match_runs(ref, got, 0.25, 0.01, 0.5, 0.02)["ok"]
    assert not compare.match_runs(ref, got, 0.25, 0.001, 0.5, 1.0)["ok"]
    # the same class is required: a box of another class is not a pair
    other = _run([_d(3, 0.9, (10, 10, 50, 50)), _d(1, 0.5, (60, 60, 90, 90))], [_d(2, 0.26, (0, 0, 20, 20))])
    m = compare.match_runs(ref, other, 0.25, 0.01, 0.5)
    assert m["pairs"] == 2 and not m["ok"] and {"frame": "f0", "in": "run", "class": 3, "score": 0.9} in m["unpaired"]
    # other frames (names or order) never agree
    assert not compare.match_runs(ref, {"frames": [{"source": "x", "detections": []}]}, 0.25, 1, 1)["ok"]


def test_selftest_reference_round_trip_decodes_to_the_stored_detections(tmp_path):
    import cv2

    from tests.unit.board.test_postprocess import head_outputs

    bundle = tmp_path / "b"
    (bundle / "samples").mkdir(parents=True)
    cv2.imwrite(str(bundle / "samples" / "a.jpg"), np.full((240, 320, 3), 90, np.uint8))
    (bundle / "config.json").write_text(json.dumps({"model": "model.rknn", "imgsz": 320, "conf": 0.25, "iou": 0.45,
                                                    "labels": list("abcde")}))
    cfg = records.read_bundle_config(bundle)
    decode_outputs = decode.decoder(cfg, "onnx")
    outs = selftest.rounded(head_outputs(np.random.default_rng(3), 5, 320, 8))
    _, lb = runner.letterbox(cv2.imread(str(bundle / "samples" / "a.jpg")), 320)
    dets = decode_outputs(outs, 320, 0.25, 0.45, lb).to_records(cfg["labels"])
    assert dets
    selftest.save_reference(bundle, [{"source": "a", "file": "samples/a.jpg", "outputs": outs, "detections": dets}])
    m = selftest.run_selftest(bundle, decode_outputs, log=None)
    assert m["ok"] and m["pairs"] == len(dets) and m["max_score_diff"] == 0 and m["versions"]["numpy"]
    # a reference that no longer matches what the board decodes is reported, not passed
    ref = json.loads((bundle / "reference" / "detections.json").read_text())
    ref["frames"][0]["detections"][0]["score"] += 0.01
    (bundle / "reference" / "detections.json").write_text(json.dumps(ref))
    assert not selftest.run_selftest(bundle, decode_outputs, log=None)["ok"]
    assert cli.main(["--selftest", "--bundle", str(bundle)]) == 1


def test_runner_refuses_an_old_stack_an_unwritable_folder_and_a_cut_model(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(runner.np, "__version__", "1.16.6")
    with pytest.raises(RuntimeError, match=r"numpy 1.16.6 \(needs >= 1.19\).*python3-numpy python3-opencv"):
        runner.check_stack()
    monkeypatch.undo()
    runner.check_stack()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot write the results to .*choose another --out"):
        runner.require_writable(tmp_path / "file" / "out")
    model = tmp_path / "model.rknn"
    model.write_bytes(b"x" * 1000)
    cfg = {"files": {"model.rknn": records.file_digest(model)}}
    records.verify_model_file(tmp_path, cfg, model)  # as recorded
    model.write_bytes(b"x" * 999)
    with pytest.raises(ValueError, match="model.rknn is 999 bytes, the bundle recorded 1,000: a truncated"):
        records.verify_model_file(tmp_path, cfg, model)
    model.write_bytes(b"y" * 1000)
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        records.verify_model_file(tmp_path, cfg, model)
    records.verify_model_file(tmp_path, cfg, tmp_path.parent / "elsewhere.rknn")  # not the bundle's: not checked
    (tmp_path / "config.json").write_text('{"model": ')
    assert cli.main(["x", "--bundle", str(tmp_path)]) == 2
    assert "config.json is not readable JSON" in capsys.readouterr().err


def test_unreadable_images_are_skipped_and_named(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    skipped = []
    assert [n for n, _ in runner.iter_frames(tmp_path, skipped=skipped)] == ["a"]
    assert skipped == [{"file": "b.jpg", "why": "not a readable image (corrupt, empty or not an image)"}]
    with pytest.raises(ValueError, match="b.jpg is not a readable image"):
        list(runner.iter_frames(tmp_path))
