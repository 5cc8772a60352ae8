"""Float64 central finite differences against the analytic gradients of whole models: every activation (as a
Dense option and as a standalone layer), every loss, and the L1/L2 penalties."""
import pytest
from gradcheck import check_model

import fastnn as fnn
from fastnn.layers import GELU, Dense, LeakyReLU, ReLU, Sigmoid, Tanh

ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"]


def data(rng, n=7, d=5, classes=4):
    x = rng.standard_normal((n, d))
    return x, rng.integers(0, classes, n)


@pytest.mark.parametrize("act", ACTS)
def test_dense_activation_gradients(act, rng):
    x, y = data(rng)
    model = fnn.Sequential([Dense(6, activation=act), Dense(5, activation=act), Dense(4)], input_dim=5,
                           dtype="float64", seed=3)
    # move away from ReLU kinks: finite differences are undefined exactly there
    check_model(model, x, y, "cross_entropy")


@pytest.mark.parametrize("layer_cls", [ReLU, LeakyReLU, Sigmoid, Tanh, GELU])
def test_standalone_activation_layers(layer_cls, rng):
    x, y = data(rng)
    # Dense + act is fused; act after act is not: both paths are checked
    model = fnn.Sequential([Dense(6), layer_cls(), layer_cls(), Dense(4)], input_dim=5, dtype="float64")
    assert model.layers[1].fused_into_previous and not model.layers[2].fused_into_previous
    check_model(model, x, y, "cross_entropy")


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "mse"])
def test_loss_gradients(loss, rng):
    x = rng.standard_normal((9, 5))
    if loss == "cross_entropy":
        y, out = rng.integers(0, 3, 9), 3
    elif loss == "binary_cross_entropy":
        y, out = rng.random((9, 2)), 2
    else:
        y, out = rng.standard_normal((9, 2)), 2
    model = fnn.Sequential([Dense(6, activation="tanh"), Dense(out)], input_dim=5, dtype="float64")
    check_model(model, x, y, loss)


def test_penalty_gradients(rng):
    x, y = data(rng)
    model = fnn.Sequential([Dense(6, activation="tanh", l1=0.01, l2=0.02), Dense(4, l2=0.05)], input_dim=5,
                           dtype="float64")
    check_model(model, x, y, "cross_entropy")


def test_bias_free_dense_gradients(rng):
    x, y = data(rng)
    model = fnn.Sequential([Dense(6, activation="sigmoid", use_bias=False), Dense(4)], input_dim=5,
                           dtype="float64")
    check_model(model, x, y, "cross_entropy")
