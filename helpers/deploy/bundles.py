"""Build the self-contained deploy bundle and run its runner (PC side).

A bundle folder holds everything a board needs, and everything the PC needs to run the very
same runner against the simulator::

    bundle/
      run.py                 the runner (python3 run.py --help)
      config.json            input size, thresholds, output layout, labels, toolkit version
      labels.txt
      model.rknn             the INT8 model for the board
      model.rknn.json        its build record (config, ONNX, calibration list: relative paths)
      model.onnx             the float model: onnx backend, and the simulator's rebuild
      calibration/           the calibration images + dataset.txt (the simulator's INT8 rebuild)
      samples/, reference/   a few images, and the ONNX outputs and detections the PC made of them
                             (python3 run.py --selftest: the board's numpy/OpenCV decode them alike)
      rkdeploy/              a verbatim copy of helpers/board/: every module that runs on the
                             board (numpy + OpenCV + the standard library), nothing else
      README.txt             what to type on the board
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..board.atomic import atomic_path, atomic_write_text, commit, write_json
from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU
from ..board.records import file_digest

#: the board subpackage, copied verbatim into every bundle under this name
BOARD_DIR = Path(__file__).resolve().parents[1] / "board"
BUNDLE_PACKAGE = "rkdeploy"
RUN_PY = '''#!/usr/bin/env python3
"""Deploy-bundle runner: python3 run.py --help"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rkdeploy.cli import main  # noqa: E402

if __name__ == "__main__":
    code = main(bundle_default=str(Path(__file__).resolve().parent))
    # everything is written and closed by now: end without the interpreter's teardown of the native libraries
    # (under emulation, onnxruntime 1.32's on Debian 12 crashed there after the results were written)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
'''


def build_bundle(out_dir, rknn, onnx, calibration_txt, labels, imgsz: int, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                 target: str = "rk3588", output_names=None, toolkit_version: str | None = None,
                 extra_files: dict | None = None, extra_config: dict | None = None) -> Path:
    """Write a bundle folder (replaced as a whole: built in a temp folder, then renamed into place).

    ``extra_files`` {name in the bundle: source file} and ``extra_config`` (merged into ``config.json``) carry
    what a pose bundle adds: ``task``, ``kpt_shape``, ``skeleton``, and its ncnn model (``"ncnn": "model.ncnn.param"``).
    """
    from ..toolkit.calibration import read_calibration_list
    from ..toolkit.jobs import load_build_record

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    shutil.copytree(BOARD_DIR, tmp / BUNDLE_PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (tmp / "run.py").write_text(RUN_PY)
    os.chmod(tmp / "run.py", 0o755)
    shutil.copy2(rknn, tmp / "model.rknn")
    shutil.copy2(onnx, tmp / "model.onnx")
    for name, src in (extra_files or {}).items():
        shutil.copy2(src, tmp / name)
    # calibration images with a relative list, so the simulator can rebuild the INT8 model anywhere
    cal = tmp / "calibration"
    cal.mkdir()
    names = []
    for src in read_calibration_list(calibration_txt):
        shutil.copy2(src, cal / src.name)
        names.append(src.name)
    (cal / "dataset.txt").write_text("".join(f"{n}\n" for n in names))
    rec = load_build_record(rknn)
    write_json(tmp / "model.rknn.json", {"config": rec["config"].to_dict(), "onnx": "model.onnx",
                                         "dataset": "calibration/dataset.txt", "toolkit": rec.get("toolkit")})
    cfg = {"model": "model.rknn", "onnx": "model.onnx", "imgsz": int(imgsz), "conf": conf, "iou": iou,
           "labels": list(labels), "target": target, "input": "NHWC uint8 RGB, letterboxed (pad 114)",
           "outputs": list(output_names or []), "score_sum": any(n.startswith("score_sum") for n in output_names or []),
           "toolkit_version": rec.get("toolkit") or toolkit_version, "quantization": rec["config"].name,
           **(extra_config or {})}
    # every model file's size and SHA-256: the runner refuses a cut or damaged copy before loading it
    cfg["files"] = {n: file_digest(tmp / n) for n in ["model.rknn", "model.onnx", *(extra_files or {})]}
    write_json(tmp / "config.json", cfg)
    (tmp / "labels.txt").write_text("".join(f"{n}\n" for n in labels))
    (tmp / "README.txt").write_text(board_instructions(cfg))
    return commit(tmp, out_dir)


def board_instructions(cfg: dict) -> str:
    from ..board.targets import SOCS

    v = cfg.get("toolkit_version") or "<toolkit version>"
    soc = SOCS[cfg["target"]]
    pose = cfg.get("task") == "pose"
    video_line = (f"python3 run.py video.mp4 --backend rknnlite --cores {soc.npu_cores} --video out/annotated.mp4 --out out/"
                  if pose else f"python3 run.py video.mp4 --backend rknnlite --cores {soc.npu_cores} --tile {cfg['imgsz']} "
                               "--overlap 64 --video out/annotated.mp4 --out out/")
    ncnn_line = ("\nWith ncnn instead of the NPU (any ARM board or phone CPU; pip3 install ncnn):\n"
                 "  python3 run.py video.mp4 --backend ncnn --video out/annotated.mp4 --out out/\n"
                 if cfg.get("ncnn") else "")
    return f"""YOLOv8{" pose" if pose else ""} RKNN deploy bundle ({cfg['quantization']}, {cfg['imgsz']}x{cfg['imgsz']}, target {cfg['target']})

On the board ({soc.describe()}; a Debian/Ubuntu image, Python 3 with numpy and opencv-python;
run.py refuses a board whose device tree names another SoC):
  pip3 install rknn_toolkit_lite2-{v}-*-aarch64.whl   # from the rknn-toolkit2 {v} release, matching the board's Python
  cat /proc/device-tree/compatible                      # must name {cfg['target']}
  strings /usr/lib/librknnrt.so | grep "librknnrt version"   # must say {v}; else copy that release's
                                                        # rknpu2/runtime/Linux/librknn_api/aarch64/librknnrt.so there
  python3 run.py images/ --backend rknnlite --cores {soc.npu_cores} --out out/
  {video_line}

A camera or a network stream (the newest frame is processed, stale ones are dropped and counted; the
last line says whether the source or the pipeline limits the frame rate; Ctrl-C ends it cleanly):
  python3 run.py /dev/video0 --backend rknnlite --cores {soc.npu_cores} --camera-size 1280x720 --camera-fps 30 \\
      --camera-fourcc MJPG --seconds 60 --no-images --video out/camera.mp4     # prints what the camera granted
  python3 run.py rtsp://user:password@camera-address/stream1 --backend rknnlite --cores {soc.npu_cores} \\
      --reconnect 3 --no-images --out out/
{ncnn_line}
Fix the clocks before measuring (as root), so figures are comparable between runs:
  echo performance > /sys/class/devfreq/fdab0000.npu/governor
  for c in /sys/devices/system/cpu/cpufreq/policy*; do echo performance > $c/scaling_governor; done

From the PC instead (board on USB, adb, rknn_server running on the board):
  python3 run.py images/ --backend toolkit
On a PC without a board (the toolkit's simulator, rebuilt from model.onnx + model.rknn.json):
  python3 run.py images/ --backend simulator

Before the NPU, on any board: does its numpy and OpenCV decode exactly as the PC did? (no runtime needed)
  python3 run.py --selftest
{tested_stacks()}"""


def tested_stacks() -> str:
    """The board Python stacks this bundle is proven with (the emulated board's recipe: exactly what was installed)."""
    from ..emuboard.recipe import PROFILE_BACKENDS, PROFILES, SUITES, SYSTEM_SITE

    out = ["", "Python stacks proven on an emulated RK3588 (Debian's arm64 userland under qemu, Cortex-A76), each with",
           "the backends it runs (rknnlite: up to the board's librknnrt.so):"]
    for name, s in SUITES.items():
        for prof in PROFILES:
            pins = " ".join(PROFILES[prof][name])
            numpy = next((p.split("==")[1] for p in PROFILES[prof][name] if p.startswith("numpy==")), s.numpy)
            opencv = next((p.split("==")[1] for p in PROFILES[prof][name] if p.startswith("opencv")), s.opencv)
            apt = "python3-venv" + (" python3-numpy python3-opencv" if SYSTEM_SITE[prof] else "")
            venv = "python3 -m venv" + (" --system-site-packages" if SYSTEM_SITE[prof] else "")
            out += [f"  {s.label}, {'Debian' + chr(39) + 's own' if SYSTEM_SITE[prof] else 'pip wheels:'} numpy "
                    f"{numpy}, OpenCV {opencv}; backends {', '.join(PROFILE_BACKENDS[(name, prof)])}",
                    f"    sudo apt install {apt}",
                    f"    {venv} ~/rk && . ~/rk/bin/activate && pip install {pins}"]
    out += ["  Debian 11's own numpy (1.19.5) is too old for onnxruntime (it needs >= 1.21.6): there, use rknnlite or",
            "  ncnn, or the pip-wheel stack. The pip wheels' OpenCV resizes through its KleidiCV/carotene HAL, so its",
            "  letterbox differs from the PC's by up to one grey level: scores move by less than 0.01, boxes by less",
            "  than 1 px (measured); Debian's own OpenCV letterboxes exactly as the PC does."]
    return "\n".join(out) + "\n"


def add_samples(bundle, images, reference: int = 3) -> Path:
    """Copy sample images into ``bundle/samples`` and write the self-test reference of the first ``reference``."""
    samples = copy_inputs(images, Path(bundle) / "samples")
    add_reference(bundle, reference)
    return samples


def add_reference(bundle, images: int = 3) -> Path:
    """The bundle's self-test reference (``python3 run.py --selftest`` on a board): the ONNX model's raw outputs on
    the first ``images`` samples (stored float16) and the detections this PC decodes from exactly those values."""
    from ..board import decode, inputs, selftest
    from ..board.preprocess import letterbox, load_image
    from ..board.records import read_bundle_config
    from ..board.runtimes.onnx import OnnxRuntime

    bundle = Path(bundle)
    cfg = read_bundle_config(bundle)
    imgsz, conf, iou = int(cfg["imgsz"]), cfg.get("conf", DEFAULT_CONF), cfg.get("iou", DEFAULT_IOU)
    decode_outputs = decode.decoder(cfg, "onnx")
    files = sorted(f for f in (bundle / "samples").iterdir() if f.suffix.lower() in inputs.IMAGE_SUFFIXES)[:images]
    frames = []
    with OnnxRuntime(bundle / cfg["onnx"]) as rt:
        for f in files:
            canvas, lb = letterbox(load_image(f), imgsz)
            outs = selftest.rounded(rt.infer(canvas))
            frames.append({"source": f.stem, "file": f"samples/{f.name}", "outputs": outs,
                           "detections": decode_outputs(outs, imgsz, conf, iou, lb).to_records(cfg.get("labels", []))})
    return selftest.save_reference(bundle, frames)


def run_here(bundle, source, out_dir, *args: str, python: str | None = None, timeout: float = 1800) -> dict:
    """Run the bundle's ``run.py`` on this PC, as a separate program (exactly as on a board); return its JSON.
    (On the emulated board: :func:`helpers.emuboard.bundle.run_emulated`; on a real one: :mod:`.on_board`.)"""
    cmd = [python or sys.executable, str(Path(bundle) / "run.py"), str(source), "--out", str(out_dir), *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the bundle must stand alone
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(bundle))
    if proc.returncode != 0:
        raise RuntimeError(f"the runner failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads((Path(out_dir) / "detections.json").read_text())
    res["stdout"] = proc.stdout
    return res


def detections_equal(a: dict, b: dict, box_tol: float = 0.05, score_tol: float = 1e-4) -> bool:
    """Two runner results list the same detections, frame by frame (within rounding)."""
    if len(a["frames"]) != len(b["frames"]):
        return False
    for fa, fb in zip(a["frames"], b["frames"]):
        if fa["source"] != fb["source"] or len(fa["detections"]) != len(fb["detections"]):
            return False
        for da, db in zip(fa["detections"], fb["detections"]):
            if da["class"] != db["class"] or abs(da["score"] - db["score"]) > score_tol:
                return False
            if max(abs(x - y) for x, y in zip(da["box"], db["box"])) > box_tol:
                return False
            if ("keypoints" in da) != ("keypoints" in db):
                return False
            for ka, kb in zip(da.get("keypoints", []), db.get("keypoints", [])):
                if max(abs(ka[0] - kb[0]), abs(ka[1] - kb[1])) > box_tol or abs(ka[2] - kb[2]) > score_tol:
                    return False
    return True


def write_video(images, dest, size=(384, 288), fps: float = 5.0) -> Path:
    """A short MP4 made of ``images``, each letterboxed onto ``size`` (width, height): a demo input for the runner."""
    import cv2

    from ..board.preprocess import letterbox, load_image

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    with atomic_path(dest) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (int(w), int(h)))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write an MP4 at {tmp}")
        try:
            for p in images:
                writer.write(letterbox(load_image(p), (int(h), int(w)))[0])
        finally:
            writer.release()
    return Path(dest)


def copy_inputs(images, target_dir) -> Path:
    """Copy images into a folder for the runner (replaced as a whole)."""
    target_dir = Path(target_dir)
    if target_dir.exists():
        shutil.rmtree(target_dir)
    target_dir.mkdir(parents=True)
    for p in images:
        shutil.copy2(p, target_dir / Path(p).name)
    atomic_write_text(target_dir / ".list", "".join(f"{Path(p).name}\n" for p in images))
    return target_dir


def records_of(frames_dets: list[tuple[str, object]], labels) -> dict:
    """The runner's JSON shape for detections computed in the notebook (for comparison)."""
    return {"frames": [{"source": n, "detections": d.to_records(labels)} for n, d in frames_dets]}


def describe(bundle) -> list[dict]:
    rows = []
    for f in sorted(Path(bundle).rglob("*")):
        if f.is_file():
            rows.append({"file": str(f.relative_to(bundle)), "KB": round(f.stat().st_size / 1024, 1)})
    return rows


def compose_frame(info, size=(1920, 1080), n: int = 12, seed: int = 0, split: str = "val"):
    """A large frame pasted together from dataset images at their native size, with its boxes.

    Returns (frame BGR, gt boxes xyxy in frame pixels, gt classes): a stand-in for a camera frame
    much larger than the model input, to measure what tiling recovers.
    """
    import cv2
    import numpy as np

    from ..model.labels import labels_to_xyxy, load_labels

    w, h = size
    rng = np.random.default_rng(seed)
    frame = np.full((h, w, 3), 114, np.uint8)
    paths = list(info.splits[split])
    boxes, classes = [], []
    cols = max(1, int(round((n * w / h) ** 0.5)))
    rows = int(np.ceil(n / cols))
    cell_w, cell_h = w // cols, h // rows
    for k in range(min(n, len(paths))):
        p = paths[int(rng.integers(len(paths)))]
        img = cv2.imread(str(p))
        ih, iw = img.shape[:2]
        scale = min(cell_w / iw, cell_h / ih, 1.0)
        if scale < 1.0:
            img = cv2.resize(img, (int(iw * scale), int(ih * scale)))
            ih, iw = img.shape[:2]
        x0 = (k % cols) * cell_w + (cell_w - iw) // 2
        y0 = (k // cols) * cell_h + (cell_h - ih) // 2
        frame[y0:y0 + ih, x0:x0 + iw] = img
        lab = load_labels(p, info.nc, info.kpt_shape)
        boxes += (labels_to_xyxy(lab, iw, ih) + np.array([x0, y0, x0, y0], np.float32)).tolist()
        classes += lab[:, 0].astype(int).tolist()
    return frame, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def recall(result_frame: dict, gt_boxes, gt_classes, iou: float = 0.5) -> dict:
    """How many ground-truth boxes a runner frame result found (same class, IoU >= ``iou``)."""
    import numpy as np

    from ..board.postprocess import box_iou

    dets = result_frame["detections"]
    if not len(gt_boxes):
        return {"objects": 0, "found": 0, "detections": len(dets), "recall": None}
    if not dets:
        return {"objects": len(gt_boxes), "found": 0, "detections": 0, "recall": 0.0}
    b = np.asarray([d["box"] for d in dets], np.float32)
    c = np.asarray([d["class"] for d in dets])
    m = box_iou(np.asarray(gt_boxes, np.float32), b)
    m[np.asarray(gt_classes)[:, None] != c[None, :]] = 0
    found = int((m.max(1) >= iou).sum())
    return {"objects": len(gt_boxes), "found": found, "detections": len(dets), "recall": round(found / len(gt_boxes), 3)}


def board_commands(address: str, board_dir: str, bundle, backend: str = "rknnlite", cores: int = 3,
                   conf: float = DEFAULT_CONF) -> str:
    """What a user with a board types: copy ``bundle`` (this run's), check the runtime, run it (SSH or adb).

    ``address`` is the board's SSH address (``user@host``).
    """
    run = f"cd {board_dir} && python3 run.py samples --backend {backend} --cores {cores} --conf {conf} --out out"
    return (f"# over SSH (Debian/Ubuntu images)\n"
            f"scp -r {bundle} {address}:{board_dir}\n"
            f"ssh {address} 'strings /usr/lib/librknnrt.so | grep \"librknnrt version\"'\n"
            f"ssh {address} '{run}'\n"
            f"scp -r {address}:{board_dir}/out ./board_out\n\n"
            f"# over adb (USB)\n"
            f"adb push {bundle} {board_dir}\n"
            f"adb shell '{run}'\n"
            f"adb pull {board_dir}/out ./board_out\n")


