"""Property-based fuzzing of every file reader: model files (load), weight files (load_weights, load_arrays:
safetensors and npz) and IDX data files (read_idx).

Valid seed files are mutated by hypothesis: bit flips, truncation, inserted/deleted/overwritten bytes, and
structured edits that keep the container valid so the deeper checks are reached (header shapes, dtypes and
offsets, any field of the config JSON, tensor values set to NaN/inf/huge/negative/subnormal, npz members
replaced, IDX type codes and dimensions). Every outcome must be one of:

* refused cleanly: a ValueError/TypeError subclass (ModelFileError, PretrainedWeightsError, IDXFormatError)
  with a message -- ``load`` and ``load_arrays`` only ever raise ModelFileError;
* a successful read that is right: the arrays equal what an independent reader (the safetensors package,
  numpy, or a plain struct parse for IDX) finds in the file, every weight is usable (finite in the model
  dtype, running variances >= 0), and a loaded model predicts, saves and loads back bit for bit.

Anything else -- another exception, a read that disagrees with the file ("silently wrong"), more than
MAX_SECONDS or MAX_ALLOC_BYTES for one file -- fails the test. Each test prints its counts (cases tried,
loaded, refused cleanly, silently wrong).

Bounded to about a minute in CI: FASTNN_FUZZ_EXAMPLES (default 300) examples per target, derandomized.
Setting the variable (e.g. in bench/ or by hand: ``FASTNN_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_files.py
-s``) runs longer, with fresh random choices each run.
"""
from __future__ import annotations

import collections
import gzip
import io
import json
import os
import struct
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.datasets import read_idx, write_idx
from fastnn.io import ModelFileError, load, load_arrays, save, write_safetensors
from fastnn.layers import BatchNorm, Dense, Dropout, LayerNorm, ReLU
from fastnn.pretrained import PretrainedWeightsError, checked_values

_ENV_EXAMPLES = os.environ.get("FASTNN_FUZZ_EXAMPLES")
EXAMPLES = int(_ENV_EXAMPLES) if _ENV_EXAMPLES else 300
MAX_SECONDS = 5.0          # per file: a generous bound that still catches hangs and quadratic blowups
MAX_ALLOC_BYTES = 64 << 20  # per file (the seeds are a few KB)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=_ENV_EXAMPLES is None,
                suppress_health_check=list(HealthCheck), print_blob=True)


# ------------------------------------------------------------------------------------------------ seeds

def _models():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) * 2 + 1
    plain = fastnn.Sequential([Dense(5, activation="relu"), BatchNorm(), Dropout(0.1), Dense(2)], input_dim=3)
    scaled = fastnn.Sequential([Dense(4), LayerNorm(), ReLU(), Dense(2)], dtype="float64",
                               preprocess=fastnn.preprocessing.StandardScaler().fit(X))
    pca = fastnn.Sequential([Dense(2)], preprocess=fastnn.preprocessing.PCAWhitening(n_components=2).fit(X))
    for m in (plain, scaled, pca):  # trained-looking statistics, not the initial ones
        for layer in m.layers:
            for name, buf in layer.buffers.items():
                buf[...] = rng.uniform(0.5, 2.0, buf.shape) if name == "running_var" else rng.standard_normal(buf.shape)
    return [plain, scaled, pca]


def _seed_bytes(tmp, name, writer) -> bytes:
    p = tmp / name
    writer(p)
    return p.read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seeds")
    models = _models()
    model_files = [_seed_bytes(tmp, f"m{i}.fnn", lambda p, m=m: save(m, p)) for i, m in enumerate(models)]
    arrays = models[0].state_arrays()
    weights = {
        "safetensors": _seed_bytes(tmp, "w.safetensors", lambda p: write_safetensors(p, arrays)),
        "npz": _seed_bytes(tmp, "w.npz", lambda p: np.savez(p, **arrays)),
        "npz_deflated": _seed_bytes(tmp, "wz.npz", lambda p: np.savez_compressed(p, **arrays)),
    }
    rng = np.random.default_rng(1)
    idx = [_seed_bytes(tmp, "a.idx", lambda p: write_idx(p, rng.integers(0, 255, (3, 4, 5), dtype=np.uint8))),
           _seed_bytes(tmp, "b.idx", lambda p: write_idx(p, rng.standard_normal((6, 2)).astype(np.float32))),
           _seed_bytes(tmp, "c.idx.gz", lambda p: write_idx(p, rng.integers(-9, 9, 7, dtype=np.int16)))]
    npy = [_seed_bytes(tmp, "a.npy", lambda p: np.save(p, np.asfortranarray(rng.standard_normal((3, 4))))),
           _seed_bytes(tmp, "b.npy", lambda p: np.save(p, np.arange(5, dtype=">i2")))]
    return {"models": models, "model_files": model_files, "weights": weights, "idx": idx, "npy": npy}


# ------------------------------------------------------------------------------------------- mutations

_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 2, -1, 3, 7, 10**6, 2**31, 2**63, 10**30]),
                       st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False),
                       st.sampled_from(["", "float32", "float64", "float16", "Dense", "ReLU", "BatchNorm",
                                        "Dropout", "StandardScaler", "Sequential", "relu", "x" * 300]))
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=8)
_SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 1e300, -1e39, 3e38, -1.0, 0.0, 5e-324, 1e-310, 2.0**-126]


def _raw_mutation():
    """One byte-level edit: (kind, position in [0, 1), payload)."""
    return st.tuples(st.sampled_from(["flip", "flip_tail", "flip_tail", "truncate", "insert", "delete", "overwrite"]),
                     st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=12), st.integers(0, 7))


def _apply_raw(data: bytes, mutation) -> bytes:
    kind, where, payload, bit = mutation
    pos = int(where * len(data)) if data else 0
    if kind == "flip_tail" and data:  # in the last 512 bytes: mostly tensor data, so the file stays readable
        pos = len(data) - 1 - int(where * min(len(data), 512))
    if kind in ("flip", "flip_tail") and data:
        return data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1:]
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + payload + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + len(payload):]
    return data[:pos] + payload + data[pos + len(payload):]


def _walk_paths(obj, path=()):
    """Every (path, value) inside a JSON value, containers included."""
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_paths(v, path + (i,))


def _set_path(obj, path, value):
    if not path:
        return value
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return obj


def _split_safetensors(data: bytes):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join_safetensors(header, body: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + body


def _structured_safetensors(data: bytes, draw) -> bytes:
    """A header or value edit that keeps the bytes a well-formed safetensors container where it can."""
    header, body = _split_safetensors(data)
    kind = draw(st.sampled_from(["config", "config", "entry", "values", "drop", "duplicate_layers"]))
    meta = header.get("__metadata__", {})
    names = [k for k in header if k != "__metadata__"]
    if kind in ("config", "duplicate_layers") and "config" in meta:
        config = json.loads(meta["config"])
        if not isinstance(config, dict):
            return data
        if kind == "config":
            paths = [p for p, _ in _walk_paths(config)]
            path = draw(st.sampled_from(paths))
            config = _set_path(config, path, draw(_JSON))
        else:
            layers = config.get("layers", [])
            if layers:
                config["layers"] = layers * draw(st.integers(2, 50))
        meta["config"] = json.dumps(config)
        header["__metadata__"] = meta
        return _join_safetensors(header, body)
    if not names:
        return data
    name = draw(st.sampled_from(names))
    entry = header[name]
    if kind == "entry":
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        if field == "dtype":
            entry["dtype"] = draw(st.sampled_from(["F32", "F64", "F16", "BF16", "I64", "I32", "U8", "BOOL", "C64",
                                                   "U64", "F8", "f32", "", 3]))
        elif field == "shape":
            entry["shape"] = draw(st.one_of(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 10, 2**31, 2**62, -1]),
                                                     max_size=4), _JSON))
        else:
            begin, end = entry["data_offsets"]
            entry["data_offsets"] = [begin + draw(st.integers(-8, 8)), end + draw(st.integers(-8, 8))]
        return _join_safetensors(header, body)
    if kind == "values":
        begin, end = entry["data_offsets"]
        dt = {"F32": "<f4", "F64": "<f8"}.get(entry["dtype"])
        if dt is None or end == begin:
            return data
        values = np.frombuffer(body[begin:end], dt).copy()
        with np.errstate(over="ignore"):
            values[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from(_SPECIAL_VALUES))
        return _join_safetensors(header, body[:begin] + values.tobytes() + body[end:])
    # drop a tensor (and its bytes, shifting the others): a structurally valid file missing an array
    begin, end = entry["data_offsets"]
    del header[name]
    for other in header:
        if other != "__metadata__" and header[other]["data_offsets"][0] >= end:
            header[other]["data_offsets"] = [o - (end - begin) for o in header[other]["data_offsets"]]
    return _join_safetensors(header, body[:begin] + body[end:])


def _structured_npz(data: bytes, draw) -> bytes:
    """Replace one member by an array of another shape/dtype/values, or rename it."""
    with warnings.catch_warnings():  # casts of NaN/complex/huge values are the point here
        warnings.simplefilter("ignore")
        return _structured_npz_edit(data, draw)


def _structured_npz_edit(data: bytes, draw) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    name = draw(st.sampled_from(sorted(arrays)))
    a = arrays[name]
    kind = draw(st.sampled_from(["values", "shape", "dtype", "rename"]))
    if kind == "values" and a.size:
        a = a.astype(np.float64)
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(_SPECIAL_VALUES))
        arrays[name] = a.astype(arrays[name].dtype) if draw(st.booleans()) else a
    elif kind == "shape":
        arrays[name] = np.zeros(draw(st.lists(st.integers(0, 6), max_size=3)), a.dtype)
    elif kind == "dtype":
        arrays[name] = a.astype(draw(st.sampled_from(["f2", "f4", "f8", "i8", "u1", "?", "c8", ">f4"])))
    else:
        arrays[draw(st.sampled_from(["0.weight", "arr_0", "x", "1.W", "0.running_var", "9.b"]))] = arrays.pop(name)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _structured_idx(data: bytes, draw) -> bytes:
    compressed = data[:2] == b"\x1f\x8b"
    raw = gzip.decompress(data) if compressed else data
    field = draw(st.sampled_from(["type", "ndim", "dim", "dim"]))
    if field == "type":
        raw = raw[:2] + bytes([draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]))]) + raw[3:]
    elif field == "ndim":
        raw = raw[:3] + bytes([draw(st.integers(0, 6))]) + raw[4:]
    else:
        i = draw(st.integers(0, max(0, raw[3] - 1)))
        value = draw(st.sampled_from([0, 1, 2, 3, 5, 7, 2**16, 2**31, 2**32 - 1]))
        raw = raw[:4 + 4 * i] + value.to_bytes(4, "big") + raw[8 + 4 * i:]
    return gzip.compress(raw, mtime=0) if compressed else raw


def _mutated(seed: bytes, draw, structured) -> bytes:
    """Structured edits (the deeper checks), raw byte edits (the container), or both, in equal parts."""
    data = seed
    mode = draw(st.sampled_from(["structured", "raw", "both"]))
    if mode != "raw":
        for _ in range(draw(st.integers(1, 2))):
            try:
                data = structured(data, draw)
            except (ValueError, KeyError, TypeError, struct.error, zipfile.BadZipFile, OSError, EOFError,
                    IndexError):
                pass  # the structured edit needs a well-formed input; raw edits below still apply
    if mode != "structured" or data == seed:
        for mutation in draw(st.lists(_raw_mutation(), min_size=1, max_size=3)):
            data = _apply_raw(data, mutation)
    return data


# ----------------------------------------------------------------------------------------------- oracles

class SilentlyWrong(AssertionError):
    """A read that succeeded but does not match the file, or a loaded model that is not usable."""


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _reference_safetensors(path) -> dict[str, np.ndarray]:
    """The safetensors package's reading (through torch, which knows bfloat16), as native numpy arrays."""
    import torch
    from safetensors.torch import load_file

    out = {}
    for k, t in load_file(str(path)).items():
        a = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        out[k] = np.asarray(a, a.dtype.newbyteorder("="))
    return out


def _reference_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:  # safe here: fastnn already checked every size
        return {k: np.asarray(z[k], z[k].dtype.newbyteorder("=")) for k in z.files}


def _reference(path) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        head = f.read(4)
    if str(path).endswith(".npz") or head == b"PK\x03\x04":
        return _reference_npz(path)
    return _reference_safetensors(path)


def _expect_same_arrays(ours: dict, path) -> None:
    try:
        theirs = _reference(path)
    except Exception as exc:  # noqa: BLE001
        raise SilentlyWrong(f"fastnn read a file the reference reader refuses ({type(exc).__name__}: {exc})") from exc
    if list(ours) != list(theirs) and set(ours) != set(theirs):
        raise SilentlyWrong(f"names differ: {sorted(ours)} vs {sorted(theirs)}")
    for k in theirs:
        if not _same(np.ascontiguousarray(ours[k]), np.ascontiguousarray(theirs[k])):
            raise SilentlyWrong(f"array {k!r} differs from the file's")


def _expect_usable(model) -> None:
    for name, a in model.state_arrays().items():
        try:
            checked_values(name.rpartition(".")[2], a, a.dtype)
        except ValueError as exc:
            raise SilentlyWrong(f"loaded model has unusable {name!r}: {exc}") from None


def _check_loaded_model(model, path, tmp) -> None:
    _expect_same_arrays(model.state_arrays(), path)
    _expect_usable(model)
    X = np.random.default_rng(0).standard_normal((4, model.n_features_in))
    with np.errstate(all="ignore"):
        out = model.predict(X)
    if out.shape != (4, model.output_dim):
        raise SilentlyWrong(f"predict returned shape {out.shape}")
    again = tmp / "again.fnn"
    save(model, again)
    back = load(again)
    if back.get_config() != model.get_config():
        raise SilentlyWrong("config changed in a save/load round trip")
    a, b = model.state_arrays(), back.state_arrays()
    if list(a) != list(b) or not all(_same(a[k], b[k]) for k in a):
        raise SilentlyWrong("arrays changed in a save/load round trip")


def _check_loaded_weights(model, arrays_path) -> None:
    _expect_usable(model)
    file_arrays = _reference(arrays_path)
    own = {k: v for k, v in model.state_arrays().items() if not k.startswith("preprocess.")}
    if set(own) <= set(file_arrays):  # fastnn names: each weight is the file's array in the model dtype
        for k, v in own.items():
            if not _same(v, np.asarray(file_arrays[k]).astype(v.dtype)):
                raise SilentlyWrong(f"weight {k!r} differs from the file's array")


def _reference_idx(data: bytes) -> np.ndarray:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    code, ndim = raw[2], raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dt = np.dtype({0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code])
    return np.frombuffer(raw[4 + 4 * ndim:], dt).reshape(dims).astype(dt.newbyteorder("="))


# ------------------------------------------------------------------------------------------------ driver

class Tally:
    def __init__(self, name: str):
        self.name = name
        self.counts: collections.Counter = collections.Counter()
        self.messages: collections.Counter = collections.Counter()

    def run(self, call, check, clean_errors) -> None:
        """Run ``call()``; classify the outcome; raise on anything but a clean refusal or a verified read."""
        self.counts["tried"] += 1
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            result = call()
        except clean_errors as exc:
            if not str(exc):
                raise AssertionError(f"{type(exc).__name__} without a message") from exc
            self.counts["refused cleanly"] += 1
            self.messages[_message_kind(exc)] += 1
            return
        finally:
            elapsed = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert elapsed < MAX_SECONDS, f"{self.name}: one file took {elapsed:.1f} s"
            assert peak < MAX_ALLOC_BYTES, f"{self.name}: one file allocated {peak / 1e6:.0f} MB"
        try:
            check(result)
        except SilentlyWrong:
            self.counts["silently wrong"] += 1
            raise
        self.counts["loaded and verified"] += 1

    def report(self, capsys) -> None:
        with capsys.disabled():
            print(f"\n[fuzz {self.name}] " + ", ".join(f"{k}: {v}" for k, v in self.counts.items())
                  + f"; silently wrong: {self.counts['silently wrong']}")
            shown = self.messages.most_common(int(os.environ.get("FASTNN_FUZZ_SHOW", "5")))
            print(f"[fuzz {self.name}] most common refusals: {shown}")


def _message_kind(exc: Exception) -> str:
    text = str(exc).split(": ", 1)[-1]
    return f"{type(exc).__name__}: {text[:60]}"


def _fuzz(seed_files: list[bytes], structured, path, read_and_check) -> None:
    """``read_and_check(path, blob, draw)`` on FUZZ mutated copies of the seed files written to ``path``."""

    @FUZZ
    @given(st.sampled_from(seed_files), st.data())
    def run(seed, data):
        blob = _mutated(seed, data.draw, structured)
        path.write_bytes(blob)
        read_and_check(path, blob, data.draw)

    run()


# -------------------------------------------------------------------------------------------------- tests

def test_fuzz_load_model_files(seeds, tmp_path, capsys):
    tally = Tally("load (model files)")

    def read_and_check(p, blob, draw):
        tally.run(lambda: load(p), lambda model: _check_loaded_model(model, p, tmp_path), ModelFileError)

    _fuzz(seeds["model_files"], _structured_safetensors, tmp_path / "m.fnn", read_and_check)
    tally.report(capsys)
    assert tally.counts["silently wrong"] == 0


@pytest.mark.parametrize("kind", ["safetensors", "npz", "npz_deflated"])
def test_fuzz_load_weights_and_load_arrays(seeds, tmp_path, capsys, kind):
    tally_w, tally_a = Tally(f"load_weights ({kind})"), Tally(f"load_arrays ({kind})")
    structured = _structured_safetensors if kind == "safetensors" else _structured_npz
    suffix = ".safetensors" if kind == "safetensors" else ".npz"

    def read_and_check(p, blob, draw):
        tally_a.run(lambda: load_arrays(p), lambda arrays: _expect_same_arrays(arrays, p), ModelFileError)
        model = fastnn.Sequential([Dense(5, activation="relu"), BatchNorm(), Dropout(0.1), Dense(2)],
                                  input_dim=None if draw(st.booleans()) else 3)

        def call():
            model.load_weights(p)
            return model

        tally_w.run(call, lambda m: _check_loaded_weights(m, p), (ModelFileError, PretrainedWeightsError))

    _fuzz([seeds["weights"][kind]], structured, tmp_path / ("w" + suffix), read_and_check)
    tally_a.report(capsys)
    tally_w.report(capsys)
    assert tally_a.counts["silently wrong"] == tally_w.counts["silently wrong"] == 0


def _header_edit_npy(data: bytes, draw) -> bytes:
    """Rewrite the .npy header dict with another shape, dtype or order (same header length where it fits)."""
    header = np.lib.format.read_array_header_1_0(_after_magic(data))
    shape, fortran, dtype = header
    edit = draw(st.sampled_from(["shape", "dtype", "order"]))
    if edit == "shape":
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 12, 2**31, 2**62]), max_size=3)))
    elif edit == "dtype":
        dtype = np.dtype(draw(st.sampled_from(["<f8", ">f8", "<f4", "|u1", "<i2", "|b1", "<c8", "|O", "<U3", "|V8"])))
    else:
        fortran = not fortran
    out = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(out, {"shape": shape, "fortran_order": fortran,
                                                    "descr": np.lib.format.dtype_to_descr(dtype)})
    except ValueError:
        return data
    body_start = len(data) - _payload_len(data)
    return out.getvalue() + data[body_start:]


def _after_magic(data: bytes):
    f = io.BytesIO(data)
    np.lib.format.read_magic(f)
    return f


def _payload_len(data: bytes) -> int:
    f = _after_magic(data)
    np.lib.format.read_array_header_1_0(f)
    return len(data) - f.tell()


def _reference_npy(path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)  # safe here: fastnn already checked every size
    except Exception as exc:  # noqa: BLE001
        raise SilentlyWrong(f"fastnn read a file numpy refuses ({type(exc).__name__}: {exc})") from exc
    return np.ascontiguousarray(a, a.dtype.newbyteorder("="))


def _single_array_readers():
    from fastnn.datasets import IDXFormatError
    from fastnn.formats import read_npy

    return {"read_idx": (read_idx, "idx", _structured_idx, lambda p, blob: _reference_idx(blob), IDXFormatError),
            "read_npy": (read_npy, "npy", _header_edit_npy, lambda p, blob: _reference_npy(p), ModelFileError)}


@pytest.mark.parametrize("name", ["read_idx", "read_npy"])
def test_fuzz_single_array_files(seeds, tmp_path, capsys, name):
    reader, seed_key, structured, reference, error = _single_array_readers()[name]
    tally = Tally(name)

    def read_and_check(p, blob, draw):
        def check(a):
            if not _same(a, reference(p, blob)):
                raise SilentlyWrong(f"{name} disagrees with an independent parse of the file")

        tally.run(lambda: reader(p), check, error)

    _fuzz(seeds[seed_key], structured, tmp_path / f"data.{seed_key}", read_and_check)
    tally.report(capsys)
    assert tally.counts["silently wrong"] == 0
