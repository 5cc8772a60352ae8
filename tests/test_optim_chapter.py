"""The chapter's optimizer variants: epsilon inside the square root (``eps_root``, against optax) and L1 by a
proximal step (``prox_l1``, exact zeros and the soft-threshold formula); their defaults leave torch's update
unchanged to the bit."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastnn
from fastnn import optim
from fastnn._layout import ParamLayout

LAYOUT = ParamLayout.pack([("0.W", (7, 5), "weight", 0), ("0.b", (5,), "bias", 0)], np.float64)


def gradients(seed: int, steps: int) -> list[np.ndarray]:
    """A gradient sequence with some coordinates always 0 (where eps inside or outside the root differ most)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        g = rng.standard_normal(LAYOUT.size) * rng.choice([1e-4, 1.0], LAYOUT.size)
        g[::6] = 0.0
        out.append(g)
    return out


def run_fastnn(opt: optim.Optimizer, seed: int = 0, steps: int = 6) -> np.ndarray:
    params = np.random.default_rng(100 + seed).standard_normal(LAYOUT.size)
    opt.bind(LAYOUT)
    for g in gradients(seed, steps):
        opt.step(params, g)
    return params


# --------------------------------------------------------------------------------------------- eps_root
def run_optax(tx, seed: int = 0, steps: int = 6) -> np.ndarray:
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    with jax.enable_x64(True):
        params = jax.numpy.asarray(np.random.default_rng(100 + seed).standard_normal(LAYOUT.size))
        state = tx.init(params)
        for g in gradients(seed, steps):
            updates, state = tx.update(jax.numpy.asarray(g), state, params)
            params = optax.apply_updates(params, updates)
        return np.asarray(params, np.float64)


def optax_cases():
    optax = pytest.importorskip("optax")
    return [
        (optim.Adagrad(lr=0.1, eps=0.0, eps_root=1e-7, initial_accumulator_value=0.1),
         optax.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7)),
        (optim.RMSprop(lr=0.01, alpha=0.9, eps=0.0, eps_root=1e-8),
         optax.rmsprop(0.01, decay=0.9, eps=1e-8, eps_in_sqrt=True)),
        (optim.RMSprop(lr=0.01, alpha=0.9, eps=0.0, eps_root=1e-6, centered=True),
         optax.rmsprop(0.01, decay=0.9, eps=1e-6, eps_in_sqrt=True, centered=True)),
        (optim.Adam(lr=0.01, eps=0.0, eps_root=1e-8), optax.adam(0.01, eps=0.0, eps_root=1e-8)),
        (optim.Adam(lr=0.01, eps=1e-8, eps_root=1e-4, betas=(0.8, 0.99)),
         optax.adam(0.01, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-4)),
        (optim.AdamW(lr=0.01, weight_decay=0.1, eps=0.0, eps_root=1e-8),
         optax.adamw(0.01, eps=0.0, eps_root=1e-8, weight_decay=0.1)),
    ]


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("seed", [0, 1])
def test_eps_root_matches_optax(case, seed):
    ours, tx = optax_cases()[case]
    np.testing.assert_allclose(run_fastnn(ours, seed), run_optax(tx, seed), rtol=1e-12, atol=1e-15)


def test_eps_root_changes_the_update_where_the_chapter_says():
    """Inside the root the step multiplier is capped at 1/sqrt(eps) where the gradients are tiny."""
    for name in ("Adagrad", "RMSprop", "Adam"):
        cls = getattr(optim, name)
        outside, inside = run_fastnn(cls(lr=0.01, eps=1e-8)), run_fastnn(cls(lr=0.01, eps=0.0, eps_root=1e-8))
        assert not np.array_equal(outside, inside), name


@pytest.mark.parametrize("name", ["Adagrad", "RMSprop", "Adam", "AdamW"])
def test_eps_root_zero_is_torch_to_the_bit(name):
    """Three steps from the same state: the default (eps_root=0, which adds an exact 0 under the root) is torch's
    single-tensor update bit for bit; RMSprop to 1 ulp, as before eps_root (the kernel rounds
    (-lr * g) / avg where torch's addcdiv rounds -lr * (g / avg))."""
    torch = pytest.importorskip("torch")
    kwargs = {"lr": 0.01, "eps": 1e-8}
    opt = getattr(optim, name)(**kwargs).bind(LAYOUT)
    params = np.random.default_rng(7).standard_normal(LAYOUT.size)
    t = torch.tensor(params.copy(), requires_grad=True)
    topt = getattr(torch.optim, name)([t], foreach=False, **kwargs)
    for g in gradients(3, 3):
        opt.step(params, g)
        t.grad = torch.tensor(g.copy())
        topt.step()
    if name == "RMSprop":
        np.testing.assert_allclose(params, t.detach().numpy(), rtol=4.5e-16, atol=0)
    else:
        np.testing.assert_array_equal(params, t.detach().numpy())


def test_eps_root_config_round_trip_and_groups():
    opt = optim.Adam(lr=0.01, eps=0.0, eps_root=1e-8, param_groups=[{"kinds": ["bias"], "eps_root": 1e-6}])
    cfg = json.loads(json.dumps(opt.get_config()))
    assert cfg["eps_root"] == 1e-8 and cfg["param_groups"][0]["eps_root"] == 1e-6
    back = optim.optimizer_from_config(cfg)
    assert back.get_config() == opt.get_config()
    np.testing.assert_array_equal(run_fastnn(back), run_fastnn(opt))
    old = {k: v for k, v in optim.Adam(lr=0.01).get_config().items() if k not in ("eps_root", "prox_l1")}
    assert optim.optimizer_from_config(old).defaults["eps_root"] == 0.0  # configs saved before the option


def test_eps_root_and_prox_l1_survive_a_state_dict_round_trip():
    """What a checkpoint stores (the state dict, its config as JSON) restores both options into a default
    optimizer, and training continues bit for bit."""
    opt = optim.RMSprop(lr=0.01, eps=0.0, eps_root=1e-6, prox_l1=0.01)
    params = run_fastnn(opt)
    sd = opt.state_dict()
    sd["config"] = json.loads(json.dumps(sd["config"]))
    fresh = optim.RMSprop().bind(LAYOUT)
    fresh.load_state_dict(sd)
    assert fresh.defaults["eps_root"] == 1e-6 and fresh.defaults["prox_l1"] == 0.01
    p1, p2 = params.copy(), params.copy()
    for g in gradients(9, 2):
        opt.step(p1, g)
        fresh.step(p2, g)
    np.testing.assert_array_equal(p1, p2)


# ---------------------------------------------------------------------------------------------- prox_l1
def soft_threshold(q: np.ndarray, tau: float) -> np.ndarray:
    return np.sign(q) * np.maximum(np.abs(q) - tau, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prox_l1_is_the_soft_threshold_of_the_step(seed):
    rng = np.random.default_rng(seed)
    params, grads = rng.standard_normal(LAYOUT.size), rng.standard_normal(LAYOUT.size)
    lr, lam = 0.1, 2.0
    expected = soft_threshold(params - lr * grads, lr * lam)
    optim.SGD(lr=lr, prox_l1=lam).bind(LAYOUT).step(params, grads)
    np.testing.assert_array_equal(params, expected)  # the formula in float64, to the bit
    zeros = np.abs(params) == 0
    assert zeros.any() and not np.signbit(params[zeros]).any()  # exact (positive) zeros


def test_prox_l1_on_weights_only_and_with_a_schedule():
    lr = fastnn.schedules.Exponential(0.1, gamma=0.5)
    opt = optim.Adam(lr=lr, param_groups=[{"kinds": ["weight"], "prox_l1": 0.5}]).bind(LAYOUT)
    plain = optim.Adam(lr=lr).bind(LAYOUT)
    rng = np.random.default_rng(4)
    p, q = np.full(LAYOUT.size, 0.01), np.full(LAYOUT.size, 0.01)
    for step in range(3):
        g = rng.standard_normal(LAYOUT.size)
        opt.step(p, g)
        plain.step(q, g)
        q_w = LAYOUT.view(q, "0.W")
        q_w[...] = soft_threshold(q_w, lr(step) * 0.5)  # the same rule applied by hand, with that step's lr
        np.testing.assert_array_equal(p, q)
    assert np.any(LAYOUT.view(p, "0.W") == 0) and np.all(LAYOUT.view(p, "0.b") != 0)


def fraction_zero(model) -> float:
    w = np.concatenate([layer.params["W"].ravel() for layer in model.layers if "W" in layer.params])
    return float(np.mean(w == 0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_proximal_l1_gives_exact_zeros_where_the_subgradient_does_not(seed):
    """Sparse linear regression (3 of 20 features matter): the same objective loss + lam * sum|W| trained with
    the subgradient (Dense(l1=lam)) leaves every weight nonzero; the proximal step zeroes the irrelevant ones."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 20))
    y = X[:, :3] @ np.array([[2.0], [-1.5], [1.0]]) + 0.1 * rng.standard_normal((200, 1))
    lam = 0.05
    sub = fastnn.Sequential([fastnn.layers.Dense(1, l1=lam)], seed=seed, dtype="float64")
    fit = {"loss": "mse", "epochs": 60, "batch_size": 200, "verbose": 0}  # full batch: ISTA vs subgradient descent
    sub.fit(X, y, optimizer=optim.SGD(lr=0.2), **fit)
    prox = fastnn.Sequential([fastnn.layers.Dense(1)], seed=seed, dtype="float64")
    prox.fit(X, y, optimizer=optim.SGD(lr=0.2, param_groups=[{"kinds": ["weight"], "prox_l1": lam}]), **fit)
    w_sub, w_prox = sub.layers[0].params["W"].ravel(), prox.layers[0].params["W"].ravel()
    assert fraction_zero(sub) == 0.0
    assert np.all(w_prox[3:] == 0.0) and np.all(w_prox[:3] != 0.0)
    assert np.max(np.abs(w_sub[3:])) > 0  # small but never exactly zero
    np.testing.assert_allclose(w_prox[:3], w_sub[:3], atol=0.05)  # the same objective: the same large weights
