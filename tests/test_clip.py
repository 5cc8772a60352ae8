"""Clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ / clamp_ (the global norm, each tensor's own
norm, a symmetric or an asymmetric interval), applied inside the optimizer pass."""
from __future__ import annotations

import numpy as np
import pytest

from fastnn import clip as C
from fastnn import optim
from fastnn._layout import ParamLayout
from fastnn.ops import optim as ops

torch = pytest.importorskip("torch")

SHAPES = [("0.W", (30, 20), "weight", 0), ("0.b", (20,), "bias", 0), ("1.W", (20, 7), "weight", 1),
          ("1.b", (7,), "bias", 1)]


def setup(dtype, scale=1.0, seed=0):
    layout = ParamLayout.pack(SHAPES, dtype)
    rng = np.random.default_rng(seed)
    grads = (rng.standard_normal(layout.size) * scale).astype(dtype)
    return layout, grads


def applied_gradient(layout, grads, clip):
    """The gradient the optimizer actually used: SGD with lr=1 from zero parameters gives p = -g_used."""
    opt = optim.SGD(lr=1.0).bind(layout)
    params = np.zeros(layout.size, layout.dtype)
    before = grads.copy()
    info = opt.step(params, grads, clip=clip)
    np.testing.assert_array_equal(grads, before)  # the gradient buffer is only read
    return -params, info


def torch_grads(layout, grads, dtype):
    ts = []
    for e in layout.entries:
        t = torch.zeros(e.shape, dtype=dtype, requires_grad=True)
        t.grad = torch.tensor(layout.view(grads, e.name).copy(), dtype=dtype)
        ts.append(t)
    return ts


def flat(ts):
    return np.concatenate([t.grad.numpy().ravel() for t in ts])


@pytest.mark.parametrize("dtype,tdtype,rtol", [(np.float64, torch.float64, 1e-13), (np.float32, torch.float32, 2e-6)])
@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1e3])   # clipped hard, clipped a little, not clipped
def test_global_norm_matches_torch(dtype, tdtype, rtol, max_norm):
    layout, grads = setup(dtype, scale=0.3)
    used, info = applied_gradient(layout, grads, C.ByGlobalNorm(max_norm))
    ts = torch_grads(layout, grads, tdtype)
    total = torch.nn.utils.clip_grad_norm_(ts, max_norm)
    np.testing.assert_allclose(info["grad_norm"], float(total), rtol=rtol)
    np.testing.assert_allclose(used, flat(ts), rtol=rtol, atol=0)
    assert info["clipped"] == (float(total) > max_norm)
    if info["clipped"]:
        assert np.linalg.norm(used.astype(np.float64)) < max_norm  # PyTorch's +1e-6 lands just below max_norm
    else:
        np.testing.assert_array_equal(used, grads)


@pytest.mark.parametrize("dtype,tdtype", [(np.float64, torch.float64), (np.float32, torch.float32)])
@pytest.mark.parametrize("clip_value", [0.05, 0.5, 100.0])
def test_by_value_matches_torch(dtype, tdtype, clip_value):
    layout, grads = setup(dtype, scale=0.3)
    used, info = applied_gradient(layout, grads, C.ByValue(clip_value))
    ts = torch_grads(layout, grads, tdtype)
    torch.nn.utils.clip_grad_value_(ts, clip_value)
    np.testing.assert_array_equal(used, flat(ts))
    assert info["clipped"] == bool(np.any(np.abs(grads) > clip_value))
    assert info["grad_norm"] is None


@pytest.mark.parametrize("dtype,tdtype", [(np.float64, torch.float64), (np.float32, torch.float32)])
@pytest.mark.parametrize("bounds", [(-0.05, 0.2), (-1.0, -0.1), (0.0, 0.0)])
def test_asymmetric_interval_matches_torch_clamp(dtype, tdtype, bounds):
    layout, grads = setup(dtype, scale=0.3)
    used, info = applied_gradient(layout, grads, C.ByValue(min_value=bounds[0], max_value=bounds[1]))
    ts = torch_grads(layout, grads, tdtype)
    for t in ts:
        t.grad.clamp_(*bounds)
    np.testing.assert_array_equal(used, flat(ts))
    assert info["clipped"] and info["grad_norm"] is None


def test_symmetric_interval_is_the_default_form():
    assert C.ByValue(0.5).bounds == (-0.5, 0.5) and C.ByValue(0.5).get_config() == {"class": "ByValue",
                                                                                  "clip_value": 0.5}
    layout, grads = setup(np.float64, scale=0.3)
    sym, _ = applied_gradient(layout, grads, C.ByValue(0.2))
    asym, _ = applied_gradient(layout, grads, C.ByValue(min_value=-0.2, max_value=0.2))
    np.testing.assert_array_equal(sym, asym)


@pytest.mark.parametrize("dtype,tdtype,rtol", [(np.float64, torch.float64, 1e-13), (np.float32, torch.float32, 2e-6)])
@pytest.mark.parametrize("max_norm", [0.5, 2.0, 1e3])
def test_tensor_norm_matches_clip_grad_norm_per_tensor(dtype, tdtype, rtol, max_norm):
    layout, grads = setup(dtype, scale=0.3)
    for k, e in enumerate(layout.entries):  # tensors of very different norms: the rules then differ
        layout.view(grads, e.name)[...] *= [3.0, 0.1, 1.0, 0.02][k]
    used, info = applied_gradient(layout, grads, C.ByTensorNorm(max_norm))
    ts = torch_grads(layout, grads, tdtype)
    norms = [float(torch.nn.utils.clip_grad_norm_([t], max_norm)) for t in ts]
    np.testing.assert_allclose(used, flat(ts), rtol=rtol, atol=0)
    np.testing.assert_allclose(info["grad_norm"], np.sqrt(np.sum(np.square(norms))), rtol=rtol)
    assert info["clipped"] == (max(norms) > max_norm)
    for e, norm in zip(layout.entries, norms):  # each tensor ends at most at max_norm; an unclipped one unchanged
        mine = layout.view(used, e.name).astype(np.float64)
        assert np.linalg.norm(mine) <= max(max_norm, norm * (1 + rtol))
    if max_norm == 2.0:  # clips the large tensor only; the global rule would shrink every tensor
        global_used, _ = applied_gradient(layout, grads, C.ByGlobalNorm(max_norm))
        small = layout.view(used, "1.b")
        np.testing.assert_array_equal(small, layout.view(grads, "1.b"))
        assert np.all(np.abs(layout.view(global_used, "1.b")) < np.abs(small) + (small == 0))


def test_tensor_norm_with_parameter_groups_like_torch():
    """Cutting the buffer at the tensors keeps each group's hyperparameters (here a smaller lr for biases)."""
    layout, _ = setup(np.float64)
    rng = np.random.default_rng(5)
    params = rng.standard_normal(layout.size)
    opt = optim.SGD(lr=0.1, momentum=0.9, param_groups=[{"kinds": ["bias"], "lr": 0.01}]).bind(layout)
    ts = [torch.tensor(layout.view(params, e.name).copy(), requires_grad=True) for e in layout.entries]
    kinds = [e.kind for e in layout.entries]
    topt = torch.optim.SGD([{"params": [t for t, k in zip(ts, kinds) if k == "weight"]},
                            {"params": [t for t, k in zip(ts, kinds) if k == "bias"], "lr": 0.01}],
                           lr=0.1, momentum=0.9)
    for _ in range(4):
        grads = rng.standard_normal(layout.size) * 2.0
        opt.step(params, grads, clip=C.ByTensorNorm(1.0))
        for t, e in zip(ts, layout.entries):
            t.grad = torch.tensor(layout.view(grads, e.name).copy())
            torch.nn.utils.clip_grad_norm_([t], 1.0)
        topt.step()
    np.testing.assert_allclose(params, np.concatenate([t.detach().numpy().ravel() for t in ts]), rtol=1e-13)


def test_tensor_norm_nonfinite_raises_or_skips():
    layout, grads = setup(np.float64)
    grads[3] = np.inf
    params = np.ones(layout.size)
    opt = optim.SGD(lr=0.1).bind(layout)
    with pytest.raises(C.NonFiniteGradientError, match="ByTensorNorm"):
        opt.step(params, grads, clip=C.ByTensorNorm(1.0))
    info = opt.step(params, grads, clip=C.ByTensorNorm(1.0, error_if_nonfinite=False))
    assert info["skipped"] and opt.skipped_steps == 1 and opt.step_count == 0
    np.testing.assert_array_equal(params, 1.0)


@pytest.mark.parametrize("clip", [None, C.ByValue(0.1), C.ByGlobalNorm(1.0)])
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"])
def test_clip_composes_with_every_optimizer_like_torch(name, clip):
    """200 steps with clipping on both sides: fastnn's fused clip vs torch's clip then step."""
    import test_optim_torch as T

    fcls, tcls = getattr(optim, name), getattr(torch.optim, name)
    kwargs = {"lr": 0.05} if name != "Adadelta" else {"lr": 1.0}
    if name == "SGD":
        kwargs["momentum"] = 0.9

    def torch_clip(ts):
        if isinstance(clip, C.ByValue):
            torch.nn.utils.clip_grad_value_(ts, clip.clip_value)
        elif isinstance(clip, C.ByGlobalNorm):
            torch.nn.utils.clip_grad_norm_(ts, clip.max_norm)

    ours = T.run_fastnn(fcls, kwargs, np.float64, clip=clip)
    theirs = T.run_torch(tcls, kwargs, torch.float64, clip=torch_clip if clip else None)
    assert T.rel_err(ours, theirs) < 1e-9


def test_norm_is_one_deterministic_reduction():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(1_000_003).astype(dtype)
        blocks = np.empty(ops.sumsq_blocks(x.size))
        one = ops.sumsq(x, blocks, n_threads=1)
        two = ops.sumsq(x, blocks, n_threads=2)
        assert one == two  # bitwise: fixed blocks, block sums added in order
        exact = float(np.sum(x.astype(np.longdouble) ** 2))
        assert abs(one - exact) <= 1e-13 * exact
        from fastnn._reference import optim as ref
        assert one == pytest.approx(ref.sumsq(x), rel=1e-14)
    assert ops.sumsq(np.zeros(0)) == 0.0


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nonfinite_norm_raises_before_any_change(bad):
    layout, grads = setup(np.float64)
    grads[17] = bad
    opt = optim.Adam(lr=0.1).bind(layout)
    params = np.ones(layout.size)
    with pytest.raises(C.NonFiniteGradientError, match="norm"):
        opt.step(params, grads, clip=C.ByGlobalNorm(1.0))
    assert isinstance(C.NonFiniteGradientError("x"), ValueError)
    np.testing.assert_array_equal(params, 1.0)
    assert opt.step_count == 0 and not np.any(opt.state["exp_avg"])


def test_nonfinite_norm_skips_and_counts_when_asked():
    layout, grads = setup(np.float64)
    bad = grads.copy()
    bad[3] = np.nan
    clip = C.ByGlobalNorm(1.0, error_if_nonfinite=False)
    opt = optim.SGD(lr=0.1, momentum=0.9).bind(layout)
    ref = optim.SGD(lr=0.1, momentum=0.9).bind(layout)
    params, ref_params = np.ones(layout.size), np.ones(layout.size)
    opt.step(params, grads, clip=clip)
    info = opt.step(params, bad, clip=clip)
    assert info["skipped"] and np.isnan(info["grad_norm"])
    opt.step(params, grads, clip=clip)
    ref.step(ref_params, grads, clip=clip)
    ref.step(ref_params, grads, clip=clip)
    assert opt.skipped_steps == 1 and opt.step_count == 2
    np.testing.assert_array_equal(params, ref_params)  # the skipped step left no trace


def test_bad_clip_arguments():
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            C.ByGlobalNorm(bad)
        with pytest.raises(ValueError):
            C.ByValue(bad)
    with pytest.raises(TypeError):
        C.ByGlobalNorm("1.0")
    with pytest.raises(TypeError):
        C.ByGlobalNorm(1.0, error_if_nonfinite="yes")
    with pytest.raises(ValueError, match="not both"):
        C.ByValue(1.0, min_value=-1.0)
    with pytest.raises(ValueError, match="both min_value and max_value"):
        C.ByValue(min_value=-1.0)
    with pytest.raises(ValueError, match="min_value <= max_value"):
        C.ByValue(min_value=1.0, max_value=-1.0)
    with pytest.raises(ValueError, match="max_value"):
        C.ByValue(min_value=-1.0, max_value=float("inf"))
    with pytest.raises(ValueError):
        C.ByTensorNorm(0.0)
    layout, grads = setup(np.float64)
    with pytest.raises(TypeError, match="clip must be"):
        optim.SGD(lr=0.1).bind(layout).step(np.zeros(layout.size), grads, clip=1.0)


def test_clip_config_round_trip():
    for c in (C.ByValue(0.5), C.ByValue(min_value=-0.25, max_value=1.0), C.ByGlobalNorm(2.0, error_if_nonfinite=False),
              C.ByTensorNorm(0.5), C.ByTensorNorm(3.0, error_if_nonfinite=False)):
        assert C.from_config(c.get_config()) == c
        assert C.get(c.get_config()) == c
    assert C.get(None) is None
    assert C.ByTensorNorm(1.0) != C.ByGlobalNorm(1.0)
