"""The safetensors container, written and read by hand in numpy, hardened against hostile input.

Format (https://github.com/huggingface/safetensors)::

    8 bytes       N, little-endian unsigned 64-bit
    N bytes       UTF-8 JSON object: {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
                                      "__metadata__": {str: str}}   (padded with spaces to a multiple of 8)
    the rest      the data buffer; each tensor's little-endian C-order bytes at [begin, end)

No pickle, no eval, no code path from the file to Python objects other than JSON strings, numbers, lists and
dicts. The reader validates *everything* against the file size before it allocates anything sized by the
file (rules of ``safetensors/src/tensor.rs``, see ../shared/reference/reliability-anchors.md section 4.3):

* ``N <= 100_000_000`` and ``N <= file size - 8``; the header is strict UTF-8 JSON (no duplicate keys, no
  NaN/Infinity literals), an object whose entries have exactly the keys dtype/shape/data_offsets;
* dtypes come from an allowlist, shapes are lists of non-negative ints of rank <= 32;
* ``end - begin == prod(shape) * itemsize`` (Python integers, no overflow), ``0 <= begin <= end``;
* sorted by offset, tensors tile the data buffer exactly: no overlap, no gap, no trailing bytes;
* ``__metadata__`` is absent, null, or a str -> str map.

Every problem raises :class:`ModelFileError` (a ``ValueError``) naming the file and the problem. Arrays are
returned as owned, native-byte-order copies (never memory maps of a file that may change later).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import NoReturn

import numpy as np

from .common import (
    MAX_NDIM,
    PICKLE_REFUSED,
    SNIFF_BYTES,
    ModelFileError,
    atomic_write,
    finite_check,
    is_int,
    is_pickle,
    is_zip,
    open_regular,
    shape_too_big,
    strict_json,
    utf8_ok,
)

__all__ = ["MAX_HEADER_SIZE", "read_safetensors", "write_safetensors"]

MAX_HEADER_SIZE = 100_000_000  # as safetensors' MAX_HEADER_SIZE
_ENTRY_KEYS = frozenset(("dtype", "shape", "data_offsets"))

# safetensors dtype name <-> little-endian numpy dtype
_ST_TO_NP = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
    # bfloat16 has no numpy dtype: read as its 16-bit pattern, returned widened (exactly) to float32
    "BF16": np.dtype("<u2"),
}
_NP_TO_ST = {dt.newbyteorder("="): name for name, dt in _ST_TO_NP.items() if name != "BF16"}


def _readinto_exact(f, arr: np.ndarray) -> int:
    view = arr.reshape(-1).view(np.uint8)
    got = 0
    while got < view.size:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def write_safetensors(path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays (and optional str->str metadata) to ``path`` as a safetensors file, atomically.

    Tensors are stored in the mapping's order, each as little-endian C-order bytes; the JSON header is
    compact, padded with spaces so the data buffer starts at a multiple of 8 bytes. Supported dtypes: bool,
    uint8/16/32/64, int8/16/32/64, float16/32/64, complex64. Raises TypeError/ValueError on bad input before
    the file is touched; the write goes to a temp file in the same directory that replaces ``path`` only when
    complete.
    """
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping of name -> array, got {type(arrays).__name__}")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a mapping of str -> str, got {type(metadata).__name__}")
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata must map str -> str, got {k!r}: {type(v).__name__}")
            if not utf8_ok(k) or not utf8_ok(v):
                raise ValueError(f"metadata entry {k!r} is not encodable as UTF-8")
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    tensors, offset = [], 0
    for name, a in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"array names must be str, got {name!r}")
        if name == "__metadata__" or not utf8_ok(name):
            raise ValueError(f"invalid array name {name!r}")
        a = np.asarray(a)
        st = _NP_TO_ST.get(a.dtype.newbyteorder("="))
        if st is None:
            raise TypeError(f"array {name!r}: dtype {a.dtype} cannot be stored "
                            f"(supported: {', '.join(str(d) for d in _NP_TO_ST)})")
        if a.ndim > MAX_NDIM:
            raise ValueError(f"array {name!r} has {a.ndim} dimensions, more than {MAX_NDIM}")
        a = np.asarray(a, dtype=_ST_TO_NP[st], order="C")  # little-endian, C order (keeps 0-d arrays 0-d)
        header[name] = {"dtype": st, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        tensors.append(a)
        offset += a.nbytes
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    if len(blob) > MAX_HEADER_SIZE:
        raise ValueError(f"safetensors header would be {len(blob)} bytes, more than {MAX_HEADER_SIZE}")

    def write(f):
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for a in tensors:
            if a.nbytes:
                f.write(a.reshape(-1).view(np.uint8))

    atomic_write(path, write)


def _parse_header(path, f, file_size: int):
    """Validate the header against the file size. Returns (entries in header order, metadata, data start)."""
    if file_size < 8:
        raise ModelFileError(path, f"file too short ({file_size} bytes) for the 8-byte safetensors header length")
    head = f.read(SNIFF_BYTES)
    n = int.from_bytes(head[:8], "little")
    if n > MAX_HEADER_SIZE or n > file_size - 8:
        _refuse_header_length(path, head, n, file_size)
    f.seek(8)
    raw = f.read(n)
    if len(raw) != n:
        raise ModelFileError(path, f"header truncated: read {len(raw)} of {n} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(path, f"header is not valid UTF-8 ({exc})") from None
    try:
        header = strict_json(text)
    except RecursionError:
        raise ModelFileError(path, "header JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN literals, integers too long to convert
        raise ModelFileError(path, f"header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, f"header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ModelFileError(path, f"__metadata__ must be an object of strings, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(v, str):
            raise ModelFileError(path, f"__metadata__ value for {k!r} must be a string, got {type(v).__name__}")
        if not utf8_ok(k) or not utf8_ok(v):
            raise ModelFileError(path, f"__metadata__ entry {k!r} is not valid UTF-8")

    data_len = file_size - 8 - n
    entries = []
    for name, info in header.items():
        if not utf8_ok(name):
            raise ModelFileError(path, f"tensor name {name!r} is not valid UTF-8")
        if not isinstance(info, dict) or set(info) != _ENTRY_KEYS:
            keys = sorted(info) if isinstance(info, dict) else type(info).__name__
            raise ModelFileError(path, f"tensor {name!r}: entry must have exactly the keys "
                                       f"dtype, shape, data_offsets, got {keys}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _ST_TO_NP:
            raise ModelFileError(path, f"tensor {name!r}: unsupported dtype {dtype!r} "
                                       f"(supported: {', '.join(_ST_TO_NP)})")
        if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
            raise ModelFileError(path, f"tensor {name!r}: shape must be a list of non-negative integers, "
                                       f"got {shape!r:.200}")
        if len(shape) > MAX_NDIM:
            raise ModelFileError(path, f"tensor {name!r}: {len(shape)} dimensions, more than {MAX_NDIM}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise ModelFileError(path, f"tensor {name!r}: data_offsets must be [begin, end] with "
                                       f"0 <= begin <= end, got {offsets!r:.200}")
        begin, end = offsets
        nbytes = math.prod(shape) * _ST_TO_NP[dtype].itemsize  # Python ints: no overflow
        if end - begin != nbytes:
            raise ModelFileError(path, f"tensor {name!r}: shape {shape} of {dtype} needs {nbytes} bytes "
                                       f"but data_offsets {offsets} span {end - begin}")
        if end > data_len:
            raise ModelFileError(path, f"tensor {name!r}: data_offsets {offsets} lie outside the "
                                       f"{data_len}-byte data buffer")
        if shape_too_big(shape, _ST_TO_NP[dtype].itemsize):  # only reachable with a zero dimension
            raise ModelFileError(path, f"tensor {name!r}: shape {shape!r:.200} is too large")
        entries.append((name, dtype, tuple(shape), begin, end))

    # Tensors must tile the buffer exactly (safetensors' rule): an overlap lets a tiny file declare many
    # large tensors over the same bytes, a gap or trailing bytes can hide another file (polyglots).
    expected = 0
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin < expected:
            raise ModelFileError(path, f"tensor {name!r}: data_offsets [{begin}, {end}] overlap the previous "
                                       f"tensor (which ends at {expected})")
        if begin > expected:
            raise ModelFileError(path, f"gap in the data buffer: bytes [{expected}, {begin}) belong to no "
                                       f"tensor (before {name!r})")
        expected = end
    if expected != data_len:
        raise ModelFileError(path, f"the tensors cover {expected} bytes but the data buffer has {data_len} "
                                   f"(trailing data)")
    return entries, metadata, 8 + n


def _refuse_header_length(path, head: bytes, n: int, file_size: int) -> NoReturn:
    """The first 8 bytes are no valid header length: say so, and what the file looks like instead."""
    if is_pickle(head, file_size):
        raise ModelFileError(path, f"not a safetensors file but a Python pickle; {PICKLE_REFUSED}")
    if is_zip(head):
        raise ModelFileError(path, "not a safetensors file but a zip archive: an .npz (fastnn.io.load_arrays "
                                   "reads those) or a torch.save checkpoint (" + PICKLE_REFUSED + ")")
    if n > MAX_HEADER_SIZE:
        raise ModelFileError(path, f"header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit")
    raise ModelFileError(path, f"header length {n} is larger than the {file_size - 8} bytes after it")


def read_safetensors(path, *, check_finite: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(arrays, metadata)``, both in header order.

    Everything is validated (see the module docstring) before any tensor is allocated, and each tensor is
    read into its own owned, native-byte-order array; BF16 tensors are widened exactly to float32. With
    ``check_finite``, NaN or infinite values are an error too. Raises :class:`ModelFileError` for anything
    wrong with the file's content or when it is not a regular file (a FIFO would block forever),
    ``FileNotFoundError``/``OSError`` when it cannot be opened.
    """
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        entries, metadata, start = _parse_header(path, f, size)
        arrays = {}
        for name, dtype, shape, begin, end in entries:
            arr = np.empty(shape, dtype=_ST_TO_NP[dtype])  # size checked against the file above
            if end > begin:
                f.seek(start + begin)
                got = _readinto_exact(f, arr)
                if got != end - begin:
                    raise ModelFileError(path, f"tensor {name!r}: file ended after {got} of {end - begin} bytes "
                                               f"(was it modified while being read?)")
            if dtype == "BF16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            elif not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            arrays[name] = arr
    if check_finite:
        finite_check(path, arrays)
    return arrays, dict(metadata)
