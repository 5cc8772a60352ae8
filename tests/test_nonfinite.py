"""Non-finite numbers (issue 10, items 9-11): inputs checked in the dtype the model computes in, a NaN/inf
training loss stops training before the step is applied, run-time learning rates are checked, and the
StandardScaler does not overflow. (Item 8, activations propagating NaN: tests/test_kernels_dense.py.)"""
import os
import warnings

import numpy as np
import pytest

import fastnn as fnn
from fastnn import validation
from fastnn.cli import main
from fastnn.layers import BatchNorm, Dense, ReLU
from fastnn.training import NonFiniteLossError, TerminateOnNaN

F32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(autouse=True)
def _quiet_overflow():
    """A diverging run overflows inside numpy's matmul (a RuntimeWarning each time): expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        yield


def blobs(n=96, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = rng.standard_normal((classes, d))[y] * 3 + rng.standard_normal((n, d))
    return X, y  # float64, as users pass it


def mlp(dtype="float32", built=True):
    return fnn.Sequential([Dense(16), BatchNorm(), ReLU(), Dense(3)], input_dim=8 if built else None, dtype=dtype)


def snapshot(model):
    """Everything a refused call must leave as it was."""
    opt = model.optimizer
    return (model.params.copy(), [w.copy() for w in model.get_weights()], model.step_count,
            None if opt is None else {k: v.copy() for k, v in opt.state.items()},
            None if opt is None else opt.step_count, model.history)


def assert_unchanged(model, before):
    params, weights, steps, opt_state, opt_steps, history = before
    assert np.array_equal(model.params, params)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))  # BatchNorm running stats too
    assert model.step_count == steps and model.history is history
    if opt_state is not None:
        assert model.optimizer.step_count == opt_steps
        assert all(np.array_equal(model.optimizer.state[k], v) for k, v in opt_state.items())


# ---- item 9: finiteness in the model's dtype ---------------------------------------------------------------
def with_value(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


@pytest.mark.parametrize("value, match", [
    (1e300, r"X holds 1e\+300 at row 7, column 3, which overflows the model's dtype float32 to inf"),
    (-3.5e38, r"row 7, column 3, which overflows"),
    (np.nan, r"X contains nan at row 7, column 3"),
    (-np.inf, r"X contains -inf at row 7, column 3"),
])
def test_fit_refuses_values_not_finite_in_the_model_dtype(value, match):
    X, y = blobs()
    model = mlp(built=False)
    with pytest.raises(ValueError, match=match):
        model.fit(with_value(X, 7, 3, value), y, epochs=1, verbose=0)
    assert not model.built  # refused before anything changed


@pytest.mark.parametrize("value, match", [
    (1e39, r"y: mse targets hold 1e\+39 at row 4, column 1, which overflows the model's dtype float32 to inf"),
    (np.nan, r"y: mse targets contain NaN or inf \(first at row 4\)"),
])
def test_fit_names_a_finite_target_that_overflows_the_model_dtype(value, match):
    # a finite y too large for float32 was reported as "contain NaN or inf"
    X, _ = blobs()
    model = fnn.Sequential([Dense(4), Dense(2)], input_dim=8, dtype="float32", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cast's own overflow warning is not shown: the error says it
        with pytest.raises(ValueError, match=match):
            model.fit(X, with_value(X[:, :2], 4, 1, value), epochs=1, verbose=0)
    assert model.step_count == 0


def test_the_row_named_is_the_users_row_not_a_shuffled_position():
    X, y = blobs()
    model = mlp()
    model.fit(X, y, epochs=1, verbose=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match="row 90, column 0"):
        model.fit(with_value(X, 90, 0, 1e39), y, epochs=1, verbose=0, shuffle=True)
    assert_unchanged(model, before)


def test_validation_train_step_predict_and_evaluate_check_in_the_model_dtype():
    X, y = blobs()
    model = mlp()
    model.fit(X, y, epochs=1, verbose=0)
    before = snapshot(model)
    bad = with_value(X, 5, 2, 1e300)
    with pytest.raises(ValueError, match="validation X holds 1e[+]300 at row 5, column 2"):
        model.fit(X, y, epochs=1, verbose=0, validation_data=(bad, y))
    with pytest.raises(ValueError, match="xb holds 1e[+]300 at row 5"):
        model.train_step(bad[:16], y[:16])
    for call in (lambda: model.predict(bad), lambda: model.evaluate(bad, y)):
        with pytest.raises(ValueError, match="X holds 1e[+]300 at row 5") as err:
            call()
        assert "training" not in str(err.value)
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="X contains nan at row 5") as err:
        model.predict(with_value(X, 5, 2, np.nan))
    assert "before training" not in str(err.value)


def test_a_float64_model_takes_what_float64_holds():
    X, _ = blobs()
    validation.check_finite(with_value(X, 1, 1, 1e300), "X", np.float64)
    validation.check_finite(with_value(X, 1, 1, F32_MAX), "X", np.float32)  # the largest float32 is finite
    with pytest.raises(ValueError, match="overflows"):
        validation.check_finite(with_value(X, 1, 1, 3.4028236e38), "X", np.float32)  # rounds to inf
    validation.check_finite(np.full((3, 2), np.iinfo(np.int64).max), "X", np.float32)  # integers never overflow


def test_the_check_reads_a_memmap_in_chunks_and_names_the_row(tmp_path, monkeypatch):
    monkeypatch.setattr(validation, "_CHECK_CHUNK_VALUES", 40)  # 5 rows of 8 per chunk
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(100, 8))
    X[:] = 1.0
    X[77, 6] = -1e40
    with pytest.raises(ValueError, match="row 77, column 6"):
        validation.check_finite(X, "X", np.float32)


# ---- item 10: a non-finite loss stops training before the step is applied ----------------------------------
def digits():
    X, y, _, _ = fnn.datasets.load_embedded()
    return X, y


def digits_model():
    return fnn.Sequential([Dense(64), BatchNorm(), ReLU(), Dense(64, activation="relu"), Dense(10)], input_dim=64)


def fit_steps(n_steps, X, y, batch_size=32):
    """A fresh model trained for exactly ``n_steps`` unshuffled steps."""
    model = digits_model()
    per_epoch = -(-len(X) // batch_size)
    opt = fnn.optim.SGD(lr=1e4, momentum=0.9)
    if n_steps >= per_epoch:
        model.fit(X, y, optimizer=opt, epochs=n_steps // per_epoch, shuffle=False, verbose=0)
    if n_steps % per_epoch:
        model.fit(X[:n_steps % per_epoch * batch_size], y[:n_steps % per_epoch * batch_size], optimizer=opt,
                  epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
    return model


def test_lr_1e4_raises_at_the_first_nonfinite_loss_with_the_last_finite_state():
    X, y = digits()
    model = digits_model()
    with pytest.raises(NonFiniteLossError) as err:
        model.fit(X, y, optimizer=fnn.optim.SGD(lr=1e4, momentum=0.9), epochs=5, shuffle=False, verbose=0)
    e = err.value
    assert isinstance(e, FloatingPointError) and isinstance(e, ValueError)
    assert not np.isfinite(e.loss) and e.weights_finite and e.step > 0
    message = str(e)
    for part in (f"optimizer step {e.step}", f"epoch {e.epoch + 1}", f"batch {e.batch + 1}", "learning rate too high",
                 "lr=1e+04", "ByGlobalNorm", "not applied"):
        assert part in message
    reference = fit_steps(e.step, X, y)  # the same run stopped by hand after e.step steps
    assert model.step_count == e.step == reference.step_count
    assert np.array_equal(model.params, reference.params)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))  # BN stats
    assert model.optimizer.step_count == reference.optimizer.step_count
    assert np.array_equal(model.optimizer.state["momentum_buffer"], reference.optimizer.state["momentum_buffer"])
    assert np.isfinite(model.params).all()
    assert e.history is model.history and len(e.history.epoch) == e.epoch  # the complete epochs


def test_warn_stops_the_same_way_and_returns_the_history():
    X, y = digits()
    raised = digits_model()
    with pytest.raises(NonFiniteLossError):
        raised.fit(X, y, optimizer=fnn.optim.SGD(lr=1e4, momentum=0.9), epochs=5, shuffle=False, verbose=0)
    model = digits_model()
    with pytest.warns(RuntimeWarning, match="training loss is nan at optimizer step") as record:
        history = model.fit(X, y, optimizer=fnn.optim.SGD(lr=1e4, momentum=0.9), epochs=5, shuffle=False,
                            verbose=0, on_nonfinite_loss="warn")
    assert [w.filename for w in record] == [__file__]  # the warning points at the fit call
    assert history is model.history and model.stop_training
    assert np.array_equal(model.params, raised.params) and model.step_count == raised.step_count


def test_ignore_trains_on_and_terminate_on_nan_still_stops_at_the_epoch_end():
    X, y = digits()
    model = digits_model()
    history = model.fit(X, y, optimizer=fnn.optim.SGD(lr=1e4, momentum=0.9), epochs=3, shuffle=False, verbose=0,
                        on_nonfinite_loss="ignore")
    assert len(history.epoch) == 3 and not np.isfinite(history["loss"][-1])
    model = digits_model()
    history = model.fit(X, y, optimizer=fnn.optim.SGD(lr=1e4, momentum=0.9), epochs=3, shuffle=False, verbose=0,
                        on_nonfinite_loss="ignore", callbacks=[TerminateOnNaN()])
    assert len(history.epoch) == 1


def test_on_nonfinite_loss_is_checked_first():
    X, y = blobs()
    model = mlp(built=False)
    with pytest.raises(ValueError, match="on_nonfinite_loss must be one of"):
        model.fit(X, y, verbose=0, on_nonfinite_loss="stop")
    assert not model.built


def overflowing_batch():
    """Finite float32 values whose sums overflow in the first Dense: BatchNorm then gives inf - inf = NaN."""
    signs = np.where(np.random.default_rng(0).random((16, 8)) < 0.5, -1, 1)
    return (3e38 * signs).astype(np.float32), np.arange(16) % 3


def test_train_step_refuses_a_nonfinite_loss_and_undoes_the_batchnorm_update():
    X, y = blobs()
    model = mlp()
    model.fit(X, y, optimizer=fnn.optim.Adam(1e-2), epochs=1, verbose=0)
    before = snapshot(model)
    with pytest.raises(NonFiniteLossError, match=f"optimizer step {model.step_count};") as err:
        model.train_step(*overflowing_batch())
    assert err.value.epoch is None and "epoch" not in str(err.value)
    assert_unchanged(model, before)
    model.train_step(X[:16].astype(np.float32), y[:16])  # and training goes on


def test_a_refused_gradient_also_puts_the_batchnorm_statistics_back():
    X, y = blobs()
    model = mlp()
    model.fit(X, y, epochs=1, verbose=0)
    before = snapshot(model)
    Xb, yb = overflowing_batch()
    with pytest.raises(fnn.clip.NonFiniteGradientError):
        model.fit(Xb, yb, epochs=1, verbose=0, on_nonfinite_loss="ignore", clip=fnn.clip.ByGlobalNorm(1.0))
    params, weights, steps, _, _, _ = before
    assert np.array_equal(model.params, params) and model.step_count == steps
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))


def test_cli_train_with_a_huge_lr_exits_nonzero_and_writes_no_model(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["train", "--lr", "1000", "--epochs", "3", "-q", "-o", str(out)]) != 0
    assert not out.exists() and not list(tmp_path.iterdir())
    assert "training loss is" in capsys.readouterr().err


# ---- item 11: run-time learning rates, optimizer hyperparameters, StandardScaler -----------------------------
@pytest.mark.parametrize("bad, error, match", [
    (float("nan"), ValueError, "got nan"),
    (float("inf"), ValueError, "got inf"),
    (-0.1, ValueError, "got -0.1"),
    ("0.1", TypeError, "got str '0.1'"),
    (None, TypeError, "got NoneType None"),
])
def test_a_schedule_returning_a_bad_lr_is_refused_at_its_step_before_the_update(bad, error, match):
    X, y = blobs(n=64)
    model = mlp()
    opt = fnn.optim.SGD(lr=lambda t: 0.05 if t < 3 else bad, momentum=0.9)
    with pytest.raises(error, match=r"lr at optimizer step 3 \(from <function .*\) must be a finite real number "
                                    r">= 0.0, " + match):
        model.fit(X, y, optimizer=opt, epochs=2, batch_size=16, shuffle=False, verbose=0)  # 4 steps per epoch
    reference = mlp()
    reference.fit(X[:48], y[:48], optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), epochs=1, batch_size=16,
                  shuffle=False, verbose=0)
    assert model.step_count == opt.step_count == 3
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))
    assert np.array_equal(opt.state["momentum_buffer"], reference.optimizer.state["momentum_buffer"])


def test_a_bad_first_lr_is_refused_before_fit_changes_anything():
    X, y = blobs()
    model = mlp(built=False)
    with pytest.raises(ValueError, match="lr at optimizer step 0"):
        model.fit(X, y, optimizer=fnn.optim.SGD(lr=lambda t: float("nan")), verbose=0)
    assert not model.built and model.optimizer is None
    model = mlp()
    model.fit(X, y, epochs=1, verbose=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"param_groups\[0\]: lr at optimizer step"):
        model.fit(X, y, optimizer=fnn.optim.SGD(0.1, param_groups=[{"names": ["0.*"], "lr": lambda t: -1.0}]),
                  verbose=0)
    assert_unchanged(model, before)


def test_optimizer_step_checks_the_lr_of_every_group_before_updating():
    layout = mlp().layout
    opt = fnn.optim.Adam(lr=lambda t: [1e-3, float("inf")][t]).bind(layout)
    params, grads = np.ones(layout.size, np.float32), np.ones(layout.size, np.float32)
    opt.step(params, grads)
    before = params.copy(), {k: v.copy() for k, v in opt.state.items()}
    with pytest.raises(ValueError, match="lr at optimizer step 1"):
        opt.step(params, grads)
    assert np.array_equal(params, before[0]) and opt.step_count == 1
    assert all(np.array_equal(opt.state[k], v) for k, v in before[1].items())
    with pytest.raises(ValueError, match="lr at optimizer step 1"):
        opt.current_lr()


FLOAT_HYPERPARAMETERS = {"SGD": ["momentum", "dampening", "weight_decay"],
                         "RMSprop": ["momentum", "eps", "weight_decay"], "Adam": ["eps", "weight_decay"],
                         "AdamW": ["eps", "weight_decay"],
                         "Adagrad": ["eps", "weight_decay", "lr_decay", "initial_accumulator_value"],
                         "Adadelta": ["eps", "weight_decay"]}


@pytest.mark.parametrize("optimizer, name", [(o, h) for o, names in FLOAT_HYPERPARAMETERS.items() for h in names])
@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan")])
def test_optimizer_hyperparameters_refuse_inf_and_nan(optimizer, name, value):
    cls = getattr(fnn.optim, optimizer)
    with pytest.raises(ValueError, match=f"^{name} must be a finite real number"):
        cls(lr=0.1, **{name: value})
    with pytest.raises(ValueError, match=rf"^param_groups\[0\]: {name} must be a finite real number"):
        cls(lr=0.1, param_groups=[{"names": ["0.*"], name: value}])


# StandardScaler: features whose variance overflows float64 (sklearn: var_ inf, and the feature "constant")
HUGE = {
    "+-1e308": np.array([1e308, -1e308, 1e308, -1e308]),
    "1e308 and 1.7e308": np.array([1e308, 1.7e308, 1e308, 1.5e308]),
    "+-1e200, many rows": np.tile([1e200, -1e200, 3e199], 1000),
}


@pytest.mark.parametrize("column", sorted(HUGE))
def test_standard_scaler_does_not_overflow_on_huge_features(column):
    sk = pytest.importorskip("sklearn.preprocessing")
    col = HUGE[column]
    X = np.stack([col, np.linspace(-1, 1, len(col))], axis=1)
    scaler = fnn.preprocessing.StandardScaler().fit(X, chunk_size=3)  # several blocks: the merge too
    c = 2.0 ** 1000  # scikit-learn on the data scaled down exactly (a power of two): its result, scaled back
    ref = sk.StandardScaler().fit(X / np.array([c, 1.0]))
    np.testing.assert_allclose(scaler.mean_ / [c, 1.0], ref.mean_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaler.scale_ / [c, 1.0], ref.scale_, rtol=1e-12)
    assert np.isfinite(scaler.scale_).all() and scaler.scale_[0] > 1e150  # not "constant" (scale 1)
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z, ref.transform(X / np.array([c, 1.0])), rtol=1e-12, atol=1e-12)


def test_standard_scaler_on_ordinary_data_is_unchanged_and_matches_sklearn():
    sk = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 5)) * [1, 1e-3, 1e3, 1e100, 0] + [0, 5, -7, 1e100, 3]
    ours, ref = fnn.preprocessing.StandardScaler().fit(X, chunk_size=64), sk.StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-10)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-10)


def test_standard_scaler_huge_feature_survives_partial_fit():
    X = np.stack([HUGE["+-1e308"], [1.0, 2.0, 3.0, 4.0]], axis=1)
    whole = fnn.preprocessing.StandardScaler().fit(np.concatenate([X, X[::-1]]))
    parts = fnn.preprocessing.StandardScaler().fit(X[:1])  # a first block with nothing to rescale yet
    parts.partial_fit(X[1:]).partial_fit(X[::-1])
    np.testing.assert_allclose(parts.scale_, whole.scale_, rtol=1e-12)
    np.testing.assert_allclose(parts.mean_, whole.mean_, atol=1e-12 * 1e308)


def test_model_checkpoint_refuses_a_diverged_model_and_keeps_the_good_file(tmp_path):
    """ModelCheckpoint wrote the NaN weights of a run that ignores non-finite losses into a model file fastnn.load
    refused (fastnn.save refused them): a model's file contents now refuse them, for every writer."""
    X, y = blobs()
    path = tmp_path / "m.fnn"

    class OverflowAtEpoch2(fnn.training.Callback):
        def on_epoch_begin(self, epoch, logs, model):
            if epoch == 1:
                model.layers[0].params["W"][0, 0] = np.inf

    with pytest.raises(ValueError, match=r"refusing to save a model that could not be loaded: '0.W' contains NaN"):
        mlp().fit(X, y, epochs=2, verbose=0, on_nonfinite_loss="ignore",
                  callbacks=[OverflowAtEpoch2(), fnn.training.ModelCheckpoint(path)])
    assert fnn.load(path).predict(X[:2]).shape == (2, 3) and sorted(os.listdir(tmp_path)) == ["m.fnn"]
