"""Model files: safetensors round trips, compatibility with the safetensors package, hostile files, save/load."""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest
from conftest import child_env

from fastnn import io as fio
from fastnn.io import ModelFileError, load, load_arrays, read_safetensors, save, write_safetensors

# ------------------------------------------------------------------------------------------------ helpers


def raw_file(header, data: bytes = b"", *, header_bytes: bytes | None = None, length: int | None = None) -> bytes:
    """Assemble a safetensors file by hand, so tests control every byte."""
    blob = header_bytes if header_bytes is not None else json.dumps(header).encode()
    n = len(blob) if length is None else length
    return struct.pack("<Q", n) + blob + data


def write(tmp_path, content: bytes, name="f.safetensors"):
    p = tmp_path / name
    p.write_bytes(content)
    return p


def native_c(a: np.ndarray) -> np.ndarray:
    """C-contiguous native-order copy that keeps 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    return np.asarray(a, dtype=a.dtype.newbyteorder("="), order="C")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def sample_arrays():
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((3, 4)).astype(np.float32)
    f32[0, 0] = np.nan
    f32[0, 1] = -0.0
    f32[0, 2] = np.inf
    return {
        "f32": f32,
        "f64": rng.standard_normal((5,)),
        "i64": rng.integers(-2**62, 2**62, size=(2, 2, 2)),
        "empty_f32": np.zeros((0, 7), np.float32),
        "empty_i64": np.zeros((3, 0), np.int64),
        "scalar_f64": np.array(np.pi),
        "scalar_i64": np.array(-5, np.int64),
        "bool": np.array([True, False, True]),
        "u8": np.arange(256, dtype=np.uint8),
        "i8": np.array([-128, 127], np.int8),
        "i16": np.array([-32768, 32767], np.int16),
        "u16": np.array([65535], np.uint16),
        "i32": np.array([-2**31], np.int32),
        "u32": np.array([2**32 - 1], np.uint32),
        "u64": np.array([2**64 - 1], np.uint64),
        "f16": np.array([1.5, -np.inf], np.float16),
        "c64": np.array([1 + 2j], np.complex64),
        "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
        "strided": np.arange(20, dtype=np.float32)[::3],
        "big_endian": np.arange(4, dtype=">f8"),
    }


# ------------------------------------------------------------------------------------------------ round trip


def test_round_trip_bit_exact(tmp_path):
    arrays = sample_arrays()
    meta = {"a": "1", "unicode": "naïve ✓", "empty": ""}
    p = tmp_path / "x.safetensors"
    write_safetensors(p, arrays, meta)
    got, got_meta = read_safetensors(p)
    assert got_meta == meta
    assert list(got) == list(arrays)  # insertion order kept
    for name, a in arrays.items():
        b = got[name]
        expect = native_c(a)
        assert same_bits(expect, b), name
        assert b.flags.owndata or b.base is not None and b.flags.writeable
        assert b.flags.c_contiguous and b.dtype.isnative


def test_round_trip_no_metadata_and_no_tensors(tmp_path):
    p = tmp_path / "empty.safetensors"
    write_safetensors(p, {})
    assert read_safetensors(p) == ({}, {})
    write_safetensors(p, {"a": np.ones(2)})
    arrays, meta = read_safetensors(p)
    assert meta == {} and same_bits(arrays["a"], np.ones(2))


def test_header_aligned_and_padded_with_spaces(tmp_path):
    for k in range(12):  # vary the header length through every residue mod 8
        p = tmp_path / f"a{k}.safetensors"
        write_safetensors(p, {"x" * k: np.ones(3, np.float32)}, {"m": "y" * k})
        blob = p.read_bytes()
        n = struct.unpack("<Q", blob[:8])[0]
        assert (8 + n) % 8 == 0
        assert blob[8:8 + n].decode().rstrip(" ").endswith("}")
        assert len(blob) == 8 + n + 12


def test_returned_arrays_are_not_views_of_the_file(tmp_path):
    p = tmp_path / "a.safetensors"
    write_safetensors(p, {"a": np.arange(4.0)})
    arrays, _ = read_safetensors(p)
    write_safetensors(p, {"a": np.zeros(4)})  # rewriting the file cannot change what was read
    assert arrays["a"].tolist() == [0.0, 1.0, 2.0, 3.0]
    # reading then writing back to the same path is safe (cf. safetensors #762)
    write_safetensors(p, read_safetensors(p)[0])
    assert read_safetensors(p)[0]["a"].tolist() == [0.0] * 4


def test_write_refuses_bad_input_before_touching_the_file(tmp_path):
    p = tmp_path / "a.safetensors"
    write_safetensors(p, {"a": np.ones(2)})
    before = p.read_bytes()
    bad_calls = [
        ({"a": np.array(["x"])}, None, TypeError),
        ({"a": np.array([object()])}, None, TypeError),
        ({"a": np.array([1], "datetime64[s]")}, None, TypeError),
        ({1: np.ones(1)}, None, TypeError),
        ({"__metadata__": np.ones(1)}, None, ValueError),
        ({"a": np.ones(1)}, {"k": 1}, TypeError),
        ({"a": np.ones(1)}, ["k"], TypeError),
        ([np.ones(1)], None, TypeError),
    ]
    for arrays, meta, exc in bad_calls:
        with pytest.raises(exc):
            write_safetensors(p, arrays, meta)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.safetensors"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "a.safetensors"
    write_safetensors(p, {"a": np.ones(2)})
    before = p.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_safetensors(p, {"a": np.zeros(1000)})
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.safetensors"]  # temp file cleaned up


def test_written_file_permissions_follow_umask(tmp_path):
    p = tmp_path / "a.safetensors"
    write_safetensors(p, {"a": np.ones(2)})
    old = os.umask(0o022)
    os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o666 & ~old


# ------------------------------------------------------------------------------------------ compatibility


def test_reads_files_written_by_safetensors(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    arrays = {k: native_c(v) for k, v in sample_arrays().items()}
    p = tmp_path / "theirs.safetensors"
    stn.save_file(arrays, str(p), metadata={"who": "safetensors"})
    got, meta = read_safetensors(p)
    assert meta == {"who": "safetensors"}
    assert set(got) == set(arrays)
    for k in arrays:
        assert same_bits(arrays[k], got[k]), k
    assert set(load_arrays(p)) == set(arrays)


def test_safetensors_reads_our_files(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    arrays = sample_arrays()
    p = tmp_path / "ours.safetensors"
    write_safetensors(p, arrays, {"format": "x"})
    theirs = stn.load_file(str(p))
    for k, a in arrays.items():
        assert np.array_equal(theirs[k], a, equal_nan=True) and theirs[k].shape == a.shape, k
        assert theirs[k].tobytes() == np.asarray(a, dtype=a.dtype.newbyteorder("<"), order="C").tobytes()
    with safetensors.safe_open(str(p), framework="numpy") as f:
        assert f.metadata() == {"format": "x"}


def test_bf16_from_torch_widened_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.tensor([1.0, -2.5, 3.140625, 65280.0, float("inf")], dtype=torch.bfloat16)
    p = tmp_path / "bf16.safetensors"
    st_torch.save_file({"w": t}, str(p))
    got = read_safetensors(p)[0]["w"]
    assert got.dtype == np.float32
    assert np.array_equal(got, t.float().numpy())


# ------------------------------------------------------------------------------------------- hostile files

GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}}
GOOD_DATA = bytes(16)


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE = {
    "too short": (b"\x01\x02", "too short"),
    "header length > file": (raw_file(GOOD, GOOD_DATA, length=10_000), "larger than"),
    "header length huge": (struct.pack("<Q", 2**64 - 1) + b"{}", "exceeds"),
    "header length > 100MB": (struct.pack("<Q", 100_000_001) + b"{}" * 10, "exceeds"),
    "non-JSON header": (raw_file(None, header_bytes=b"{not json}  "), "not valid JSON"),
    "non-UTF-8 header": (raw_file(None, header_bytes=b'{"\xff":1}'), "UTF-8"),
    "JSON array header": (raw_file(None, header_bytes=b"[1, 2]"), "JSON object"),
    "duplicate keys": (raw_file(None, header_bytes=b'{"a":' + json.dumps(entry()).encode() + b',"a":'
                                + json.dumps(entry()).encode() + b"}") + bytes(8), "duplicate key"),
    "NaN literal": (raw_file(None, header_bytes=b'{"__metadata__":{"a":NaN}}'), "NaN"),
    "deep nesting": (raw_file(None, header_bytes=b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "JSON"),
    "lone surrogate name": (raw_file(None, header_bytes=b'{"\\ud800":' + json.dumps(entry()).encode() + b"}")
                            + bytes(8), "UTF-8"),
    "unknown dtype": (raw_file({"a": entry("Q4")}, bytes(8)), "unsupported dtype 'Q4'"),
    "float8 dtype": (raw_file({"a": entry("F8_E4M3", (8,))}, bytes(8)), "unsupported dtype"),
    "dtype not a string": (raw_file({"a": entry(7)}, bytes(8)), "unsupported dtype"),
    "negative dim": (raw_file({"a": entry(shape=(-2,))}, bytes(8)), "non-negative"),
    "float dim": (raw_file({"a": entry(shape=(2.0,))}, bytes(8)), "non-negative"),
    "bool dim": (raw_file({"a": entry(shape=(True, 2))}, bytes(8)), "non-negative"),
    "shape not a list": (raw_file({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}, bytes(8)),
                         "non-negative"),
    "too many dims": (raw_file({"a": entry(shape=(1,) * 33, offsets=(0, 4))}, bytes(4)), "dimensions"),
    "huge shape, small data": (raw_file({"a": entry(shape=(2**40, 2**40))}, bytes(8)), "needs"),
    "huge shape, matching offsets": (raw_file({"a": entry(shape=(2**40, 2**40), offsets=(0, 2**82))}, bytes(8)),
                                     "outside"),
    "overflow shape": (raw_file({"a": entry(shape=(2, 2**64 - 2), offsets=(0, 8))}, bytes(8)), "needs"),
    "zero dim with huge dim": (raw_file({"a": entry(shape=(0, 2**70), offsets=(0, 0))}), "too large"),
    "offsets reversed": (raw_file({"a": entry(offsets=(8, 0))}, bytes(8)), "begin <= end"),
    "negative offset": (raw_file({"a": entry(offsets=(-8, 0))}, bytes(8)), "begin <= end"),
    "three offsets": (raw_file({"a": entry(offsets=(0, 4, 8))}, bytes(8)), "data_offsets"),
    "offsets out of range": (raw_file({"a": entry(offsets=(8, 16))}, bytes(8)), "outside"),
    "overlap": (raw_file({"a": entry(), "b": entry(offsets=(4, 12))}, bytes(12)), "overlap"),
    "json attack (same bytes many times)": (raw_file({f"t{i}": entry(offsets=(0, 8)) for i in range(10)},
                                                     bytes(8)), "overlap"),
    "gap": (raw_file({"a": entry(), "b": entry(offsets=(12, 20))}, bytes(20)), "gap"),
    "gap at start": (raw_file({"a": entry(offsets=(4, 12))}, bytes(12)), "gap"),
    "trailing bytes (polyglot)": (raw_file(GOOD, GOOD_DATA + b"extra_bogus_data_for_polyglot_file"), "trailing"),
    "data 2 bytes short": (raw_file(GOOD, GOOD_DATA[:-2]), "outside"),
    "extra key in entry": (raw_file({"a": dict(entry(), extra=1)}, bytes(8)), "exactly the keys"),
    "missing key in entry": (raw_file({"a": {"dtype": "F32", "shape": [2]}}, bytes(8)), "exactly the keys"),
    "entry not an object": (raw_file({"a": [1, 2]}, bytes(8)), "exactly the keys"),
    "metadata non-string value": (raw_file({"__metadata__": {"k": 1}}), "must be a string"),
    "metadata nested": (raw_file({"__metadata__": {"k": {"x": "y"}}}), "must be a string"),
    "metadata list": (raw_file({"__metadata__": ["k"]}), "__metadata__"),
    "giant integer": (raw_file(None, header_bytes=b'{"a":{"dtype":"F32","shape":[' + b"9" * 5000
                               + b'],"data_offsets":[0,8]}}') + bytes(8), "JSON"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_clear_error(tmp_path, name):
    content, match = HOSTILE[name]
    p = write(tmp_path, content)
    with pytest.raises(ModelFileError, match=match) as info:
        read_safetensors(p)
    assert str(p) in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(ModelFileError):
        load_arrays(p)
    with pytest.raises(ModelFileError):
        load(p)


def test_hand_built_good_file_reads(tmp_path):
    # the hostile cases above are small edits of this file: make sure the base is accepted
    p = write(tmp_path, raw_file(GOOD, GOOD_DATA))
    arrays, meta = read_safetensors(p)
    assert meta == {} and arrays["a"].tolist() == [0.0, 0.0] and arrays["b"].dtype == np.int64
    # leading/trailing whitespace and a null __metadata__ are allowed
    hb = b"  " + json.dumps(dict(GOOD, __metadata__=None)).encode() + b"    "
    assert set(read_safetensors(write(tmp_path, raw_file(None, GOOD_DATA, header_bytes=hb)))[0]) == {"a", "b"}
    # zero-size tensors may sit anywhere in the tiling, several at the same offset
    z = {"a": entry(), "z1": entry(shape=(0, 3), offsets=(8, 8)), "z2": entry("F64", (0,), (8, 8)),
         "s": entry("F64", (), (8, 16))}
    got = read_safetensors(write(tmp_path, raw_file(z, bytes(16))))[0]
    assert got["z1"].shape == (0, 3) and got["s"].shape == ()


def test_truncated_at_every_position(tmp_path):
    p = tmp_path / "good.safetensors"
    write_safetensors(p, {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3)}, {"k": "v"})
    blob = p.read_bytes()
    for cut in range(len(blob)):
        q = write(tmp_path, blob[:cut], "cut.safetensors")
        with pytest.raises(ModelFileError):
            read_safetensors(q)


def test_empty_file(tmp_path):
    with pytest.raises(ModelFileError, match="too short"):
        read_safetensors(write(tmp_path, b""))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_safetensors(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "nope.npz")


def test_check_finite(tmp_path):
    p = tmp_path / "a.safetensors"
    write_safetensors(p, {"ok": np.ones(2), "bad": np.array([1.0, np.nan])})
    assert np.isnan(read_safetensors(p)[0]["bad"][1])
    with pytest.raises(ModelFileError, match="'bad' contains NaN"):
        read_safetensors(p, check_finite=True)
    with pytest.raises(ModelFileError, match="NaN"):
        load_arrays(p, check_finite=True)


def _mutate(rng, blob: bytes) -> bytes:
    b = bytearray(blob)
    op = rng.integers(8)
    if op == 0:  # flip random bytes
        for _ in range(rng.integers(1, 6)):
            b[rng.integers(len(b))] ^= int(rng.integers(1, 256))
    elif op == 1:  # truncate
        b = b[:rng.integers(len(b))]
    elif op == 2:  # append junk
        b += rng.bytes(int(rng.integers(1, 40)))
    elif op == 3:  # delete a slice
        i = int(rng.integers(len(b)))
        del b[i:i + int(rng.integers(1, 10))]
    elif op == 4:  # insert junk
        i = int(rng.integers(len(b)))
        b[i:i] = rng.bytes(int(rng.integers(1, 10)))
    elif op == 5:  # rewrite the header length
        b[:8] = struct.pack("<Q", int(rng.choice([0, 1, len(b), 2**63, int(rng.integers(0, 2 * len(b)))])))
    elif op == 6:  # change one digit in the header (shapes, offsets)
        n = struct.unpack("<Q", bytes(b[:8]))[0]
        digits = [i for i in range(8, min(8 + n, len(b))) if chr(b[i]).isdigit()]
        if digits:
            b[digits[rng.integers(len(digits))]] = ord(str(rng.integers(10)))
    else:  # random bytes of the same length
        b = bytearray(rng.bytes(len(b)))
    return bytes(b)


def test_fuzz_only_model_file_errors(tmp_path):
    p = tmp_path / "good.safetensors"
    write_safetensors(p, {"0.W": np.arange(12, dtype=np.float32).reshape(3, 4), "0.b": np.zeros(4, np.float32),
                          "n": np.array(7, np.int64), "e": np.zeros((0, 2))},
                      {"format": "fastnn", "format_version": "1", "config": '{"class": "X"}'})
    blob = p.read_bytes()
    rng = np.random.default_rng(12345)
    outcomes = {"ok": 0, "error": 0}
    for _i in range(300):
        q = write(tmp_path, _mutate(rng, blob), "m.safetensors")
        try:
            arrays, meta = read_safetensors(q)
            outcomes["ok"] += 1
            assert all(isinstance(a, np.ndarray) for a in arrays.values())
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
        except ModelFileError:
            outcomes["error"] += 1
        try:
            load_arrays(q)
        except ModelFileError:
            pass
    assert outcomes["error"] > 150  # most mutations are caught...
    assert outcomes["ok"] > 0       # ...and some (e.g. flipped data bytes) are valid files


# --------------------------------------------------------------------------------------------------- npz


def test_load_arrays_npz(tmp_path):
    arrays = {"w": np.arange(6.0).reshape(2, 3), "f": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
              "be": np.arange(3, dtype=">f4"), "s": np.array(3.5), "e": np.zeros((0, 4), np.float32),
              "flag": np.array([True])}
    for saver in (np.savez, np.savez_compressed):
        p = tmp_path / f"{saver.__name__}.npz"
        saver(p, **arrays)
        got = load_arrays(p)
        assert set(got) == set(arrays)
        for k, a in arrays.items():
            assert np.array_equal(got[k], a) and got[k].shape == a.shape and got[k].dtype.isnative, k
            assert got[k].flags.c_contiguous and got[k].flags.writeable


def test_load_arrays_npz_detected_by_content(tmp_path):
    p = tmp_path / "weights.bin"
    with open(p, "wb") as f:
        np.savez(f, a=np.ones(2))
    assert load_arrays(p)["a"].tolist() == [1.0, 1.0]


def _npy(header: dict, data: bytes, version=1) -> bytes:
    h = repr(header).encode()
    h += b" " * (-(len(h) + 11) % 64) + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(h)) + h + data


def _npz(tmp_path, members: dict, name="bad.npz", compression=zipfile.ZIP_STORED):
    p = tmp_path / name
    with zipfile.ZipFile(p, "w", compression=compression) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return p


def test_npz_hostile(tmp_path):
    huge = _npy({"descr": "<f8", "fortran_order": False, "shape": (10**12, 10**6)}, bytes(16))
    cases = {
        "huge shape": ({"a.npy": huge}, "declares shape"),
        "short data": ({"a.npy": _npy({"descr": "<f8", "fortran_order": False, "shape": (4,)}, bytes(16))},
                       "declares shape"),
        "object dtype": ({"a.npy": _npy({"descr": "|O", "fortran_order": False, "shape": (1,)}, bytes(8))},
                         "not a plain numeric"),
        "structured dtype": ({"a.npy": _npy({"descr": [("x", "<f8")], "fortran_order": False, "shape": (1,)},
                                            bytes(8))}, "not a plain numeric"),
        "string dtype": ({"a.npy": _npy({"descr": "<U2", "fortran_order": False, "shape": (1,)}, bytes(8))},
                         "not a plain numeric"),
        "bad header": ({"a.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': __import__('os')}\n" + bytes(8)},
                       "bad .npy header"),
        "not npy": ({"a.npy": b"hello"}, "bad .npy header"),
        "non-npy member": ({"a.txt": b"hello"}, "not a .npy"),
        "zero dim with huge dim": ({"a.npy": _npy({"descr": "<f8", "fortran_order": False, "shape": (0, 2**70)},
                                                  b"")}, "too large"),
    }
    for _label, (members, match) in cases.items():
        p = _npz(tmp_path, members)
        with pytest.raises(ModelFileError, match=match):
            load_arrays(p)
    for junk in (b"", b"PK\x03\x04garbage", b"not a zip at all"):
        with pytest.raises(ModelFileError):
            load_arrays(write(tmp_path, junk, "junk.npz"))


def test_npz_duplicate_names(tmp_path):
    one = _npy({"descr": "<f8", "fortran_order": False, "shape": (1,)}, bytes(8))
    p = tmp_path / "dup.npz"
    with pytest.warns(UserWarning), zipfile.ZipFile(p, "w") as z:
        z.writestr("a.npy", one)
        z.writestr("a.npy", one)
    with pytest.raises(ModelFileError, match="duplicate"):
        load_arrays(p)


def test_npz_bomb_stops_at_declared_size(tmp_path):
    # A member whose zip directory is honest but whose npy header declares fewer bytes than it holds
    body = _npy({"descr": "|u1", "fortran_order": False, "shape": (16,)}, bytes(32 << 20))
    p = _npz(tmp_path, {"a.npy": body}, compression=zipfile.ZIP_DEFLATED)
    assert p.stat().st_size < 1 << 20
    with pytest.raises(ModelFileError, match="declares shape"):
        load_arrays(p)


def test_npz_fuzz_only_model_file_errors(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, w=np.arange(20.0).reshape(4, 5), b=np.ones(5, np.float32))
    blob = good.read_bytes()
    rng = np.random.default_rng(7)
    for _i in range(200):
        q = write(tmp_path, _mutate(rng, blob), "m.npz")
        try:
            load_arrays(q)
        except ModelFileError:
            pass


# --------------------------------------------------------------------------------------- save / load models


class FakeModel:
    """Implements exactly the protocol fastnn.io relies on."""

    def __init__(self, sizes, dtype="float32"):
        self.sizes, self.dtype = list(sizes), np.dtype(dtype)
        rng = np.random.default_rng(sum(self.sizes))
        self.arrays = {}
        for i, (a, b) in enumerate(zip(self.sizes, self.sizes[1:])):
            self.arrays[f"{i}.W"] = rng.standard_normal((a, b)).astype(self.dtype)
            self.arrays[f"{i}.b"] = rng.standard_normal(b).astype(self.dtype)
        self.arrays["steps"] = np.array(0, np.int64)

    def get_config(self):
        return {"class": "Fake", "input_dim": self.sizes[0], "dtype": self.dtype.name,
                "layers": [{"class": "Dense", "units": u} for u in self.sizes[1:]]}

    def state_arrays(self):
        return dict(self.arrays)

    def file_contents(self):
        return self.get_config(), self.state_arrays()

    def load_state_arrays(self, arrays):
        if set(arrays) != set(self.arrays):
            raise ValueError("names differ")
        for k, v in arrays.items():
            if v.shape != self.arrays[k].shape or v.dtype != self.arrays[k].dtype:
                raise ValueError(f"{k}: bad shape/dtype")
        for k, v in arrays.items():
            self.arrays[k][...] = v


@pytest.fixture
def fake_models(monkeypatch):
    calls = []

    def model_from_config(config, arrays=None):
        calls.append(config)
        if config["class"] != "Fake":
            raise ValueError(f"unknown class {config['class']}")
        return FakeModel([config["input_dim"]] + [layer["units"] for layer in config["layers"]], config["dtype"])

    def state_spec_from_config(config):
        """FakeModel's arrays from its config, computed without building it (as models.state_spec_from_config)."""
        if config["class"] != "Fake":
            raise ValueError(f"unknown class {config['class']}")
        sizes = [config["input_dim"]] + [layer["units"] for layer in config["layers"]]
        if not all(isinstance(d, int) and d > 0 for d in sizes):
            raise ValueError(f"bad sizes {sizes}")
        dt = np.dtype(config["dtype"])
        spec = {}
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            spec[f"{i}.W"], spec[f"{i}.b"] = ((a, b), dt), ((b,), dt)
        spec["steps"] = ((), np.dtype(np.int64))
        return spec

    # the two names fastnn.io takes from models
    monkeypatch.setattr(fio, "model_from_config", model_from_config)
    monkeypatch.setattr(fio, "state_spec_from_config", state_spec_from_config)
    return calls


def test_save_load_fake_model_bit_exact(tmp_path, fake_models):
    for dtype in ("float32", "float64"):
        m = FakeModel([5, 7, 3], dtype)
        m.arrays["steps"][...] = 41
        m.arrays["0.W"][0, 0] = -0.0
        p = tmp_path / f"m_{dtype}.fnn"
        save(m, p)
        m2 = load(p)
        assert isinstance(m2, FakeModel) and m2.get_config() == m.get_config()
        for k, a in m.state_arrays().items():
            assert same_bits(a, m2.state_arrays()[k]), k
        arrays, meta = read_safetensors(p)
        assert meta["format"] == "fastnn" and meta["format_version"] == "1"
        import fastnn
        assert meta["fastnn_version"] == fastnn.__version__
        assert json.loads(meta["config"]) == m.get_config()


def _resave(path, arrays, meta):
    write_safetensors(path, arrays, meta)
    return path


def test_load_rejects_bad_metadata(tmp_path, fake_models):
    m = FakeModel([2, 3])
    p = tmp_path / "m.fnn"
    save(m, p)
    arrays, meta = read_safetensors(p)
    cases = [
        ({}, "not a fastnn model file"),
        (dict(meta, format="keras"), "not a fastnn model file"),
        (dict(meta, format_version="2"), "newer fastnn"),
        (dict(meta, format_version="0.9"), "reads format_version '1'"),
        ({k: v for k, v in meta.items() if k != "format_version"}, "format_version None"),
        ({k: v for k, v in meta.items() if k != "config"}, "no 'config'"),
        (dict(meta, config="{not json"), "not valid JSON"),
        (dict(meta, config="[1, 2]"), "JSON object"),
        (dict(meta, config='{"input_dim": 2}'), "no 'class'"),
        (dict(meta, config='{"class": "Fake", "class": "Fake"}'), "duplicate key"),
        (dict(meta, config='{"class": "Nope", "input_dim": 2, "layers": []}'), "cannot build"),
        (dict(meta, config='{"class": "Fake", "input_dim": 2, "layers": [7]}'), "cannot build"),
        (dict(meta, config="[" * 100_000 + "]" * 100_000), "200000 characters, more than"),
        (dict(meta, config="[" * 20_000 + "]" * 20_000), "nested too deeply|not valid JSON"),
    ]
    for bad_meta, match in cases:
        with pytest.raises(ModelFileError, match=match):
            load(_resave(tmp_path / "bad.fnn", arrays, bad_meta))


def test_load_rejects_weights_that_do_not_fit(tmp_path, fake_models):
    m = FakeModel([2, 3])
    p = tmp_path / "m.fnn"
    save(m, p)
    arrays, meta = read_safetensors(p)
    bad = [
        ({k: v for k, v in arrays.items() if k != "0.b"}, "missing \\['0.b'\\]"),
        (dict(arrays, extra=np.ones(1)), "unexpected \\['extra'\\]"),
        (dict(arrays, **{"0.W": np.ones((3, 2), np.float32)}), "'0.W': stored float32\\[3, 2\\]"),
        (dict(arrays, **{"0.W": np.ones((2, 3), np.float64)}), "'0.W': stored float64"),
    ]
    for bad_arrays, match in bad:
        with pytest.raises(ModelFileError, match=match):
            load(_resave(tmp_path / "bad.fnn", bad_arrays, meta))


def test_load_refuses_configs_larger_than_the_file_before_building(tmp_path, fake_models):
    m = FakeModel([2, 3])
    p = tmp_path / "m.fnn"
    save(m, p)
    arrays, meta = read_safetensors(p)
    for config in ({"class": "Fake", "input_dim": 10**6, "dtype": "float32", "layers": [{"units": 10**6}]},
                   {"class": "Fake", "input_dim": 2, "dtype": "float32", "layers": [{"units": 10**9}]},
                   {"class": "Fake", "input_dim": 2, "dtype": "float32", "layers": [{"units": -1}]},
                   {"class": "Fake", "input_dim": "2", "dtype": "float32", "layers": []},
                   {"class": "Fake", "input_dim": 2, "dtype": "float32", "layers": {"units": 3}}):
        fake_models.clear()
        with pytest.raises(ModelFileError, match="config"):
            load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))
        assert fake_models == []  # refused before model_from_config was called


def test_load_wraps_errors_from_load_state_arrays(tmp_path, fake_models, monkeypatch):
    m = FakeModel([2, 3])
    p = tmp_path / "m.fnn"
    save(m, p)

    def refuse(self, arrays):
        raise ValueError("values must be finite numbers")

    monkeypatch.setattr(FakeModel, "load_state_arrays", refuse)
    with pytest.raises(ModelFileError, match="finite"):
        load(p)


def test_save_refuses_unserializable_config(tmp_path):
    m = FakeModel([2, 3])
    m.get_config = lambda: {"class": "Fake", "x": object()}
    with pytest.raises(TypeError, match="JSON"):
        save(m, tmp_path / "m.fnn")
    m.get_config = lambda: ["not", "a", "dict"]
    with pytest.raises(TypeError, match="dict"):
        save(m, tmp_path / "m.fnn")
    assert not (tmp_path / "m.fnn").exists()


def test_model_file_is_a_plain_safetensors_file(tmp_path, fake_models):
    stn = pytest.importorskip("safetensors.numpy")
    m = FakeModel([4, 2])
    p = tmp_path / "m.safetensors"
    save(m, p)
    theirs = stn.load_file(str(p))
    assert set(theirs) == set(m.state_arrays())
    assert set(load_arrays(p)) == set(m.state_arrays())


def _real_sequential():
    try:
        import fastnn
        from fastnn.layers import Dense
        from fastnn.models import Sequential, model_from_config  # noqa: F401
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"fastnn.models not available yet ({exc})")
    return fastnn, Sequential, Dense


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_real_sequential(tmp_path, dtype):
    fastnn, Sequential, Dense = _real_sequential()
    model = Sequential([Dense(16, activation="relu"), Dense(3)], input_dim=5, dtype=dtype, seed=3)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)).astype(dtype)
    # non-default weights with awkward bit patterns (set_weights is part of the public contract)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 1e-3 for w in model.get_weights()])
    p = tmp_path / "model.fnn"
    save(model, p)
    loaded = load(p)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    a, b = model.state_arrays(), loaded.state_arrays()
    assert list(a) == list(b)
    for k in a:
        assert same_bits(np.asarray(a[k]), np.asarray(b[k])), k
    assert np.array_equal(model.predict(X), loaded.predict(X))
    if hasattr(fastnn, "save") and hasattr(fastnn, "load"):
        fastnn.save(model, tmp_path / "m2.fnn")
        assert np.array_equal(fastnn.load(tmp_path / "m2.fnn").predict(X), model.predict(X))


def test_real_sequential_hostile_config_refused(tmp_path):
    _, Sequential, Dense = _real_sequential()
    model = Sequential([Dense(4), Dense(2)], input_dim=3)
    p = tmp_path / "model.fnn"
    save(model, p)
    arrays, meta = read_safetensors(p)
    config = json.loads(meta["config"])
    config["layers"][0]["units"] = 10**7  # 3 * 10**7 parameters declared, 22 stored
    with pytest.raises(ModelFileError, match=r"'0.W': stored float32\[3, 4\], the architecture needs "
                                             r"float32\[3, 10000000\]"):
        load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))
    config["layers"][0]["units"] = 5       # small but inconsistent with the stored shapes
    with pytest.raises(ModelFileError, match="0.W"):
        load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))
    config["layers"][0]["activation"] = "no_such_thing"
    with pytest.raises(ModelFileError, match="cannot build"):
        load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))


def test_the_containers_live_at_the_bottom_floor_and_keep_their_old_names():
    """fastnn.formats holds the containers (format only); fastnn.io re-exports them where they always were."""
    import fastnn.formats as formats

    assert fio.read_safetensors is formats.read_safetensors
    assert fio.write_safetensors is formats.write_safetensors
    assert fio.load_arrays is formats.load_arrays
    assert fio.ModelFileError is formats.ModelFileError and issubclass(ModelFileError, ValueError)
    assert fio.MAX_HEADER_SIZE == 100_000_000 and fio.MAX_NDIM == 32


# ------------------------------------------------------------- issue 10: model files validated by meaning

def _model_file(path, config, arrays):
    """A fastnn model file with any config and arrays (hostile ones included)."""
    meta = {"format": "fastnn", "format_version": "1", "fastnn_version": "0", "config": json.dumps(config)}
    write_safetensors(path, arrays, meta)
    return path


def _sequential_config(layers, input_dim, dtype="float32"):
    return {"class": "Sequential", "input_dim": input_dim, "dtype": dtype, "seed": 0, "layers": layers}


def _refused_fast(path, match):
    """load(path) raises ModelFileError(match) in < 0.5 s without allocating more than 50 MB."""
    import time
    import tracemalloc

    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=match):
            load(path)
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5, f"took {elapsed:.2f} s"
    assert peak < 50e6, f"allocated {peak / 1e6:.0f} MB"


def test_config_declaring_far_more_than_stored_is_refused_before_allocating(tmp_path):
    # 100 Dense(1000) float64 layers declared (800 MB), a 1 MB file: each layer alone fits the stored values,
    # their sum does not (fastnn 0.1 allocated 800 MB before refusing)
    layers = [{"class": "Dense", "units": 1000}] * 100
    p = _model_file(tmp_path / "big.fnn", _sequential_config(layers, 125, "float64"),
                    {"0.W": np.zeros((125, 1000)), "0.b": np.zeros(1000)})
    assert os.path.getsize(p) < 1.1e6
    _refused_fast(p, "declares 100 layers, more than the 24 a file storing 2 layer arrays may declare")
    # within the layer cap, the tensors the config implies are compared with the stored ones (no allocation)
    p = _model_file(tmp_path / "big20.fnn", _sequential_config(layers[:20], 125, "float64"),
                    {"0.W": np.zeros((125, 1000)), "0.b": np.zeros(1000)})
    _refused_fast(p, r"missing \['1.W', '1.b', '10.W'")
    p = _model_file(tmp_path / "wide.fnn", _sequential_config([{"class": "Dense", "units": 10**12}], 125, "float64"),
                    {"0.W": np.zeros((125, 1000)), "0.b": np.zeros(1000)})
    _refused_fast(p, r"'0.W': stored float64\[125, 1000\], the architecture needs float64\[125, 1000000000000\]")


def test_hundreds_of_thousands_of_layers_refused_before_parsing(tmp_path):
    # 200k Dropout layers in a 7.6 MB file (fastnn 0.1: 4 s and 219 MB before anything was checked)
    p = _model_file(tmp_path / "deep.fnn", _sequential_config([{"class": "Dropout", "p": 0.5}] * 200_000, 10), {})
    assert os.path.getsize(p) > 7e6
    _refused_fast(p, "model config is [0-9]{7} characters, more than")
    # the same layers with a short config text are counted
    p = _model_file(tmp_path / "deep2.fnn", _sequential_config([{"class": "ReLU"}] * 40, 10), {})
    _refused_fast(p, r"declares 40 layers, more than the 16 a file storing 0 layer arrays may declare")


def test_an_input_width_no_stored_tensor_backs_is_bounded_like_plan_files(tmp_path):
    """Parameter-free layers (LayerNorm without affine) declaring input_dim 2**33 loaded from a 300-byte file, and
    fastnn.onnx.export of the model then raised MemoryError (a 32 GiB gamma of ones). Such a width is now bounded
    at load by the plan files' MAX_FREE_WIDTH; a stored tensor that large backs a wider one."""
    from fastnn.inference.files import MAX_FREE_WIDTH

    ln = [{"class": "LayerNorm", "eps": 1e-5, "elementwise_affine": False}]
    for width in (MAX_FREE_WIDTH + 1, 1 << 33):
        p = _model_file(tmp_path / "wide.fnn", _sequential_config(ln, width), {})
        _refused_fast(p, f"input_dim={width}: more features than any stored tensor holds, .*{MAX_FREE_WIDTH}")
    assert load(_model_file(tmp_path / "ok.fnn", _sequential_config(ln, MAX_FREE_WIDTH), {})).input_dim == \
        MAX_FREE_WIDTH
    wide = MAX_FREE_WIDTH + 7
    p = _model_file(tmp_path / "backed.fnn", _sequential_config(ln + [{"class": "Dense", "units": 1}], wide),
                    {"1.W": np.zeros((wide, 1), np.float32), "1.b": np.zeros(1, np.float32)})
    assert load(p).input_dim == wide


def test_layer_cap_leaves_real_deep_models_alone(tmp_path):
    from fastnn.layers import BatchNorm, Dense, Dropout, ReLU
    from fastnn.models import Sequential

    layers = []
    for _ in range(40):  # 160 layers, 120 of them without arrays
        layers += [Dense(4), BatchNorm(), ReLU(), Dropout(0.1)]
    model = Sequential(layers, input_dim=3)
    save(model, tmp_path / "deep.fnn")
    assert len(load(tmp_path / "deep.fnn").layers) == 160


def _saved_bn_model(tmp_path, dtype="float32"):
    from fastnn.layers import BatchNorm, Dense
    from fastnn.models import Sequential

    model = Sequential([Dense(4), BatchNorm(), Dense(2)], input_dim=3, dtype=dtype)
    p = tmp_path / "bn.fnn"
    save(model, p)
    return model, p


def test_negative_running_var_refused_by_load_with_its_name(tmp_path):
    _, p = _saved_bn_model(tmp_path)
    arrays, meta = read_safetensors(p)
    arrays["1.running_var"] = np.array([1, -0.5, 1, 1], np.float32)
    with pytest.raises(ModelFileError, match=r"'1.running_var' has negative values \(min -0.5\); it is a variance"):
        load(_resave(tmp_path / "bad.fnn", arrays, meta))


def test_non_finite_weights_in_a_file_named(tmp_path):
    _, p = _saved_bn_model(tmp_path)
    arrays, meta = read_safetensors(p)
    arrays["2.W"] = arrays["2.W"].copy()
    arrays["2.W"][1, 1] = np.inf
    with pytest.raises(ModelFileError, match="'2.W' contains NaN or infinite values"):
        load(_resave(tmp_path / "bad.fnn", arrays, meta))


def _saved_preprocessed_model(tmp_path, pre, dtype="float32", name="pre.fnn"):
    from fastnn.layers import Dense
    from fastnn.models import Sequential

    X = np.random.default_rng(0).standard_normal((50, 5)) * 3 + 1
    model = Sequential([Dense(3)], preprocess=pre.fit(X), dtype=dtype)
    p = tmp_path / name
    save(model, p)
    return p


@pytest.mark.parametrize("pre_name, key, value, match", [
    ("StandardScaler", "scale", np.nan, "StandardScaler state array 'scale' contains NaN or infinite"),
    ("StandardScaler", "mean", -np.inf, "StandardScaler state array 'mean' contains NaN or infinite"),
    ("StandardScaler", "scale", 1e-310, "'scale' must be > 0 with a finite reciprocal"),  # a subnormal mean is a fit's
    ("StandardScaler", "scale", -2.0, r"'scale' must be > 0 with a finite reciprocal \(min -2\)"),
    ("StandardScaler", "var", -1.0, r"'var' must be >= 0"),
    ("MinMaxScaler", "scale", 0.0, "'scale' must be > 0"),
    ("PCAWhitening", "components", np.nan, "'components' contains NaN"),
    ("PCAWhitening", "factors", 1e-320, "'factors' must be > 0 with a finite reciprocal"),
    ("ZCAWhitening", "whitening_matrix", np.inf, "'whitening_matrix' contains NaN or infinite"),
    ("ZCAWhitening", "eigenvalues", -1.0, "'eigenvalues' must be >= 0"),
    ("StandardScaler", "n_samples_seen", 2.5, "'n_samples_seen' must be a whole number >= 1"),
])
def test_invalid_preprocessor_state_refused_with_its_name(tmp_path, pre_name, key, value, match):
    import fastnn.preprocessing as pp

    p = _saved_preprocessed_model(tmp_path, getattr(pp, pre_name)())
    arrays, meta = read_safetensors(p)
    a = arrays[f"preprocess.{key}"].copy()
    a.reshape(-1)[0] = value
    arrays[f"preprocess.{key}"] = a
    with pytest.raises(ModelFileError, match=match):
        load(_resave(tmp_path / "bad.fnn", arrays, meta))


def test_preprocessor_state_must_be_finite_in_the_model_dtype(tmp_path):
    import fastnn.preprocessing as pp

    p = _saved_preprocessed_model(tmp_path, pp.StandardScaler())
    arrays, meta = read_safetensors(p)
    for key, value, match in (("mean", 1e39, "mean has values that are not finite in float32"),
                              ("scale", 1e-39, "inv_scale has values that are not finite in float32")):
        bad = dict(arrays)
        bad[f"preprocess.{key}"] = arrays[f"preprocess.{key}"].copy()
        bad[f"preprocess.{key}"][2] = value
        with pytest.raises(ModelFileError, match=match):
            load(_resave(tmp_path / "bad.fnn", bad, meta))
    # the same values are fine for a float64 model
    p64 = _saved_preprocessed_model(tmp_path, pp.StandardScaler(), dtype="float64", name="pre64.fnn")
    arrays, meta = read_safetensors(p64)
    arrays["preprocess.mean"] = arrays["preprocess.mean"].copy()
    arrays["preprocess.mean"][2] = 1e39
    load(_resave(tmp_path / "ok64.fnn", arrays, meta))


@pytest.mark.parametrize("pre, kwargs, key, value, params, match", [
    ("StandardScaler", {"with_std": False}, "scale", 10.0, None, "'scale' must be 1 everywhere.*with_std=False.*10"),
    ("StandardScaler", {"with_mean": False}, "mean", 0.5, None, "'mean' must be 0 everywhere.*with_mean=False.*0.5"),
    ("MeanCenter", {}, "scale", 10.0, None, "MeanCenter state array 'scale' must be 1 everywhere"),
    ("StandardScaler", {}, None, None, {"with_std": False}, "'scale' must be 1 everywhere.*with_std=False"),
    ("StandardScaler", {}, None, None, {"with_mean": False}, "'mean' must be 0 everywhere.*with_mean=False")])
def test_a_scaler_state_that_contradicts_its_config_is_refused(tmp_path, pre, kwargs, key, value, params, match):
    """A StandardScaler whose config says with_std=false but whose stored scale is not 1 (no fit writes that, nor
    flips with_std after fitting with it) loaded, and model.predict (which then ignores scale) disagreed with
    compile_inference() and the ONNX export (which divide by it) by 0.34."""
    import fastnn.preprocessing as pp

    p = _saved_preprocessed_model(tmp_path, getattr(pp, pre)(**kwargs))
    arrays, meta = read_safetensors(p)
    if key is not None:
        arrays[f"preprocess.{key}"] = arrays[f"preprocess.{key}"].copy()
        arrays[f"preprocess.{key}"][3] = value
    if params is not None:
        config = json.loads(meta["config"])
        config["preprocess"]["params"].update(params)
        meta = dict(meta, config=json.dumps(config))
    with pytest.raises(ModelFileError, match=match):
        load(_resave(tmp_path / "bad.fnn", arrays, meta))


def _bump(index, by):
    """An edit of a stored array: ``by`` added at ``index``."""
    def edit(a):
        a[index] += by
        return a
    return edit


@pytest.mark.parametrize("pre, kwargs, key, edit, params, match", [
    ("MinMaxScaler", {}, "scale", _bump(0, 0.05), None,
     r"'scale' disagrees with data_min, data_max and feature_range \(0.0, 1.0\): it holds .* at index 0"),
    ("MinMaxScaler", {}, "min", _bump(2, 0.1), None, "'min' disagrees with data_min, data_max .* at index 2"),
    ("MinMaxScaler", {}, "data_max", _bump(1, 0.5), None, "'scale' disagrees .* at index 1"),
    ("MinMaxScaler", {}, "data_min", _bump(3, 1e3), None, "'data_min' and 'data_max' are not a range .* index 3"),
    ("MinMaxScaler", {}, None, None, {"feature_range": [-1, 1]}, r"'scale' disagrees .* feature_range \(-1.0, 1.0\)"),
    ("ZCAWhitening", {}, "whitening_matrix", _bump((0, 1), 0.01), None,
     r"'whitening_matrix' is not eigenvectors diag\(factors\) eigenvectors\^T"),
    ("ZCAWhitening", {}, "eigenvectors", _bump((2, 2), 0.01), None, "'eigenvectors' is not orthonormal"),
    ("ZCAWhitening", {}, "factors", _bump(1, 0.01), None,
     "'factors' disagrees with eigenvalues and eps=1e-05: .* index 1"),
    ("ZCAWhitening", {}, "eigenvalues", _bump(0, 1.0), None, "'factors' disagrees with eigenvalues .* index 0"),
    ("ZCAWhitening", {}, "eigenvalues", lambda a: a[::-1].copy(), None, "'eigenvalues' must be sorted decreasing"),
    ("ZCAWhitening", {}, None, None, {"eps": 0.1}, "'factors' disagrees with eigenvalues and eps=0.1"),
    ("PCAWhitening", {"n_components": 3}, "components", _bump((1, 0), 0.01), None, "'components' is not orthonormal"),
    ("PCAWhitening", {"n_components": 3}, "explained_variance", _bump(0, 1.0), None,
     "'factors' disagrees with explained_variance and eps=0: .* index 0"),
    ("PCAWhitening", {"n_components": 3}, None, None, {"eps": 1e-3}, "'factors' disagrees .* eps=0.001")])
def test_a_state_whose_arrays_contradict_each_other_is_refused(tmp_path, pre, kwargs, key, edit, params, match):
    """A MinMaxScaler whose scale / min disagreed with its data_min, data_max or feature_range, or a whitening
    whose matrix, factors, eigen arrays or eps disagreed, loaded and transformed with the tampered arrays (a ZCA
    whose inverse_transform then did not invert its transform); each is refused at load, naming the array."""
    import fastnn.preprocessing as pp

    p = _saved_preprocessed_model(tmp_path, getattr(pp, pre)(**kwargs), dtype="float64")
    arrays, meta = read_safetensors(p)
    if key is not None:
        arrays[f"preprocess.{key}"] = edit(arrays[f"preprocess.{key}"].copy())
    if params is not None:
        config = json.loads(meta["config"])
        config["preprocess"]["params"].update(params)
        meta = dict(meta, config=json.dumps(config))
    with pytest.raises(ModelFileError, match=f"{pre} state array.*{match}"):
        load(_resave(tmp_path / "bad.fnn", arrays, meta))
    load(p)  # the untampered file loads


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_every_fitted_scaler_predicts_like_its_plan_after_loading(tmp_path, with_mean, with_std):
    import fastnn.preprocessing as pp

    model = load(_saved_preprocessed_model(tmp_path, pp.StandardScaler(with_mean=with_mean, with_std=with_std),
                                           dtype="float64"))
    X = np.random.default_rng(1).standard_normal((20, 5)) * 3 + 1
    np.testing.assert_allclose(model.compile_inference().predict(X), model.predict(X), rtol=1e-12, atol=1e-12)


def test_preprocessor_width_must_match_input_dim(tmp_path):
    import fastnn.preprocessing as pp

    p = _saved_preprocessed_model(tmp_path, pp.StandardScaler())
    arrays, meta = read_safetensors(p)
    config = json.loads(meta["config"])
    config["preprocess"]["n_features_in"] = 4  # a consistent 4-feature scaler before a 5-input model
    arrays = {k: (v[:4] if k.startswith("preprocess.") and v.shape == (5,) else v) for k, v in arrays.items()}
    # refused by model_from_config, which builds the layers for the fitted preprocessor's output
    with pytest.raises(ModelFileError, match="input_dim=5 differs from the 4 features the fitted preprocessor"):
        load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))


def test_preprocessor_must_be_fitted_and_use_every_stored_array(tmp_path):
    """Found by tests/test_fuzz_files.py: '"fitted": null' restored an unfitted preprocessor (NotFittedError at
    load, or at predict) and its stored arrays were ignored."""
    import fastnn.preprocessing as pp

    p = _saved_preprocessed_model(tmp_path, pp.PCAWhitening(n_components=2))
    arrays, meta = read_safetensors(p)
    config = json.loads(meta["config"])
    config["preprocess"]["fitted"] = None
    with pytest.raises(ModelFileError, match="'fitted' must be true or false, got None"):
        load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))
    with pytest.raises(ModelFileError, match=r"preprocessor arrays do not match its config: missing \[\], "
                                             r"unexpected \['preprocess.extra'\]"):
        load(_resave(tmp_path / "bad.fnn", dict(arrays, **{"preprocess.extra": np.ones(2)}), meta))
    config = json.loads(meta["config"])
    del config["preprocess"]
    with pytest.raises(ModelFileError, match="but no preprocessor in the config"):
        load(_resave(tmp_path / "bad.fnn", arrays, dict(meta, config=json.dumps(config))))


def test_save_refuses_non_finite_weights_and_keeps_the_good_file(tmp_path):
    model, p = _saved_bn_model(tmp_path)
    good = p.read_bytes()
    model.layers[0].params["W"][0, 0] = np.nan
    model.layers[2].params["b"][1] = -np.inf
    model.layers[1].buffers["running_var"][0] = -1
    with pytest.raises(ValueError, match=r"refusing to save .*'0.W' contains NaN or infinite values; '1.running_var' "
                                         r"has negative values.*'2.b' contains NaN or infinite values"):
        save(model, p)
    assert p.read_bytes() == good
    assert os.listdir(tmp_path) == ["bn.fnn"]


# ------------------------------------------------------ issue 10: saving leaves nothing behind, keeps modes


def _temporaries(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def test_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    p = tmp_path / "m.safetensors"
    stale = [tmp_path / ".m.safetensors.abcd1234.tmp", tmp_path / ".m.safetensors.zz_99xyz.tmp"]
    live = tmp_path / ".m.safetensors.live0000.tmp"
    others = [tmp_path / ".m.safetensors.tmp", tmp_path / ".other.safetensors.abcd1234.tmp",
              tmp_path / "m.safetensors.abcd1234.tmp", tmp_path / ".m.safetensors.abcd12345.tmp"]
    for f in stale + [live] + others:
        f.write_bytes(b"x" * 1000)
    with open(live, "rb") as held:  # a concurrent writer holds its temporary locked
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        write_safetensors(p, {"a": np.ones(3)})
    assert not any(f.exists() for f in stale)
    assert live.exists() and all(f.exists() for f in others)
    assert np.array_equal(read_safetensors(p)[0]["a"], np.ones(3))


def test_save_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path):
    p = tmp_path / "m.safetensors"
    write_safetensors(p, {"a": np.ones(2)})
    for mode in (0o600, 0o640, 0o444):
        os.chmod(p, mode)
        write_safetensors(p, {"a": np.zeros(2)})
        assert (p.stat().st_mode & 0o777) == mode


def test_saving_through_a_symlink_is_refused(tmp_path):
    target = tmp_path / "real.safetensors"
    write_safetensors(target, {"a": np.ones(2)})
    before = target.read_bytes()
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    with pytest.raises(ValueError, match=r"is a symbolic link .*save to '.*real.safetensors' itself, or remove"):
        write_safetensors(link, {"a": np.zeros(2)})
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "nowhere.safetensors")
    with pytest.raises(ValueError, match="symbolic link"):
        write_safetensors(dangling, {"a": np.zeros(2)})
    assert link.is_symlink() and target.read_bytes() == before and not (tmp_path / "nowhere.safetensors").exists()
    assert _temporaries(tmp_path) == []
    # reading through a link is fine, and a symlinked directory on the way is not a symlinked file
    assert np.array_equal(read_safetensors(link)[0]["a"], np.ones(2))
    (tmp_path / "sub").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "sub")
    write_safetensors(tmp_path / "via" / "x.safetensors", {"a": np.ones(1)})
    assert (tmp_path / "sub" / "x.safetensors").exists()


def test_saving_over_a_directory_or_fifo_is_refused(tmp_path):
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        write_safetensors(tmp_path / "d.safetensors", {"a": np.ones(1)})
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "f.safetensors")
        with pytest.raises(ValueError, match="FIFO"):
            write_safetensors(tmp_path / "f.safetensors", {"a": np.ones(1)})


_KILL_CHILD = r"""
import sys
import numpy as np
from fastnn.io import save
from fastnn.layers import Dense
from fastnn.models import Sequential

model = Sequential([Dense(1500)], input_dim=1500, dtype="float64")  # 18 MB of weights
W = model.layers[0].params["W"]
print("ready", flush=True)
i = 0
while True:  # alternate between two known weight sets until killed
    W[...] = i % 2
    save(model, sys.argv[1])
    i += 1
"""


def test_sigkill_during_save_leaves_old_or_new_file_and_no_temporaries_after_the_next_save(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    from fastnn.layers import Dense
    from fastnn.models import Sequential

    p = tmp_path / "m.fnn"
    env = child_env()
    killed_with_temporary = 0
    for delay in (0.0, 0.03, 0.1, 0.2, 0.35):
        child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(p)], stdout=subprocess.PIPE, env=env,
                                 cwd=tmp_path)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay + 0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        killed_with_temporary += bool(_temporaries(tmp_path))
        if p.exists():  # the target is always a complete file of one of the two versions: the child's new
            W = load(p).layers[0].params["W"]  # model, or (killed before its rename) the previous save's
            assert (W.shape == (1500, 1500) and (not W.any() or W.all())) or W.shape == (2, 3)
        model = Sequential([Dense(3)], input_dim=2)
        save(model, p)
        assert _temporaries(tmp_path) == []
        assert load(p).layers[0].params["W"].shape == (2, 3)
    assert killed_with_temporary > 0  # the kills did land mid-write


# ----------------------------------------------------------- issue 10: only regular files are ever opened


def _readers():
    from fastnn.datasets import read_idx
    from fastnn.formats import read_npy, read_npz
    from fastnn.models import Sequential
    from fastnn.pretrained import load_weights

    def weights(p):
        from fastnn.layers import Dense
        load_weights(Sequential([Dense(2)], input_dim=2), p)

    return {"load": load, "load_arrays": load_arrays, "read_safetensors": read_safetensors, "read_npz": read_npz,
            "read_npy": read_npy, "load_weights": weights, "read_idx": read_idx}


@pytest.mark.parametrize("reader", sorted(_readers()))
def test_a_fifo_is_refused_not_waited_on(tmp_path, reader):
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "weights.npz"
    os.mkfifo(fifo)
    outcome = []

    def call():
        try:
            _readers()[reader](fifo)
            outcome.append("returned")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # fastnn 0.1: blocked in open(); a writer releases it so the test can end
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(10)
        pytest.fail(f"{reader} blocked on a FIFO")
    assert isinstance(outcome[0], ValueError), outcome
    assert "a FIFO (named pipe); only regular files are read" in str(outcome[0])


@pytest.mark.parametrize("reader", sorted(_readers()))
def test_directories_and_devices_are_refused(tmp_path, reader):
    d = tmp_path / "dir.safetensors"
    d.mkdir()
    with pytest.raises(ValueError, match="is a directory; only regular files are read"):
        _readers()[reader](d)
    if os.path.exists("/dev/zero"):  # would be read forever by a naive reader
        with pytest.raises(ValueError, match="is a character device"):
            _readers()[reader]("/dev/zero")


def test_open_regular_rechecks_the_opened_file(tmp_path, monkeypatch):
    """The name may be swapped for a FIFO between the stat and the open: the open does not block and the
    descriptor's own type is checked."""
    from fastnn.formats import common

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    regular, fifo = tmp_path / "r", tmp_path / "f"
    regular.write_bytes(b"x")
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(common.os, "stat", lambda p, *a, **k: real_stat(regular if str(p) == str(fifo) else p))
    with pytest.raises(ModelFileError, match="FIFO"):
        common.open_regular(fifo)


def _torch_checkpoint(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    p = tmp_path / ("legacy.pt" if legacy else "net.pt")
    torch.save(net.state_dict(), p, _use_new_zipfile_serialization=not legacy)
    return p


@pytest.mark.parametrize("legacy", [False, True])
def test_pickled_pytorch_files_are_never_loaded_and_the_error_says_how_to_convert(tmp_path, legacy):
    p = _torch_checkpoint(tmp_path, legacy)
    convert = r"never loaded, by design.*save_file\(model.state_dict\(\), \"net.safetensors\"\)"
    for reader in (load_arrays, load, read_safetensors):
        with pytest.raises(ModelFileError, match=convert):
            reader(p)
    from fastnn.formats import read_npz

    if not legacy:
        with pytest.raises(ModelFileError, match="torch.save checkpoint .*data.pkl.*" + convert):
            read_npz(p)


# Header lengths whose little-endian bytes start like a pickle (0x80, then a protocol 2..5).
PICKLE_LIKE_LENGTHS = (640, 896, 1152, 1408)


def _pickle_like_model(length: int, seed_offset: int = 0):
    """A fastnn model whose file has a header of ``length`` bytes (found by search: the layers, their l2 and the
    seed set the length of the config; the metadata's step_count "0" is part of it)."""
    from fastnn.layers import BatchNorm, Dense, Dropout, ReLU
    from fastnn.models import Sequential

    layers, seed = {
        640: ([Dropout(0.5) for _ in range(3)] + [Dense(2)], 10**18),
        896: ([Dropout(0.5), BatchNorm(), Dense(2)], 10**18),
        1152: ([ReLU(), BatchNorm(), Dense(2), Dense(2)], 10**18),
        1408: ([ReLU(), Dense(2), Dense(2, l2=2.0**-5), BatchNorm(), Dense(2, l2=2.0**-4)], 7),
    }[length]
    return Sequential(layers, input_dim=2, seed=seed + seed_offset)


def _header_length(path) -> int:
    with open(path, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0]


@pytest.mark.parametrize("length", PICKLE_LIKE_LENGTHS)
def test_a_model_file_whose_header_length_starts_like_a_pickle_loads_everywhere(tmp_path, length):
    """Review 9 #1: load_arrays sniffed 0x80 0x02..05 for a pickle before trying safetensors, so a model file
    with one of these header lengths loaded with fnn.load but was refused by load_weights and load_arrays."""
    model = _pickle_like_model(length)
    p = tmp_path / "m.safetensors"
    save(model, p)
    assert _header_length(p) == length and p.read_bytes()[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
    arrays = load_arrays(p)
    assert all(same_bits(arrays[k], v) for k, v in model.state_arrays().items())
    fresh = _pickle_like_model(length, seed_offset=1)
    fresh.load_weights(p)
    assert all(same_bits(a, b) for a, b in zip(fresh.get_weights(), model.get_weights()))


def test_a_safetensors_package_file_whose_header_length_starts_like_a_pickle_loads(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    from fastnn.layers import Dense
    from fastnn.models import Sequential

    arrays = {"0.weight": np.arange(8, dtype=np.float32).reshape(2, 4), "0.bias": np.ones(2, np.float32)}
    p = tmp_path / "torch.safetensors"

    def header_length_with_note(k: int) -> int:
        stn.save_file(arrays, p, metadata={"note": "x" * k})
        return _header_length(p)

    shortest = header_length_with_note(0)
    for length in PICKLE_LIKE_LENGTHS:  # each character of the note adds one byte, padded to a multiple of 8
        k = next(k for k in range(length - shortest - 8, length - shortest + 1) if header_length_with_note(k) == length)
        assert header_length_with_note(k) == length
        assert all(same_bits(load_arrays(p)[name], a) for name, a in arrays.items())
        net = Sequential([Dense(2)], input_dim=4)
        net.load_weights(p)  # PyTorch's (out, in) layout, transposed
        np.testing.assert_array_equal(net.get_weights()[0], arrays["0.weight"].T)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_real_pickle_is_still_refused_as_a_pickle_whatever_its_size(tmp_path, protocol):
    import pickle

    for payload in ({"w": [1.0, 2.0]}, {"w": list(range(50_000))}):  # small, and larger than its "header length"
        p = tmp_path / "w.pkl"
        p.write_bytes(pickle.dumps(payload, protocol=protocol))
        for reader in (load_arrays, read_safetensors, load):
            with pytest.raises(ModelFileError, match="a Python pickle"):
                reader(p)


def test_npz_with_data_before_the_first_member_is_refused(tmp_path):
    """Found by tests/test_fuzz_files.py: zipfile skips leading bytes (numpy does not): a polyglot."""
    p = tmp_path / "w.npz"
    np.savez(p, a=np.arange(3.0))
    for prefix in (b"\x00", b"PK\x03\x04" + b"junk" * 10):
        bad = write(tmp_path, prefix + p.read_bytes(), "bad.npz")
        with pytest.raises(ModelFileError, match="not an .npz|first .npz member starts at byte"):
            load_arrays(bad)


def test_npz_with_an_unsupported_zip_version_is_a_model_file_error(tmp_path):
    """Found by tests/test_fuzz_files.py: zipfile raised NotImplementedError ("zip file version 10.9") from a
    crafted central directory, which escaped as another exception type."""
    p = tmp_path / "w.npz"
    np.savez(p, a=np.arange(3.0))
    data = bytearray(p.read_bytes())
    cd = data.rindex(b"PK\x01\x02")  # central directory entry: "version needed to extract" at +6
    data[cd + 6] = 109
    with pytest.raises(ModelFileError, match="zip file version 10.9"):
        load_arrays(write(tmp_path, bytes(data), "bad.npz"))


def test_read_npy_is_hardened_like_npz_members(tmp_path):
    """For readers of single .npy files (the command line's --data): no pickle, sizes checked first."""
    from fastnn.formats import read_npy

    a = np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4))
    np.save(tmp_path / "a.npy", a)
    got = read_npy(tmp_path / "a.npy")
    assert np.array_equal(got, a) and got.dtype == np.dtype("int32") and got.flags.c_contiguous
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match="dtype object is not a plain numeric type"):
        read_npy(tmp_path / "o.npy")
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (2**40, 2**20)  # 8 EiB declared by a 128-byte file
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    (tmp_path / "big.npy").write_bytes(buf.getvalue() + b"\0" * 8)
    with pytest.raises(ModelFileError, match=r"declares shape \(1099511627776, 1048576\)"):
        read_npy(tmp_path / "big.npy")
    (tmp_path / "short.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-1])
    with pytest.raises(ModelFileError, match="47 follow the header"):
        read_npy(tmp_path / "short.npy")
