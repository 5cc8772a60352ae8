"""Named arrays from a weights file of either container, chosen by name or signature."""
from __future__ import annotations

import os

import numpy as np

from .common import PICKLE_REFUSED, SNIFF_BYTES, ModelFileError, finite_check, is_pickle, is_zip, open_regular
from .npz import read_npz
from .safetensors import read_safetensors

__all__ = ["load_arrays", "load_arrays_ordered"]


def load_arrays(path, *, check_finite: bool = False, text: bool = False) -> dict[str, np.ndarray]:
    """Read named arrays (e.g. pretrained weights) from a ``.safetensors`` or ``.npz`` file.

    ``.npz`` files are read member by member without pickle: only plain numeric dtypes, each header checked
    against the member's size before its data is read (``np.load`` itself would allocate the shape a header
    declares). Files named ``*.npz``, or starting with a zip signature and not named ``*.safetensors``, are
    read as npz; everything else as safetensors (fastnn model files included). Pickles (torch.save) are
    never loaded. Returns owned arrays; raises :class:`ModelFileError` for a damaged or hostile file, a
    pickle, or anything but a regular file. ``text``: an .npz may hold arrays of fixed-width strings too (the
    labels of a data file; weights are numbers only).
    """
    return load_arrays_ordered(path, check_finite=check_finite, text=text)[0]


def load_arrays_ordered(path, *, check_finite: bool = False, text: bool = False
                        ) -> tuple[dict[str, np.ndarray], bool]:
    """:func:`load_arrays`, and whether the container keeps the order the arrays were saved in: npz does;
    safetensors writers may sort the names (torch's does)."""
    p = os.fspath(path)
    with open_regular(p) as f:
        head = f.read(SNIFF_BYTES)
        size = os.fstat(f.fileno()).st_size
    if is_pickle(head, size):
        raise ModelFileError(p, f"a Python pickle, not a weights file; {PICKLE_REFUSED}")
    lower = p.lower()
    is_npz = lower.endswith(".npz") or (is_zip(head) and not lower.endswith(".safetensors"))
    if is_npz:
        arrays = read_npz(p, text=text)
        if check_finite:
            finite_check(p, arrays)
        return arrays, True
    return read_safetensors(p, check_finite=check_finite)[0], False
