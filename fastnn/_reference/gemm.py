"""numpy oracle for fastnn.ops.gemm: the product in float64, rounded once to the operands' dtype."""
from __future__ import annotations

import numpy as np

from . import optim as _optim


def gemm(a, b):
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(a.dtype)


def gemm_update(a, b, updates, index) -> int:
    """The gradient of tensor ``index`` of ``updates`` = a @ b (the twin above), then that tensor's step (the optim
    twin); returns the clamp count."""
    updates.grads[index][...] = gemm(a, b)
    return _optim.update_tensors(updates._replace(tensors=[updates.tensors[index]], hp_row=[updates.hp_row[index]]))
