"""A model that carries its preprocessing: fitted in fit, applied in predict, saved and loaded with the model."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.cancellation import KEEP_OFFSET_ABOVE, cancellation
from fastnn.layers import Dense
from fastnn.preprocessing import MeanCenter, PCAWhitening, StandardScaler


def data(rng, n=300, d=6):
    X = rng.standard_normal((n, d)) * np.array([100, 0.01, 5, 1, 20, 3]) + 50
    y = (X[:, 0] / 100 + X[:, 1] * 100 > 0.5).astype(int)
    return X.astype(np.float32), y


def test_preprocess_fitted_in_fit_and_applied_in_predict(rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(16, activation="relu"), Dense(2)], preprocess=[StandardScaler()])
    model.fit(X, y, optimizer=fnn.optim.SGD(lr=0.1, momentum=0.9), epochs=15, batch_size=32, verbose=0)
    pre = model.preprocess
    np.testing.assert_allclose(pre.transform(X.astype(np.float64)).std(axis=0), 1, rtol=1e-6)
    # predict takes raw inputs and equals the network applied to the standardized rows
    raw = model.predict(X)
    manual = fnn.Sequential([Dense(16, activation="relu"), Dense(2)], input_dim=6)
    manual.set_weights(model.get_weights())
    manual.loss = model.loss
    np.testing.assert_allclose(raw, manual.predict(pre.transform(X)), rtol=1e-5, atol=1e-6)
    assert model.evaluate(X, y)["accuracy"] > 0.9


def test_pca_preprocess_sets_network_input_size(rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(8, activation="tanh"), Dense(2)], preprocess=PCAWhitening(n_components=3))
    model.fit(X, y, epochs=2, verbose=0)
    assert model.input_dim == 3 and model.n_features_in == 6
    assert model.predict(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="5 features, but the model expects 6"):
        model.predict(X[:, :5])


def test_model_with_preprocess_round_trips_through_a_file(tmp_path, rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(16, activation="relu"), Dense(2)],
                           preprocess=[StandardScaler(), PCAWhitening(n_components=4)])
    model.fit(X, y, epochs=3, verbose=0)
    fnn.save(model, tmp_path / "m.safetensors")
    loaded = fnn.load(tmp_path / "m.safetensors")
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_failed_fit_leaves_preprocess_unfitted(rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(4), Dense(2)], preprocess=[StandardScaler()])
    with pytest.raises(ValueError, match="out of range"):
        model.fit(X, y + 3, verbose=0)
    assert not model.built and model.preprocess.n_features_in_ is None


@pytest.mark.parametrize("make", [lambda: [StandardScaler()], lambda: [StandardScaler(), PCAWhitening(4)],
                                  lambda: [StandardScaler(), fnn.preprocessing.ZCAWhitening(eps=1e-3)]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_affine_preprocess_folds_into_the_first_dense(make, dtype, rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(16, activation="relu"), fnn.layers.BatchNorm(), Dense(2)], preprocess=make(),
                           dtype=dtype)
    model.fit(X, y, epochs=3, verbose=0)
    folded = model.fold()
    assert folded.input_dim == 6
    assert not any(isinstance(layer, fnn.layers.BatchNorm) for layer in folded.layers)
    # The features have means of 50 and stds of 100 .. 0.01: folding an offset 5000 times the std into the bias
    # would cancel that much (float32 kept 4 digits); fold subtracts such offsets first, feature by feature.
    m, A, _ = model.preprocess.centered_affine()
    assert isinstance(folded.preprocess, MeanCenter)
    np.testing.assert_array_equal(folded.preprocess.mean_ != 0, cancellation(m, A) > KEEP_OFFSET_ABOVE)
    if len(model.preprocess.steps) == 1:  # a StandardScaler: only feature 0 (std 100 > its mean) folds
        np.testing.assert_array_equal(folded.preprocess.mean_ == 0, [True, False, False, False, False, False])
    expected = model.predict(X)
    bound = (1e-6 if dtype == "float32" else 1e-12) * np.max(np.abs(expected))
    assert np.max(np.abs(folded.predict(X) - expected)) <= bound
    kept = model.fold(preprocess=False)
    assert kept.preprocess is not None
    assert np.max(np.abs(kept.predict(X) - expected)) <= bound


def test_fold_keeps_a_sample_center_and_folds_what_follows_it(rng):
    """SampleCenter subtracts each row's own mean, whose cancellation depends on the rows: it stays the folded
    model's preprocessor; the ZCA after it folds (its offsets, small but scaled by the 1/sqrt(eps) of the direction
    the centering removes, stay a MeanCenter). That direction amplifies float32 rounding by 1/sqrt(eps) in the
    model and the folded model alike, each its own way: with eps=1e-5 they differ by 6e-6, so eps=1e-2 here."""
    X = (rng.standard_normal((200, 6)) * np.array([1, 2, 3, 1, 2, 3]) + 5).astype(np.float32)
    pre = fnn.preprocessing.Pipeline([fnn.preprocessing.SampleCenter(), fnn.preprocessing.ZCAWhitening(eps=1e-2)])
    model = fnn.Sequential([Dense(5, activation="relu"), Dense(2)], preprocess=pre.fit(X))
    folded = model.fold()
    steps = getattr(folded.preprocess, "steps", [folded.preprocess])
    assert isinstance(steps[0], fnn.preprocessing.SampleCenter) and all(isinstance(s, MeanCenter) for s in steps[1:])
    expected = model.predict(X)
    assert np.max(np.abs(folded.predict(X) - expected)) <= 1e-6 * np.max(np.abs(expected))


@pytest.mark.parametrize("with_std, last", [(False, "MinMaxScaler"), (True, "StandardScaler")])
def test_fold_compile_and_export_after_a_narrowing_whitening_and_a_row_step(tmp_path, rng, with_std, last):
    """A PCA keeping fewer components than features, a SampleCenter, then an affine step: fold keeps the first two
    (2 features out of 4) and folds the last into the Dense, but gave the folded model the raw width 4 as its
    first layer's input ("model config input_dim=4 differs from the 2 features ..."), so compile_inference, fold
    and ONNX export failed. They run now, within the README's float64 plan bound."""
    onnx_export = pytest.importorskip("fastnn.onnx").export
    ort = pytest.importorskip("onnxruntime")
    X = rng.standard_normal((50, 4))
    pre = fnn.preprocessing.Pipeline([PCAWhitening(2), fnn.preprocessing.SampleCenter(with_std=with_std),
                                      getattr(fnn.preprocessing, last)()])
    model = fnn.Sequential([Dense(3)], input_dim=4, dtype="float64", seed=0, loss="mse", preprocess=pre.fit(X))
    want = model.predict(X)
    bound = 1e-12 * np.max(np.abs(want))
    folded = model.fold()
    assert folded.n_features_in == 4 and folded.input_dim == 2
    np.testing.assert_allclose(folded.predict(X), want, rtol=0, atol=bound)
    np.testing.assert_allclose(model.compile_inference().predict(X), want, rtol=0, atol=bound)
    onnx_export(model, tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": X})[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=bound)


def test_fold_keeps_no_offset_that_does_not_cancel(rng):
    """Offsets smaller than the spread fold whole: the folded model has no preprocessor and takes raw rows."""
    X = (rng.standard_normal((200, 4)) * 3 + 1).astype(np.float32)
    model = fnn.Sequential([Dense(5, activation="relu"), Dense(2)], preprocess=StandardScaler().fit(X))
    folded = model.fold()
    assert folded.preprocess is None and folded.input_dim == 4
    np.testing.assert_allclose(folded.predict(X), model.predict(X), rtol=1e-5, atol=1e-6)


# ---- input_dim with a preprocessor is the raw row width (issue 10, item 13) -----------------------------------
@pytest.mark.parametrize("make, width", [(lambda: [StandardScaler()], 6), (lambda: PCAWhitening(n_components=3), 3)])
def test_input_dim_with_preprocess_is_the_raw_width(make, width, rng):
    """The README's pattern: input_dim is the raw width; the layers are built for the preprocessor's output."""
    X, y = data(rng)
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(2)], input_dim=6, preprocess=make())
    assert not model.built and model.n_features_in == 6
    model.fit(X, y, optimizer=fnn.optim.SGD(lr=0.1, momentum=0.9), epochs=5, verbose=0)
    assert model.input_dim == width and model.n_features_in == 6
    assert model.predict(X).shape == (len(X), 2)
    same = fnn.Sequential([Dense(8, activation="relu"), Dense(2)], preprocess=make())
    same.fit(X, y, optimizer=fnn.optim.SGD(lr=0.1, momentum=0.9), epochs=5, verbose=0)
    assert np.array_equal(same.params, model.params)  # input_dim changes nothing but the check


def test_input_dim_with_preprocess_refuses_other_widths_before_fitting(rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(4), Dense(2)], input_dim=5, preprocess=[StandardScaler()])
    with pytest.raises(ValueError, match="X has 6 features, but the model expects 5"):
        model.fit(X, y, verbose=0)
    assert not model.built and not model.preprocess.fitted


def test_input_dim_with_a_fitted_preprocessor(rng):
    X, _ = data(rng)
    pca = PCAWhitening(n_components=4).fit(X)
    model = fnn.Sequential([Dense(3)], input_dim=6, preprocess=pca)
    assert model.built and model.input_dim == 4 and model.n_features_in == 6
    with pytest.raises(ValueError, match="input_dim=4 is the width of the raw rows.*takes 6 features"):
        fnn.Sequential([Dense(3)], input_dim=4, preprocess=pca)


# ---- a preprocessor not fitted yet: built layers, files, configs (review 9, #3 and #4) ----------------------------
def _weights_file(tmp_path, d=6):
    path = tmp_path / "w.npz"
    np.savez(path, np.ones((d, 4), np.float32), np.zeros(4, np.float32), np.ones((4, 2), np.float32),
             np.zeros(2, np.float32))
    return path


@pytest.mark.parametrize("how", ["load_weights", "build"])
def test_fit_fits_the_preprocessor_of_a_model_built_before_it(tmp_path, rng, how):
    """load_weights (pretrained layers) or build(n) built the layers while the preprocessor waited for fit, which
    then fitted it only for an unbuilt model: every fit and predict raised NotFittedError from then on."""
    X, y = data(rng)
    model = fnn.Sequential([Dense(4), Dense(2)], preprocess="standard")
    model.load_weights(_weights_file(tmp_path)) if how == "load_weights" else model.build(6)
    weights = model.params.copy()
    model.fit(X, y, epochs=1, verbose=0)
    assert model.preprocess.fitted and not np.array_equal(model.params, weights)
    np.testing.assert_allclose(model.preprocess.transform(X.astype(np.float64)).std(axis=0), 1, rtol=1e-6)
    fnn.save(model, tmp_path / "m.safetensors")
    assert np.array_equal(fnn.load(tmp_path / "m.safetensors").predict(X), model.predict(X))


def test_fit_refuses_a_preprocessor_whose_output_the_built_layers_do_not_take(rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(4), Dense(2)], preprocess=PCAWhitening(n_components=3))
    model.build(6)
    weights = model.params.copy()
    with pytest.raises(ValueError, match="puts out 3 features, but the model's layers were built .* for 6"):
        model.fit(X, y, epochs=1, verbose=0)
    assert not model.preprocess.fitted and np.array_equal(model.params, weights) and model.step_count == 0
    with pytest.raises(ValueError, match="train_step cannot fit a preprocessor from one batch"):
        model.train_step(X[:8], y[:8], optimizer=fnn.optim.SGD(lr=0.1))


@pytest.mark.parametrize("built", [False, True])
def test_a_model_whose_preprocessor_is_not_fitted_is_not_saved(tmp_path, built):
    """save wrote such a model without its preprocessor: the file loaded as a model predicting on raw rows."""
    from fastnn.training import ModelCheckpoint

    model = fnn.Sequential([Dense(4), Dense(2)], input_dim=None if built else 6, preprocess="standard")
    if built:
        model.build(6)
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=r"cannot save a model whose preprocessor \(StandardScaler\) is not fitted"):
        fnn.save(model, path)
    with pytest.raises(ValueError, match="is not fitted yet"):
        ModelCheckpoint(str(path), monitor="loss").on_epoch_end(0, {"loss": 1.0}, model)
    assert not path.exists()


@pytest.mark.parametrize("make", [lambda: "standard", lambda: [StandardScaler(), PCAWhitening(n_components=4)]])
@pytest.mark.parametrize("input_dim", [None, 6])
def test_from_config_keeps_a_preprocessor_that_is_not_fitted_yet(rng, make, input_dim):
    """get_config left out an unfitted preprocessor: the from_config clone trained without standardization."""
    X, y = data(rng)
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(2)], input_dim=input_dim, preprocess=make(), seed=3)
    config = model.get_config()
    clone = fnn.Sequential.from_config(config)
    assert clone.get_config() == config and clone.n_features_in == input_dim and not clone.built
    for m in (model, clone):
        m.fit(X, y, optimizer=fnn.optim.SGD(lr=0.05), epochs=2, verbose=0)
    assert np.array_equal(clone.params, model.params)
    assert np.array_equal(clone.predict(X), model.predict(X))
    if input_dim is not None:  # the raw width is kept, and checked before the preprocessor is fitted
        with pytest.raises(ValueError, match="X has 5 features, but the model expects 6"):
            fnn.Sequential.from_config(config).fit(X[:, :5], y, verbose=0)


def test_from_config_of_a_model_built_before_its_preprocessor_was_fitted(rng):
    X, y = data(rng)
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(2)], preprocess="standard", seed=5)
    model.build(6)
    clone = fnn.Sequential.from_config(model.get_config())
    assert clone.built and not clone.preprocess.fitted and np.array_equal(clone.params, model.params)
    for m in (model, clone):
        m.fit(X, y, epochs=2, verbose=0)
    assert np.array_equal(clone.params, model.params)


def test_a_float32_model_refuses_a_preprocessor_float32_cannot_hold_before_training(rng):
    """Review 14: a feature of std 1e-39 gave the float32 model an inf coefficient, every transformed batch inf,
    and fit ended in a NonFiniteLossError after building and binding. Now fit refuses it before anything changes:
    the model stays unbuilt and its preprocessor unfitted."""
    X = np.c_[rng.standard_normal(64) * 1e-39, rng.standard_normal(64)]
    y = rng.integers(0, 2, 64)
    model = fnn.Sequential([Dense(4), Dense(2)], preprocess=[StandardScaler()], dtype="float32", seed=0)
    with pytest.raises(fnn.preprocessing.PreprocessingError, match="inv_scale has values that are not finite in "
                                                                   "float32"):
        model.fit(X, y, loss="cross_entropy", epochs=1, verbose=0)
    assert not model.built and model.preprocess.n_features_in_ is None
