"""The ``.npz`` container (a zip of ``.npy`` members) read without pickle and hardened against hostile input:
only plain numeric dtypes (and, when asked, fixed-width strings: the labels of a data file), each member's header
checked against its size before its data is read, data inflated in bounded chunks (never the size a header or the
zip directory declares)."""
from __future__ import annotations

import math
import os
import zipfile
from typing import IO

import numpy as np

from .common import MAX_NDIM, PICKLE_REFUSED, ModelFileError, is_zip, open_regular, shape_too_big

__all__ = ["read_npy", "read_npz"]

_CHUNK = 1 << 20
NUMERIC_KINDS = "biufc"
TEXT_KINDS = "US"  # numpy's fixed-width unicode (UTF-32) and bytes strings: data, never Python objects

def _read_npy(path, stream: IO[bytes], size: int, what: str, kinds: str = NUMERIC_KINDS) -> np.ndarray:
    """The array of one ``.npy`` stream of ``size`` bytes (a member, or a whole file), without pickle: the
    header is checked against ``size`` before any data is read, and the data is read in chunks. ``kinds``: the
    dtype kinds accepted (numbers; strings too for a data file's labels)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except Exception as exc:  # numpy's header parser can raise more than ValueError on crafted input
        raise ModelFileError(path, f"{what}: bad .npy header ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds:
        raise ModelFileError(path, f"{what}: dtype {dtype} is not a plain numeric type"
                                   f"{' or a string' if TEXT_KINDS in kinds else ''}")
    if dtype.itemsize == 0:  # '<U0': numpy cannot make an array of it from bytes
        raise ModelFileError(path, f"{what}: dtype {dtype} holds nothing")
    expected = math.prod(shape) * dtype.itemsize
    header_len = stream.tell()
    if size != header_len + expected:
        raise ModelFileError(path, f"{what}: header declares shape {shape!r:.200} of {dtype} = "
                                   f"{expected} bytes but {size - header_len} follow the header")
    if len(shape) > MAX_NDIM or shape_too_big(shape, dtype.itemsize):
        raise ModelFileError(path, f"{what}: shape {shape!r:.200} is too large")
    # Grow with the data actually read, capped one byte past the declared size (zip bombs, lies in the zip
    # directory): never allocate the declared size up front.
    buf = bytearray()
    while len(buf) <= expected:
        chunk = stream.read(min(_CHUNK, expected + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
    if len(buf) != expected:
        raise ModelFileError(path, f"{what}: expected {expected} data bytes, found "
                                   f"{'more' if len(buf) > expected else len(buf)}")
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if dtype.kind == "U":
        _check_code_points(path, arr, what)
    return np.array(arr, dtype=dtype.newbyteorder("="), order="C")  # owned, native, C-contiguous


def _check_code_points(path, arr: np.ndarray, what: str) -> None:
    """Every code point of a unicode array is a character (at most U+10FFFF, no surrogate): numpy turns others
    into a SystemError when the array is read, and no text holds them."""
    codes = arr.view(np.dtype(np.uint32).newbyteorder(arr.dtype.byteorder))
    bad = (codes > 0x10FFFF) | ((codes >= 0xD800) & (codes <= 0xDFFF))
    if bad.any():
        raise ModelFileError(path, f"{what}: code point {int(codes[bad][0]):#x} is not a Unicode character")


def _read_npy_member(path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, kinds: str) -> np.ndarray:
    with zf.open(info) as m:
        return _read_npy(path, m, info.file_size, f"member {info.filename!r}", kinds)


def read_npy(path) -> np.ndarray:
    """The array of a ``.npy`` file, read as an .npz member is (see the module docstring): no pickle, the
    header checked against the file's size before anything is allocated. :class:`ModelFileError` for anything
    wrong, including a path that is not a regular file."""
    with open_regular(path) as f:
        return _read_npy(path, f, os.fstat(f.fileno()).st_size, "array")


def _refuse_pickles(path, zf: zipfile.ZipFile) -> None:
    """A torch.save checkpoint is a zip with a pickle (``<name>/data.pkl``): name the real problem."""
    pickled = [i.filename for i in zf.infolist() if i.filename.endswith(".pkl")]
    if pickled:
        what = "a torch.save checkpoint" if any(p.endswith("data.pkl") for p in pickled) else "a zip of pickles"
        raise ModelFileError(path, f"{what} (member {pickled[0]!r}), not an .npz of arrays; {PICKLE_REFUSED}")


def read_npz(path, *, text: bool = False) -> dict[str, np.ndarray]:
    """Named arrays of an ``.npz`` file (see the module docstring); :class:`ModelFileError` for anything
    wrong, including a non-regular file and a pickled PyTorch checkpoint (never unpickled). ``text``: arrays of
    fixed-width strings are read too (the labels of a data file; weights are numbers only)."""
    with open_regular(path) as f:
        if not is_zip(f.read(4)):
            raise ModelFileError(path, "not an .npz: a zip file starts with PK\\x03\\x04")
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except Exception as exc:  # BadZipFile, and more on crafted directories (NotImplementedError, ...)
            raise ModelFileError(path, f"not a valid .npz (zip) file ({type(exc).__name__}: {exc})") from None
        with zf:
            _refuse_prepended_data(path, zf)
            _refuse_pickles(path, zf)
            return _read_members(path, zf, NUMERIC_KINDS + (TEXT_KINDS if text else ""))


def _refuse_prepended_data(path, zf: zipfile.ZipFile) -> None:
    """zipfile tolerates bytes before the first member (self-extracting archives); numpy does not, and a file
    that is two formats at once (a polyglot) is refused, as safetensors refuses trailing bytes."""
    offsets = [info.header_offset for info in zf.infolist()]
    if offsets and min(offsets) != 0:
        raise ModelFileError(path, f"the first .npz member starts at byte {min(offsets)}, not 0 (other data "
                                   f"before it, or a damaged zip directory)")


def _read_members(path, zf: zipfile.ZipFile, kinds: str) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    try:
        for info in zf.infolist():
            member = info.filename
            if info.is_dir() or not member.endswith(".npy"):
                raise ModelFileError(path, f"member {member!r} is not a .npy array")
            if info.flag_bits & 0x1:
                raise ModelFileError(path, f"member {member!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(path, f"member {member!r}: unsupported compression method "
                                           f"{info.compress_type} (numpy writes stored or deflated)")
            name = member[:-4]
            if name in arrays:
                raise ModelFileError(path, f"duplicate array name {name!r}")
            arrays[name] = _read_npy_member(path, zf, info, kinds)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        # BadZipFile covers CRC mismatches; zlib.error is raised as BadZipFile/OSError by zipfile
        raise ModelFileError(path, f"corrupt .npz ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # zlib.error and anything else zipfile lets through on crafted input
        raise ModelFileError(path, f"corrupt .npz ({type(exc).__name__}: {exc})") from None
    return arrays

