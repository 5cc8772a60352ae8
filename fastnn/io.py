"""Safe model files: safetensors written and read by hand in numpy, hardened against hostile input.

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

A fastnn model file is a safetensors file whose metadata is
``{"format": "fastnn", "format_version": "1", "fastnn_version": ..., "config": json.dumps(model.get_config())}``
and whose tensors are ``model.state_arrays()``; :func:`save` and :func:`load` write and read it. Any
safetensors reader can open it; :func:`load_arrays` reads plain weight files (safetensors or ``.npz``).
"""
from __future__ import annotations

import importlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Mapping

import numpy as np

__all__ = [
    "ModelFileError",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "save",
    "load",
    "load_arrays",
    "read_safetensors",
    "write_safetensors",
]

FORMAT_NAME = "fastnn"
FORMAT_VERSION = "1"
MAX_HEADER_SIZE = 100_000_000  # as safetensors' MAX_HEADER_SIZE
MAX_NDIM = 32
_ENTRY_KEYS = frozenset(("dtype", "shape", "data_offsets"))
_CHUNK = 1 << 20

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


class ModelFileError(ValueError):
    """A model or weights file is damaged, hostile, or not what was expected."""

    def __init__(self, path, problem: str):
        self.path = os.fspath(path) if path is not None else "<file>"
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# ------------------------------------------------------------------------------------------------- helpers


def _strict_json(text: str):
    """json.loads that refuses duplicate keys and the non-JSON constants NaN/Infinity."""

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def constant(name):
        raise ValueError(f"{name} is not valid JSON")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shape_too_big(shape, itemsize: int) -> bool:
    """True if numpy could not even describe this shape (dims beyond intp, even alongside a zero dim)."""
    return math.prod(max(int(d), 1) for d in shape) * itemsize >= 1 << 62


def _utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")  # lone surrogates from "\ud800" escapes cannot be encoded
        return True
    except UnicodeEncodeError:
        return False


def _umask() -> int:
    """The process umask, read without changing it (os.umask is a racy get-and-set)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _atomic_write(path, write) -> None:
    """Call ``write(f)`` on a temp file in the target's directory, fsync, then rename it over ``path``.

    A crash or error at any point leaves either the old file or the complete new one, never a mix, and
    reading a file's arrays and writing them back to the same path is safe.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere, and not an error if not
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _readinto_exact(f, arr: np.ndarray) -> int:
    view = arr.reshape(-1).view(np.uint8)
    got = 0
    while got < view.size:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _finite_check(path, arrays: dict) -> None:
    for name, a in arrays.items():
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ModelFileError(path, f"tensor {name!r} contains NaN or infinite values")


# --------------------------------------------------------------------------------------------- safetensors


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
            if not _utf8_ok(k) or not _utf8_ok(v):
                raise ValueError(f"metadata entry {k!r} is not encodable as UTF-8")
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    tensors, offset = [], 0
    for name, a in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"array names must be str, got {name!r}")
        if name == "__metadata__" or not _utf8_ok(name):
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

    _atomic_write(path, write)


def _parse_header(path, f, file_size: int):
    """Validate the header against the file size. Returns (entries in header order, metadata, data start)."""
    if file_size < 8:
        raise ModelFileError(path, f"file too short ({file_size} bytes) for the 8-byte safetensors header length")
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_SIZE:
        raise ModelFileError(path, f"header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit")
    if n > file_size - 8:
        raise ModelFileError(path, f"header length {n} is larger than the {file_size - 8} bytes after it")
    raw = f.read(n)
    if len(raw) != n:
        raise ModelFileError(path, f"header truncated: read {len(raw)} of {n} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(path, f"header is not valid UTF-8 ({exc})") from None
    try:
        header = _strict_json(text)
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
        if not _utf8_ok(k) or not _utf8_ok(v):
            raise ModelFileError(path, f"__metadata__ entry {k!r} is not valid UTF-8")

    data_len = file_size - 8 - n
    entries = []
    for name, info in header.items():
        if not _utf8_ok(name):
            raise ModelFileError(path, f"tensor name {name!r} is not valid UTF-8")
        if not isinstance(info, dict) or set(info) != _ENTRY_KEYS:
            keys = sorted(info) if isinstance(info, dict) else type(info).__name__
            raise ModelFileError(path, f"tensor {name!r}: entry must have exactly the keys "
                                       f"dtype, shape, data_offsets, got {keys}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _ST_TO_NP:
            raise ModelFileError(path, f"tensor {name!r}: unsupported dtype {dtype!r} "
                                       f"(supported: {', '.join(_ST_TO_NP)})")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ModelFileError(path, f"tensor {name!r}: shape must be a list of non-negative integers, "
                                       f"got {shape!r:.200}")
        if len(shape) > MAX_NDIM:
            raise ModelFileError(path, f"tensor {name!r}: {len(shape)} dimensions, more than {MAX_NDIM}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
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
        if _shape_too_big(shape, _ST_TO_NP[dtype].itemsize):  # only reachable with a zero dimension
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


def read_safetensors(path, *, check_finite: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(arrays, metadata)``, both in header order.

    Everything is validated (see the module docstring) before any tensor is allocated, and each tensor is
    read into its own owned, native-byte-order array; BF16 tensors are widened exactly to float32. With
    ``check_finite``, NaN or infinite values are an error too. Raises :class:`ModelFileError` for anything
    wrong with the file's content, ``FileNotFoundError``/``OSError`` when it cannot be opened.
    """
    with open(path, "rb") as f:
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
        _finite_check(path, arrays)
    return arrays, dict(metadata)


# ------------------------------------------------------------------------------------------------------- npz


def _read_npy_member(path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    member = info.filename
    fmt = np.lib.format
    with zf.open(info) as m:
        try:
            version = fmt.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(m)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except Exception as exc:  # numpy's header parser can raise more than ValueError on crafted input
            raise ModelFileError(path, f"member {member!r}: bad .npy header ({type(exc).__name__}: {exc})") from None
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufc":
            raise ModelFileError(path, f"member {member!r}: dtype {dtype} is not a plain numeric type")
        expected = math.prod(shape) * dtype.itemsize
        header_len = m.tell()
        if info.file_size != header_len + expected:
            raise ModelFileError(path, f"member {member!r}: header declares shape {shape!r:.200} of {dtype} = "
                                       f"{expected} bytes but the member holds {info.file_size - header_len}")
        if len(shape) > MAX_NDIM or _shape_too_big(shape, dtype.itemsize):
            raise ModelFileError(path, f"member {member!r}: shape {shape!r:.200} is too large")
        # Grow with the data actually inflated, capped one byte past the declared size (zip bombs, lies in
        # the zip directory): never allocate the declared size up front.
        buf = bytearray()
        while len(buf) <= expected:
            chunk = m.read(min(_CHUNK, expected + 1 - len(buf)))
            if not chunk:
                break
            buf += chunk
    if len(buf) != expected:
        raise ModelFileError(path, f"member {member!r}: expected {expected} data bytes, found "
                                   f"{'more' if len(buf) > expected else len(buf)}")
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return np.array(arr, dtype=dtype.newbyteorder("="), order="C")  # owned, native, C-contiguous


def _read_npz(path) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ModelFileError(path, f"not a valid .npz (zip) file ({exc})") from None
    arrays = {}
    try:
        with zf:
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
                arrays[name] = _read_npy_member(path, zf, info)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        # BadZipFile covers CRC mismatches; zlib.error is raised as BadZipFile/OSError by zipfile
        raise ModelFileError(path, f"corrupt .npz ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # zlib.error and anything else zipfile lets through on crafted input
        raise ModelFileError(path, f"corrupt .npz ({type(exc).__name__}: {exc})") from None
    return arrays


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
        arrays = _read_npz(p)
        if check_finite:
            _finite_check(p, arrays)
        return arrays
    return read_safetensors(p, check_finite=check_finite)[0]


# ---------------------------------------------------------------------------------------------- fastnn models


def save(model, path) -> None:
    """Write ``model`` to ``path`` as a fastnn model file (safetensors + architecture as JSON metadata).

    Stores ``model.state_arrays()`` (every parameter and buffer, bit for bit) and ``model.get_config()``.
    The write is atomic: ``path`` holds either the previous file or the complete new one.
    """
    from . import __version__

    config = model.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"model.get_config() must return a dict, got {type(config).__name__}")
    try:
        config_text = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"model config is not JSON-serializable: {exc}") from exc
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "fastnn_version": __version__,
                "config": config_text}
    write_safetensors(path, model.state_arrays(), metadata)


def _check_sizes_against_file(path, config: dict, arrays: dict) -> None:
    """Refuse a config whose layer sizes imply more parameters than the file holds, before anything is built.

    Building a model allocates and initializes its parameters; without this check a few-byte config such as
    ``input_dim=10**6`` with ``units=10**6`` would make ``load`` allocate terabytes. Walks the Sequential
    chain (input_dim, then each layer's "units"): every Dense-like layer owns an in*units weight that must be
    among the stored tensors, so in*units cannot exceed the number of stored elements.
    """
    budget = sum(int(a.size) for a in arrays.values())
    dim = config.get("input_dim")
    if dim is not None and (not _is_int(dim) or dim < 0 or dim > budget):
        raise ModelFileError(path, f"config input_dim={dim!r:.50} is inconsistent with the {budget} stored values")
    layers = config.get("layers", [])
    if not isinstance(layers, list):
        raise ModelFileError(path, "config 'layers' must be a list")
    for i, layer in enumerate(layers):
        units = layer.get("units") if isinstance(layer, dict) else None
        if units is None:
            continue
        if not _is_int(units) or units < 0 or units > budget or (dim is not None and dim * units > budget):
            raise ModelFileError(path, f"config layer {i}: units={units!r:.50} (with {dim} inputs) implies more "
                                       f"parameters than the {budget} values stored in the file")
        dim = units


def load(path):
    """Read a fastnn model file written by :func:`save` and return the model, weights restored bit for bit.

    Checks, in order: the safetensors container (see :func:`read_safetensors`), ``format == "fastnn"``,
    ``format_version == "1"``, that ``config`` is a JSON object naming a class, that the layer sizes it
    declares fit the stored tensors (so a hostile config cannot make the build allocate a huge model), then
    builds the model with ``fastnn.models.model_from_config`` and checks every stored tensor's name, shape
    and dtype against the new model before ``model.load_state_arrays``. Any failure raises
    :class:`ModelFileError`; nothing is pickled or evaluated.
    """
    arrays, meta = read_safetensors(path)
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise ModelFileError(path, f"not a fastnn model file (metadata format={fmt!r}, expected "
                                   f"{FORMAT_NAME!r}); fastnn.io.load_arrays reads plain weight files")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, str) and version.isdigit() and int(version) > int(FORMAT_VERSION)
        raise ModelFileError(path, f"format_version {version!r}: " + (
            f"written by a newer fastnn ({meta.get('fastnn_version', '?')}); upgrade fastnn to read it" if newer
            else f"this fastnn reads format_version {FORMAT_VERSION!r}"))
    text = meta.get("config")
    if text is None:
        raise ModelFileError(path, "metadata has no 'config' (the model architecture)")
    try:
        config = _strict_json(text)
    except RecursionError:
        raise ModelFileError(path, "model config JSON is nested too deeply") from None
    except ValueError as exc:
        raise ModelFileError(path, f"model config is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFileError(path, f"model config must be a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("class"), str):
        raise ModelFileError(path, "model config has no 'class' name")
    _check_sizes_against_file(path, config, arrays)

    models = importlib.import_module("fastnn.models")
    try:
        model = models.model_from_config(config, arrays)
    except Exception as exc:  # a hostile config can trip anything in the builders: report it as a file error
        raise ModelFileError(path, f"cannot build the model from its config ({type(exc).__name__}: {exc})") from exc
    try:
        expected = model.state_arrays()
    except Exception as exc:
        raise ModelFileError(path, f"model built from the config has no state ({type(exc).__name__}: {exc})") from exc
    missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ModelFileError(path, f"tensors do not match the architecture: missing {missing}, unexpected {extra}")
    for name, want in expected.items():
        got = arrays[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ModelFileError(path, f"tensor {name!r}: stored {got.dtype}{list(got.shape)}, the architecture "
                                       f"needs {want.dtype}{list(want.shape)}")
    try:
        model.load_state_arrays(arrays)
    except Exception as exc:
        raise ModelFileError(path, f"cannot load the weights ({type(exc).__name__}: {exc})") from exc
    return model
