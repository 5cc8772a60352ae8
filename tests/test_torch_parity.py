"""End to end against PyTorch: the same MLP, the same data and batches, trained by fastnn's fit and by a
plain torch loop, must give the same weights (float64: relative error below 1e-9)."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.layers import Dense

torch = pytest.importorskip("torch")

ACT = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU,
       "leaky_relu": lambda: torch.nn.LeakyReLU(0.01)}


def twin_models(rng, sizes, act, dtype):
    layers = [Dense(n, activation=act if i < len(sizes) - 2 else None) for i, n in enumerate(sizes[1:])]
    ours = fnn.Sequential(layers, input_dim=sizes[0], dtype=dtype, seed=int(rng.integers(1000)))
    mods = []
    for i, layer in enumerate(ours.layers):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1], dtype=getattr(torch, dtype))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
        mods.append(lin)
        if i < len(sizes) - 2:
            mods.append(ACT[act]())
    return ours, torch.nn.Sequential(*mods)


def torch_weights(model):
    return np.concatenate([np.concatenate([m.weight.detach().numpy().T.ravel(), m.bias.detach().numpy()])
                           for m in model if isinstance(m, torch.nn.Linear)])


def torch_train(model, X, y, batch, steps, opt, loss_name):
    lossf = {"cross_entropy": torch.nn.CrossEntropyLoss(), "mse": torch.nn.MSELoss(),
             "binary_cross_entropy": torch.nn.BCEWithLogitsLoss()}[loss_name]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(X)
    for s in range(steps):
        j = (s * batch) % n
        opt.zero_grad()
        lossf(model(Xt[j:j + batch]), yt[j:j + batch]).backward()
        opt.step()


SGD_CASES = [
    dict(momentum=0.0),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.5),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.8, weight_decay=1e-3),
    dict(momentum=0.9, nesterov=True, weight_decay=1e-2),
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_training_matches_torch_over_50_steps(kwargs, rng):
    X = rng.standard_normal((200, 12))
    y = rng.integers(0, 5, 200)
    ours, theirs = twin_models(rng, [12, 32, 16, 5], "relu", "float64")
    np.testing.assert_array_equal(ours.params, torch_weights(theirs))
    ours.fit(X, y, optimizer=fnn.optim.SGD(lr=0.05, **kwargs), epochs=2, batch_size=8, shuffle=False,
             verbose=0)  # 2 epochs x 25 batches = 50 steps
    torch_train(theirs, X, y, 8, 50, torch.optim.SGD(theirs.parameters(), lr=0.05, **kwargs), "cross_entropy")
    expected = torch_weights(theirs)
    rel = np.abs(ours.params - expected).max() / np.abs(expected).max()
    assert rel < 1e-9, rel
    assert np.abs(ours.params - ours.params.mean()).max() > 0  # trained, not degenerate


@pytest.mark.parametrize("act", sorted(ACT))
@pytest.mark.parametrize("loss_name", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_activations_and_losses_match_torch(act, loss_name, rng):
    X = rng.standard_normal((64, 6))
    if loss_name == "cross_entropy":
        y, out = rng.integers(0, 4, 64), 4
    elif loss_name == "mse":
        y, out = rng.standard_normal((64, 3)), 3
    else:
        y, out = rng.random((64, 3)), 3
    ours, theirs = twin_models(rng, [6, 10, out], act, "float64")
    ours.fit(X, y, loss=loss_name, optimizer=fnn.optim.SGD(lr=0.1, momentum=0.5), epochs=2, batch_size=16,
             shuffle=False, verbose=0)
    torch_train(theirs, X, y, 16, 8, torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.5), loss_name)
    expected = torch_weights(theirs)
    np.testing.assert_allclose(ours.params, expected, rtol=1e-10, atol=1e-12)


def test_float32_training_matches_torch_to_float32_rounding(rng):
    X = rng.standard_normal((128, 20)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    ours, theirs = twin_models(rng, [20, 64, 10], "relu", "float32")
    ours.fit(X, y, optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), epochs=2, batch_size=32, shuffle=False,
             verbose=0)
    torch_train(theirs, X, y, 32, 8, torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9),
                "cross_entropy")
    np.testing.assert_allclose(ours.params, torch_weights(theirs), rtol=1e-4, atol=1e-5)


def test_predict_and_evaluate_match_torch(rng):
    X = rng.standard_normal((50, 6))
    y = rng.integers(0, 3, 50)
    ours, theirs = twin_models(rng, [6, 8, 3], "tanh", "float64")
    ours.loss = fnn.losses.get("cross_entropy")
    with torch.no_grad():
        logits = theirs(torch.from_numpy(X))
        probs = torch.softmax(logits, 1).numpy()
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).item()
    np.testing.assert_allclose(ours.predict(X), probs, rtol=1e-12)
    assert ours.evaluate(X, y)["loss"] == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("big", [1e15, 1e16])
def test_cross_entropy_gradient_keeps_log_sum_at_huge_tied_logits(big, dtype):
    """Found by review 9: the gradient was exp(x - (m + log s)), and m + log s rounds back to m once |m| >~ 1e15,
    so each tied maximum got probability 1 (1e16: [-1, 1, 1]; 1e15: 0.472 for 0.5). torch computes
    exp((x - m) - log s): [-1, 0.5, 0.5]. Hard labels (with and without smoothing), soft rows and the twin."""
    from fastnn._reference import loss as ref
    from fastnn.ops import loss as ops

    F = torch.nn.functional
    logits = np.array([[0.0, big, big]], dtype)
    soft = np.array([[0.25, 0.25, 0.5]], dtype)  # sums to 1 exactly in both dtypes

    def torch_grad(target, **kw):
        t = torch.tensor(logits, requires_grad=True)
        F.cross_entropy(t, torch.tensor(target), reduction="sum", **kw).backward()
        return t.grad.numpy()

    for eps in (0.0, 0.1):
        grad = np.empty_like(logits)
        ops.softmax_xent(logits, np.array([0]), grad, 1.0, smoothing=eps)
        expected = torch_grad(np.array([0]), label_smoothing=eps)
        np.testing.assert_array_equal(grad, expected)
        np.testing.assert_array_equal(ref.softmax_xent(logits, np.array([0]), 1.0, smoothing=eps)[1], expected)
    grad = np.empty_like(logits)
    ops.softmax_xent_soft(logits, soft, grad, 1.0)
    np.testing.assert_array_equal(grad, torch_grad(soft))
    np.testing.assert_array_equal(ref.softmax_xent_soft(logits, soft, 1.0)[1], torch_grad(soft))
