"""Hybrid quantization: some layers stay float16, the rest INT8.

Step 1 (``hybrid_quantization_step1``) writes ``<stem>.model``, ``.data`` and
``.quantization.cfg`` into the current folder; the config file lists every layer under
``quantize_parameters:`` and takes ``layer_name: float16`` entries under
``custom_quantize_layers:``. Step 2 builds from those files — in a *fresh* RKNN object (the
toolkit refuses step 2 after ``load_onnx``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .config import BuildConfig
from .logs import ToolkitError
from .session import Toolkit, load_model


def set_float_layers(cfg_text: str, layers) -> str:
    """Edit the text of a ``*.quantization.cfg`` so that ``layers`` are computed in float16."""
    layers = list(layers)
    lines = cfg_text.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("custom_quantize_layers:"):
            block = ["custom_quantize_layers:"] + [f"    {name}: float16" for name in layers]
            if not layers:
                block = ["custom_quantize_layers: {}"]
            j = i + 1  # drop entries already in the block
            while j < len(lines) and lines[j].startswith((" ", "\t")) and ":" in lines[j]:
                j += 1
            return "\n".join(lines[:i] + block + lines[j:]) + "\n"
    raise ValueError("not a quantization config: no 'custom_quantize_layers:' key")


def quantization_cfg_layers(cfg_text: str) -> list[str]:
    """Layer names listed under ``quantize_parameters:`` in a quantization config."""
    names, inside = [], False
    for ln in cfg_text.splitlines():
        if ln.startswith("quantize_parameters:"):
            inside = True
            continue
        if inside:
            if ln and not ln.startswith(" "):
                break
            m = re.match(r"^    (\S.*?):\s*$", ln)
            if m:
                names.append(m.group(1).strip("'\""))
    return names


def hybrid_step1(cfg: BuildConfig, onnx, dataset, log_file) -> Path:
    """config → load_onnx → hybrid_quantization_step1 in its own RKNN object; returns the config file it wrote."""
    with Toolkit(log_file) as tk:
        tk.step("config", tk.rknn.config, **cfg.config_kwargs())
        load_model(tk, cfg, onnx)
        tk.step("hybrid_quantization_step1", tk.rknn.hybrid_quantization_step1, dataset=str(dataset), proposal=False)
    cfg_file = Path(f"{Path(onnx).stem}.quantization.cfg")
    if not cfg_file.is_file():
        raise ToolkitError("hybrid_quantization_step1", f"did not write {cfg_file} in {os.getcwd()}")
    return cfg_file


def hybrid_step2(tk: Toolkit, cfg: BuildConfig, onnx, dataset, log_file) -> None:
    """Step 1, mark ``cfg.float_layers`` float16 in its config file, then step 2 in ``tk`` (configured, fresh)."""
    cfg_file = hybrid_step1(cfg, onnx, dataset, log_file)
    known = set(quantization_cfg_layers(cfg_file.read_text()))
    unknown = [n for n in cfg.float_layers if n not in known]
    if unknown:
        raise ToolkitError("hybrid_quantization_step1", f"layers not in the quantization config: {unknown}; "
                           "use names from the accuracy-analysis table or hybrid_layer_names()")
    cfg_file.write_text(set_float_layers(cfg_file.read_text(), cfg.float_layers))
    stem = Path(onnx).stem
    tk.step("hybrid_quantization_step2", tk.rknn.hybrid_quantization_step2, model_input=f"{stem}.model",
            data_input=f"{stem}.data", model_quantization_cfg=str(cfg_file))


def cfg_excerpt(cfg_file, max_entry_lines: int = 10) -> str:
    """What a reader needs of a step-1 config after the edit: the ``custom_quantize_layers`` block (the lines
    that change) and the ``quantize_parameters`` entry of the first float16 layer (its ranges, as step 1
    measured them), with the file's line count."""
    lines = Path(cfg_file).read_text().splitlines()
    head = []
    for ln in lines:
        if ln.startswith("quantize_parameters:"):
            break
        head.append(ln)
    floats = [ln.split(":")[0].strip() for ln in head[1:] if ln.strip().endswith("float16")]
    entry = []
    if floats:
        for i, ln in enumerate(lines):
            if ln.strip().rstrip(":").strip("'\"") == floats[0] and ln.startswith("    ") and not ln.startswith("     ") \
                    and ln.rstrip().endswith(":") and i > len(head):
                entry = lines[i:i + max_entry_lines]
                break
    return "\n".join([f"# {Path(cfg_file).name}: {len(lines)} lines; the edited block:", *head,
                      "quantize_parameters:", "    ...", *entry, "    ..."])
