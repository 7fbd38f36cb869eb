"""The runner's inputs (image, folder, video), errors and timing summary, without a model."""
import cv2
import numpy as np
import pytest

from helpers.board import runner


def test_frames_from_image_folder_and_video(tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        cv2.imwrite(str(imgs / f"f{i}.png"), np.full((40, 60, 3), i * 50, np.uint8))
    (imgs / "notes.txt").write_text("not an image")
    assert [n for n, _ in runner.iter_frames(imgs)] == ["f0", "f1", "f2"]
    assert [n for n, _ in runner.iter_frames(imgs / "f1.png")] == ["f1"]
    assert len(list(runner.iter_frames(imgs, max_frames=2))) == 2
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        w.write(np.full((48, 64, 3), i * 40, np.uint8))
    w.release()
    frames = list(runner.iter_frames(video))
    assert [n for n, _ in frames] == [f"clip_{i:06d}" for i in range(5)] and frames[0][1].shape == (48, 64, 3)


def test_runner_errors_are_clear(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no image, folder or video"):
        list(runner.iter_frames(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no images"):
        list(runner.iter_frames(tmp_path / "empty"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a readable image"):
        list(runner.iter_frames(bad))
    assert runner.main([str(bad), "--bundle", str(tmp_path)]) == 2  # no config.json: an error, not a crash
    assert "config.json is missing" in capsys.readouterr().err


def test_timing_summary():
    t = runner.summarize_timings([{"inference_ms": 10.0, "end_to_end_ms": 12.0},
                                  {"inference_ms": 20.0, "end_to_end_ms": 24.0},
                                  {"inference_ms": 90.0, "end_to_end_ms": 95.0}])
    assert t == {"inference_ms": {"mean": 40.0, "median": 20.0}, "end_to_end_ms": {"mean": 43.67, "median": 24.0}}
