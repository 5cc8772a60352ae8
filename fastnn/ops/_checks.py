"""Argument checks shared by every ops module: run before a kernel is entered, so the C code can trust them."""
from __future__ import annotations

import numpy as np

from .._config import explicit_threads, threads_for

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def real_array(name: str, a, ndim: int | None = None, dtype=None, contiguous: bool = True) -> np.ndarray:
    """Return ``a`` if it is a float32/float64 ndarray (of ``dtype`` and ``ndim`` when given), aligned to its
    element size (the C code dereferences REAL pointers: a misaligned load is undefined behaviour) and
    C-contiguous unless ``contiguous=False`` (a kernel that takes strides)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        swapped = a.dtype.kind == "f" and not a.dtype.isnative  # '>f4' on this machine: not the C code's float
        raise TypeError(f"{name} must be float32 or float64{' in native byte order' if swapped else ''}, got "
                        f"{a.dtype}{' (big-endian)' if a.dtype.byteorder == '>' else ''}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if contiguous and not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not a.flags.aligned:
        raise ValueError(f"{name} is not aligned to its {a.itemsize}-byte elements (a buffer viewed at an odd offset, "
                         "as np.frombuffer(..., offset=) gives); pass an aligned array (a copy is one)")
    return a


def out_array(name: str, a, shape: tuple, dtype) -> np.ndarray:
    """Check an output buffer: exact shape and dtype, C-contiguous and writeable."""
    real_array(name, a, ndim=len(shape), dtype=dtype)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return writeable(name, a)


def writeable(name: str, a: np.ndarray) -> np.ndarray:
    """Return ``a`` if the kernel may write it (a read-only memmap would fault, a buffer over bytes be
    overwritten)."""
    if not a.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return a


def apart(name: str, a: np.ndarray, /, why: str = "", **others: np.ndarray) -> None:
    """Refuse ``a`` when it may share memory with any of ``others`` (named by their keywords): a kernel writing
    ``a`` while it reads them gives wrong results without a word. ``why`` is added to the message."""
    if any(np.may_share_memory(a, o) for o in others.values()):
        raise ValueError(f"{name} must not overlap {' or '.join(others)}{f' ({why})' if why else ''}")


def row_indices(name: str, rows, n: int, what: str, error: type[Exception] = IndexError,
                contiguous: bool = True) -> np.ndarray:
    """Return ``rows`` if it is a 1-D int64 array (C-contiguous unless ``contiguous=False``) of indices into the
    ``n`` ``what`` (e.g. "images of x"); values out of [0, n) raise ``error``."""
    if not (isinstance(rows, np.ndarray) and rows.dtype == np.int64 and rows.ndim == 1
            and (rows.flags.c_contiguous or not contiguous)):
        raise TypeError(f"{name} must be a 1-D {'C-contiguous ' if contiguous else ''}int64 array")
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise error(f"{name} must index the {n} {what}, got values in [{rows.min()}, {rows.max()}]")
    return rows


def same_shape(name: str, a: np.ndarray, like: np.ndarray, like_name: str) -> None:
    if a.shape != like.shape:
        raise ValueError(f"{name} has shape {a.shape}, expected the shape of {like_name} {like.shape}")


def resolve_threads(n_threads: int | None, work: int) -> int:
    """The thread count of a kernel call: ``n_threads`` when given, else ``threads_for(work)`` (serial below the
    measured work threshold, so a training step never wakes the OpenMP pool between matmuls; 1 in a child forked
    after the pool started, see fastnn._config)."""
    return threads_for(work) if n_threads is None else explicit_threads(int(n_threads))
