"""Arrays that are not aligned to their element size (a buffer viewed at an odd byte offset, as np.frombuffer(...,
offset=) gives): the kernels read them through typed pointers, where a misaligned load is undefined behaviour, so
fastnn.ops refuses them and every public entry point hands the kernels an aligned copy instead. The results are
those of the aligned array, bit for bit."""
import numpy as np
import pytest

import fastnn as fnn
import fastnn.inference as fi
from fastnn.ops import dense as ops_dense
from fastnn.ops import infer as ops_infer
from fastnn.ops import loss as ops_loss

L = fnn.layers


def misaligned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` one byte off its element alignment."""
    a = np.ascontiguousarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    view = np.frombuffer(buf.data, a.dtype, count=a.size, offset=1).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned and view.flags.c_contiguous
    return view


def _data(dtype, n=64, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, 3, n)


def test_the_kernels_refuse_a_misaligned_array(dtype):
    z = misaligned(np.ones((4, 3), dtype))
    with pytest.raises(ValueError, match="not aligned to its .*-byte elements"):
        ops_dense.bias_act_forward(z, np.zeros(3, dtype), np.empty((4, 3), dtype), "relu")
    with pytest.raises(ValueError, match="logits is not aligned"):
        ops_loss.softmax_xent(z, np.zeros(4, np.int64), None, 1.0)
    plan = fi.compile(fnn.Sequential([L.Dense(3)], input_dim=3, dtype=dtype))
    with pytest.raises(ValueError, match="x is not aligned"):
        ops_infer.forward(plan.program, z, np.empty((4, 3), dtype), None)


def _fit(X, y, dtype, **kw):
    model = fnn.Sequential([L.Dense(8, activation="relu"), L.BatchNorm(), L.Dropout(0.2), L.Dense(3)],
                           input_dim=X.shape[1], dtype=dtype, seed=3)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=5, **kw)
    return model


@pytest.mark.parametrize("how", ["shuffled", "in order", "validation", "sample_weight", "augmented"])
def test_fit_on_misaligned_data_equals_fit_on_aligned(how, dtype):
    X, y = _data(dtype)
    kw = {"shuffled": {}, "in order": {"shuffle": False}, "validation": {"validation_data": (X[:20], y[:20])},
          "sample_weight": {"sample_weight": np.linspace(0.5, 1.5, len(X))},
          "augmented": {"augment": fnn.augment.Compose([fnn.augment.RandomFlip(), fnn.augment.GaussianNoise(0.1)],
                                                       image_shape=(4, 4))}}[how]
    odd = dict(kw)
    if how == "validation":
        odd["validation_data"] = (misaligned(X[:20]), y[:20])
    elif how == "sample_weight":
        odd["sample_weight"] = misaligned(kw["sample_weight"])
    want = _fit(X, y, dtype, **kw)
    got = _fit(X if how == "validation" else misaligned(X), y, dtype, **odd)
    for a, b in zip(got.get_weights(), want.get_weights()):
        np.testing.assert_array_equal(a, b)
    if how == "validation":
        assert got.history["val_loss"] == want.history["val_loss"]


def test_regression_targets_and_predictions_from_misaligned_arrays(dtype):
    X, _ = _data(dtype)
    Y = np.random.default_rng(1).standard_normal((len(X), 2)).astype(dtype)
    models = []
    for x, t in ((X, Y), (misaligned(X), misaligned(Y))):
        model = fnn.Sequential([L.Dense(4), L.LayerNorm(), L.Dense(2)], input_dim=16, dtype=dtype, loss="mse",
                               seed=1)
        model.fit(x, t, epochs=1, batch_size=8, verbose=0, seed=2)
        models.append(model)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(models[0].predict(misaligned(X)), models[0].predict(X))
    assert models[0].evaluate(misaligned(X), misaligned(Y)) == models[0].evaluate(X, Y)


@pytest.mark.parametrize("rows", [1, 5, 300])
def test_plan_predicts_misaligned_rows_like_aligned_ones(rows, dtype):
    X, y = _data(dtype, n=300)
    model = _fit(X, y, dtype)
    plan = fi.compile(model, block_rows=128, small_batch_max=200)
    np.testing.assert_array_equal(plan.predict(misaligned(X[:rows])), plan.predict(X[:rows]))
    np.testing.assert_array_equal(model.predict(misaligned(X[:rows])), model.predict(X[:rows]))
    with pytest.raises(ValueError, match="out is not aligned"):
        plan.predict(X[:rows], out=misaligned(np.zeros((rows, 3), dtype)))


def test_gemm_copies_a_misaligned_operand(dtype):
    """gemm takes strided operands and copies what it cannot read: odd strides and misaligned ones alike."""
    from fastnn.ops import gemm as ops_gemm

    a, b = _data(dtype, n=5, d=7)[0], np.arange(21, dtype=dtype).reshape(7, 3)
    want = ops_gemm.gemm(a, b, np.empty((5, 3), dtype))
    np.testing.assert_array_equal(ops_gemm.gemm(misaligned(a), misaligned(b), np.empty((5, 3), dtype)), want)
