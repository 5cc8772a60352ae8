"""Schedules: step by step against torch.optim.lr_scheduler, against independent closed forms, argument checks,
values(), configs, ReduceOnPlateau against torch.optim.lr_scheduler.ReduceLROnPlateau."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastnn as fnn
from fastnn import schedules as S
from fastnn._layout import ParamLayout
from fastnn.optim import SGD

torch = pytest.importorskip("torch")


def torch_lrs(make_scheduler, n, lr):
    """The lr torch's optimizer uses at steps 0..n-1 (read before each optimizer.step / scheduler.step)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


L = torch.optim.lr_scheduler
TORCH_CASES = [
    ("step", S.StepDecay(0.1, step_size=7, gamma=0.5), lambda o: L.StepLR(o, 7, 0.5), 0.1, 60),
    ("multistep", S.MultiStep(0.1, [5, 12, 12, 30], gamma=0.3), lambda o: L.MultiStepLR(o, [5, 12, 12, 30], 0.3),
     0.1, 50),
    ("exponential", S.Exponential(0.2, 0.97), lambda o: L.ExponentialLR(o, 0.97), 0.2, 200),
    ("inverse-time", S.InverseTime(0.1, decay_rate=0.5, decay_steps=10),
     lambda o: L.LambdaLR(o, lambda e: 1 / (1 + 0.5 * e / 10)), 0.1, 100),
    ("cosine", S.Cosine(0.1, total_steps=50), lambda o: L.CosineAnnealingLR(o, T_max=50), 0.1, 51),
    ("cosine-min", S.Cosine(0.1, total_steps=40, min_lr=0.01),
     lambda o: L.CosineAnnealingLR(o, T_max=40, eta_min=0.01), 0.1, 41),
    ("polynomial", S.Polynomial(0.1, total_steps=30, power=2.0), lambda o: L.PolynomialLR(o, 30, 2.0), 0.1, 60),
    ("polynomial-linear", S.Polynomial(0.05, total_steps=25), lambda o: L.PolynomialLR(o, 25, 1.0), 0.05, 40),
    ("warmup-constant", S.Warmup(0.1, warmup_steps=10, start_factor=0.25),
     lambda o: L.LinearLR(o, start_factor=0.25, total_iters=10), 0.1, 30),
    ("warmup-exponential", S.Warmup(S.Exponential(0.1, 0.95), 8, 0.1),
     lambda o: L.ChainedScheduler([L.LinearLR(o, start_factor=0.1, total_iters=8), L.ExponentialLR(o, 0.95)]),
     0.1, 40),
    ("warmup-cosine", S.Warmup(S.Cosine(0.1, 60), 10, 0.2),
     lambda o: L.ChainedScheduler([L.LinearLR(o, start_factor=0.2, total_iters=10), L.CosineAnnealingLR(o, 60)]),
     0.1, 61),
    ("cyclic-triangular", S.Cyclic(0.01, 0.1, step_size_up=5),
     lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5, cycle_momentum=False), 0.01, 60),
    ("cyclic-triangular2", S.Cyclic(0.01, 0.1, step_size_up=4, step_size_down=7, mode="triangular2"),
     lambda o: L.CyclicLR(o, 0.01, 0.1, 4, 7, mode="triangular2", cycle_momentum=False), 0.01, 80),
    ("cyclic-exp_range", S.Cyclic(0.001, 0.1, step_size_up=6, mode="exp_range", gamma=0.98),
     lambda o: L.CyclicLR(o, 0.001, 0.1, 6, mode="exp_range", gamma=0.98, cycle_momentum=False), 0.001, 80),
    ("warm-restarts", S.CosineWarmRestarts(0.1, T_0=10),
     lambda o: L.CosineAnnealingWarmRestarts(o, T_0=10), 0.1, 55),
    ("warm-restarts-mult2", S.CosineWarmRestarts(0.1, T_0=3, T_mult=2, eta_min=0.001),
     lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), 0.1, 200),
    ("warm-restarts-mult3", S.CosineWarmRestarts(0.05, T_0=2, T_mult=3),
     lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3), 0.05, 250),
    ("onecycle-cos", S.OneCycle(0.1, total_steps=100),
     lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=100, cycle_momentum=False), 0.1, 100),
    ("onecycle-linear", S.OneCycle(0.2, total_steps=37, pct_start=0.25, div_factor=10, final_div_factor=100,
                                   anneal="linear"),
     lambda o: L.OneCycleLR(o, max_lr=0.2, total_steps=37, pct_start=0.25, div_factor=10, final_div_factor=100,
                            anneal_strategy="linear", cycle_momentum=False), 0.2, 37),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_matches_torch_step_by_step(case):
    _, sched, make, lr, n = case
    theirs = torch_lrs(make, n, lr)
    ours = sched.values(n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    assert np.ptp(ours) > 0


def closed_forms():
    """Independent vectorised formulas over t = 0..n-1, including far past each schedule's end."""
    t = np.arange(400, dtype=np.float64)
    cos_T = 100
    yield "constant", S.Constant(0.3), np.full_like(t, 0.3)
    yield "step", S.StepDecay(1.0, 10, 0.5), 0.5 ** np.floor(t / 10)
    yield "multistep", S.MultiStep(1.0, [100, 50, 50], 0.1), np.where(t >= 100, 1e-3, np.where(t >= 50, 1e-2, 1.0))
    yield "exponential", S.Exponential(2.0, 0.99), 2.0 * 0.99 ** t
    yield "inverse-time", S.InverseTime(0.1, 2.0, 50), 0.1 / (1 + 2.0 * t / 50)
    yield "inverse-time-stair", S.InverseTime(0.1, 2.0, 50, staircase=True), 0.1 / (1 + 2.0 * np.floor(t / 50))
    yield "cosine-held", S.Cosine(0.1, cos_T, 0.001), np.where(
        t >= cos_T, 0.001, 0.001 + 0.099 * 0.5 * (1 + np.cos(np.pi * np.minimum(t, cos_T) / cos_T)))
    yield "polynomial-min", S.Polynomial(0.1, 200, 0.5, 0.01), 0.09 * (1 - np.minimum(t, 200) / 200) ** 0.5 + 0.01
    yield "warmup-inside-total", S.Warmup(S.Cosine(0.1, 300), 50, 0.0), (
        np.minimum(t, 50) / 50 * np.where(t >= 300, 0.0, 0.05 * (1 + np.cos(np.pi * np.minimum(t, 300) / 300))))
    # triangular: a tent between 0.1 and 1.0 of period 40 (20 up, 20 down)
    tri = 1 - np.abs((t % 40) - 20) / 20
    yield "cyclic", S.Cyclic(0.1, 1.0, 20), 0.1 + 0.9 * tri
    yield "cyclic2", S.Cyclic(0.1, 1.0, 20, mode="triangular2"), 0.1 + 0.9 * tri / 2 ** np.floor(t / 40)
    # warm restarts with T_0=10, T_mult=2: periods 10, 20, 40, 80, 160, ... starting at 0, 10, 30, 70, 150, 310
    starts = np.array([0, 10, 30, 70, 150, 310])
    k = np.searchsorted(starts, t, side="right") - 1
    T_i = 10 * 2.0 ** k
    yield "sgdr", S.CosineWarmRestarts(1.0, 10, 2), 0.5 * (1 + np.cos(np.pi * (t - starts[k]) / T_i))
    # the chapter's SGDR: the m-th restart peaks at lr * peak_decay ** m (held at eta_min once below it)
    yield "sgdr-peak-decay", S.CosineWarmRestarts(1.0, 10, 2, peak_decay=0.5), (
        0.5 ** k * 0.5 * (1 + np.cos(np.pi * (t - starts[k]) / T_i)))
    peak = np.maximum(0.5 ** (t // 10), 0.1)
    yield "sgdr-peak-decay-floor", S.CosineWarmRestarts(1.0, 10, eta_min=0.1, peak_decay=0.5), (
        0.1 + (peak - 0.1) * 0.5 * (1 + np.cos(np.pi * (t % 10) / 10)))
    # one-cycle: up to step 29 (pct 0.3 of 100), down to the end at step 99, then held
    up, last = 29.0, 99.0
    rise = 0.04 + (1.0 - 0.04) * 0.5 * (1 - np.cos(np.pi * t / up))
    fall_pct = (np.minimum(t, last) - up) / (last - up)
    fall = 0.04e-4 + (1.0 - 0.04e-4) * 0.5 * (1 + np.cos(np.pi * fall_pct))
    yield "onecycle-held", S.OneCycle(1.0, 100), np.where(t <= up, rise, fall)


@pytest.mark.parametrize("name,sched,expected", list(closed_forms()), ids=[c[0] for c in closed_forms()])
def test_closed_form(name, sched, expected):
    np.testing.assert_allclose(sched.values(len(expected)), expected, rtol=1e-12, atol=1e-15)


def test_cosine_holds_minimum_after_end_unlike_torch():
    s = S.Cosine(0.1, 10, min_lr=0.01)
    assert s(10) == s(11) == s(10_000) == 0.01
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01), 15, 0.1)
    assert theirs[14] > 0.01  # torch rises again: the documented difference


def test_values_and_call_agree():
    for _, sched, *_ in TORCH_CASES:
        v = sched.values(20, start=5)
        assert v.dtype == np.float64 and v.shape == (20,)
        assert list(v) == [sched(t) for t in range(5, 25)]
    assert S.Constant(1.0).values(0).shape == (0,)


def test_the_chapters_natural_exponential_decay_and_warmup_counted_from_one():
    import json
    np.testing.assert_allclose(S.Exponential.natural(0.1, 0.05).values(50), 0.1 * np.exp(-0.05 * np.arange(50)),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="beta"):
        S.Exponential.natural(0.1, -1.0)
    chapter = S.Warmup(0.5, 4, count_from=1)  # alpha_t = t / T' * alpha_0 for t = 1..T', then alpha_0
    assert list(chapter.values(6)) == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    assert list(S.Warmup(0.5, 4).values(6)) == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]  # PyTorch's, from 0
    assert S.from_config(json.loads(json.dumps(chapter.get_config()))) == chapter
    for bad in (2, True, 0.5):
        with pytest.raises(ValueError, match="count_from"):
            S.Warmup(0.5, 4, count_from=bad)


def test_sgdr_peak_decay_round_trips_and_defaults_to_torch():
    import json
    sched = S.CosineWarmRestarts(0.1, 5, 2, eta_min=0.001, peak_decay=0.7)
    again = S.from_config(json.loads(json.dumps(sched.get_config())))
    assert again == sched and list(again.values(60)) == list(sched.values(60))
    old = {k: v for k, v in sched.get_config().items() if k != "peak_decay"}  # a config from before peak_decay
    assert S.from_config(old) == S.CosineWarmRestarts(0.1, 5, 2, eta_min=0.001)


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_config_round_trip(case):
    import json
    sched = case[1]
    cfg = json.loads(json.dumps(sched.get_config()))
    again = S.from_config(cfg)
    assert again == sched
    np.testing.assert_array_equal(again.values(50), sched.values(50))


BAD = [
    (lambda: S.Constant(-0.1), ValueError),
    (lambda: S.Constant(float("nan")), ValueError),
    (lambda: S.Constant("0.1"), TypeError),
    (lambda: S.StepDecay(0.1, 0), ValueError),
    (lambda: S.StepDecay(0.1, -3), ValueError),
    (lambda: S.StepDecay(0.1, 2.5), TypeError),
    (lambda: S.StepDecay(0.1, 10, gamma=0), ValueError),
    (lambda: S.MultiStep(0.1, [3, -1]), ValueError),
    (lambda: S.MultiStep(0.1, 5), TypeError),
    (lambda: S.Exponential(0.1, -0.5), ValueError),
    (lambda: S.InverseTime(0.1, -1.0, 10), ValueError),
    (lambda: S.InverseTime(0.1, 1.0, 0), ValueError),
    (lambda: S.Cosine(0.1, 0), ValueError),
    (lambda: S.Cosine(0.1, -5), ValueError),
    (lambda: S.Cosine(0.1, 10, min_lr=0.2), ValueError),
    (lambda: S.Polynomial(0.1, 10, power=-1), ValueError),
    (lambda: S.Warmup(S.Constant(0.1), 0), ValueError),
    (lambda: S.Warmup(S.Constant(0.1), 5, start_factor=1.5), ValueError),
    (lambda: S.Warmup("cosine", 5), TypeError),
    (lambda: S.Cyclic(0.1, 0.01, 10), ValueError),          # max_lr < base_lr
    (lambda: S.Cyclic(0.01, 0.1, 0), ValueError),
    (lambda: S.Cyclic(0.01, 0.1, 10, step_size_down=-2), ValueError),
    (lambda: S.Cyclic(0.01, 0.1, 10, mode="sine"), ValueError),
    (lambda: S.CosineWarmRestarts(0.1, 0), ValueError),
    (lambda: S.CosineWarmRestarts(0.1, 10, T_mult=0), ValueError),   # T_mult < 1
    (lambda: S.CosineWarmRestarts(0.1, 10, T_mult=1.5), TypeError),
    (lambda: S.CosineWarmRestarts(0.1, 10, peak_decay=0.0), ValueError),
    (lambda: S.CosineWarmRestarts(0.1, 10, peak_decay=1.5), ValueError),
    (lambda: S.OneCycle(0.1, 0), ValueError),
    (lambda: S.OneCycle(0.1, 100, pct_start=1.2), ValueError),
    (lambda: S.OneCycle(0.1, 100, anneal="cubic"), ValueError),
    (lambda: S.OneCycle(0.1, 3, pct_start=0.3), ValueError),  # no room for a rising phase
    (lambda: S.ReduceOnPlateau(factor=1.0), ValueError),
    (lambda: S.ReduceOnPlateau(patience=-1), ValueError),
    (lambda: S.ReduceOnPlateau(mode="up"), ValueError),
]


@pytest.mark.parametrize("make,exc", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_arguments_raise_at_construction(make, exc):
    with pytest.raises(exc):
        make()


def test_bad_steps_raise():
    s = S.Cosine(0.1, 10)
    with pytest.raises(ValueError, match="count from 0"):
        s(-1)
    with pytest.raises(TypeError):
        s(1.5)
    with pytest.raises(ValueError):
        s.values(-1)


def test_a_growing_schedule_that_overflows_is_refused_by_the_optimizer_naming_the_step():
    """gamma > 1 is allowed (as torch), and gamma ** t overflowed with an OverflowError (no ValueError, no step
    named); the value is now inf, which the optimizer refuses like any other invalid lr, before any update."""
    for sched in (S.Exponential(1e-6, 1.5), S.StepDecay(1e-6, 1, gamma=1.5), S.MultiStep(1e-6, [0] * 2000, 1.5)):
        assert sched(1751) == math.inf
        opt = SGD(lr=sched).bind(ParamLayout.pack([("0.W", (4,), "weight", 0)], np.float64))
        opt.step_count = 1751
        p = np.zeros(4)
        with pytest.raises(ValueError, match=r"lr at optimizer step 1751 .* got inf"):
            opt.step(p, np.ones(4))
        assert opt.step_count == 1751 and np.all(p == 0)
    with pytest.raises(ValueError, match="count from 0 to"):
        S.Cyclic(0.1, 0.2, 3)(2**64)


def test_cyclic_triangular2_holds_base_lr_after_1024_cycles():
    """The amplitude halves every cycle: 2.0 ** (cycle - 1) overflowed (OverflowError) from cycle 1026 on, though
    the lr there is base_lr to the last bit."""
    s = S.Cyclic(0.001, 0.01, step_size_up=100, mode="triangular2")
    assert s(100) == pytest.approx(0.01) and s(300) == pytest.approx(0.001 + 0.009 / 2)  # the first two peaks
    for step in (204_800, 205_000, 10**9):
        assert s(step) == 0.001
    opt = SGD(lr=s).bind(ParamLayout.pack([("0.W", (4,), "weight", 0)], np.float64))
    opt.step_count = 204_800
    p = np.zeros(4)
    assert opt.step(p, np.ones(4))["lr"] == 0.001 and np.all(p == -0.001)


# ------------------------------------------------------------------------------------------ plateau
class _Model:
    def __init__(self, opt):
        self.optimizer = opt


def _bound(lr):
    layout = ParamLayout.pack([("0.W", (2, 2), "weight", 0)], np.float64)
    return SGD(lr=lr).bind(layout)


PLATEAU = [
    dict(patience=3),
    dict(mode="max", factor=0.5, patience=2, threshold=0.01),
    dict(factor=0.5, patience=1, cooldown=2, min_lr=0.02),
    dict(factor=0.3, patience=0, threshold=0.05, threshold_mode="abs"),
]


@pytest.mark.parametrize("kw", PLATEAU)
def test_plateau_matches_torch(kw):
    rng = np.random.default_rng(0)
    metrics = list(np.maximum(1.0 - 0.05 * np.arange(15), 0.3) + 0.02 * rng.standard_normal(15)) + [0.5] * 40
    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([p], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    ours = S.ReduceOnPlateau(monitor="val_loss", **kw)
    opt = _bound(0.1)
    model = _Model(opt)
    ours.on_train_begin(model)
    theirs_lr, ours_lr = [], []
    for epoch, m in enumerate(metrics):
        tsched.step(m)
        ours.on_epoch_end(epoch, {"val_loss": m}, model)
        theirs_lr.append(topt.param_groups[0]["lr"])
        ours_lr.append(opt.current_lr())
    np.testing.assert_allclose(ours_lr, theirs_lr, rtol=1e-12)
    assert ours.reductions >= 1


@pytest.mark.parametrize("kw", PLATEAU + [dict(factor=0.5, patience=0, min_lr=0.01, eps=1e-3),
                                          dict(factor=0.5, patience=0, min_lr=[0.02, 0.001, 0.2])])
def test_plateau_reduces_each_parameter_group_like_torch(kw):
    """One lr_scale for every group, decided from the default group, drove a group with a smaller lr below min_lr
    (torch holds each group at min_lr) and stopped a group with a larger lr early; now each group has its scale."""
    metrics = list(np.linspace(1.0, 0.6, 5)) + [0.7] * 30
    w, b, c = (torch.nn.Parameter(torch.zeros(n)) for n in (4, 2, 2))
    topt = torch.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.02}, {"params": [c], "lr": 0.5}], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    layout = ParamLayout.pack([("0.W", (2, 2), "weight", 0), ("0.b", (2,), "bias", 0), ("1.b", (2,), "bias", 1)],
                              np.float64)
    opt = SGD(lr=0.1, param_groups=[{"layers": [0], "kinds": "bias", "lr": 0.02},
                                    {"layers": [1], "lr": 0.5}]).bind(layout)
    ours = S.ReduceOnPlateau(monitor="loss", **kw)
    theirs_lr, ours_lr = [], []
    for epoch, m in enumerate(metrics):
        tsched.step(m)
        ours.on_epoch_end(epoch, {"loss": m}, _Model(opt))
        theirs_lr.append([g["lr"] for g in topt.param_groups])
        ours_lr.append([opt.group_lr(g) for g in range(3)])
    np.testing.assert_allclose(ours_lr, theirs_lr, rtol=1e-12)
    assert ours.reductions >= 1


def test_plateau_refuses_a_min_lr_list_of_another_length_than_the_groups():
    model = fnn.Sequential([fnn.layers.Dense(2)], input_dim=3)
    plateau = S.ReduceOnPlateau(monitor="loss", min_lr=[0.0, 0.001])
    with pytest.raises(ValueError, match="min_lr has 2 values, but the optimizer has 1 parameter groups"):
        model.fit(np.ones((4, 3)), np.zeros(4, np.int64), optimizer=SGD(lr=0.1), epochs=1, verbose=0,
                  callbacks=[plateau])
    assert model.step_count == 0
    with pytest.raises(ValueError, match=r"min_lr\[1\] must be a finite real number >= 0"):
        S.ReduceOnPlateau(min_lr=[0.0, -1.0])


def test_plateau_update_refuses_a_min_lr_list_before_counting():
    """update() checked min_lr only when it reduced: fed 1.0 then 2.0 with patience 0, the first call passed and the
    second raised after num_bad_epochs had become 1."""
    layout = ParamLayout.pack([("0.W", (2, 2), "weight", 0)], np.float64)
    opt = SGD(lr=0.1).bind(layout)
    plateau = S.ReduceOnPlateau(monitor="loss", patience=0, min_lr=[0.0, 0.0])
    before = plateau.state_dict()
    for value in (1.0, 2.0):
        with pytest.raises(ValueError, match="min_lr has 2 values, but the optimizer has 1 parameter groups"):
            plateau.update(value, opt)
        assert plateau.state_dict() == before and opt.lr_scales == [1.0]


def test_plateau_composes_with_schedule():
    layout = ParamLayout.pack([("0.W", (2, 2), "weight", 0)], np.float64)
    sched = S.Cosine(0.1, 100)
    opt = SGD(lr=sched).bind(layout)
    plateau = S.ReduceOnPlateau(monitor="loss", factor=0.5, patience=0)
    p, g = np.zeros(4), np.ones(4)
    for _ in range(10):
        opt.step(p, g)
    plateau.on_epoch_end(0, {"loss": 1.0}, _Model(opt))
    plateau.on_epoch_end(1, {"loss": 1.0}, _Model(opt))   # no improvement -> halve
    assert opt.lr_scale == 0.5
    for _ in range(20):
        assert opt.current_lr() == pytest.approx(0.5 * sched(opt.step_count), rel=1e-15)
        info = opt.step(p, g)
        assert info["lr"] == pytest.approx(0.5 * sched(opt.step_count - 1), rel=1e-15)


def test_plateau_missing_metric_is_a_clear_error():
    plateau = S.ReduceOnPlateau()
    with pytest.raises(ValueError, match="validation_data"):
        plateau.on_epoch_end(0, {"loss": 1.0}, _Model(_bound(0.1)))


def test_plateau_auto_mode():
    assert S.ReduceOnPlateau(monitor="val_accuracy").mode == "max"
    assert S.ReduceOnPlateau(monitor="val_loss").mode == "min"


def test_schedule_drives_optimizer_lr():
    layout = ParamLayout.pack([("0.W", (3,), "weight", 0)], np.float64)
    sched = S.StepDecay(0.1, 2, 0.5)
    opt = SGD(lr=sched).bind(layout)
    p, g = np.zeros(3), np.ones(3)
    used = [opt.step(p, g)["lr"] for _ in range(6)]
    assert used == [sched(t) for t in range(6)]
    np.testing.assert_allclose(p, -sum(used) * np.ones(3))
    assert math.isclose(opt.current_lr(), sched(6))


# ---------------------------------------------------------------------------------------------- CLI
def _cli(argv, capsys):
    from fastnn.cli import main
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _table(out):
    rows = [line.split("\t") for line in out.splitlines() if line and not line.startswith(("#", "step"))]
    return {int(t): float(v) for t, v in rows}


def test_cli_prints_the_schedule(capsys):
    rc, out, _ = _cli(["schedule", "cosine", "--lr", "0.1", "--total-steps", "20"], capsys)
    assert rc == 0
    table = _table(out)
    assert sorted(table) == list(range(21))
    np.testing.assert_allclose([table[t] for t in range(21)], S.Cosine(0.1, 20).values(21), rtol=1e-7)


def test_cli_warmup_and_every(capsys):
    rc, out, _ = _cli(["schedule", "sgdr", "--lr", "0.5", "--T-0", "4", "--t-mult", "2", "--warmup-steps", "3",
                       "--start-factor", "0.5", "--steps", "30", "--every", "7"], capsys)
    assert rc == 0
    table = _table(out)
    assert sorted(table) == [0, 7, 14, 21, 28, 29]
    expected = S.Warmup(S.CosineWarmRestarts(0.5, 4, 2), 3, 0.5)
    for t, v in table.items():
        assert v == pytest.approx(expected(t), rel=1e-7)


@pytest.mark.parametrize("argv,msg", [
    (["schedule", "cosine", "--lr", "0.1", "--total-steps", "0"], "--total-steps must be"),
    (["schedule", "cosine", "--lr", "0.1", "--total-steps", "5", "--gamma", "0.5"], "does not take --gamma"),
    (["schedule", "cyclic", "--base-lr", "0.1", "--max-lr", "0.01", "--step-size-up", "3"], "--max-lr"),
    (["schedule", "sgdr", "--lr", "0.1", "--T-0", "5", "--T-mult", "0"], "--T-mult"),
    (["schedule", "nosuch"], "unknown schedule"),
    (["schedule", "multistep", "--lr", "1", "--milestones", "a,b"], "--milestones"),
    (["schedule", "exponential", "--lr", "1", "--gamma", "0.9", "--start-factor", "0.1"], "--warmup-steps"),
])
def test_cli_errors(argv, msg, capsys):
    rc, _, err = _cli(argv, capsys)
    assert rc == 2 and msg in err  # usage errors (the options), named as flags; missing ones get defaults


def test_cli_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "lr.png"
    rc, out, _ = _cli(["schedule", "onecycle", "--max-lr", "0.1", "--total-steps", "50", "--plot", str(path)],
                      capsys)
    assert rc == 0 and path.stat().st_size > 1000 and "plot written" in out


def test_cli_plot_without_matplotlib_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    rc, _, err = _cli(["schedule", "constant", "--lr", "0.1", "--plot", str(tmp_path / "x.png")], capsys)
    assert rc == 1 and "needs matplotlib" in err


def test_plateau_and_schedule_inside_fit():
    import fastnn as fnn
    from fastnn.layers import Dense

    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = fnn.Sequential([Dense(16, activation="relu"), Dense(2)], input_dim=8, dtype="float32", seed=0)
    # an lr so small that the loss cannot improve by the 1e-4 relative threshold: every epoch is "bad"
    opt = fnn.optim.SGD(lr=S.Exponential(1e-6, 0.99))
    plateau = S.ReduceOnPlateau(monitor="loss", patience=1, factor=0.5)
    hist = model.fit(X, y, optimizer=opt, epochs=6, batch_size=64, callbacks=[plateau], verbose=0)
    # 4 steps per epoch; epoch 0 sets the best; reductions at the end of epochs 2 and 4 (patience 1: the second
    # bad epoch in a row)
    assert plateau.reductions == 2 and opt.lr_scale == 0.25
    expected_scale = [1, 1, 1, 0.5, 0.5, 0.25]
    for epoch, lr in enumerate(hist.history["lr"]):
        # logged after the epoch and before the callback: the lr of the next step
        assert lr == pytest.approx(1e-6 * 0.99 ** (4 * (epoch + 1)) * expected_scale[epoch], rel=1e-12)
