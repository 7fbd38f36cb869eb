"""The runner's inputs (image, folder, video), errors and timing summary, without a model."""
import cv2
import numpy as np
import pytest

from helpers.board import cli, decode, recording, runner, sources


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
    assert cli.main([str(bad), "--bundle", str(tmp_path)]) == 2  # no config.json: an error, not a crash
    assert "config.json is missing" in capsys.readouterr().err


def test_timing_summary():
    t = runner.summarize_timings([{"inference_ms": 10.0, "end_to_end_ms": 12.0},
                                  {"inference_ms": 20.0, "end_to_end_ms": 24.0},
                                  {"inference_ms": 90.0, "end_to_end_ms": 95.0}])
    assert t == {"inference_ms": {"mean": 40.0, "median": 20.0}, "end_to_end_ms": {"mean": 43.67, "median": 24.0}}


def test_video_out_writes_an_mp4_of_every_frame_at_one_size(tmp_path):
    """Annotated frames into an MP4 (a folder of images may mix sizes: every frame takes the first one's size);
    nothing at the final name until it is complete."""
    v = recording.VideoOut(tmp_path / "out" / "annotated.mp4", fps=5)
    for i, shape in enumerate([(48, 64, 3), (60, 80, 3), (48, 64, 3)]):
        v.write(np.full(shape, 40 * i, np.uint8))
        assert not (tmp_path / "out" / "annotated.mp4").exists()
    v.close()
    frames = list(runner.iter_frames(tmp_path / "out" / "annotated.mp4"))
    assert len(frames) == 3 and all(f.shape == (48, 64, 3) for _, f in frames)
    with sources.FrameSource(tmp_path / "out" / "annotated.mp4") as fs:
        assert fs.nominal_fps == 5.0 and fs.kind == "video" and fs.mode == "every"
    with sources.FrameSource(tmp_path / "out" / "annotated.mp4", frames="newest") as fs:
        assert fs.nominal_fps == 5.0 and fs.mode == "newest" and not fs.live
    broken = recording.VideoOut(tmp_path / "out" / "broken.mp4")
    broken.write(np.zeros((48, 64, 3), np.uint8))
    broken.close(complete=False)  # a run that failed half-way leaves no video behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["annotated.mp4"]


def test_pose_bundles_decode_keypoints_and_refuse_tiling(tmp_path):
    """A pose bundle's config picks the pose decoder (the rknn layout, or the ncnn one for the ncnn backend);
    tiling is refused with a clear error."""
    import json

    cfg = {"task": "pose", "kpt_shape": [9, 3], "labels": ["figure"], "imgsz": 64, "model": "m.rknn"}
    rng = np.random.default_rng(0)
    outs = []
    for s in (8, 16, 32):
        n = 64 // s
        outs += [rng.normal(0, 1, (1, 64, n, n)).astype(np.float32), np.full((1, 1, n, n), 0.9, np.float32),
                 np.full((1, 1, n, n), 0.9, np.float32), rng.normal(0, 1, (1, 27, n, n)).astype(np.float32)]
    det = decode.decoder(cfg, "onnx")(outs, 64, 0.5, 0.45, None)
    assert len(det) > 0 and det.keypoints.shape == (len(det), 9, 3)
    assert "keypoints" in det.to_records(["figure"])[0]
    nhwc = [np.concatenate([np.full((1, 1, o.shape[2], o.shape[3]), 3.0, np.float32), o, k], 1).transpose(0, 2, 3, 1)
            for o, k in zip(outs[0::4], outs[3::4])]
    d2 = decode.decoder(cfg, "ncnn")(nhwc, 64, 0.5, 0.45, None)
    assert len(d2) == len(det)  # the same cells fire (logit 3.0 = probability 0.95 vs 0.9 above)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="for detection bundles"):
        runner.run(tmp_path, tmp_path, tmp_path / "out", runner.RunSettings(tile=32))


def test_every_command_in_the_bundle_readme_parses_with_the_runner():
    """A typo in an option the README tells a user to type would be an argparse exit on the board."""
    import shlex

    from helpers.deploy import bundles

    for pose in (False, True):
        text = bundles.board_instructions({"quantization": "int8", "imgsz": 320, "target": "rk3588", "toolkit_version":
                                          "2.5.0", "ncnn": "model.ncnn.param", **({"task": "pose"} if pose else {})})
        lines = text.replace("\\\n", " ").splitlines()
        commands = [ln.split("#")[0].strip() for ln in lines if ln.strip().startswith("python3 run.py")]
        assert len(commands) >= 7
        for cmd in commands:
            args = shlex.split(cmd)[2:]
            a = cli.parse_args(args)  # an unknown option or bad value exits here
            assert a.source or a.selftest, cmd
            cli.settings_from_args(a)
