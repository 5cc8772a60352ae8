"""Initializers: variance formulas, gains, orthogonality, the symmetry warning and signal propagation."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import init

SHAPE = (800, 400)  # 320k samples: the sample variance is within ~0.5% of the truth
FAN_IN, FAN_OUT = SHAPE


def _rel(a, b):
    return abs(a - b) / b


@pytest.mark.parametrize("name, kwargs, var", [
    ("normal", {"std": 0.05}, 0.05 ** 2),
    ("normal", {}, 0.01 ** 2),
    ("uniform", {"r": 0.3}, 0.3 ** 2 / 3),
    ("uniform", {"std": 0.2}, 0.2 ** 2),                       # r = sqrt(3) sigma
    ("uniform", {}, 0.01 ** 2),
    ("xavier_normal", {}, 2.0 / (FAN_IN + FAN_OUT)),
    ("xavier_uniform", {}, 2.0 / (FAN_IN + FAN_OUT)),
    ("xavier_normal", {"gain": 5 / 3}, (5 / 3) ** 2 * 2.0 / (FAN_IN + FAN_OUT)),
    ("xavier_uniform", {"gain": 2.0}, 4.0 * 2.0 / (FAN_IN + FAN_OUT)),
    ("xavier_normal_logistic", {}, 16.0 * 2.0 / (FAN_IN + FAN_OUT)),   # the chapter's x4 for the logistic
    ("xavier_uniform_logistic", {}, 16.0 * 2.0 / (FAN_IN + FAN_OUT)),
    ("he_normal", {}, 2.0 / FAN_IN),
    ("he_uniform", {}, 2.0 / FAN_IN),
    ("he_normal", {"mode": "fan_out"}, 2.0 / FAN_OUT),
    ("he_uniform", {"mode": "fan_out"}, 2.0 / FAN_OUT),
    ("he_normal", {"nonlinearity": "tanh"}, (5 / 3) ** 2 / FAN_IN),
    ("he_uniform", {"nonlinearity": "leaky_relu", "a": 0.2}, 2.0 / (1 + 0.04) / FAN_IN),
    ("he_normal", {"nonlinearity": "linear", "mode": "fan_out"}, 1.0 / FAN_OUT),
    ("lecun_normal", {}, 1.0 / FAN_IN),
    ("lecun_uniform", {}, 1.0 / FAN_IN),
    ("orthogonal", {}, 1.0 / FAN_IN),        # tall: unit-norm columns of length FAN_IN
    ("orthogonal", {"gain": 3.0}, 9.0 / FAN_IN),
])
def test_variance_matches_formula(name, kwargs, var):
    rng = np.random.default_rng(0)
    w = init.get(name)(SHAPE, rng, **kwargs)
    assert w.shape == SHAPE and w.dtype == np.float64
    assert abs(w.mean()) < 3 * math.sqrt(var / w.size) + 1e-12
    assert _rel(w.var(), var) < 0.03, (name, kwargs, w.var(), var)


def test_uniform_bounds():
    rng = np.random.default_rng(1)
    w = init.uniform((1000, 100), rng, r=0.5)
    assert w.min() >= -0.5 and w.max() <= 0.5 and w.max() > 0.49
    b = math.sqrt(6.0 / (300 + 200))
    w = init.xavier_uniform((300, 200), rng)
    assert np.abs(w).max() <= b and np.abs(w).max() > 0.99 * b
    w = init.he_uniform((300, 200), rng)
    assert np.abs(w).max() <= math.sqrt(6.0 / 300)
    with pytest.raises(ValueError, match="either r"):
        init.uniform((3, 3), rng, r=1.0, std=1.0)


def test_xavier_logistic_is_four_times_xavier_by_name():
    """The chapter's interval for a logistic layer, 4 sqrt(6 / (fan_in + fan_out)), reachable by name from
    Dense; the same draws as xavier_uniform(gain=4) and 4 times xavier_uniform's."""
    a = 4.0 * math.sqrt(6.0 / (300 + 200))
    w = init.get("xavier_uniform_logistic")((300, 200), np.random.default_rng(2), activation="sigmoid")
    assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a
    np.testing.assert_array_equal(w, init.xavier_uniform((300, 200), np.random.default_rng(2), gain=4.0))
    np.testing.assert_allclose(w, 4.0 * init.xavier_uniform((300, 200), np.random.default_rng(2)), rtol=1e-15)
    dense = fastnn.layers.Dense(20, activation="sigmoid", init="xavier_uniform_logistic")
    model = fastnn.Sequential([dense], input_dim=30, seed=0, dtype="float64")
    assert model.get_config()["layers"][0]["init"] == "xavier_uniform_logistic"
    assert np.abs(dense.params["W"]).max() <= 4.0 * math.sqrt(6.0 / 50)
    assert init.calculate_gain("sigmoid") == 1.0  # PyTorch's gain is unchanged


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for nl in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl))
    for slope in (None, 0.0, 0.2, 3.0):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        init.calculate_gain("softplus2")


def test_he_matches_torch_kaiming_std():
    """Same std as torch.nn.init.kaiming_normal_ with the axes swapped ((in, out) vs torch's (out, in))."""
    torch = pytest.importorskip("torch")
    t = torch.empty(300, 700, dtype=torch.float64)  # torch layout (out, in): fan_in = 700
    torch.manual_seed(0)
    torch.nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu")
    w = init.he_normal((700, 300), np.random.default_rng(0))
    assert _rel(w.std(), float(t.std())) < 0.03


@pytest.mark.parametrize("shape", [(256, 256), (500, 120), (120, 500), (7, 3), (3, 7)])
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_orthogonal(shape, gain):
    w = init.orthogonal(shape, np.random.default_rng(2), gain=gain)
    rows, cols = shape
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_is_seeded_and_needs_a_matrix():
    a = init.orthogonal((50, 20), np.random.default_rng(3))
    b = init.orthogonal((50, 20), np.random.default_rng(3))
    c = init.orthogonal((50, 20), np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal((5,), np.random.default_rng(0))


def test_zeros_and_constant_warn_for_weight_matrices():
    with pytest.warns(init.SymmetryWarning, match="symmetry"):
        w = init.zeros((4, 3))
    assert not w.any()
    with pytest.warns(init.SymmetryWarning, match="symmetry"):
        w = init.constant((4, 3), None, value=0.5)
    assert (w == 0.5).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not init.zeros((5,)).any()  # a bias: no warning
        assert (init.constant((5,), None, value=2.0) == 2.0).all()


def test_same_seed_same_weights_any_name():
    for name in init.INITIALIZERS:
        if name in ("zeros", "constant"):
            continue
        a = init.get(name)((30, 20), np.random.default_rng(5), activation="relu")
        b = init.get(name)((30, 20), np.random.default_rng(5), activation="relu")
        assert np.array_equal(a, b), name


def test_auto_picks_by_activation():
    shape = (1000, 600)
    rng = np.random.default_rng(6)
    assert _rel(init.auto(shape, rng, activation="relu").var(), 2.0 / 1000) < 0.03
    assert _rel(init.auto(shape, rng, activation="gelu").var(), 2.0 / 1000) < 0.03
    assert _rel(init.auto(shape, rng, activation="tanh").var(), 2.0 / 1600) < 0.03
    assert _rel(init.auto(shape, rng, activation="sigmoid").var(), 2.0 / 1600) < 0.03
    assert _rel(init.auto(shape, rng, activation="identity").var(), 1.0 / 1000) < 0.03


def test_init_options_of_numpy_scalars_save_with_the_model(tmp_path):
    """Init("normal", std=np.float32(0.1)) built and trained, then fastnn.save refused the model: its config held a
    float32, which JSON cannot write ("model config is not JSON-serializable")."""
    options = {"std": np.float32(0.1), "mean": np.float64(0.5)}
    assert init.Init("normal", **options).get_config() == {"name": "normal", "std": float(np.float32(0.1)), "mean": 0.5}
    model = fastnn.Sequential([fastnn.layers.Dense(3, init=init.Init("normal", **options))], input_dim=2, seed=0)
    fastnn.save(model, tmp_path / "m.fnn")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.fnn").get_weights()[0], model.get_weights()[0])


def test_get_resolves_names_objects_and_configs():
    assert init.get("he_normal") is init.he_normal
    f = lambda shape, rng, **_: np.ones(shape)  # noqa: E731
    assert init.get(f) is f
    obj = init.Init("normal", std=0.5)
    assert init.get(obj) is obj
    again = init.get(obj.get_config())
    assert again == obj
    w = again((2000, 500), np.random.default_rng(0), activation="relu")  # extra options are ignored
    assert _rel(w.std(), 0.5) < 0.03
    with pytest.raises(ValueError, match="unknown initializer"):
        init.get("glorot")
    with pytest.raises(ValueError, match="unknown initializer"):
        init.Init("glorot")
    with pytest.raises(ValueError, match="mode"):
        init.he_normal((3, 3), np.random.default_rng(0), mode="fan_avg")
    with pytest.raises(ValueError, match="std"):
        init.normal((3, 3), np.random.default_rng(0), std=-1.0)
    with pytest.raises(TypeError, match="Generator"):
        init.normal((3, 3), 0)


def _tanh_stack_variances(name, depth=20, width=256, **options):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, width))
    variances = []
    for _ in range(depth):
        x = np.tanh(x @ init.get(name)((width, width), rng, **options))
        variances.append(x.var())
    return np.array(variances)


def test_deep_tanh_signal_xavier_stable_small_normal_collapses():
    """20 tanh layers: with Xavier the activation variance stays healthy, with N(0, 0.01^2) it vanishes."""
    tuned = _tanh_stack_variances("xavier_normal", gain=init.calculate_gain("tanh"))
    plain = _tanh_stack_variances("xavier_uniform")
    small = _tanh_stack_variances("normal", std=0.01)
    # Xavier with tanh's gain: flat after the first layers (within a factor 1.5 from layer 5 to 20).
    assert tuned[4:].max() / tuned[4:].min() < 1.5 and tuned[-1] > 0.2
    # Plain Xavier (gain 1): tanh's contraction makes it shrink only slowly, about 1 / (2 * depth).
    assert plain[-1] > 1e-2 and plain[-1] / plain[0] > 0.02
    # Fixed small std: each layer multiplies the variance by width * 0.01^2 = 0.0256 -> collapse.
    assert small[-1] < 1e-25
    assert np.all(np.diff(np.log(small)) < np.log(0.05))


@pytest.mark.parametrize("layers", [
    lambda a: [fastnn.layers.Dense(400, activation="leaky_relu", alpha=a)],
    lambda a: [fastnn.layers.Dense(400), fastnn.layers.LeakyReLU(a)],  # the activation fused into the Dense
])
@pytest.mark.parametrize("slope", [0.2, 0.5, 1.0])
def test_auto_init_of_a_leaky_relu_layer_uses_its_slope(layers, slope):
    """Review 14: "auto" drew every leaky-ReLU layer with ReLU's gain sqrt(2), 41% too large for slope 1 (the
    identity); PyTorch's kaiming_normal_(a=slope, nonlinearity="leaky_relu") has std
    calculate_gain("leaky_relu", slope) / sqrt(fan_in)."""
    torch = pytest.importorskip("torch")
    W = fastnn.Sequential(layers(slope), input_dim=1000, dtype="float64", seed=0).get_weights()[0]
    expected = torch.nn.init.calculate_gain("leaky_relu", slope) / math.sqrt(1000)
    assert np.std(W) == pytest.approx(expected, rel=0.01)  # 400,000 draws: sampling error ~0.1%


@pytest.mark.parametrize("name, options, message", [
    ("normal", {"stddev": 0.5}, r"initializer 'normal' takes no option 'stddev' \(its options: \['mean', 'std'\]\)"),
    ("he_normal", {"nonlinearty": "tanh"}, r"initializer 'he_normal' takes no option 'nonlinearty'"),
    ("xavier_uniform", {"gian": 2.0}, r"takes no option 'gian'"),
    ("uniform", {"minval": -1.0, "maxval": 1.0}, r"initializer 'uniform' takes no option 'maxval'"),
    ("orthogonal", {"scale": 2.0}, r"initializer 'orthogonal' takes no option 'scale' \(its options: \['gain'\]\)"),
    ("lecun_normal", {"gain": 2.0}, r"takes no option 'gain' \(its options: none\)"),
])
def test_an_option_the_initializer_does_not_take_is_refused(name, options, message):
    """Review 14: every initializer swallowed unknown keyword options, so a misspelt or Keras-style option drew
    the default distribution (Init('normal', stddev=0.5) gave std 0.01)."""
    with pytest.raises(ValueError, match=message):
        init.Init(name, **options)
    with pytest.raises(ValueError, match=message):
        fastnn.layers.Dense(3, init={"name": name, **options})


def test_auto_refuses_an_option_its_choice_does_not_take():
    """Init('auto', gain=3.0) was accepted and the gain dropped when auto chose He for a ReLU layer."""
    model = fastnn.Sequential([fastnn.layers.Dense(3, activation="relu", init=init.Init("auto", gain=3.0))], seed=0)
    with pytest.raises(ValueError, match=r"init 'auto' chose he_normal for activation 'relu', which takes no option "
                                         r"'gain'"):
        model.build(4)
    assert not model.built
    tanh = fastnn.Sequential([fastnn.layers.Dense(3, activation="tanh", init=init.Init("auto", gain=3.0))], seed=0)
    tanh.build(4)  # Xavier takes a gain
    with pytest.raises(ValueError, match="takes no option 'stddev'"):
        init.Init("auto", stddev=1.0)


def test_a_callable_taking_only_shape_and_rng_is_an_initializer():
    """The docs promise any callable fn(shape, rng); Dense called it with activation= (TypeError). A callable that
    names ``activation`` (or takes **kwargs) still gets it."""
    def half(shape, rng):
        return np.full(shape, 0.5)

    seen = []

    def by_activation(shape, rng, activation="identity"):
        seen.append(activation)
        return np.full(shape, 0.25)

    model = fastnn.Sequential([fastnn.layers.Dense(3, init=half), fastnn.layers.Dense(2, activation="tanh",
                                                                                      init=by_activation)],
                              input_dim=2, seed=0)
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 3), 0.5))
    np.testing.assert_array_equal(model.get_weights()[2], np.full((3, 2), 0.25))
    assert seen == ["tanh"]


@pytest.mark.parametrize("name, options, error, message", [
    ("normal", {"std": "0.1"}, TypeError, r"initializer 'normal' option std must be a finite real number >= 0.0, "
                                          r"got str '0.1'"),
    ("normal", {"std": -0.1}, ValueError, r"option std must be a finite real number >= 0.0, got -0.1"),
    ("normal", {"mean": float("nan")}, ValueError, r"option mean must be a finite real number"),
    ("constant", {"value": None}, TypeError, r"initializer 'constant' option value must be"),
    ("uniform", {"r": True}, TypeError, r"initializer 'uniform' option r must be"),
    ("uniform", {"r": 1.0, "std": 0.5}, ValueError, r"either r \(the half-width\) or std, not both"),
    ("xavier_normal", {"gain": [2.0]}, TypeError, r"initializer 'xavier_normal' option gain must be"),
    ("he_normal", {"mode": "fan_avg"}, ValueError, r"option mode must be 'fan_in' or 'fan_out', got 'fan_avg'"),
    ("he_uniform", {"nonlinearity": "swish"}, ValueError, r"option nonlinearity: unknown nonlinearity 'swish'"),
    ("he_normal", {"a": "0.2"}, TypeError, r"initializer 'he_normal' option a must be"),
    ("auto", {"gain": -1.0}, ValueError, r"initializer 'auto' option gain must be"),
    ("auto", {"activation": 3}, TypeError, r"option activation must be an activation name"),
])
def test_an_option_value_is_checked_when_bound(name, options, error, message):
    """Init("normal", std="0.1") was accepted, and failed only when the model was built."""
    with pytest.raises(error, match=message):
        init.Init(name, **options)
    with pytest.raises(error, match=message):
        fastnn.layers.Dense(3, init={"name": name, **options})


def test_valid_option_values_are_bound_as_given():
    assert init.Init("normal", std=1, mean=np.float64(-0.5)).get_config() == {"name": "normal", "std": 1, "mean": -0.5}
    assert init.Init("uniform", r=None, std=np.float32(0.5)).options == {"r": None, "std": 0.5}
    assert init.Init("he_normal", mode="fan_out", nonlinearity="leaky_relu", a=np.int64(0)).options["a"] == 0
    assert init.Init("auto", activation="tanh", alpha=0.2, gain=2.0).options["gain"] == 2.0
