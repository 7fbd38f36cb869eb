"""The tail of an exported graph: from the head's last convolutions to the outputs, read from the ONNX itself.

03 draws it for the stock head and the patched one: the stock tail decodes the boxes in the graph
(DFL: Reshape, Softmax, a fixed 1×1 Conv; anchors and strides: Sub, Add, Mul; one Concat with the
class scores), the patched tail ends at three tensors per stride. ``tail`` returns the nodes with
their depth, so both the drawing and the counts (recorded, tested) come from the same walk.
"""

from __future__ import annotations

import os
import re
from collections import Counter

#: the last convolution of each head branch (cv2: box distribution, cv3: class logits; YOLOv8 and YOLO11)
HEAD_CONV = re.compile(r"cv[23]\.\d+\.2/Conv$")
SKIP = {"Constant"}


def tail(onnx_path: str | os.PathLike) -> dict:
    """``{"nodes": [{name, op, depth, outputs}], "edges": [(src, dst)], "ops": {op: count}, "outputs": [...]}``.

    Nodes are those downstream of the head's last convolutions (included, at depth 0), Constants left out.
    """
    import onnx

    g = onnx.load(str(onnx_path)).graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    roots = [n for n in g.node if n.op_type == "Conv" and HEAD_CONV.search(n.name)]
    if not roots:
        raise ValueError(f"{onnx_path}: no head convolution (cv2.*.2 / cv3.*.2) found; is this a YOLOv8/YOLO11 graph?")
    depth = {n.name: 0 for n in roots}
    order = list(roots)
    k = 0
    while k < len(order):  # breadth first; a node's depth is its longest path from a root
        n = order[k]
        k += 1
        for o in n.output:
            for c in consumers.get(o, []):
                if c.op_type in SKIP:
                    continue
                d = depth[n.name] + 1
                if depth.get(c.name, -1) < d:
                    depth[c.name] = d
                    order.append(c)
    kept = {n.name: n for n in order}
    edges = sorted({(producer[i].name, n.name) for n in kept.values() for i in n.input
                    if i in producer and producer[i].name in kept})
    outputs = {o.name for o in g.output}
    nodes = [{"name": n.name, "op": n.op_type, "depth": depth[n.name], "outputs": [o for o in n.output if o in outputs]}
             for n in kept.values()]
    return {"nodes": nodes, "edges": edges, "ops": dict(Counter(n["op"] for n in nodes if n["depth"] > 0)),
            "outputs": [o.name for o in g.output]}


def summary(t: dict) -> dict:
    """What 03 records of a tail: node count after the head convs, ops by type, graph outputs."""
    return {"nodes_after_head_convs": sum(n["depth"] > 0 for n in t["nodes"]), "ops": t["ops"],
            "outputs": t["outputs"], "depth": max(n["depth"] for n in t["nodes"])}
