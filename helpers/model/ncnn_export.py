"""A model to NCNN with pnnx (PyPI ``pnnx``: a converter binary inside the wheel, fully offline).

pnnx traces nothing itself: it reads a TorchScript file, writes its own graph (``*.pnnx.param``,
torch-level ops: ``nn.Conv2d``, ``nn.ReLU``, ...) and then the ncnn graph (``*.ncnn.param`` and
``*.ncnn.bin``) after its ncnn passes, which fold each ReLU into the convolution before it
(``Convolution`` with ``9=1``, activation_type relu) — the fusion ``ncnnoptimize`` prints as
``fuse_convolution_activation``. SiLU has no such activation type in ncnn: it stays a separate
``Swish`` layer. ``fp16=True`` stores the weights as float16 in the ``.bin`` (pnnx's default).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from ..board.atomic import atomic_path

#: ncnn's Convolution param id 9 is activation_type: 1 relu, 2 leakyrelu, 3 clip, 4 sigmoid, 5 mish, 6 hardswish
ACTIVATION_TYPES = {"1": "ReLU", "2": "LeakyReLU", "3": "Clip", "4": "Sigmoid", "5": "Mish", "6": "HardSwish"}
CONV_LAYERS = ("Convolution", "ConvolutionDepthWise")


def pnnx_binary() -> str:
    """The pnnx executable of this environment (the ``pnnx`` wheel puts it next to python)."""
    for cand in (Path(sys.executable).parent / "pnnx", shutil.which("pnnx")):
        if cand and Path(cand).is_file():
            return str(cand)
    raise FileNotFoundError("pnnx not found: install the pinned pnnx wheel (pip install -r requirements.txt)")


def param_layers(param_file: str | os.PathLike) -> list[tuple[str, str, dict]]:
    """Layers of a ``.param`` file (ncnn's or pnnx's): ``(type, name, {param id: value})``."""
    lines = Path(param_file).read_text().splitlines()
    out = []
    for line in lines[2:]:
        f = line.split()
        if len(f) < 4:
            continue
        n = 4 + int(f[2]) + int(f[3])
        params = dict(kv.split("=", 1) for kv in f[n:] if "=" in kv)
        out.append((f[0], f[1], params))
    return out


def census(param_file: str | os.PathLike) -> dict[str, int]:
    """How many layers of each type a ``.param`` file holds (largest first)."""
    return dict(Counter(t for t, _, _ in param_layers(param_file)).most_common())


def fused_activations(ncnn_param: str | os.PathLike) -> dict[str, int]:
    """Convolutions that carry their activation inside (``9=<type>``), by activation."""
    c = Counter(ACTIVATION_TYPES.get(p.get("9", "0"), "other") for t, _, p in param_layers(ncnn_param)
                if t in CONV_LAYERS and p.get("9", "0") != "0")
    return dict(c)


def export_ncnn(module, out_dir: str | os.PathLike, imgsz: int, name: str, fp16: bool = True,
                timeout: float = 600) -> dict:
    """Trace ``module`` (a patched head), convert it with pnnx; the ncnn files, the census before (pnnx's own
    graph) and after (ncnn's), the fused convolution+activation count, the converter's log."""
    import torch

    out_dir = Path(out_dir)
    work = out_dir / f"{name}.pnnx_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    traced = work / f"{name}.pt"
    with torch.no_grad():
        torch.jit.trace(module.eval(), torch.zeros(1, 3, imgsz, imgsz)).save(str(traced))
    stem = work / name
    cmd = [pnnx_binary(), str(traced), f"inputshape=[1,3,{imgsz},{imgsz}]", f"fp16={int(fp16)}",
           f"pnnxparam={stem}.pnnx.param", f"pnnxbin={stem}.pnnx.bin", f"pnnxpy={stem}_pnnx.py",
           f"pnnxonnx={stem}.pnnx.onnx", f"ncnnparam={stem}.ncnn.param", f"ncnnbin={stem}.ncnn.bin",
           f"ncnnpy={stem}_ncnn.py"]
    res = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)
    log = work / "pnnx.log"
    log.write_text(res.stdout + res.stderr)
    if res.returncode != 0 or not Path(f"{stem}.ncnn.param").is_file():
        tail = "\n  ".join((res.stdout + res.stderr).strip().splitlines()[-8:])
        raise RuntimeError(f"pnnx failed (exit {res.returncode}) on {traced}:\n  {tail}\nfull log: {log}")
    files = {}
    for ext in ("param", "bin"):  # the deliverables, next to the other artifacts, written atomically
        dest = out_dir / f"{name}.{ext}"
        with atomic_path(dest, suffix=f".{ext}") as tmp:
            shutil.copyfile(f"{stem}.ncnn.{ext}", tmp)
        files[ext] = str(dest)
    unmapped = [ln for ln in log.read_text().splitlines() if ln.startswith("ignore ")]
    res = {"param": files["param"], "bin": files["bin"], "bin_MB": round(Path(files["bin"]).stat().st_size / 2**20, 3),
           "fp16_weights": fp16, "census_pnnx": census(f"{stem}.pnnx.param"), "census_ncnn": census(files["param"]),
           "fused": fused_activations(files["param"]), "unmapped_params": len(unmapped), "log": str(log)}
    # the weights' copies (traced module, pnnx's graph, ncnn's bin, copied out above) are scratch once it worked;
    # the log, the two graphs as text and pnnx's Python stay for reading
    for f in (traced, Path(f"{stem}.pnnx.bin"), Path(f"{stem}.pnnx.onnx"), Path(f"{stem}.ncnn.bin")):
        f.unlink(missing_ok=True)
    return res
