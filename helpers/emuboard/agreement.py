"""Does the board compute what this PC computes? Cause by cause, on the same frames.

End to end, a board's detections differ from the PC's for two reasons:

* its OpenCV may letterbox differently: the aarch64 pip wheels resize through their own HALs
  (carotene, Arm's KleidiCV), up to one grey level apart on about a quarter of the values;
* its runtime's kernels round differently (onnxruntime on aarch64: outputs within about 1e-5).

How far one grey level moves the detections depends on the model, not on the board: the
workbook's CI measured boxes 0.54 px apart on one run's model and 5 px on another's (a weak
model's box distributions are flat, so a small change of the input moves their expected value a
lot). No single end-to-end tolerance is therefore right. :func:`compare_with_pc` checks each cause
on its own:

1. the board letterboxes the frames, and the PC compares the canvases value by value: equal
   without a HAL, within one grey level with one;
2. the PC runs its own model on the board's canvases: the board's detections must equal those
   within rounding (:data:`~helpers.emuboard.SAME_INPUT`), which is what proves its decode;
3. the end-to-end difference (the PC's own letterbox against the board's run) is measured and
   reported, with its cause, as information.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from . import RESIZE_HAL, SAME_INPUT, tolerance
from .bundle import copied_in

#: inside the board, in the bundle's folder: the runner's own frames of ``samples`` and its own letterbox
_CANVAS_SCRIPT = """\
import sys
import numpy as np
sys.path.insert(0, '.')
from rkdeploy.preprocess import letterbox
from rkdeploy.runner import iter_frames
n, size, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
np.savez(out, **{name: letterbox(img, size)[0] for name, img in iter_frames('samples', max_frames=n)})
"""


def board_canvases(board, bundle, frames: int) -> dict[str, np.ndarray]:
    """The letterboxed canvases of the bundle's first ``frames`` samples, made by the board's own OpenCV."""
    from ..board.records import read_bundle_config

    imgsz = int(read_bundle_config(bundle)["imgsz"])
    with copied_in(board, bundle, "rkcanvas", skip=("*.rknn", "*.onnx", "*.bin", "reference")) as (inside, host):
        (host / "canvas.py").write_text(_CANVAS_SCRIPT)
        r = board.run(f"cd {shlex.quote(inside)} && python3 canvas.py {frames} {imgsz} canvas.npz")
        if r.returncode != 0:
            raise RuntimeError(f"the letterbox on the emulated board {board.name} failed: {r.stderr[-1500:]}")
        with np.load(host / "canvas.npz") as z:
            return {k: z[k] for k in z.files}


def pc_letterbox(bundle, frames: int) -> dict:
    """This PC's letterbox of the bundle's first ``frames`` samples: ``{name: (canvas, Letterbox)}``."""
    from ..board.preprocess import letterbox
    from ..board.records import read_bundle_config
    from ..board.runner import iter_frames

    imgsz = int(read_bundle_config(bundle)["imgsz"])
    return {name: letterbox(img, imgsz) for name, img in iter_frames(Path(bundle) / "samples", max_frames=frames)}


def pc_on_canvases(bundle, canvases: dict, mine: dict, backend: str) -> dict:
    """This PC's model and decode on the given canvases (by frame name), mapped back with the geometry of ``mine``
    (:func:`pc_letterbox`: it depends on the sizes only, not on the resize's pixels): a runner result."""
    from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU
    from ..board.records import read_bundle_config
    from ..board.decode import decoder
    from ..board.runtimes import model_file, open_runtime

    cfg = read_bundle_config(bundle)
    imgsz, labels = int(cfg["imgsz"]), cfg.get("labels", [])
    conf, iou = cfg.get("conf", DEFAULT_CONF), cfg.get("iou", DEFAULT_IOU)
    decode, frames = decoder(cfg, backend), []
    with open_runtime(model_file(bundle, cfg, backend), backend) as rt:
        for name, (_, lb) in mine.items():
            det = decode(rt.run([rt.prepare(canvases[name])]), imgsz, conf, iou, lb)
            frames.append({"source": name, "detections": det.to_records(labels)})
    return {"frames": frames}


def canvas_difference(mine: dict, canvases: dict) -> dict:
    """The board's canvases against this PC's (:func:`pc_letterbox`): largest and share of differing values."""
    diffs = [np.abs(canvases[name].astype(int) - canvas.astype(int)) for name, (canvas, _) in mine.items()]
    return {"max_grey_levels": int(max(int(d.max()) for d in diffs)),
            "share_differing": round(float(np.mean([float((d > 0).mean()) for d in diffs])), 4)}


def compare_with_pc(board, bundle, got: dict, pc: dict, backend: str, conf: float) -> dict:
    """The board's run ``got`` against this PC's ``pc`` (same bundle, frames, backend, thresholds), cause by cause.

    ``ok``: the board's letterbox is the PC's (within one grey level where its OpenCV has a HAL) and its
    detections equal the PC model's on the board's own canvases within rounding (no detection on either side
    agrees too: ``same_input["pairs"]`` says how much was compared).
    """
    from ..board.compare import describe, match_runs

    hal = tolerance(board.stack) == RESIZE_HAL
    canvases, mine = board_canvases(board, bundle, len(got["frames"])), pc_letterbox(bundle, len(got["frames"]))
    letterboxed = {**canvas_difference(mine, canvases), "allowed": 1 if hal else 0}
    same = match_runs(pc_on_canvases(bundle, canvases, mine, backend), got, conf, *SAME_INPUT)
    end_to_end = match_runs(pc, got, conf, *(RESIZE_HAL if hal else SAME_INPUT))
    ok = bool(same["ok"] and letterboxed["max_grey_levels"] <= letterboxed["allowed"])
    text = (f"letterbox: {letterboxed['max_grey_levels']} grey level(s) apart at most (allowed "
            f"{letterboxed['allowed']}), {100 * letterboxed['share_differing']:.0f}% of the values differ; "
            f"on the board's own canvases: {describe(same)}; end to end, the PC's letterbox against the board's run: "
            f"score {end_to_end['max_score_diff']:.2g}, box {end_to_end['max_box_diff']:.2g} px apart at most, "
            f"{len(end_to_end['unpaired'])} unpaired")
    return {"ok": ok, "letterbox": letterboxed, "same_input": same, "end_to_end": end_to_end, "text": text}
