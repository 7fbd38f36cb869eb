"""Other ways into the toolkit, each measured against the patched-head route (notebooks 04 and 05).

* the channel order the RKNN input wants (RGB vs BGR, measured);
* the TorchScript route (``load_pytorch``);
* the stock graph cut at load time (``load_onnx(outputs=...)``), sigmoid on the CPU;
* the "boxes and scores in one output" head;
* the DFL softmax as a custom CPU operator (``reg_custom_op``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..board.atomic import atomic_path
from ..board.postprocess import softmax, split_concat_output
from ..model.metrics import EvalSet, output_agreement
from ..toolkit.config import BuildConfig
from ..toolkit.jobs import custom_op_route, simulate


def channel_order_check(onnx, cfg: BuildConfig, es: EvalSet, ref_outputs, names, workdir) -> list[dict]:
    """Feed one image to the RKNN model as RGB and as BGR; the one that agrees with onnxruntime is right."""
    rgb = es.nhwc()[:1]
    res = simulate(onnx, cfg, np.concatenate([rgb, rgb[..., ::-1]]), workdir=workdir)
    rows = []
    for order, outs in zip(("RGB", "BGR"), res["outputs"]):
        agree = output_agreement(ref_outputs[:1], [outs], names)
        rows.append({"input_order": order, "min_cosine_vs_onnxruntime": min(a["cosine"] for a in agree),
                     "cls_prob_s8_cosine": agree[1]["cosine"]})
    return rows


def stock_cut_points(onnx_path) -> list[str]:
    """Tensors of the stock graph just before its post-processing tail, as box8, cls8, box16, ...

    They are the last Conv of each Detect branch (``cv2.i`` box, ``cv3.i`` class): raw DFL
    logits and raw class logits (no sigmoid).
    """
    import onnx

    g = onnx.load(str(onnx_path), load_external_data=False).graph
    found = {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        m = re.search(r"/(cv2|cv3)\.(\d)/\1\.\2\.2/Conv$", n.name)
        if m:
            found[(int(m.group(2)), 0 if m.group(1) == "cv2" else 1)] = n.output[0]
    if len(found) != 6:
        raise ValueError(f"{onnx_path}: expected the 6 final Detect convolutions, found {len(found)}")
    return [found[k] for k in sorted(found)]


def sigmoid_cls(outputs: list) -> list:
    """Cut stock outputs (box, cls-logit per stride) -> NPU layout (box, cls-prob): the sigmoid on the CPU."""
    res = []
    for k, o in enumerate(outputs):
        res.append(o if k % 2 == 0 else 1.0 / (1.0 + np.exp(-np.asarray(o, np.float32))))
    return res


def add_cpu_softmax(onnx_in, onnx_out, op_type: str = "cstSoftmax") -> list[str]:
    """Add a DFL softmax on every ``box_dfl_s*`` output as a custom op the NPU does not have.

    ``box_dfl_sN [1, 64, H, W]`` -> Reshape ``[1, 4, 16, H*W]`` -> ``op_type`` (axis 2) ->
    output ``box_prob_sN``. The graph keeps its other outputs. Returns the new output names.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(onnx_in))
    g = m.graph
    new = []
    for out in list(g.output):
        if not out.name.startswith("box_dfl_s"):
            continue
        dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
        h, w = dims[2], dims[3]
        suffix = out.name[len("box_dfl_"):]
        shape_name = f"dfl_shape_{suffix}"
        g.initializer.append(numpy_helper.from_array(np.array([1, 4, dims[1] // 4, h * w], np.int64), shape_name))
        g.node.append(helper.make_node("Reshape", [out.name, shape_name], [f"dfl_rs_{suffix}"], name=f"dfl_rs_{suffix}"))
        g.node.append(helper.make_node(op_type, [f"dfl_rs_{suffix}"], [f"box_prob_{suffix}"], name=f"dfl_sm_{suffix}",
                                       axis=2))
        g.output.append(helper.make_tensor_value_info(f"box_prob_{suffix}", TensorProto.FLOAT,
                                                      [1, 4, dims[1] // 4, h * w]))
        new.append(f"box_prob_{suffix}")
    with atomic_path(onnx_out, suffix=".onnx") as tmp:
        onnx.save(m, str(tmp))
    return new


def trace_npu_module(weights, imgsz: int, dest) -> Path:
    """``torch.jit.trace`` the patched 9-output module and save it (the toolkit's PyTorch route)."""
    import torch

    from ..model.heads import load_model, patch_for_npu

    module = patch_for_npu(load_model(weights), fuse=True)
    with torch.no_grad():
        traced = torch.jit.trace(module, torch.zeros(1, 3, imgsz, imgsz), check_trace=False)
    with atomic_path(dest, suffix=".pt") as tmp:
        traced.save(str(tmp))
    return Path(dest)


def export_concat_head(weights, dest, imgsz: int) -> Path:
    """Export the "naive split" head (boxes and scores in one output) to ONNX."""
    from ..model.export import export_onnx
    from ..model.heads import concat_for_export, load_model

    module = concat_for_export(load_model(weights))
    return export_onnx(module, dest, imgsz, names=module.output_names)


def concat_adapter(imgsz: int, nc: int):
    return lambda outs: split_concat_output(outs[0], (imgsz, imgsz), nc)


def custom_op_check(onnx, target: str, es: EvalSet, ref_outputs, out_dir, n_images: int = 4) -> dict:
    """Add a DFL softmax as the custom CPU op ``cstSoftmax``, build FP16, simulate, check against numpy."""
    out_dir = Path(out_dir)
    onnx2 = out_dir / f"{Path(onnx).stem}_cpu_softmax.onnx"
    new = add_cpu_softmax(onnx, onnx2)
    n = max(1, min(n_images, len(es)))
    res = custom_op_route(onnx2, BuildConfig(target=target), es.nhwc()[:n], out_dir / "work" / "custom_op")
    first = len(res["outputs"][0]) - len(new)
    op_diff, e2e_diff, sum_err = 0.0, 0.0, 0.0
    for i in range(n):
        outs = res["outputs"][i]
        for k in range(len(new)):
            got = outs[first + k]
            # the op itself: numpy softmax of the box logits the same simulator run produced
            sim_box = np.asarray(outs[3 * k], np.float32)  # box_dfl_s*: outputs 0, 3, 6
            op_diff = max(op_diff, float(np.abs(got - softmax(sim_box.reshape(got.shape), 2)).max()))
            # end to end: against onnxruntime's float32 box logits (includes the FP16 build's rounding)
            ref_box = np.asarray(ref_outputs[i][3 * k], np.float32)
            e2e_diff = max(e2e_diff, float(np.abs(got - softmax(ref_box.reshape(got.shape), 2)).max()))
            sum_err = max(sum_err, float(np.abs(got.sum(2) - 1).max()))
    return {"onnx": str(onnx2), "new_outputs": new, "images": n, "op_max_abs_diff": op_diff,
            "vs_onnxruntime_max_abs_diff": e2e_diff, "max_sum_to_one_error": sum_err, "build_s": res["build_seconds"]}

