"""Notebook 08's measurements: the pose model on onnxruntime, ncnn (fp32 / fp16, 1 / 2 threads) and the
RKNN simulator (FP16, INT8, INT8 with the keypoint branch in float16), all decoded by ``board.decode.pose`` and
scored by OKS on the same val images; ncnn latency, ReLU against SiLU.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from ..model.metrics import EvalSet, evaluate_pose_outputs, lowest_cosine, output_agreement
from ..toolkit.config import BuildConfig


def export_pose_onnx(weights, out_dir, imgsz: int) -> dict:
    """The trained pose model's two heads as ONNX (``rknn`` and ``ncnn`` layouts), checked."""
    from ..model.export import export_onnx
    from ..model.heads import load_model
    from ..model.pose_head import patch_pose

    base = load_model(weights)
    return {layout: str(export_onnx(patch_pose(base, layout, fuse=True), Path(out_dir) / f"pose_{layout}.onnx", imgsz))
            for layout in ("rknn", "ncnn")}


def runtime_outputs(model, es: EvalSet, backend: str | None = None, **kw) -> tuple[list, float]:
    """Every val image through one runtime (``board.runtimes``): outputs, and the median milliseconds per image."""
    from ..board.runtimes import open_runtime

    outs, ms = [], []
    with open_runtime(model, backend, **kw) as rt:
        for i in range(len(es)):
            x = es.nchw(i)
            t0 = time.perf_counter()
            outs.append(rt.run([x]))
            ms.append(1000 * (time.perf_counter() - t0))
    return outs, round(statistics.median(ms), 2)


def ncnn_table(params: dict, es: EvalSet, ref: list, names, threads=(1, 2)) -> tuple[list[dict], dict]:
    """ncnn runs of the ncnn-layout model: ``params`` {label: (.param, fp16 flags)}, each with 1 and 2 threads.

    Per run: lowest output cosine to onnxruntime (``ref``), max abs difference, pose and box mAP, ms per image.
    Returns the rows and the outputs of each label (its first thread count).
    """
    rows, outs = [], {}
    for label, (param, fp16) in params.items():
        for t in threads:
            o, ms = runtime_outputs(param, es, "ncnn", threads=t, fp16=fp16)
            agree = output_agreement(ref, o, names)
            rows.append({"runtime": label, "threads": t, "ms_per_image": ms,
                         "min_cosine": min(a["cosine"] for a in agree),
                         "max_abs_diff": round(max(a["max_abs_diff"] for a in agree), 6),
                         **evaluate_pose_outputs(o, es, "ncnn")})
            outs.setdefault(label, o)
    return rows, outs


def ncnn_fp16_flag_effect(param, es: EvalSet, images: int = 4) -> float:
    """Largest output difference, same ncnn file, fp16 storage/arithmetic off against on: what the flags
    themselves change on this CPU (ncnn computes fp16 only where the CPU has the instructions for it)."""
    sub = EvalSet(es.images[:images], es.imgsz, es.nc, es.names, es.kpt_shape)
    off, _ = runtime_outputs(param, sub, "ncnn", fp16=False)
    on, _ = runtime_outputs(param, sub, "ncnn", fp16=True)
    return float(max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max()
                     for x, y in zip(off, on) for a, b in zip(x, y)))


def relu_vs_silu_latency(relu_param, silu_param, imgsz: int, threads=(1, 2), runs: int = 50, block: int = 5,
                         warmup: int = 5) -> list[dict]:
    """ReLU and SiLU ncnn models on the same fixed input, per thread count: both loaded, warmed up, then timed in
    alternating blocks of ``block`` runs (so a slow spell of a shared machine hits both), ``runs`` each; the
    medians, their quartiles and the ratio SiLU / ReLU. A benchmark, not a test."""
    from ..board.runtimes import open_runtime

    x = np.random.default_rng(0).uniform(0, 1, (1, 3, imgsz, imgsz)).astype(np.float32)
    rows = []
    for t in threads:
        with open_runtime(relu_param, "ncnn", threads=t) as relu, open_runtime(silu_param, "ncnn", threads=t) as silu:
            models = {"relu": relu, "silu": silu}
            for rt in models.values():
                for _ in range(warmup):
                    rt.run([x])
            ms: dict = {k: [] for k in models}
            while len(ms["silu"]) < runs:
                for k, rt in models.items():
                    for _ in range(min(block, runs - len(ms[k]))):
                        t0 = time.perf_counter()
                        rt.run([x])
                        ms[k].append(1000 * (time.perf_counter() - t0))
        q = {k: np.percentile(v, [25, 50, 75]) for k, v in ms.items()}
        rows.append({"threads": t, "runs": runs, "relu_median_ms": round(float(q["relu"][1]), 2),
                     "silu_median_ms": round(float(q["silu"][1]), 2),
                     "silu_over_relu": round(float(q["silu"][1] / q["relu"][1]), 3),
                     "relu_iqr_ms": [round(float(v), 2) for v in q["relu"][[0, 2]]],
                     "silu_iqr_ms": [round(float(v), 2) for v in q["silu"][[0, 2]]]})
    return rows


def keypoint_layers(onnx, cfg: BuildConfig, dataset, workdir) -> list[str]:
    """The toolkit's layer names of the keypoint branch (``cv4``): what a hybrid build keeps in float16."""
    from ..toolkit.jobs import hybrid_layer_names

    # tensors only: with per-layer quantization the config also lists the weights ("model.22.cv4.0.0.conv.weight"),
    # which custom_quantize_layers refuses
    return [n for n in hybrid_layer_names(onnx, cfg, dataset, workdir) if "/cv4" in n]


def rknn_pose_builds(onnx, es: EvalSet, ref: list, names, int8_cfg: BuildConfig, dataset, out_dir) -> list[dict]:
    """The rknn-layout pose ONNX on the simulator: FP16, INT8, and INT8 with the keypoint branch in float16.

    Per build: .rknn MB, lowest cosine over box / class / keypoint outputs, pose and box mAP.
    """
    from ..toolkit.jobs import simulate

    out_dir = Path(out_dir)
    kpt_layers = keypoint_layers(onnx, int8_cfg, dataset, out_dir / "work" / "hybrid_names")
    builds = [("FP16", BuildConfig(target=int8_cfg.target)), ("INT8", int8_cfg)]
    if kpt_layers:
        import dataclasses

        builds.append(("INT8, keypoint branch float16", dataclasses.replace(int8_cfg, float_layers=tuple(kpt_layers))))
    rows = []
    for label, cfg in builds:
        rknn = out_dir / f"pose_{cfg.name}.rknn"
        res = simulate(onnx, cfg, es.nhwc(), dataset=dataset if cfg.quantize else None, rknn_out=rknn,
                       workdir=out_dir / "work")
        agree = {a["output"]: a["cosine"] for a in output_agreement(ref, res["outputs"], names)}
        by_kind = {k: lowest_cosine(agree, k) for k in ("box_dfl", "cls_prob", "kpt_raw")}
        rows.append({"build": label, "config": cfg.name, "rknn_MB": round(res["rknn_bytes"] / 2**20, 3),
                     "min_box_cosine": by_kind["box_dfl"], "min_cls_cosine": by_kind["cls_prob"],
                     "min_kpt_cosine": by_kind["kpt_raw"], "float_layers": len(cfg.float_layers),
                     "build_s": res["build_seconds"], "cosine": agree, "rknn": str(rknn),
                     **evaluate_pose_outputs(res["outputs"], es, "rknn")})
    return rows


def torch_outputs(weights, es: EvalSet, layout: str = "rknn") -> list:
    """The patched pose model in torch on every val image (the reference before any export)."""
    import torch

    from ..model.heads import load_model
    from ..model.pose_head import patch_pose

    m = patch_pose(load_model(weights), layout, fuse=True)
    with torch.no_grad():
        return [[o.numpy() for o in m(torch.from_numpy(es.nchw(i)))] for i in range(len(es))]


def pose_int8_config(run_dir, target: str = "rk3588") -> BuildConfig:
    """The INT8 settings 05 chose for the detector (algorithm, method), without its layer lists, which name
    the detector's layers; the toolkit's defaults when 05 has not run."""
    import dataclasses

    from ..runfolder.artifacts import metrics_path, read_metrics

    if metrics_path(run_dir, "05_quantize").is_file():
        ship = read_metrics(run_dir, "05_quantize").get("ship")
        if ship:
            return dataclasses.replace(BuildConfig.from_dict(ship["config"]), float_layers=(), auto_hybrid=False)
    return BuildConfig(target=target, quantize=True)


def runtime_table(rows: dict) -> list[dict]:
    """One model, several runtimes: ``{label: {"pose_mAP50", "pose_mAP50_95", "box_mAP50", "MB"}}`` as rows."""
    return [{"runtime": k, **{m: v.get(m) for m in ("pose_mAP50", "pose_mAP50_95", "box_mAP50", "MB")}}
            for k, v in rows.items()]


def runner_detections(model, video, cfg: dict, backend: str, imgsz: int, conf: float, iou: float) -> dict:
    """What the bundle's runner should write for ``video``: every frame (as OpenCV decodes it) through
    ``board.runtimes`` and the runner's own ``detect``, in the notebook's process; the runner's JSON layout."""
    from ..board.decode import decoder
    from ..board.runner import detect, iter_frames
    from ..board.runtimes import open_runtime

    decode, labels = decoder(cfg, backend), cfg.get("labels", [])
    frames = []
    with open_runtime(model, backend) as rt:
        for name, frame in iter_frames(video):
            det = detect(rt, frame, imgsz, conf, iou, decode=decode)
            frames.append({"source": name, "size": [int(frame.shape[1]), int(frame.shape[0])],
                           "detections": det.to_records(labels)})
    return {"frames": frames}


def pose_bundle(out_dir, rknn, onnx, ncnn: dict, calibration_txt, info, imgsz: int, conf: float, iou: float,
                target: str, skeleton=(), samples: int = 3) -> Path:
    """The 07 bundle for the pose model: INT8 .rknn, its rknn-layout ONNX, the ncnn model; ``config.json``
    says ``task: pose``, the keypoint shape, the skeleton and where the ncnn model is; ``samples`` val images
    and their self-test reference (``run.py --selftest``)."""
    from ..deploy.bundles import add_samples, build_bundle
    from ..model.pose_head import pose_output_names

    bundle = build_bundle(out_dir, rknn, onnx, calibration_txt, info.names, imgsz, conf, iou, target=target,
                          output_names=pose_output_names("rknn"),
                          extra_files={"model.ncnn.param": ncnn["param"], "model.ncnn.bin": ncnn["bin"]},
                          extra_config={"task": "pose", "kpt_shape": list(info.kpt_shape), "layout": "rknn",
                                        "skeleton": [list(e) for e in skeleton], "ncnn": "model.ncnn.param"})
    add_samples(bundle, info.splits["val"][:samples], reference=samples)
    return bundle


def run_deployed(bundle, video, out_dir, backends=("ncnn", "simulator")) -> dict:
    """The bundle's runner as a separate program on ``video`` per backend, writing its annotated MP4; each result
    against what this process computes on the same decoded frames (:func:`runner_detections`)."""
    from ..board.records import read_bundle_config
    from ..deploy.bundles import detections_equal, run_here

    cfg, bundle, out = read_bundle_config(bundle), Path(bundle), {}
    for backend in backends:
        d = Path(out_dir) / backend
        res = run_here(bundle, video, d, "--backend", backend, "--video", str(d / "annotated.mp4"), "--no-images")
        mine = runner_detections(bundle / cfg["ncnn" if backend == "ncnn" else "model"], video, cfg, backend,
                                 int(cfg["imgsz"]), cfg["conf"], cfg["iou"])
        out[backend] = {"frames": len(res["frames"]), "frames_per_second": res["frames_per_second"],
                        "objects": sum(len(f["detections"]) for f in res["frames"]),
                        "video_MB": round((d / "annotated.mp4").stat().st_size / 2**20, 3),
                        "equals_notebook": detections_equal(res, mine)}
    return out
