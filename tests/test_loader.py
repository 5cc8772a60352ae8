"""The loader of fit (fastnn.data.loader): shuffled order, gather and cast, zero-copy slices, augmentation chunks."""
import numpy as np
import pytest

import fastnn.augment as A
from fastnn.data import loader as L


def _data(rng, n=50, d=6, dtype=np.float32):
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, 3, n)


def _loader(X, y, batch, dtype=np.float32, **kwargs):
    return L.Loader(X, y, batch, np.dtype(dtype), np.empty(batch, y.dtype), **kwargs)


@pytest.mark.parametrize("x_dtype", [np.float32, np.float64, np.int16])
def test_shuffled_epochs_follow_one_generator_and_cast(x_dtype, rng):
    X, y = _data(rng, dtype=np.float64)
    X = (X * 100).astype(x_dtype)
    loader = _loader(X, y, 16, seed=7)
    order, gen = np.arange(len(X)), np.random.default_rng(7)
    assert loader.n_batches == 4
    for _ in range(3):
        gen.shuffle(order)
        batches = [(xb.copy(), tb.copy()) for xb, tb in loader.epoch(0)]
        assert [len(xb) for xb, _ in batches] == [16, 16, 16, 2]
        for i, (xb, tb) in enumerate(batches):
            idx = order[16 * i:16 * (i + 1)]
            assert xb.dtype == np.float32 and np.array_equal(xb, X[idx].astype(np.float32))
            assert np.array_equal(tb, y[idx])


def test_unshuffled_rows_of_the_model_dtype_are_slices_of_x(rng, tmp_path):
    X, y = _data(rng)
    for xb, _ in _loader(X, y, 16, shuffle=False).epoch(0):
        assert np.shares_memory(xb, X)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=X.shape)
    mm[...] = X
    batches = [xb.copy() for xb, _ in _loader(mm, y, 16, shuffle=False).epoch(0)]  # a memmap is gathered
    assert np.array_equal(np.concatenate(batches), X)


@pytest.mark.parametrize("shuffle", [True, False])
def test_augmented_batches_do_not_depend_on_the_chunk_size(shuffle, monkeypatch, rng):
    X = rng.random((40, 16)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    pipeline = A.Compose([A.RandomRotation(20), A.GaussianNoise(0.1)], image_shape=(4, 4))
    epochs = []
    for chunk_values in (1, 3 * 8 * 16, L.CHUNK_VALUES):
        monkeypatch.setattr(L, "CHUNK_VALUES", chunk_values)
        loader = _loader(X, y, 8, shuffle=shuffle, seed=3, augment=pipeline)
        epochs.append([np.concatenate([xb.copy() for xb, _ in loader.epoch(s)]) for s in (0, 5)])
    assert all(np.array_equal(a, b) for a, b in zip(epochs[0], epochs[1]))
    assert all(np.array_equal(a, b) for a, b in zip(epochs[0], epochs[2]))
    # the documented key: position p of the epoch's order gets (seed, the epoch's first step, p)
    order = np.arange(40)
    if shuffle:
        np.random.default_rng(3).shuffle(order)
    rows = X[order]
    assert np.array_equal(epochs[0][0], pipeline.apply(rows, np.empty_like(rows), 3, 0, 0))

