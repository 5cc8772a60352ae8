"""IDX files (the MNIST / Fashion-MNIST container), read defensively.

Layout (big-endian throughout)::

    byte 0, 1   0x00 0x00                 magic
    byte 2      type code                 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte 3      ndim                      1..4 here
    4 * ndim    dimension sizes           uint32 each
    rest        prod(dims) * itemsize     the values, C order

The files come from outside, so nothing read from the header is trusted: the payload size it declares is
computed with Python integers (no overflow) and compared with the bytes actually present *before* anything of
that size is allocated. A plain file is checked against its size on disk; a gzip stream (recognised by its
magic bytes, not by the file name) is decompressed in chunks with a cap of ``expected + 1`` bytes, so a
truncated stream, trailing data or a decompression bomb is detected without inflating more than one byte past
what the header promised. Every problem raises :class:`IDXFormatError` (a ``ValueError``) naming the file.
"""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ..formats.common import atomic_write, open_regular, shape_too_big

__all__ = ["IDXFormatError", "read_idx", "write_idx", "IDX_TYPES"]

# type code -> big-endian numpy dtype
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}

MAX_NDIM = 4
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# Default cap on the payload a header may declare (2 GiB): Fashion-MNIST's largest file is 47 MB. A
# legitimately bigger file can be read with ``max_bytes=None``.
DEFAULT_MAX_BYTES = 1 << 31


class IDXFormatError(ValueError):
    """An IDX file is malformed, truncated, has trailing data, or declares an unsupported layout."""

    def __init__(self, path, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _read_exact(f, n: int) -> bytes:
    """Read up to ``n`` bytes (n is small: header fields only)."""
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _parse_header(path, f) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return (big-endian dtype, dims, header length) after checking magic, type code and rank."""
    magic = _read_exact(f, 4)
    if len(magic) < 4:
        raise IDXFormatError(path, f"file too short for the 4-byte IDX magic ({len(magic)} bytes)")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXFormatError(path, f"bad magic {magic.hex()}: an IDX file starts with bytes 00 00")
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IDXFormatError(path, f"unsupported type code 0x{code:02X} (supported: {known})")
    if not 1 <= ndim <= MAX_NDIM:
        raise IDXFormatError(path, f"unsupported number of dimensions {ndim} (expected 1..{MAX_NDIM})")
    raw = _read_exact(f, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise IDXFormatError(path, f"truncated header: {ndim} dimensions need {4 * ndim} bytes, "
                                   f"found {len(raw)}")
    dims = tuple(int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in range(ndim))
    return IDX_TYPES[code], dims, 4 + 4 * ndim


def _payload_size(path, dtype: np.dtype, dims: tuple[int, ...], max_bytes: int | None) -> int:
    expected = dtype.itemsize
    for d in dims:
        expected *= d  # Python int: cannot overflow
    if expected == 0 and shape_too_big(dims, dtype.itemsize):  # 0 bytes, yet no array numpy can describe
        raise IDXFormatError(path, f"header declares shape {dims}, too large for an array")
    if max_bytes is not None and expected > max_bytes:
        raise IDXFormatError(path, f"header declares shape {dims} of {dtype.name} = {expected} bytes, more than "
                                   f"max_bytes={max_bytes} (pass max_bytes=None to allow larger files)")
    return expected


def _finish(path, buf, dtype: np.dtype, dims: tuple[int, ...]) -> np.ndarray:
    arr = np.frombuffer(buf, dtype=dtype).reshape(dims)
    native = dtype.newbyteorder("=")
    if arr.dtype != native or not arr.flags.writeable:
        arr = arr.astype(native)  # byte swap into an owned native-order array
    return arr


def _read_gzip(path, raw_file, max_bytes) -> np.ndarray:
    try:
        with gzip.GzipFile(fileobj=raw_file, mode="rb") as f:
            dtype, dims, _ = _parse_header(path, f)
            expected = _payload_size(path, dtype, dims, max_bytes)
            # Grow with the data actually produced; never allocate ``expected`` up front. Read at most
            # expected + 1 bytes: the extra byte tells "trailing data" without inflating a bomb any further.
            buf = bytearray()
            cap = expected + 1
            while len(buf) < cap:
                chunk = f.read(min(_CHUNK, cap - len(buf)))
                if not chunk:
                    break
                buf += chunk
    except IDXFormatError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise IDXFormatError(path, f"corrupt or truncated gzip stream ({exc})") from exc
    _check_length(path, len(buf), expected, dims, dtype)
    return _finish(path, buf, dtype, dims)


def _check_length(path, have: int, expected: int, dims, dtype) -> None:
    if have < expected:
        raise IDXFormatError(path, f"truncated data: header declares shape {dims} of {dtype.name} "
                                   f"({expected} bytes) but only {have} bytes follow the header")
    if have > expected:
        raise IDXFormatError(path, f"trailing data after the {expected} bytes declared by the header "
                                   f"(shape {dims} of {dtype.name})")


def _read_plain(path, f, max_bytes) -> np.ndarray:
    size = os.fstat(f.fileno()).st_size
    dtype, dims, header_len = _parse_header(path, f)
    expected = _payload_size(path, dtype, dims, max_bytes)
    _check_length(path, size - header_len, expected, dims, dtype)
    buf = bytearray(expected)  # safe now: equals the bytes present in the file
    view = memoryview(buf)
    got = 0
    while got < expected:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    if got != expected:  # the file shrank while we read it
        raise IDXFormatError(path, f"truncated data: expected {expected} bytes, read {got}")
    return _finish(path, buf, dtype, dims)


def read_idx(path, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a native-byte-order numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Compression is detected from the gzip magic bytes, not the suffix.
    max_bytes : int or None
        Refuse headers declaring a payload larger than this (default 2 GiB); ``None`` lifts the cap (the
        payload is still checked against the data actually present).

    Returns
    -------
    numpy.ndarray
        Shape from the header (1 to 4 dims); dtype uint8, int8, int16, int32, float32 or float64 in
        native byte order. The array owns its memory.

    Raises
    ------
    IDXFormatError
        Bad magic, unsupported type code, rank outside 1..4, truncated header or data, trailing data, corrupt
        gzip stream, a declared size above ``max_bytes``, or a path that is not a regular file (a FIFO would
        block forever). The message names the file and the problem.
    FileNotFoundError
        The file does not exist.
    """
    with open_regular(path, IDXFormatError) as f:
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            return _read_gzip(path, f, max_bytes)
        return _read_plain(path, f, max_bytes)


def write_idx(path, array, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when ``compress`` is true (default: path ends in .gz).

    The dtype must be one IDX can hold (uint8, int8, int16, int32, float32, float64) and the rank 1..4. The
    gzip header carries no timestamp or name, so the same array always gives the same bytes. Written to a temporary
    file renamed over ``path`` (fastnn.formats.common.atomic_write): a reader never sees a partial file.
    """
    a = np.asarray(array)
    native = a.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"IDX cannot store dtype {a.dtype} (supported: uint8, int8, int16, int32, float32, float64)")
    if not 1 <= a.ndim <= MAX_NDIM:
        raise ValueError(f"IDX stores 1..{MAX_NDIM} dimensions, got shape {a.shape}")
    if any(d >= 1 << 32 for d in a.shape):
        raise ValueError(f"IDX dimensions must fit in 32 bits, got shape {a.shape}")
    header = bytes([0, 0, _CODES[native], a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    payload = np.ascontiguousarray(a, dtype=IDX_TYPES[_CODES[native]]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")

    def write(raw) -> None:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
                f.write(header)
                f.write(payload)
        else:
            raw.write(header)
            raw.write(payload)

    atomic_write(path, write)  # a crash mid-write leaves the old file or the new one, never half of one
