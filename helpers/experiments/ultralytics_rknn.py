"""ultralytics' own ``format="rknn"`` export, run as its users run it (on the rknn-toolkit2 release it asks for,
in a child process), and read back as one of 09's paths."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..toolkit.config import BuildConfig
from .peers import PathSpec


# --------------------------------------------------------------------------- ultralytics' own export
def _ultralytics_job(log_file: str, weights: str, imgsz: int, target: str, quantize: int, data: str,
                     out_dir: str) -> dict:
    """In the toolkit release's child: ``YOLO(weights).export(format="rknn", ...)`` as its users call it, keeping a
    copy of the ONNX it hands to the toolkit (it deletes its INT8 ONNX afterwards) so the simulator can build the same
    graph. The copy is taken by a wrapper around ``ultralytics.utils.export.rknn.onnx2rknn`` that only observes."""
    import helpers  # noqa: F401  (ultralytics offline, before it is imported)
    import ultralytics.utils.export.rknn as urk
    from ultralytics import YOLO

    out = Path(out_dir)
    seen: dict = {}
    original = urk.onnx2rknn

    def observed(onnx_file, *args, **kwargs):
        keep = out / f"ultralytics_{'int8' if quantize == 8 else 'fp16'}.onnx"
        shutil.copyfile(onnx_file, keep)
        seen.update(onnx=str(keep), dataset=str(kwargs.get("dataset") or "") or None)
        t0 = time.perf_counter()
        try:
            return original(onnx_file, *args, **kwargs)
        finally:
            seen["toolkit_seconds"] = round(time.perf_counter() - t0, 2)

    urk.onnx2rknn = observed
    t0 = time.perf_counter()
    try:
        YOLO(weights).export(format="rknn", name=target, quantize=quantize, data=data, imgsz=imgsz, batch=1)
        error = None
    except Exception as e:  # noqa: BLE001 - the user's one-liner failing is a result
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        error = f"{type(e).__name__}: {lines[-1].strip() if lines else ''}"[:400]
    finally:
        urk.onnx2rknn = original
    rknns = sorted(Path(weights).parent.rglob("*.rknn"))
    from ..toolkit.config import toolkit_version

    return {"built": error is None and bool(rknns), "error": error, "rknn": str(rknns[0]) if rknns else None,
            "rknn_bytes": rknns[0].stat().st_size if rknns else None, "seconds": round(time.perf_counter() - t0, 1),
            "toolkit": toolkit_version(), **seen}


def ultralytics_export(weights, imgsz: int, target: str, quantize: int, calibration_images, names: list, out_dir,
                       toolkit: str = "") -> dict:
    """ultralytics' ``format="rknn"`` export of ``weights`` (a copy, so nothing lands next to the original), run in
    the environment of rknn-toolkit2 ``toolkit`` ("" = the pinned one). INT8 calibrates on ``calibration_images``
    (ultralytics takes its ``val`` split by default: a data.yaml whose val lists them). Returns what happened:
    built or the error, the kept ONNX, the calibration list it wrote, seconds, the toolkit release."""
    import yaml

    from ..board.atomic import atomic_write_text
    from ..toolkit.isolation import run_isolated
    from ..toolkit.versions import python_for

    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    w = out / Path(weights).name
    shutil.copy2(weights, w)
    data = out / "calibration.yaml"
    lst = out / "calibration_images.txt"
    (out / "images").mkdir()
    copies = []  # its own copies: ultralytics writes a labels.cache beside the images it scans
    for k, src in enumerate(calibration_images):
        copies.append(out / "images" / f"{k:04d}_{Path(src).name}")
        shutil.copy2(src, copies[-1])
    atomic_write_text(lst, "".join(f"{p}\n" for p in copies))
    atomic_write_text(data, yaml.safe_dump({"path": str(out), "train": str(lst), "val": str(lst),
                                            "names": {i: str(n) for i, n in enumerate(names)}}, sort_keys=False))
    res = run_isolated(_ultralytics_job, out / "work", out / "export.log", python=python_for(toolkit),
                       weights=str(w), imgsz=int(imgsz), target=target, quantize=int(quantize), data=str(data),
                       out_dir=str(out))
    res["log"] = str(out / "export.log")
    res["calibration_list"] = str(lst)
    return res


def ultralytics_exports(weights, imgsz: int, target: str, calibration_images, names: list, out_dir, toolkits,
                        fp16: bool = True) -> tuple[list[dict], list[str]]:
    """:func:`ultralytics_export` INT8 on every release in ``toolkits`` ("" = the pinned one) that is set up here, and
    FP16 too on the first (``fp16``). Returns the exports (each with ``quantize`` and ``release``: "" for the pinned
    one) and the releases not set up."""
    from ..toolkit.versions import pinned, split_ready

    ready, missing = split_ready([t or pinned() for t in toolkits])
    exports = []
    for k, tk in enumerate(ready):
        tk = "" if tk == pinned() else tk
        for q in ([8, 16] if fp16 and k == 0 else [8]):
            e = ultralytics_export(weights, imgsz, target, q, calibration_images, names,
                                   Path(out_dir) / f"ultralytics_{tk or 'pinned'}_{q}", toolkit=tk)
            exports.append({**e, "quantize": q, "release": tk})
    return exports, missing


def ultralytics_path(export: dict, target: str, quantize: int, toolkit: str, calibration: str) -> PathSpec | None:
    """The simulator's build of the graph ultralytics exported (its settings: mean 0, std 255, the toolkit's
    default quantization, which BuildConfig's defaults are), or None when no ONNX was handed to the toolkit."""
    if not export.get("onnx"):
        return None
    tk = toolkit or "pinned"
    how = "as exported" if export["built"] else "its export fails on this release; built with the graph rule the toolkit names disabled"
    return PathSpec(label=f"ultralytics format=rknn {'INT8' if quantize == 8 else 'FP16'}, toolkit {export.get('toolkit') or tk}",
                    family="ultralytics", onnx=export["onnx"],
                    cfg=BuildConfig(target=target, quantize=quantize == 8, toolkit=toolkit),
                    layout="decoded_normalised" if quantize == 8 else "decoded", dataset=export.get("dataset"),
                    calibration=calibration if quantize == 8 else "-", note=how,
                    extra={"export_built": export["built"], "export_error": export.get("error")})
