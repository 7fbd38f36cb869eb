"""What the notebooks ask of the toolkit, each as a child-side job next to its parent-side call.

A parent-side call (``simulate``, ``accuracy_analysis``, ...) runs its job in a child process
(:func:`.isolation.run_isolated`) and returns plain data; every job builds through
:func:`.build.built_model`. Nothing here calls ``list_devices`` or ``init_runtime(target=...)``
(they start the toolkit's own adb daemon); a board is reached through :mod:`helpers.board.runtimes`.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from ..board.atomic import write_json
from ..board.records import read_build_record
from .config import BuildConfig, toolkit_version
from .isolation import run_isolated
from .logs import ToolkitError, advised_disable_rules, log_digest
from .build import built_model, simulate_all
from .session import Toolkit


def _inputs_array(inputs) -> np.ndarray | None:
    if inputs is None:
        return None
    arr = np.asarray(inputs)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"simulator inputs must be NHWC uint8 RGB (N, H, W, 3); got {arr.shape} {arr.dtype}")
    return arr


def _result(built, outputs, infer_s) -> dict:
    return {"build_seconds": round(built.build_seconds, 2), "rknn_bytes": built.rknn_bytes, "outputs": outputs,
            "infer_seconds_per_image": infer_s, "toolkit": toolkit_version()}


# --------------------------------------------------------------------------- builds side by side
#: a YOLOv8n build and its simulation of 60 images peak near 2.5 GB in their child process: room for each
BUILD_MEMORY_GB = 3.0
MAX_SIDE_BY_SIDE = 4


def _available_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def build_workers() -> int:
    """How many independent builds :func:`side_by_side` runs at once: ``WORKBOOK_BUILD_WORKERS`` when set, else
    one per core, at most 4 and at most one per 3 GB of available memory (never fewer than 1)."""
    import os

    if os.environ.get("WORKBOOK_BUILD_WORKERS"):
        return max(1, int(os.environ["WORKBOOK_BUILD_WORKERS"]))
    n = min(os.cpu_count() or 1, MAX_SIDE_BY_SIDE)
    gb = _available_gb()
    if gb is not None:
        n = min(n, int(gb // BUILD_MEMORY_GB))
    return max(1, n)


def side_by_side(fn, items, workers: int | None = None, progress=None) -> list:
    """``[fn(x) for x in items]``, up to ``workers`` (:func:`build_workers`) calls at once, results in the order of
    ``items``; the first exception is raised. For calls whose work is a toolkit build: each runs in its own child
    process (:func:`.isolation.run_isolated`), so threads here put them on separate cores. Independent calls only:
    each must write to its own work folder. ``progress``: a tqdm bar, advanced as each call ends.
    Times measured inside such calls (build seconds, simulator ms) are taken beside a neighbour.
    """
    from concurrent.futures import ThreadPoolExecutor

    items = list(items)

    def one(x):
        r = fn(x)
        if progress is not None:
            progress.update(1)
        return r

    n = min(workers or build_workers(), len(items))
    if n <= 1:
        return [one(x) for x in items]
    with ThreadPoolExecutor(n, thread_name_prefix="build") as pool:
        return list(pool.map(one, items))


# --------------------------------------------------------------------------- build + simulate
def _simulate_job(log_file: str, model: str, config: dict, inputs=None, dataset=None, rknn_out=None, imgsz=None,
                  custom_op: str | None = None) -> dict:
    op = None
    if custom_op:
        from .custom_op import make_cpu_op

        op = make_cpu_op(custom_op)
    with built_model(BuildConfig.from_dict(config), model, dataset, log_file, rknn_out, imgsz, op) as built:
        outputs, infer_s = simulate_all(built.tk, inputs)
    return _result(built, outputs, infer_s)


def save_build_record(rknn_path, cfg: BuildConfig, onnx, dataset, toolkit: str | None = None) -> Path:
    """Write ``<model>.rknn.json`` next to a .rknn: what it was built from (and by which rknn-toolkit2 release:
    ``toolkit``, as the building child reported it), so it can be rebuilt and a board can check its runtime."""
    return write_json(str(rknn_path) + ".json", {"config": cfg.to_dict(), "onnx": str(onnx),
                                                 "dataset": str(dataset) if dataset else None,
                                                 "toolkit": toolkit or cfg.toolkit or toolkit_version()})


def load_build_record(rknn_path) -> dict:
    """The build record of a .rknn with its config as a :class:`BuildConfig`."""
    rec = read_build_record(rknn_path)
    rec["config"] = BuildConfig.from_dict(rec["config"])
    return rec


def run_build(job, workdir, log_file, cfg: BuildConfig, timeout: float | None = None, follow_advice: bool = True,
              **kwargs) -> tuple:
    """Run a build ``job`` in a child; when the build breaks in one of the toolkit's graph-fusion rules
    and the toolkit names it ("You can add disable_rules=[...]"), build once more without that rule,
    as it advises. Returns the job's result and the config that built (with its ``disable_rules``).

    Toolkit 2.5.0 needs this for YOLO11: its attention block (C2PSA) trips the rule that fuses
    MatMul/Softmax/MatMul into one attention op (``IndexError``); without the rule it builds. The
    first attempt's log stays next to the second's (``*.first_attempt.log``). ``follow_advice=False``
    shows the toolkit's failure as it is (06 teaches with it).
    """
    from .versions import python_for

    log_file = Path(log_file)
    python = python_for(cfg.toolkit)  # another toolkit release: its own environment's interpreter
    try:
        return run_isolated(job, workdir, log_file, timeout=timeout, python=python, config=cfg.to_dict(), **kwargs), cfg
    except ToolkitError:
        new = [r for r in advised_disable_rules(log_file) if r not in cfg.disable_rules]
        if not new or not follow_advice:
            raise
        shutil.copyfile(log_file, log_file.with_suffix(".first_attempt.log"))
    cfg = dataclasses.replace(cfg, disable_rules=cfg.disable_rules + tuple(new))
    print(f"rknn-toolkit2 broke in its graph rule {', '.join(new)} and advises disabling it: built again with "
          f"disable_rules={list(cfg.disable_rules)}")
    return run_isolated(job, workdir, log_file, timeout=timeout, python=python, config=cfg.to_dict(), **kwargs), cfg


def simulate(onnx, cfg: BuildConfig, inputs=None, dataset=None, rknn_out=None, workdir=None,
             timeout: float | None = None, follow_advice: bool = True) -> dict:
    """Build ``onnx`` with ``cfg`` (and export to ``rknn_out`` with its build record), then run ``inputs``
    on the simulator. Returns build seconds, .rknn bytes, per-image outputs, seconds per image and a log digest."""
    workdir = Path(workdir or Path(rknn_out or onnx).parent / "work") / cfg.name
    log = workdir / "toolkit.log"
    res, cfg = run_build(_simulate_job, workdir, log, cfg, timeout=timeout, follow_advice=follow_advice, model=str(onnx),
                         inputs=_inputs_array(inputs), dataset=str(dataset) if dataset else None,
                         rknn_out=str(rknn_out) if rknn_out else None)
    if rknn_out:
        save_build_record(rknn_out, cfg, onnx, dataset, toolkit=res.get("toolkit"))
    res["log"] = log_digest(log)
    res["disable_rules"] = list(cfg.disable_rules)
    return res


def pytorch_route(traced, imgsz: int, cfg: BuildConfig, inputs, workdir) -> dict:
    """Build from a TorchScript file (``torch.jit.trace`` + ``save``) with ``load_pytorch`` and simulate."""
    return run_build(_simulate_job, Path(workdir), Path(workdir) / "toolkit.log", cfg, model=str(traced),
                     imgsz=int(imgsz), inputs=_inputs_array(inputs))[0]


def custom_op_route(onnx, cfg: BuildConfig, inputs, workdir, op_type: str = "cstSoftmax") -> dict:
    """Register a numpy CPU op with ``reg_custom_op``, build ``onnx`` (which uses it) and simulate."""
    return run_build(_simulate_job, Path(workdir), Path(workdir) / "toolkit.log", cfg, model=str(onnx),
                     custom_op=op_type, inputs=_inputs_array(inputs))[0]


# --------------------------------------------------------------------------- hybrid layer names
def _hybrid_layers_job(log_file: str, onnx: str, config: dict, dataset: str) -> list[str]:
    from .hybrid import hybrid_step1, quantization_cfg_layers

    return quantization_cfg_layers(hybrid_step1(BuildConfig.from_dict(config), onnx, dataset, log_file).read_text())


def hybrid_layer_names(onnx, cfg: BuildConfig, dataset, workdir) -> list[str]:
    """The layer names the toolkit's quantization config uses (step 1 of hybrid quantization)."""
    return run_build(_hybrid_layers_job, Path(workdir), Path(workdir) / "hybrid_step1.log", cfg, onnx=str(onnx),
                     dataset=str(dataset))[0]


# --------------------------------------------------------------------------- accuracy analysis
#: per-layer tensor dumps accuracy_analysis leaves (hundreds of MB): deleted after parsing
DUMP_FOLDERS = ("golden", "simulator")


def _accuracy_job(log_file: str, onnx: str, config: dict, dataset: str | None, image: str, out_dir: str,
                  keep_dumps: bool = False) -> dict:
    with built_model(BuildConfig.from_dict(config), onnx, dataset, log_file) as built:
        t0 = time.perf_counter()
        built.tk.step("accuracy_analysis", built.tk.rknn.accuracy_analysis, inputs=[str(image)], output_dir=str(out_dir))
        seconds = time.perf_counter() - t0
    report = Path(out_dir) / "error_analysis.txt"
    dump_bytes = sum(f.stat().st_size for f in Path(out_dir).rglob("*") if f.is_file())
    if not keep_dumps:
        for sub in DUMP_FOLDERS:
            shutil.rmtree(Path(out_dir) / sub, ignore_errors=True)
    return {"report": str(report), "text": report.read_text(), "seconds": round(seconds, 1), "dump_bytes": dump_bytes}


def accuracy_analysis(onnx, cfg: BuildConfig, image, out_dir, dataset=None, keep_dumps: bool = False) -> dict:
    """Run the toolkit's ``accuracy_analysis`` on one ``image`` (a letterboxed file at the model size).

    The toolkit takes one file per model input, so one image per call: the float ("golden") and
    the quantized simulator run it layer by layer. Returns the parsed table (``rows``), the report
    path and seconds; the per-layer dumps are deleted unless ``keep_dumps``.
    """
    from .report import parse_error_analysis

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    # work folder and log named after out_dir too: two analyses with the same settings can run side by side
    res, _ = run_build(_accuracy_job, out_dir.parent / "work" / f"{out_dir.name}_{cfg.name}",
                       out_dir.parent / f"{out_dir.name}_{cfg.name}.log", cfg, onnx=str(onnx),
                       dataset=str(dataset) if dataset else None, image=str(image),
                       out_dir=str(out_dir), keep_dumps=keep_dumps)
    res["rows"] = parse_error_analysis(res.pop("text"))
    return res


# --------------------------------------------------------------------------- check a .rknn file
def _check_rknn_job(log_file: str, path: str) -> dict:
    with Toolkit(log_file) as tk:
        tk.step("load_rknn", tk.rknn.load_rknn, str(path))
    return {"path": str(path), "bytes": Path(path).stat().st_size}


def check_rknn(path, workdir=None) -> dict:
    """Load a ``.rknn`` file with the toolkit: a truncated or foreign file is a :class:`ToolkitError`."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no RKNN model at {p} (build it in 05_quantize_int8.ipynb)")
    wd = Path(workdir) if workdir else p.parent / "work" / "check_rknn"
    return run_isolated(_check_rknn_job, wd, wd / "toolkit.log", path=str(p.resolve()))


__all__ = ["simulate", "pytorch_route", "custom_op_route", "hybrid_layer_names", "accuracy_analysis", "check_rknn",
           "save_build_record", "load_build_record"]
