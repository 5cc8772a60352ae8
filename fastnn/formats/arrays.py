"""Named arrays from a weights file of either container, chosen by name or signature."""
from __future__ import annotations

import os

import numpy as np

from .common import finite_check
from .npz import read_npz
from .safetensors import read_safetensors

__all__ = ["load_arrays"]


def load_arrays(path, *, check_finite: bool = False) -> dict[str, np.ndarray]:
    """Read named arrays (e.g. pretrained weights) from a ``.safetensors`` or ``.npz`` file.

    ``.npz`` files are read member by member without pickle: only plain numeric dtypes, each header checked
    against the member's size before its data is read (``np.load`` itself would allocate the shape a header
    declares). Files named ``*.npz``, or starting with a zip signature and not named ``*.safetensors``, are
    read as npz; everything else as safetensors (fastnn model files included). Returns owned arrays; raises
    :class:`ModelFileError` for a damaged or hostile file.
    """
    p = os.fspath(path)
    lower = p.lower()
    if lower.endswith(".npz"):
        is_npz = True
    elif lower.endswith(".safetensors"):
        is_npz = False
    else:
        with open(p, "rb") as f:
            is_npz = f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    if is_npz:
        arrays = read_npz(p)
        if check_finite:
            finite_check(p, arrays)
        return arrays
    return read_safetensors(p, check_finite=check_finite)[0]
