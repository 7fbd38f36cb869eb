"""Notebook 07's board section and 08's fp16 measurement, against the emulated board.

:func:`board_section` is what 07 does with a real board, over SSH exactly as a board is reached:
connect, read the versions (the device tree names the SoC; ``librknnrt.so`` is absent, so the NPU
check says what a real board would need), push the bundle, run it (onnx backend: everything but
the NPU), pull the results, and compare them with the same runner on this PC, frames and
thresholds equal, cause by cause (:func:`~helpers.emuboard.agreement.compare_with_pc`: the letterbox
value by value, then the detections on the board's own canvases, then end to end as information).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..board.postprocess import DEFAULT_CONF
from ..emuboard import EmulatedBoard
from ..emuboard.agreement import compare_with_pc


def parse_spec(spec: str) -> tuple[str, str]:
    """``"bullseye/pip"`` -> ("bullseye", "pip")."""
    suite, _, profile = spec.partition("/")
    return suite.strip(), (profile.strip() or "pip")


def board_section(bundle, out_dir, spec: str = "bullseye/pip", frames: int = 2, backend: str = "onnx") -> dict:
    """07's section 5 on the emulated board ``spec`` (suite/profile), over SSH; what the notebook records."""
    from . import device, on_board
    from ..board.records import read_bundle_config
    from .bundles import run_here
    from ..emuboard.sshd import ssh_server

    bundle, out_dir = Path(bundle), Path(out_dir)
    cfg = read_bundle_config(bundle)
    suite, profile = parse_spec(spec)
    board = EmulatedBoard(suite, profile, soc=cfg.get("target", "rk3588"), build=False)  # built by setup
    if backend not in board.backends:
        raise ValueError(f"the {board.name} profile has no {backend} backend (it has {', '.join(board.backends)}); "
                         "choose another EMULATED_BOARD")
    with ssh_server(board) as addr:
        res = on_board.run_on_board(bundle, out_dir / "board", ssh=addr.target, key_file=addr.key_file,
                                  trust_new_host=True, backend=backend, cores=1, max_frames=frames)
    try:
        device.check_versions(device.BoardVersions(**res["versions"]), cfg.get("toolkit_version") or "?",
                              cfg.get("target"))
        npu = "matches"
    except device.VersionMismatch as e:
        npu = str(e)
    pc = run_here(bundle, bundle / "samples", out_dir / "pc", "--backend", backend, "--max-frames", str(frames),
                    "--no-images")
    got = json.loads((out_dir / "board" / "detections.json").read_text())
    agreed = compare_with_pc(board, bundle, got, pc, backend, cfg.get("conf", DEFAULT_CONF))
    m = agreed["same_input"]
    stack = {k: board.stack.get(k) for k in ("python", "numpy", "cv2", "onnxruntime", "ncnn", "opencv_hal")}
    timed = {f"emulated_{k}": res[k] for k in ("timings", "frames_per_second")}  # never a board's figure
    # how much slower emulation is than this PC, same runner, same backend, same frames (inference medians)
    native, emulated = pc["timings"]["inference_ms"]["median"], res["timings"]["inference_ms"]["median"]
    timed["emulation_factor"] = round(emulated / max(native, 1e-9), 1)
    return {**{k: v for k, v in res.items() if k not in ("stdout", "timings", "frames_per_second")}, **timed,
            "emulated": True, "board": board.name,
            "soc": board.soc, "stack": stack, "npu_check": npu, "frames": frames,
            "comparison": m, "letterbox": agreed["letterbox"], "end_to_end": agreed["end_to_end"],
            "comparison_text": agreed["text"], "equals_pc": agreed["ok"],
            "note": "times under emulation (about 350x slower than native) are not board times"}


#: runs inside the board: the bundle's own NcnnRuntime over the PC's input tensors, fp16 arithmetic off then on
_FP16_SCRIPT = """
import sys, json, numpy as np, ncnn
sys.path.insert(0, '/b')
from rkdeploy.runtimes.ncnn import NcnnRuntime
x = np.load('/io/inputs.npy')
out = {}
for fp16 in (False, True):
    rt = NcnnRuntime('/b/' + sys.argv[1], threads=1, fp16=fp16)
    for i in range(len(x)):
        for k, o in enumerate(rt.run([x[i:i + 1]])):
            out[f'{int(fp16)}_{i}_{k}'] = o
    rt.close()
np.savez('/io/outputs.npz', **out)
print(json.dumps({'asimdhp': bool(ncnn.cpu_support_arm_asimdhp())}))
"""


def ncnn_fp16_on_arm(bundle, es, spec: str = "bullseye/pip", work=None) -> dict:
    """ncnn with fp16 storage and arithmetic off vs on, on the emulated Cortex-A76, on this PC's exact input tensors
    (the pose bundle's ncnn model): the largest output difference per output, and pose mAP (OKS) of each setting on
    ``es`` (an :class:`~helpers.model.metrics.EvalSet`) against its labels. Emulation computes what the A76's fp16 units
    compute, not how fast: no time is recorded."""
    import shutil
    import tempfile

    import numpy as np

    from ..board.records import read_bundle_config
    from ..model.metrics import evaluate_pose_outputs

    bundle = Path(bundle)
    cfg = read_bundle_config(bundle)
    board = EmulatedBoard(*parse_spec(spec), build=False)  # built by setup
    io = Path(tempfile.mkdtemp(prefix="ncnn-fp16-", dir=work))
    try:
        np.save(io / "inputs.npy", np.concatenate([es.nchw(i) for i in range(len(es))]))
        (io / "run.py").write_text(_FP16_SCRIPT)
        r = board.run(f"python3 /io/run.py {cfg['ncnn']}", binds={str(bundle): "/b", str(io): "/io"})
        if r.returncode != 0:
            raise RuntimeError(f"ncnn on the emulated board {board.name} failed:\n{r.stderr[-1500:]}")
        cpu = json.loads(r.stdout.strip().splitlines()[-1])
        with np.load(io / "outputs.npz") as z:
            n_out = len({key.split("_")[2] for key in z.files})
            outs = {fp: [[z[f"{fp}_{i}_{k}"] for k in range(n_out)] for i in range(len(es))] for fp in (0, 1)}
    finally:
        shutil.rmtree(io, ignore_errors=True)
    diff = [max(float(np.abs(a[k] - b[k]).max()) for a, b in zip(outs[0], outs[1])) for k in range(n_out)]
    scale = [max(float(np.abs(a[k]).max()) for a in outs[0]) for k in range(n_out)]
    maps = {name: evaluate_pose_outputs(outs[fp], es, layout="ncnn") for name, fp in (("fp32", 0), ("fp16", 1))}
    return {"board": board.name, "cpu": {"qemu_cpu": "cortex-a76", **cpu}, "images": len(es),
            "max_abs_diff": round(max(diff), 5), "max_abs_diff_per_output": [round(d, 5) for d in diff],
            "largest_output_value": round(max(scale), 3), "pose": maps,
            "pose_mAP50_95_change": round(maps["fp16"]["pose_mAP50_95"] - maps["fp32"]["pose_mAP50_95"], 4)}
