"""Datasets: embedded digits, IDX reader hardening, Fashion-MNIST loader, stratified split, synthetic data."""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from fastnn import datasets as D
from fastnn.datasets import IDXFormatError, read_idx, write_idx

# ----------------------------------------------------------------------------------------------- digits


def test_digits_shapes_ranges_dtypes():
    X_tr, y_tr, X_te, y_te = D.load_digits()
    assert X_tr.shape == (1347, 64) and X_te.shape == (450, 64)
    assert y_tr.shape == (1347,) and y_te.shape == (450,)
    assert X_tr.dtype == np.float32 and y_tr.dtype == np.int64
    for X in (X_tr, X_te):
        assert X.min() == 0.0 and X.max() == 1.0
        assert np.all(X * 16 == np.round(X * 16))  # multiples of 1/16
    assert set(np.unique(y_tr)) == set(range(10)) == set(np.unique(y_te))
    X64 = D.load_digits(dtype="float64")[0]
    assert X64.dtype == np.float64 and np.array_equal(X64, X_tr.astype(np.float64))


def test_digits_stratified_and_deterministic():
    a = D.load_digits(seed=3)
    b = D.load_digits(seed=3)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    c = D.load_digits(seed=4)
    assert not np.array_equal(a[1], c[1])
    _, y_tr, _, y_te = a
    total = np.bincount(np.concatenate([y_tr, y_te]), minlength=10)
    # each class's test share is within one sample of the overall fraction
    assert np.all(np.abs(np.bincount(y_te, minlength=10) - total * 450 / 1797) <= 1)
    # train and test together are exactly the 1797 samples (as multisets of rows)
    X_all = np.concatenate([a[0], a[2]])
    y_all = np.concatenate([y_tr, y_te])
    raw_X, raw_y = D._digits._raw()
    def key(X, y):
        return sorted(map(bytes, np.column_stack([np.round(X * 16).astype(np.uint8), y.astype(np.uint8)])))

    assert key(X_all, y_all) == key(raw_X.reshape(-1, 64) / 16, raw_y)


def test_digits_results_are_copies():
    X_tr = D.load_digits()[0]
    X_tr[:] = -1
    assert D.load_digits()[0].min() == 0.0


def test_digits_fraction_and_alias():
    X_tr, _, X_te, _ = D.load_digits(test_fraction=0.0)
    assert X_tr.shape == (1797, 64) and X_te.shape == (0, 64)
    for u, v in zip(D.load_embedded(seed=1), D.load_digits(seed=1)):
        assert np.array_equal(u, v)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="test_fraction"):
            D.load_digits(test_fraction=bad)
    with pytest.raises(TypeError, match="test_fraction"):
        D.load_digits(test_fraction="0.2")
    with pytest.raises(TypeError, match="dtype"):
        D.load_digits(dtype="int32")


def test_bundled_digits_match_sklearn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_digits()
    images, labels = D._digits._raw()
    assert np.array_equal(images.reshape(-1, 64), ref.data.astype(np.uint8))
    assert np.array_equal(ref.data, images.reshape(-1, 64).astype(np.float64))
    assert np.array_equal(labels, ref.target)


def test_digits_licence_shipped():
    text = (D.DATA_DIR / "DIGITS_LICENSE.txt").read_text()
    assert "CC BY 4.0" in text and "Alpaydin" in text and "Kaynak" in text
    assert "CC BY 4.0" in D.load_digits.__doc__


def test_stratified_split_exact_counts():
    y = np.array([0] * 7 + [1] * 3 + [2] * 10)
    tr, te = D.stratified_split(y, 0.3, seed=0)
    assert len(te) == 6 and len(tr) == 14
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(20))
    assert np.bincount(y[te]).tolist() == [2, 1, 3]


# ---------------------------------------------------------------------------------------------- IDX files

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2), (0, 4)])
def test_idx_round_trip(tmp_path, dtype, suffix, shape):
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal(shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    p = tmp_path / f"a{suffix}"
    write_idx(p, a)
    if suffix == ".gz":
        assert p.read_bytes()[:2] == b"\x1f\x8b"
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative and b.shape == a.shape
    assert np.array_equal(a, b)
    assert b.flags.writeable and b.flags.c_contiguous


def test_idx_matches_hand_written_bytes(tmp_path):
    # big-endian int16, written by hand, read back: checks the byte order and header layout independently
    raw = bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 2, 2) + struct.pack(">4h", 1, -2, 300, -32768)
    (tmp_path / "x").write_bytes(raw)
    assert read_idx(tmp_path / "x").tolist() == [[1, -2], [300, -32768]]
    # compression is found from the content, not the name
    (tmp_path / "y.gz").write_bytes(raw)
    (tmp_path / "z").write_bytes(gzip.compress(raw))
    assert read_idx(tmp_path / "y.gz").tolist() == read_idx(tmp_path / "z").tolist() == [[1, -2], [300, -32768]]


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


MALFORMED = {
    "empty file": (b"", "too short"),
    "bad magic": (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
    "bad magic 2": (b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
    "bad type": (_header(0x0A, [2]) + b"\x00\x00", "unsupported type code 0x0A"),
    "0-dim": (bytes([0, 0, 8, 0]), "number of dimensions 0"),
    "5-dim": (_header(8, [1, 1, 1, 1, 1]) + b"\x00", "number of dimensions 5"),
    "truncated header": (bytes([0, 0, 8, 3]) + struct.pack(">I", 2), "truncated header"),
    "short data": (_header(8, [4, 4]) + bytes(15), "truncated data"),
    "huge dims, short data": (_header(0x0E, [0xFFFFFFFF] * 4) + bytes(64), "max_bytes"),
    "huge dims under no cap": (_header(0x08, [0xFFFFFFFF, 0xFFFFFFFF]) + bytes(64), None),
    "trailing bytes": (_header(8, [2, 2]) + bytes(5), "trailing data"),
    "float64 misaligned": (_header(0x0E, [2]) + bytes(12), "truncated data"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
@pytest.mark.parametrize("compressed", [False, True])
def test_idx_malformed(tmp_path, name, compressed):
    data, match = MALFORMED[name]
    p = tmp_path / "bad"
    p.write_bytes(gzip.compress(data) if compressed else data)
    kwargs = {"max_bytes": None} if match is None else {}
    with pytest.raises(IDXFormatError, match=match or "truncated data") as info:
        read_idx(p, **kwargs)
    assert str(p) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_idx_truncated_gzip(tmp_path):
    a = np.arange(10000, dtype=np.int32)
    good = tmp_path / "good.gz"
    write_idx(good, a)
    blob = good.read_bytes()
    for cut in (3, 10, len(blob) // 2, len(blob) - 9, len(blob) - 1):
        p = tmp_path / f"cut{cut}.gz"
        p.write_bytes(blob[:cut])
        with pytest.raises(IDXFormatError, match=str(p)):
            read_idx(p)


def test_idx_corrupt_gzip(tmp_path):
    good = tmp_path / "good.gz"
    write_idx(good, np.arange(1000, dtype=np.int32))
    blob = bytearray(good.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    p = tmp_path / "corrupt.gz"
    p.write_bytes(bytes(blob))
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(p)


def test_idx_gzip_bomb_stops_after_declared_size(tmp_path):
    # header says 16 bytes, the stream inflates to 64 MB: detected as trailing data after one extra byte
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(_header(8, [16]) + bytes(64 << 20), compresslevel=1))
    assert p.stat().st_size < 1 << 20
    with pytest.raises(IDXFormatError, match="trailing data"):
        read_idx(p)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_zero_dim_beside_huge_ones_is_a_format_error(tmp_path, suffix):
    """(0, 2**32-1, 2**32-1, 2**32-1) declares 0 bytes but no array numpy can describe: an IDXFormatError naming
    the file, not numpy's 'array is too big'."""
    header = _header(8, [0, 2**32 - 1, 2**32 - 1, 2**32 - 1])
    p = tmp_path / f"zero{suffix}"
    p.write_bytes(gzip.compress(header) if suffix else header)
    with pytest.raises(IDXFormatError, match="too large for an array"):
        read_idx(p, max_bytes=None)


def test_idx_max_bytes(tmp_path):
    p = tmp_path / "x"
    write_idx(p, np.zeros(100, np.uint8))
    with pytest.raises(IDXFormatError, match="max_bytes=99"):
        read_idx(p, max_bytes=99)
    assert read_idx(p, max_bytes=100).shape == (100,)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_write_idx_refuses(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        write_idx(tmp_path / "a", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "a", np.zeros((1,) * 5, np.uint8))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "a", np.uint8(3))


def test_write_idx_is_deterministic(tmp_path):
    a = np.arange(50, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


# ------------------------------------------------------------------------------------------ Fashion-MNIST


def _fake_fashion(directory: Path, n_train=12, n_test=5, gz=True, side=28):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    parts = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        sfx = ".gz" if gz else ""
        write_idx(directory / f"{split}-images-idx3-ubyte{sfx}", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte{sfx}", labels)
        parts[split] = (images, labels)
    return parts


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("sub", ["", "fashion-mnist"])
def test_fashion_from_env(tmp_path, monkeypatch, gz, sub):
    parts = _fake_fashion(tmp_path / sub if sub else tmp_path, gz=gz)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    X_tr, y_tr, X_te, y_te = D.load_fashion_mnist()
    assert X_tr.shape == (12, 784) and X_te.shape == (5, 784) and X_tr.dtype == np.float32
    assert y_tr.dtype == np.int64
    assert np.array_equal(X_tr, parts["train"][0].reshape(12, -1).astype(np.float32) / np.float32(255))
    assert np.array_equal(y_te, parts["t10k"][1])
    X_tr, _, X_te, _ = D.load_fashion_mnist(dtype="uint8", flatten=False)
    assert X_tr.dtype == np.uint8 and X_te.shape == (5, 28, 28)
    assert np.array_equal(X_te, parts["t10k"][0])
    X64 = D.load_fashion_mnist(dtype="float64")[0]
    assert X64.dtype == np.float64 and X64.max() <= 1.0


def test_fashion_explicit_path_is_exclusive(tmp_path, monkeypatch):
    _fake_fashion(tmp_path / "env")
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    parts = _fake_fashion(tmp_path / "mine", n_train=3, n_test=2)
    X_tr, y_tr, _, _ = D.load_fashion_mnist(path=tmp_path / "mine")
    assert np.array_equal(y_tr, parts["train"][1])
    with pytest.raises(FileNotFoundError) as info:
        D.load_fashion_mnist(path=tmp_path / "empty")
    msg = str(info.value)
    assert str(tmp_path / "empty") in msg and str(tmp_path / "empty" / "fashion-mnist") in msg
    assert str(tmp_path / "env") not in msg


def test_fashion_missing_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(D._fashion, "SYSTEM_DIRS", (tmp_path / "system",))
    (tmp_path / "data").mkdir()
    write_idx(tmp_path / "data" / "train-images-idx3-ubyte.gz", np.zeros((1, 2, 2), np.uint8))
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError) as info:
        D.load_fashion_mnist()
    msg = str(info.value)
    for place in (tmp_path / "data", tmp_path / "data" / "fashion-mnist", tmp_path / "system"):
        assert str(place) in msg
    assert "missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "FASTNN_DATA" in msg
    monkeypatch.delenv("FASTNN_DATA")
    with pytest.raises(FileNotFoundError, match="FASTNN_DATA is not set"):
        D.load_fashion_mnist()


def test_fashion_count_mismatch_and_bad_labels(tmp_path):
    _fake_fashion(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(IDXFormatError, match="4 labels for 5 images"):
        D.load_fashion_mnist(path=tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(5, 10, np.uint8))
    with pytest.raises(IDXFormatError, match="label 10 out of range"):
        D.load_fashion_mnist(path=tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.int32))
    with pytest.raises(IDXFormatError, match="uint8 label"):
        D.load_fashion_mnist(path=tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 784), np.uint8))
    with pytest.raises(IDXFormatError, match="3-D uint8 image"):
        D.load_fashion_mnist(path=tmp_path)


def test_fashion_bad_dtype(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        D.load_fashion_mnist(path=tmp_path, dtype="int16")


def test_fashion_real_if_installed(monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    try:
        X_tr, y_tr, X_te, y_te = D.load_fashion_mnist()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    assert X_tr.shape == (60000, 784) and X_te.shape == (10000, 784)
    assert np.bincount(y_tr).tolist() == [6000] * 10 and np.bincount(y_te).tolist() == [1000] * 10
    assert X_tr.min() == 0.0 and X_tr.max() == 1.0


# ------------------------------------------------------------------------------------------------ synthetic


def test_make_classification_shapes_and_determinism():
    X, y = D.make_classification(503, 20, 4, seed=7)
    assert X.shape == (503, 20) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [126, 126, 126, 125]
    X2, y2 = D.make_classification(503, 20, 4, seed=7)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = D.make_classification(503, 20, 4, seed=8)
    assert not np.array_equal(X, X3)
    X64, y64 = D.make_classification(503, 20, 4, seed=7, dtype="float64")
    assert np.array_equal(X64.astype(np.float32), X) and np.array_equal(y64, y)


def test_make_classification_is_learnable_and_informative_columns():
    X, y = D.make_classification(4000, 30, 3, n_informative=5, seed=0, dtype="float64", class_sep=3.0)
    # nearest-class-mean classifier on the data itself: well separated clusters are easy
    means = np.stack([X[y == c].mean(0) for c in range(3)])
    pred = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.95
    # exactly 5 columns carry class information; the others are N(0, 1) noise for every class
    spread = means.std(axis=0)
    assert (spread > 0.5).sum() == 5
    assert np.all(np.sort(spread)[:25] < 0.15)


def test_make_classification_refuses():
    with pytest.raises(ValueError, match="n_informative"):
        D.make_classification(10, 3, 2, n_informative=4)
    with pytest.raises(ValueError, match="n_classes"):
        D.make_classification(10, 3, 1)
    with pytest.raises(TypeError, match="n_samples"):
        D.make_classification(10.0, 3, 2)
    with pytest.raises(ValueError, match="class_sep"):
        D.make_classification(10, 3, 2, class_sep=float("inf"))
    with pytest.raises(TypeError, match="dtype"):
        D.make_classification(10, 3, 2, dtype="int8")


def test_package_data_present():
    names = sorted(os.listdir(D.DATA_DIR))
    assert {"digits-images-idx3-ubyte.gz", "digits-labels-idx1-ubyte.gz", "DIGITS_LICENSE.txt"} <= set(names)


def test_write_idx_replaces_a_file_whole_or_not_at_all(tmp_path, monkeypatch):
    """A write that fails midway leaves the previous file as it was (no truncated IDX for the next reader)."""
    import gzip

    path = tmp_path / "labels.idx1-ubyte"
    old = np.arange(10, dtype=np.uint8)
    write_idx(path, old)
    written = []

    def write_then_fail(self, data):
        if written:
            raise OSError("disk full")
        written.append(data)
        return original(self, data)

    original = gzip.GzipFile.write
    monkeypatch.setattr(gzip.GzipFile, "write", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.zeros(1000, np.uint8), compress=True)
    monkeypatch.undo()
    assert written  # the header went out before the failure
    np.testing.assert_array_equal(read_idx(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["labels.idx1-ubyte"]  # no temporary left behind
