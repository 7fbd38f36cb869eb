"""The ``ncnn`` backend: ncnn on a CPU (board, phone, PC), a ``.param`` with its ``.bin`` next to it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import Backend, Runtime, RuntimeFailure


def ncnn_blobs(param_file: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Input and output blob names of an ncnn ``.param`` file (outputs: produced, never consumed; in file order)."""
    lines = Path(param_file).read_text().split("\n")
    if not lines or lines[0].strip() != "7767517":
        raise RuntimeFailure(f"{param_file} is not an ncnn .param file (its first line is not the magic 7767517)")
    inputs, produced, consumed = [], [], set()
    for line in lines[2:]:
        f = line.split()
        if len(f) < 4:
            continue
        n_in, n_out = int(f[2]), int(f[3])
        ins, outs = f[4:4 + n_in], f[4 + n_in:4 + n_in + n_out]
        if f[0] == "Input":
            inputs += outs
        consumed.update(ins)
        produced += outs
    return inputs, [b for b in produced if b not in consumed]


class NcnnRuntime(Runtime):
    """ncnn on the CPU (``pip install ncnn``).

    ``fp16`` switches on fp16 storage and arithmetic (what ncnn does on ARM by default); off, it
    computes in fp32. Outputs come back as numpy arrays shaped like the torch model's (batch 1).
    """

    backend, layout = "ncnn", "nchw_float"

    def __init__(self, model: str | os.PathLike, threads: int = 1, fp16: bool = False):
        try:
            import ncnn
        except ImportError as e:
            raise RuntimeFailure("the ncnn backend needs the ncnn Python package (pip install ncnn)") from e
        param = Path(model)
        weights = param.with_suffix(".bin")
        if not weights.is_file():
            raise RuntimeFailure(f"no {weights.name} next to {param.name}: an ncnn model is the .param and its .bin")
        self.input_names, self.output_names = ncnn_blobs(param)
        self.net = ncnn.Net()
        self.net.opt.num_threads = int(threads)
        for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic"):
            setattr(self.net.opt, flag, bool(fp16))
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise RuntimeFailure(f"ncnn could not load {param} / {weights} (a truncated or damaged copy? copy the "
                                 "bundle again)")
        self._mat = ncnn.Mat

    def run(self, inputs: list) -> list:
        x = np.ascontiguousarray(np.asarray(inputs[0], np.float32)[0])  # (C, H, W): ncnn mats hold one image
        with self.net.create_extractor() as ex:
            ex.input(self.input_names[0], self._mat(x))
            outs = []
            for name in self.output_names:
                ret, mat = ex.extract(name)
                if ret != 0:
                    raise RuntimeFailure(f"ncnn could not compute output {name} (code {ret})")
                outs.append(np.array(mat)[None])
        return outs

    def close(self) -> None:
        self.net = None


BACKEND = Backend("ncnn", ".param", "ncnn", NcnnRuntime.layout, npu=False, where="ncnn, any CPU (board, phone, PC)",
                  order=4, opens=lambda path, core, npu_cores, **kw: NcnnRuntime(path, **kw))
