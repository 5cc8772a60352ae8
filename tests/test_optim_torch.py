"""Every optimizer x option against torch.optim over 200 steps of a small MLP (table-driven).

The MLP (2 layers, tanh, MSE) is written with torch tensors so both sides get exact autograd gradients: torch's
optimizer updates its own leaf tensors; fastnn's updates ONE flat buffer whose gradient buffer is filled from
autograd on views of it. Both trajectories feed back their own parameters, so any difference in the update rule
shows up and is amplified, never hidden.

float64: relative error below 1e-9 after 200 steps. float32: fastnn's float32 trajectory is as close to the
float64 (torch) trajectory as torch's own float32 trajectory is ("within float32 rounding").

A new optimizer gets every test by adding a row to CASES.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from fastnn import optim, schedules
from fastnn._layout import ParamLayout

torch = pytest.importorskip("torch")

N_IN, N_HID, N_OUT, BATCH, STEPS = 6, 12, 3, 16, 200

# (id, fastnn class, kwargs shared by both (torch names), torch class, extra fastnn-only kwargs)
CASES = [
    ("sgd", optim.SGD, dict(lr=0.05), torch.optim.SGD),
    ("sgd-wd", optim.SGD, dict(lr=0.05, weight_decay=0.01), torch.optim.SGD),
    ("sgd-momentum", optim.SGD, dict(lr=0.02, momentum=0.9), torch.optim.SGD),
    ("sgd-momentum-dampening", optim.SGD, dict(lr=0.02, momentum=0.9, dampening=0.3, weight_decay=0.01),
     torch.optim.SGD),
    ("sgd-nesterov", optim.SGD, dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.01), torch.optim.SGD),
    ("adagrad", optim.Adagrad, dict(lr=0.05), torch.optim.Adagrad),
    ("adagrad-lr_decay-wd", optim.Adagrad, dict(lr=0.05, lr_decay=0.01, weight_decay=0.01), torch.optim.Adagrad),
    ("adagrad-initial_accumulator", optim.Adagrad, dict(lr=0.05, initial_accumulator_value=0.1, eps=1e-8),
     torch.optim.Adagrad),
    ("rmsprop", optim.RMSprop, dict(lr=0.002), torch.optim.RMSprop),
    ("rmsprop-centered", optim.RMSprop, dict(lr=0.002, centered=True, weight_decay=0.01), torch.optim.RMSprop),
    ("rmsprop-momentum", optim.RMSprop, dict(lr=0.001, momentum=0.9, alpha=0.9), torch.optim.RMSprop),
    ("rmsprop-centered-momentum", optim.RMSprop, dict(lr=0.001, momentum=0.5, centered=True, alpha=0.95),
     torch.optim.RMSprop),
    ("rmsprop-alpha-low", optim.RMSprop, dict(lr=0.001, alpha=0.4, centered=True), torch.optim.RMSprop),
    ("adadelta", optim.Adadelta, dict(lr=1.0), torch.optim.Adadelta),
    ("adadelta-rho-wd", optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01), torch.optim.Adadelta),
    ("adam", optim.Adam, dict(lr=0.01), torch.optim.Adam),
    ("adam-wd", optim.Adam, dict(lr=0.01, weight_decay=0.05), torch.optim.Adam),
    ("adam-amsgrad", optim.Adam, dict(lr=0.01, amsgrad=True, betas=(0.8, 0.99)), torch.optim.Adam),
    ("adam-beta1-low", optim.Adam, dict(lr=0.01, betas=(0.3, 0.9), eps=1e-6), torch.optim.Adam),
    ("adamw", optim.AdamW, dict(lr=0.01), torch.optim.AdamW),
    ("adamw-amsgrad", optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True), torch.optim.AdamW),
]
CASE_IDS = [c[0] for c in CASES]


def make_layout(dtype) -> ParamLayout:
    return ParamLayout.pack([("0.W", (N_IN, N_HID), "weight", 0), ("0.b", (N_HID,), "bias", 0),
                             ("1.W", (N_HID, N_OUT), "weight", 1), ("1.b", (N_OUT,), "bias", 1)], dtype)


def init_flat(layout: ParamLayout, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(layout.size) * 0.5).astype(layout.dtype)


def batches(dtype, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4 * BATCH, N_IN))
    Y = np.sin(X @ rng.standard_normal((N_IN, N_OUT)))
    return [(torch.tensor(X[i::4], dtype=dtype), torch.tensor(Y[i::4], dtype=dtype)) for i in range(4)]


def loss_fn(W0, b0, W1, b1, x, y):
    h = torch.tanh(x @ W0 + b0)
    return ((h @ W1 + b1 - y) ** 2).mean()


def torch_params(layout, flat):
    return [torch.tensor(layout.view(flat, e.name).copy(), requires_grad=True) for e in layout.entries]


def flat_grads(layout, flat, x, y, grads_out):
    ts = torch_params(layout, flat)
    loss_fn(*ts, x, y).backward()
    for e, t in zip(layout.entries, ts):
        layout.view(grads_out, e.name)[...] = t.grad.numpy()


def torch_groups(layout, ts, groups, defaults_lr):
    """Translate fastnn param_groups (kinds/layers selectors) into torch param groups."""
    from fastnn.optim.groups import matches
    owned = [None] * len(ts)
    for gi, g in enumerate(groups):
        for i, e in enumerate(layout.entries):
            if owned[i] is None and matches(g, e):
                owned[i] = gi
    out = [{"params": [t for t, o in zip(ts, owned) if o is None]}]
    for gi, g in enumerate(groups):
        out.append({"params": [t for t, o in zip(ts, owned) if o == gi],
                    **{k: v for k, v in g.items() if k not in ("kinds", "layers", "names")}})
    return [g for g in out if g["params"]]


def run_torch(tcls, kwargs, dtype, steps=STEPS, scheduler=None, groups=None, clip=None):
    layout = make_layout(np.float64)
    ts = torch_params(layout, init_flat(layout))
    ts = [t.detach().to(dtype).requires_grad_(True) for t in ts]
    params = torch_groups(layout, ts, groups, kwargs.get("lr")) if groups else ts
    opt = tcls(params, foreach=False, **kwargs)
    sched = scheduler(opt) if scheduler else None
    data = batches(dtype)
    for s in range(steps):
        x, y = data[s % len(data)]
        opt.zero_grad()
        loss_fn(*ts, x, y).backward()
        if clip is not None:
            clip(ts)
        opt.step()
        if sched is not None:
            sched.step()
    return np.concatenate([t.detach().to(torch.float64).numpy().ravel() for t in ts])


def run_fastnn(fcls, kwargs, dtype, steps=STEPS, lr=None, groups=None, clip=None, n_threads=None):
    layout = make_layout(dtype)
    flat = init_flat(make_layout(np.float64)).astype(dtype)
    grads = np.zeros_like(flat)
    kw = dict(kwargs)
    if lr is not None:
        kw["lr"] = lr
    opt = fcls(**kw, param_groups=groups).bind(layout)
    opt.n_threads = n_threads
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    data = batches(tdtype)
    for s in range(steps):
        x, y = data[s % len(data)]
        flat_grads(layout, flat, x, y, grads)
        opt.step(flat, grads, clip=clip)
    assert opt.step_count == steps
    return flat.astype(np.float64)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float64_matches_torch(case):
    _, fcls, kwargs, tcls = case
    ours = run_fastnn(fcls, kwargs, np.float64)
    theirs = run_torch(tcls, kwargs, torch.float64)
    assert rel_err(ours, theirs) < 1e-9
    start = init_flat(make_layout(np.float64))
    assert rel_err(theirs, start) > 1e-3  # the run really moved the parameters


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_within_float32_rounding(case):
    _, fcls, kwargs, tcls = case
    exact = run_torch(tcls, kwargs, torch.float64)
    torch32 = run_torch(tcls, kwargs, torch.float32)
    ours32 = run_fastnn(fcls, kwargs, np.float32)
    torch_dev = rel_err(torch32, exact)
    assert rel_err(ours32, exact) <= 3 * torch_dev + 1e-6
    assert rel_err(ours32, torch32) <= 4 * torch_dev + 1e-6


def warmup_cosine(lr):
    return schedules.Warmup(schedules.Cosine(lr, STEPS), 20, 0.1)


def torch_warmup_cosine(opt):
    L = torch.optim.lr_scheduler
    return L.ChainedScheduler([L.LinearLR(opt, start_factor=0.1, total_iters=20), L.CosineAnnealingLR(opt, STEPS)])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float64_with_schedule_matches_torch(case):
    _, fcls, kwargs, tcls = case
    ours = run_fastnn(fcls, kwargs, np.float64, lr=warmup_cosine(kwargs["lr"]))
    theirs = run_torch(tcls, kwargs, torch.float64, scheduler=torch_warmup_cosine)
    assert rel_err(ours, theirs) < 1e-9
    constant = run_torch(tcls, kwargs, torch.float64)
    assert rel_err(theirs, constant) > 1e-4  # the schedule made a difference


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_with_schedule_within_float32_rounding(case):
    _, fcls, kwargs, tcls = case
    exact = run_torch(tcls, kwargs, torch.float64, scheduler=torch_warmup_cosine)
    torch32 = run_torch(tcls, kwargs, torch.float32, scheduler=torch_warmup_cosine)
    ours32 = run_fastnn(fcls, kwargs, np.float32, lr=warmup_cosine(kwargs["lr"]))
    assert rel_err(ours32, exact) <= 3 * rel_err(torch32, exact) + 1e-6


GROUP_CASES = [
    ("sgd-no-decay-bias", optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.05), torch.optim.SGD,
     optim.no_decay_on_bias_and_norm()),
    ("adamw-no-decay-bias-layer-lr", optim.AdamW, dict(lr=0.01, weight_decay=0.1), torch.optim.AdamW,
     [{"kinds": ["bias"], "weight_decay": 0.0}, {"layers": [0], "lr": 0.002}]),
    ("adam-per-layer", optim.Adam, dict(lr=0.01), torch.optim.Adam,
     [{"layers": [1], "lr": 0.03, "betas": (0.8, 0.9)}]),
    ("rmsprop-groups", optim.RMSprop, dict(lr=0.002, momentum=0.5), torch.optim.RMSprop,
     [{"kinds": ["weight"], "centered": True, "weight_decay": 0.01}]),
    ("adagrad-groups", optim.Adagrad, dict(lr=0.05), torch.optim.Adagrad,
     [{"names": ["1.*"], "lr": 0.1, "lr_decay": 0.05}]),
    ("adadelta-groups", optim.Adadelta, dict(lr=1.0), torch.optim.Adadelta, [{"kinds": "bias", "rho": 0.5}]),
]


@pytest.mark.parametrize("case", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_param_groups_match_torch_param_groups(case):
    _, fcls, kwargs, tcls, groups = case
    ours = run_fastnn(fcls, kwargs, np.float64, groups=groups)
    theirs = run_torch(tcls, kwargs, torch.float64, groups=groups)
    assert rel_err(ours, theirs) < 1e-9
    assert rel_err(theirs, run_torch(tcls, kwargs, torch.float64)) > 1e-6  # the groups made a difference


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_thread_count_does_not_change_results(case):
    _, fcls, kwargs, _ = case
    one = run_fastnn(fcls, kwargs, np.float32, steps=20, n_threads=1)
    two = run_fastnn(fcls, kwargs, np.float32, steps=20, n_threads=2)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_centered_rmsprop_stays_finite_like_torch_when_a_gradient_square_overflows(dtype, momentum):
    """Found by review 9: v - gbar^2 was inf - inf = NaN once g^2 overflowed, and the weight, v and gbar became
    NaN; torch's fused multiply-add gives inf there, so the update is g / inf = 0 and the weight stays put."""
    huge = 1e30 if dtype == np.float32 else 1e200  # its square overflows the dtype
    layout = ParamLayout.pack([("0.W", (2,), "weight", 0)], dtype)
    ours = np.ones(2, dtype)
    theirs = torch.tensor(ours.copy(), requires_grad=True)
    opt = optim.RMSprop(lr=0.1, centered=True, momentum=momentum).bind(layout)
    topt = torch.optim.RMSprop([theirs], lr=0.1, centered=True, momentum=momentum, foreach=False)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)  # torch fuses
    for _ in range(3):
        grad = np.array([huge, 0.5], dtype)
        opt.step(ours, grad.copy())
        theirs.grad = torch.tensor(grad)
        topt.step()
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **tol)
        np.testing.assert_allclose(opt.state["grad_avg"], topt.state[theirs]["grad_avg"].numpy(), **tol)
    assert ours[0] == 1.0 and ours[1] < 1.0
    assert np.isinf(opt.state["square_avg"][0])


def test_a_groups_float_lr_is_constant_under_a_schedule_and_its_own_schedule_is_torchs_rule():
    """The rule fastnn.optim.groups documents (review 9, F2): an lr override replaces the optimizer's lr, so a
    float stays constant where torch's StepLR scales every group; a group given its own schedule matches torch."""
    layout = ParamLayout.pack([("0.W", (2,), "weight", 0), ("1.W", (2,), "weight", 1)], np.float64)
    default = schedules.StepDecay(0.1, 2, 0.1)
    constant = optim.SGD(lr=default, param_groups=[{"layers": [0], "lr": 0.01}]).bind(layout)
    scheduled = optim.SGD(lr=default, param_groups=[{"layers": [0], "lr": schedules.StepDecay(0.01, 2, 0.1)}])
    scheduled.bind(layout)
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([{"params": [b]}, {"params": [a], "lr": 0.01}], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(topt, 2, 0.1)
    for step in range(6):
        torch_lrs = [g["lr"] for g in topt.param_groups]
        assert constant.group_lr(0, step) == pytest.approx(torch_lrs[0], rel=1e-12)
        assert constant.group_lr(1, step) == 0.01  # the float override: not scaled by the schedule
        assert [scheduled.group_lr(g, step) for g in (0, 1)] == pytest.approx(torch_lrs, rel=1e-12)
        topt.step()
        sched.step()
    assert torch_lrs[1] == pytest.approx(1e-4)  # torch did scale its group


@pytest.mark.parametrize("fcls, tcls, kwargs", [(optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
                                                (optim.AdamW, torch.optim.AdamW, dict(lr=0.01))], ids=["sgd", "adamw"])
def test_one_cycle_and_cyclic_train_like_torchs_without_cycle_momentum(fcls, tcls, kwargs):
    """The rule fastnn.optim.schedules documents (review 9, F1): the schedules set the lr only, so they equal
    torch's with cycle_momentum=False, and differ from torch's default, which also cycles momentum or beta1."""
    L = torch.optim.lr_scheduler
    pairs = [(schedules.OneCycle(0.05, STEPS), lambda o, **kw: L.OneCycleLR(o, 0.05, STEPS, **kw)),
             (schedules.Cyclic(0.001, 0.05, 25), lambda o, **kw: L.CyclicLR(o, 0.001, 0.05, 25, **kw))]
    for ours_lr, torch_sched in pairs:
        ours = run_fastnn(fcls, kwargs, np.float64, lr=ours_lr)
        same = run_torch(tcls, kwargs, torch.float64, scheduler=functools.partial(torch_sched, cycle_momentum=False))
        assert rel_err(ours, same) < 1e-9
        default = run_torch(tcls, kwargs, torch.float64, scheduler=torch_sched)
        assert rel_err(ours, default) > 1e-4
