"""Live input: a stream served by ffmpeg on 127.0.0.1 at its real rate, against the same video as a file.

A real model (an untrained YOLOv8n-ReLU with the NPU head, ONNX, 96 px) runs on onnxruntime in the
bundle's runner; the stream is Debian's ffmpeg serving the clip over HTTP (MPEG-TS, the bitstream
copied, so stream frame i is file frame i pixel for pixel), throttled to the clip's 15 frames/s.
"""
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers.model import export, heads
from helpers.deploy.streams import LoopbackStream as Served, free_port
from helpers.board import cli, inputs, rate, recording, runner, sources
from helpers.board.atomic import write_json
from helpers.board.records import file_digest

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(not FFMPEG, reason="ffmpeg is not installed (scripts/setup.sh installs it)")
IMGSZ, FPS, FRAMES = 96, 15, 45
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bundle(untrained_model, tmp_path_factory):
    """A detection bundle with only an ONNX model (what the runner needs on onnxruntime)."""
    d = tmp_path_factory.mktemp("live_bundle")
    export.export_onnx(heads.patch_for_npu(untrained_model, fuse=True), d / "model.onnx", IMGSZ)
    write_json(d / "config.json", {"model": "model.onnx", "onnx": "model.onnx", "imgsz": IMGSZ, "conf": 0.25,
                                   "iou": 0.45, "labels": ["a", "b", "c"], "score_sum": True,
                                   "files": {"model.onnx": file_digest(d / "model.onnx")}})
    return d


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """45 frames at 15 frames/s (3 s): shapes that move and noise, so every frame differs."""
    path = tmp_path_factory.mktemp("live_clip") / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (160, 120))
    rng = np.random.default_rng(1)
    for i in range(FRAMES):
        f = np.full((120, 160, 3), 90, np.uint8)
        cv2.rectangle(f, (5 + 2 * i, 20), (45 + 2 * i, 70), (0, 200, 255), -1)
        cv2.circle(f, (120, 40 + i), 18, (255, 80, 0), -1)
        f[100:] = rng.integers(0, 255, (20, 160, 3), dtype=np.uint8)
        w.write(f)
    w.release()
    return path


def connections_to(port: int):
    """Established connections to 127.0.0.1:port (from /proc: the runner's, once it opened the stream)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[1].split(":")[1], 16) == port:
            yield f[2]


def settings(**kw) -> runner.RunSettings:
    return runner.RunSettings(**{"backend": "onnx", "cores": 3, "save_images": False, **kw})


def mp4_frames(path) -> int:
    return sum(1 for _ in inputs.iter_files(path))


def test_sources_are_recognised_and_urls_printed_without_passwords(tmp_path):
    assert inputs.classify("/dev/video0") == ("camera", True) and inputs.classify("2") == ("camera", True)
    assert inputs.classify("rtsp://10.0.0.5:554/stream1") == ("stream", True)
    assert inputs.classify("udp://@:5000") == ("stream", True)
    assert inputs.classify("http://cam.local/video.ts") == ("stream", True)
    assert inputs.classify("https://example.org/clip.mp4") == ("stream", False)  # a file over HTTP: every frame
    assert inputs.classify(tmp_path) == ("folder", False)
    assert inputs.classify(tmp_path / "a.mkv") == ("video", False)
    assert inputs.classify(tmp_path / "a.jpg") == ("image", False)
    assert inputs.masked("rtsp://admin:s3cret@10.0.0.5/s1") == "rtsp://admin:***@10.0.0.5/s1"
    assert inputs.parse_size("1280x720") == (1280, 720)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        inputs.parse_size("1280")
    with pytest.raises(ValueError, match="no camera at /dev/video97"):
        sources.open_capture("/dev/video97", "camera")
    with pytest.raises(FileNotFoundError, match="no image, folder or video at .*a camera is /dev/videoN"):
        inputs.check_source(tmp_path / "typo.mp4")
    assert inputs.check_source("rtsp://10.0.0.5/s1") == "stream"  # a stream is checked by opening it


def test_the_verdict_names_the_source_or_the_slowest_stage():
    t = {"preprocess_ms": {"mean": 2.0}, "inference_ms": {"mean": 20.0}, "postprocess_ms": {"mean": 4.0},
         "end_to_end_ms": {"mean": 26.0}}
    live = {"frames": "newest", "delivered": 150, "dropped": 2, "delivered_fps": 15.0, "waited_s": 6.0}
    v = rate.rate_verdict(live, 148, 10.0, t, 1)
    assert v["limited_by"] == "source" and v["capacity_fps"] == 38.5
    assert v["sentence"].startswith("the source limits the rate: it delivers 15 frames/s") and "about 38.5" in v["sentence"]
    # a burst: one of 15 frames dropped (7 %) while the runner waited for frames 89 % of its time
    bursty = {**live, "delivered": 15, "dropped": 1, "delivered_fps": 5.84, "waited_s": 2.54}
    v = rate.rate_verdict(bursty, 14, 2.85, t, 2)
    assert v["limited_by"] == "source" and "(1 dropped, in bursts: the runner waited for frames 89 % of the time)" \
        in v["sentence"] and v["waiting_share"] == 0.891
    slow = {**live, "delivered": 300, "dropped": 180, "delivered_fps": 30.0, "waited_s": 0.2}
    v = rate.rate_verdict(slow, 120, 10.0, t, 1)
    assert v["limited_by"] == "pipeline" and "dropping 180 of 300 (60 %)" in v["sentence"]
    assert v["sentence"].endswith("its slowest stage is inference, 20 of 26 ms per frame")
    file = {"frames": "every", "delivered": 300, "dropped": 0, "delivered_fps": 300.0, "read_fps": 4000.0}
    v = rate.rate_verdict(file, 300, 8.0, t, 1)  # 37.5 frames/s from a file that decodes at 4000
    assert v["limited_by"] == "pipeline" and "every frame in order" in v["sentence"]
    v = rate.rate_verdict({**file, "read_fps": 15.2}, 150, 10.0, t, 1)  # every frame of a 15 frames/s stream
    assert v["limited_by"] == "source" and v["delivered_fps"] == 15.2


@needs_ffmpeg
def test_a_throttled_stream_caps_the_rate_and_a_file_does_not_with_equal_detections(bundle, clip, tmp_path):
    printed = []
    with Served(clip) as served:
        live = runner.run(served.url, bundle, tmp_path / "live", settings(video=str(tmp_path / "live" / "live.mp4"),
                                                                           progress_s=1.0), log=printed.append)
    src, rate = live["source"], live["rate"]
    progress = [ln for ln in printed if "s: the source delivered" in ln]  # while it runs, every second here
    assert len(progress) >= 2 and printed[-2] == live["rate"]["sentence"], printed
    assert src["kind"] == "stream" and src["live"] and src["frames"] == "newest" and src["stopped"] == "end"
    assert src["granted"]["fps"] == FPS and src["granted"]["size"] == [160, 120]
    assert src["delivered"] == FRAMES  # ffmpeg -listen waits for its client: the stream starts at frame 0
    assert 0.8 * FPS < src["delivered_fps"] < 1.3 * FPS  # -re: the file's own rate
    assert rate["limited_by"] == "source" and rate["sentence"].startswith("the source limits the rate")
    assert src["dropped"] <= 0.05 * FRAMES and len(live["frames"]) == FRAMES - src["dropped"]
    assert live["video_frames"] == len(live["frames"]) == mp4_frames(tmp_path / "live" / "live.mp4")
    on_disk = json.loads((tmp_path / "live" / "detections.json").read_text())
    assert on_disk["rate"] == rate and on_disk["source"]["delivered"] == FRAMES

    whole = runner.run(clip, bundle, tmp_path / "file", settings(), log=None)
    assert whole["source"]["frames"] == "every" and whole["source"]["dropped"] == 0 and len(whole["frames"]) == FRAMES
    assert whole["rate"]["limited_by"] == "pipeline" and whole["rate"]["sentence"].startswith("the pipeline limits")
    assert whole["rate"]["processed_fps"] > 2 * rate["processed_fps"]  # the same video, as fast as the pipeline goes
    # frames matched by their index in the source: the stream carries the file's bitstream from its first frame
    by_index = {f["index"]: f["detections"] for f in whole["frames"]}
    matched = [(f["detections"], by_index[f["index"]]) for f in live["frames"]]
    assert len(matched) >= 0.95 * FRAMES and sum(len(a) for a, _ in matched) > 0
    assert all(a == b for a, b in matched)


@needs_ffmpeg
def test_a_live_run_stops_on_ctrl_c_sigterm_seconds_or_max_frames_with_its_files_whole(bundle, clip, tmp_path):
    # a background job's SIGINT is ignored (POSIX, without job control) and Python keeps it so: the child puts back
    # the handler a terminal's Ctrl-C meets
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from helpers.board import cli; sys.exit(cli.main(sys.argv[1:]))")
    for sig, stopped, said in ((signal.SIGINT, "interrupted", "stopped: Ctrl-C"), (signal.SIGTERM, "terminated",
                                                                                 "stopped: SIGTERM")):
        out = tmp_path / stopped
        with Served(clip) as served:
            proc = subprocess.Popen([sys.executable, "-c", code, served.url, "--bundle", str(bundle), "--backend",
                                     "onnx", "--out", str(out), "--no-images", "--video", str(out / "cut.mp4")],
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 60
            while not any(connections_to(served.port)) and time.monotonic() < deadline:
                time.sleep(0.05)  # the runner has connected: the 3 s stream is running
            time.sleep(1.0)
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        res = json.loads((out / "detections.json").read_text())
        assert res["source"]["stopped"] == stopped and said in stdout, (sig, res["source"], stdout)
        assert 0 < len(res["frames"]) < FRAMES and res["video_frames"] == mp4_frames(out / "cut.mp4")
        assert not list(out.glob(".*tmp*"))  # nothing half-written left beside them

    with Served(clip) as served:
        timed = runner.run(served.url, bundle, tmp_path / "seconds", settings(seconds=1.0), log=None)
    assert timed["source"]["stopped"] == "seconds" and 0 < len(timed["frames"]) < FRAMES
    with Served(clip) as served:
        counted = runner.run(served.url, bundle, tmp_path / "max", settings(max_frames=5), log=None)
    assert counted["source"]["stopped"] == "max_frames" and len(counted["frames"]) == 5


class Stalling(threading.Thread):
    """An HTTP server that sends the first half of a TS stream, then nothing, with the connection held open."""

    def __init__(self, ts: bytes):
        super().__init__(daemon=True)
        self.ts, self.sock = ts, socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/stall.ts"
        self.done = threading.Event()
        self.start()

    def run(self):
        conn, _ = self.sock.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n\r\n" + self.ts[: len(self.ts) // 2])
        self.done.wait(30)
        conn.close()


@needs_ffmpeg
def test_a_stalled_stream_ends_the_run_and_a_missing_one_is_one_clear_line(bundle, clip, tmp_path, capsys):
    ts = tmp_path / "clip.ts"
    subprocess.run([FFMPEG, "-loglevel", "error", "-i", str(clip), "-c", "copy", "-bsf:v", "dump_extra", "-f", "mpegts",
                    str(ts)], check=True)
    server = Stalling(ts.read_bytes())
    t0 = time.monotonic()
    res = runner.run(server.url, bundle, tmp_path / "stall", settings(stall_timeout=1.0, video=str(tmp_path / "s.mp4")),
                     log=None)
    server.done.set()
    assert res["source"]["stopped"] == "stalled" and "no frame for 1 s" in res["source"]["stopped_why"]
    assert 0 < len(res["frames"]) < FRAMES and res["video_frames"] == mp4_frames(tmp_path / "s.mp4")
    assert time.monotonic() - t0 < 30

    url = f"http://127.0.0.1:{free_port()}/nothing.ts"
    with pytest.raises(ValueError, match=r"cannot open the stream .*: 127.0.0.1:\d+: connection refused"):
        runner.run(url, bundle, tmp_path / "none", settings(), log=None)
    assert cli.main([url, "--bundle", str(bundle), "--backend", "onnx", "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot open the stream {url}")


def test_a_clip_from_a_folder_of_any_image_type_and_lossless_when_asked(tmp_path):
    from helpers.deploy import streams

    (tmp_path / "imgs").mkdir()
    pics = [np.random.default_rng(i).integers(0, 255, (60, 80, 3), dtype=np.uint8) for i in range(3)]
    for i, p in enumerate(pics):
        cv2.imwrite(str(tmp_path / "imgs" / f"img {i}.png"), p)
    mp4 = streams.make_clip(tmp_path / "imgs", tmp_path / "c.mp4", 15, 9, (64, 48))
    mkv = streams.make_clip(tmp_path / "imgs", tmp_path / "c.mkv", 15, 9, (64, 48))
    assert mp4_frames(mp4) == mp4_frames(mkv) == 9
    # FFV1 gives back exactly what was written: frame 0 is the first image, resized and cropped as make_clip does
    first = next(inputs.iter_files(mkv))[1]
    want = cv2.resize(pics[0], (96, 80))[16:64, 0:64]
    assert np.array_equal(first, want)
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="at least one readable image"):
        streams.make_clip(tmp_path / "none", tmp_path / "x.mp4")


@needs_ffmpeg
def test_a_stream_that_drops_out_is_reopened_when_asked(bundle, clip, tmp_path):
    """The server goes away after the clip and comes back on the same address: with --reconnect 1 the run goes on
    into the second serving; without, it ends with the first."""
    first = Served(clip)
    again = {}

    def serve_again():
        first.proc.wait(30)
        again["served"] = Served(clip, port=first.port)

    t = threading.Thread(target=serve_again, daemon=True)
    t.start()
    res = runner.run(first.url, bundle, tmp_path / "re", settings(reconnect=1, stall_timeout=3.0), log=None)
    t.join(30)
    again["served"].__exit__()
    first.__exit__()
    src = res["source"]
    assert src["reconnects"] == 1 and src["stopped"] == "end" and "after 1 reconnect(s)" in src["stopped_why"]
    assert src["delivered"] > FRAMES and len(res["frames"]) > FRAMES  # frames from both servings


def test_a_stop_waits_for_the_frame_being_recorded():
    """Ctrl-C or SIGTERM during one frame's recording lands after it (the MP4 and the JSON then agree), not inside."""
    import os

    for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, recording.Terminated)):
        before = {s: signal.getsignal(s) for s in recording.WholeFrame.SIGNALS}
        signal.signal(signal.SIGTERM, recording.on_sigterm)
        # Python's own Ctrl-C handler: a test run started in the background (nohup, `cmd &`) inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
        steps = []
        try:
            with pytest.raises(raised):
                with recording.WholeFrame():
                    steps.append("mp4 frame")
                    os.kill(os.getpid(), signum)
                    time.sleep(0.05)  # a handler would run here, were it not held
                    steps.append("record")
            assert steps == ["mp4 frame", "record"]
            assert signal.getsignal(signal.SIGTERM) is recording.on_sigterm  # the handlers are put back
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


def test_closing_a_live_source_waits_until_its_reader_has_released_the_capture(monkeypatch):
    """A program must not end while the reader is inside OpenCV's read(): OpenCV and FFmpeg would be torn down under
    a running decoder (a read can take seconds: a slow stream, an emulated board)."""
    events = []

    class SlowCapture:  # one read takes 3 s, as a frame of a stream does under emulation
        def read(self):
            events.append("read")
            time.sleep(3.0)
            events.append("read returned")
            return True, np.zeros((24, 32, 3), np.uint8)

        def release(self):
            events.append("released")

    monkeypatch.setattr(sources, "open_capture", lambda *a, **k: (SlowCapture(), {"size": [32, 24], "fps": 15.0}))
    fs = sources.FrameSource("rtsp://127.0.0.1:9/cam", max_frames=1, stall_timeout=10)
    with fs:
        assert [f.name for f in fs] == ["frame_000000"]  # the reader is inside its second read now
    assert not fs._thread.is_alive() and events[-1] == "released", events
