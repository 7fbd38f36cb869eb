"""A CPU operator for ``RKNN.reg_custom_op``, implemented with numpy (built in the toolkit's process).

The toolkit asks for a class with ``op_type``, ``shape_infer(node, in_shapes, in_dtypes)`` and
``compute(node, inputs)``; the graph names the op by ``op_type`` and the toolkit runs
``compute`` on the CPU between NPU segments.
"""

from __future__ import annotations

import numpy as np

from ..board.postprocess import softmax

#: the one example op: the ONNX ``Softmax`` (attribute ``axis``), for the DFL bins
OP_TYPE = "cstSoftmax"


def make_cpu_op(op_type: str = OP_TYPE):
    if op_type != OP_TYPE:
        raise ValueError(f"only the example op {OP_TYPE!r} (a numpy Softmax) is implemented")
    from rknn.api.custom_op import get_node_attr

    class CstSoftmax:
        op_type = OP_TYPE

        def shape_infer(self, node, in_shapes, in_dtypes):
            return [list(in_shapes[0])], [in_dtypes[0]]

        def compute(self, node, inputs):
            return [softmax(inputs[0].astype(np.float32), int(get_node_attr(node, "axis")))]

    return CstSoftmax()
