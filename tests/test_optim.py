"""Optimizer kernels against the numpy reference, and the optimizer objects: groups, state dicts, configs,
argument checks, binding."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastnn
from fastnn import clip as C
from fastnn import optim, schedules
from fastnn._layout import ParamLayout
from fastnn._reference import optim as ref
from fastnn.ops import optim as ops

DTYPES = [np.float32, np.float64]


# ------------------------------------------------------------------------------ kernels vs reference
def _hp_rows(kind, rng, n_seg):
    rows = []
    for s in range(n_seg):
        if kind == "sgd":
            mom = [0.0, 0.9, 0.5][s % 3]
            rows.append([0.05, [0.0, 0.01][s % 2], mom, 1 - [0.0, 0.2][s % 2] * (mom > 0 and s % 4 != 1),
                         1.0 if (mom > 0 and s % 4 == 1) else 0.0, float(s % 5 == 0)])
        elif kind == "adagrad":
            rows.append([0.05 / (1 + 3 * 0.01), [0.0, 0.02][s % 2], [1e-10, 0.0][s % 2], [0.0, 1e-8][s % 2]])
        elif kind == "rmsprop":
            rows.append([0.01, [0.0, 0.01][s % 2], [0.99, 0.3][s % 2], 1e-8, [0.0, 0.9][(s // 2) % 2],
                         float(s % 3 == 1), [0.0, 1e-8, 1e-3][s % 3]])
        elif kind == "adadelta":
            rows.append([1.0, [0.0, 0.01][s % 2], [0.9, 0.5][s % 2], 1e-6])
        elif kind == "adam":
            t = 5
            b1, b2 = [(0.9, 0.999), (0.3, 0.9)][s % 2]
            lr, wd = 1e-3, 0.01
            dec = s % 3 == 2
            eps, eps_root = [(1e-8, 0.0), (0.0, 1e-8), (1e-8, 1e-3)][s % 3]  # eps_root enters scaled by bc2
            rows.append([lr / (1 - b1 ** t), 0.0 if dec else wd, 1 - lr * wd if dec else 1.0, b1, b2, eps,
                         (1 - b2 ** t) ** 0.5, float(s % 2 == 1), eps_root * (1 - b2 ** t)])
    return np.array(rows, np.float64)


STATE = {"sgd": ["momentum_io"], "adagrad": ["sum_io"], "rmsprop": ["square_avg_io", "grad_avg_io", "momentum_io"],
         "adadelta": ["square_avg_io", "acc_delta_io"],
         "adam": ["exp_avg_io", "exp_avg_sq_io", "max_exp_avg_sq_io"]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(STATE))
@pytest.mark.parametrize("clip", [(ops.CLIP_SCALE, 1.0), (ops.CLIP_SCALE, 0.37), (ops.CLIP_VALUE, 0.8),
                                  (ops.CLIP_VALUE, (-0.3, 1.1)), (ops.CLIP_SCALE, "per segment")])
@pytest.mark.parametrize("n_seg", [1, 7])
def test_kernel_matches_reference(dtype, kind, clip, n_seg):
    rng = np.random.default_rng([sorted(STATE).index(kind), n_seg])  # not hash(): str hashes change per process
    n = 5003
    cuts = np.sort(rng.choice(np.arange(1, n), n_seg - 1, replace=False)) if n_seg > 1 else []
    bounds = np.array([0, *cuts, n], np.int64)
    hp = _hp_rows(kind, rng, n_seg)
    grad = rng.standard_normal(n).astype(dtype)
    grad[::97] = 0.0
    param = rng.standard_normal(n).astype(dtype)
    state = {name: np.abs(rng.standard_normal(n)).astype(dtype) * 0.1 for name in STATE[kind]}
    if kind == "rmsprop":  # centered needs v >= gbar^2 (a variance) to stay real, as in training
        state["grad_avg_io"] *= 0.1
        state["square_avg_io"] += state["grad_avg_io"] ** 2
    if clip[1] == "per segment":  # a norm clip per tensor: every segment its own scale
        clip = (clip[0], rng.uniform(0.2, 1.0, n_seg))
    mine_p, ref_p = param.copy(), param.copy()
    mine_s = {k: v.copy() for k, v in state.items()}
    ref_s = {k: v.copy() for k, v in state.items()}
    c1 = getattr(ops, f"{kind}_step")(grad, bounds, hp, mine_p, **mine_s, clip_mode=clip[0], clip_arg=clip[1])
    c2 = getattr(ref, f"{kind}_step")(grad, bounds, hp, ref_p, **ref_s, clip_mode=clip[0], clip_arg=clip[1])
    assert c1 == c2
    if clip[0] == ops.CLIP_VALUE:
        assert c1 > 0
    # Same operations in the same order on the same dtype: equal to the last bit.
    np.testing.assert_array_equal(mine_p, ref_p)
    for k in state:
        np.testing.assert_array_equal(mine_s[k], ref_s[k])
    assert not np.array_equal(mine_p, param)
    assert np.isfinite(mine_p).all()


@pytest.mark.parametrize("kind", list(STATE))
def test_kernel_threads_bitwise_equal(kind):
    rng = np.random.default_rng(1)
    n = 300_001
    bounds = np.array([0, 1000, 150_017, n], np.int64)
    hp = _hp_rows(kind, rng, 3)
    grad = rng.standard_normal(n).astype(np.float32)
    outs = []
    for nt in (1, 2, 3):
        p = np.ones(n, np.float32)
        st = {name: np.full(n, 0.01, np.float32) for name in STATE[kind]}
        getattr(ops, f"{kind}_step")(grad, bounds, hp, p, **st, n_threads=nt)
        outs.append((p, st))
    for p, st in outs[1:]:
        np.testing.assert_array_equal(p, outs[0][0])
        for k in st:
            np.testing.assert_array_equal(st[k], outs[0][1][k])


def test_ops_checks():
    n = 10
    g, p, m = np.zeros(n), np.zeros(n), np.zeros(n)
    b = np.array([0, n], np.int64)
    hp = np.zeros((1, 6))
    with pytest.raises(TypeError):
        ops.sgd_step(g.astype(np.float32), b, hp, p, m)
    with pytest.raises(ValueError, match="seg_bounds"):
        ops.sgd_step(g, np.array([0, 5], np.int64), hp, p, m)
    with pytest.raises(ValueError, match="hp"):
        ops.sgd_step(g, b, np.zeros((1, 5)), p, m)
    with pytest.raises(ValueError, match="momentum_io"):
        ops.sgd_step(g, b, np.array([[0.1, 0, 0.9, 1, 0, 1]]), p, None)
    with pytest.raises(ValueError, match="param_io"):
        ops.sgd_step(g, b, hp, np.zeros(n + 1), m)
    with pytest.raises(ValueError, match="clip_mode"):
        ops.sgd_step(g, b, hp, p, m, clip_mode=7)


# ---------------------------------------------------------------------------------------- optimizers
def layout_of(dtype=np.float64, norm=True):
    specs = [("0.W", (5, 4), "weight", 0), ("0.b", (4,), "bias", 0)]
    if norm:
        specs += [("1.gamma", (4,), "norm", 1), ("1.beta", (4,), "norm", 1)]
    specs += [("2.W", (4, 3), "weight", 2), ("2.b", (3,), "bias", 2)]
    return ParamLayout.pack(specs, dtype)


ALL = [
    lambda **k: optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, **k),
    lambda **k: optim.Adagrad(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, **k),
    lambda **k: optim.RMSprop(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01, **k),
    lambda **k: optim.Adadelta(lr=1.0, rho=0.8, **k),
    lambda **k: optim.Adam(lr=schedules.Warmup(schedules.Cosine(0.01, 40), 5), amsgrad=True, weight_decay=0.01,
                           **k),
    lambda **k: optim.AdamW(lr=0.01, amsgrad=True, **k),
]
ALL_IDS = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw"]


def grads_for(layout, step):
    rng = np.random.default_rng(step)
    return rng.standard_normal(layout.size).astype(layout.dtype)


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_save_load_continue_is_bitwise_identical(make, dtype):
    layout = layout_of(dtype)
    groups = [{"kinds": ["bias", "norm"], "weight_decay": 0.0}, {"layers": [2], "lr": 0.003}]
    clip = C.ByGlobalNorm(3.0)
    a = make(param_groups=groups).bind(layout)
    pa = np.linspace(-1, 1, layout.size).astype(dtype)
    for s in range(15):
        a.step(pa, grads_for(layout, s), clip=clip)
    sd = a.state_dict()
    sd = pickle_roundtrip(sd)
    pb = pa.copy()
    b = make().bind(layout_of(dtype))  # a fresh optimizer, default groups: the state dict brings its groups
    b.load_state_dict(sd)
    for s in range(15, 40):
        ia = a.step(pa, grads_for(layout, s), clip=clip)
        ib = b.step(pb, grads_for(layout, s), clip=clip)
        assert ia == ib
    np.testing.assert_array_equal(pa, pb)
    for k in a.state:
        np.testing.assert_array_equal(a.state[k], b.state[k])
    assert a.step_count == b.step_count == 40


def pickle_roundtrip(obj):
    import pickle
    return pickle.loads(pickle.dumps(obj))


def test_state_dict_is_a_copy_and_json_able_apart_from_arrays():
    layout = layout_of()
    opt = optim.Adam(lr=schedules.OneCycle(0.1, 100), param_groups=optim.no_decay_on_bias_and_norm()).bind(layout)
    p = np.zeros(layout.size)
    opt.step(p, np.ones(layout.size))
    sd = opt.state_dict()
    json.dumps({k: v for k, v in sd.items() if k != "state"})
    before = sd["state"]["exp_avg"].copy()
    opt.step(p, np.ones(layout.size))
    np.testing.assert_array_equal(sd["state"]["exp_avg"], before)
    assert sd["layout"] == layout.describe() and sd["step_count"] == 1


def test_load_before_bind_is_checked_at_bind():
    layout = layout_of()
    a = optim.SGD(lr=0.1, momentum=0.9).bind(layout)
    p = np.zeros(layout.size)
    a.step(p, np.ones(layout.size))
    b = optim.SGD(lr=0.1, momentum=0.9)
    b.load_state_dict(a.state_dict())
    b.bind(layout)
    assert b.step_count == 1
    np.testing.assert_array_equal(b.state["momentum_buffer"], a.state["momentum_buffer"])
    c = optim.SGD(lr=0.1, momentum=0.9)
    c.load_state_dict(a.state_dict())
    with pytest.raises(optim.OptimizerStateError, match="layout"):
        c.bind(layout_of(norm=False))


def test_load_rejects_other_layouts_and_types():
    layout = layout_of()
    sd = optim.Adam().bind(layout).state_dict()
    with pytest.raises(optim.OptimizerStateError, match="different parameter layout"):
        optim.Adam().bind(layout_of(norm=False)).load_state_dict(sd)
    renamed = ParamLayout.pack([(e.name + "x", e.shape, e.kind, e.layer) for e in layout.entries], np.float64)
    with pytest.raises(optim.OptimizerStateError, match="entry 0"):
        optim.Adam().bind(renamed).load_state_dict(sd)
    with pytest.raises(optim.OptimizerStateError, match="dtype"):
        optim.Adam().bind(layout_of(np.float32)).load_state_dict(sd)
    with pytest.raises(optim.OptimizerStateError, match="is for Adam"):
        optim.SGD().bind(layout).load_state_dict(sd)
    broken = dict(sd, state={"exp_avg": sd["state"]["exp_avg"]})
    opt = optim.Adam(lr=0.5).bind(layout)
    with pytest.raises(optim.OptimizerStateError, match="exp_avg_sq"):
        opt.load_state_dict(broken)
    assert opt.defaults["lr"] == 0.5  # a failed load changes nothing
    with pytest.raises(optim.OptimizerStateError):
        opt.load_state_dict({"nope": 1})
    with pytest.raises(optim.OptimizerStateError, match="invalid optimizer state"):
        opt.load_state_dict(dict(sd, config=dict(sd["config"], betas=[2.0, 0.9])))
    with pytest.raises(optim.OptimizerStateError):
        opt.load_state_dict(dict(sd, step_count=None))
    assert opt.defaults["lr"] == 0.5 and opt.defaults["betas"] == (0.9, 0.999)


EPS_ZERO_IN_FLOAT32 = [
    (lambda: optim.Adam(eps=1e-50), "eps=1e-50 and eps_root=0.0 are both 0 in float32"),
    (lambda: optim.Adam(eps=0.0, eps_root=1e-40, betas=(0.9, 0.9999999)), r"eps_root \* \(1 - beta2\)"),
    (lambda: optim.Adagrad(eps=1e-50), "eps=1e-50 and eps_root=0.0 are both 0 in float32"),
    (lambda: optim.RMSprop(eps=0.0, eps_root=1e-50), "eps=0.0 and eps_root=1e-50 are both 0 in float32"),
    (lambda: optim.Adadelta(eps=1e-50), "eps=1e-50 is 0 in float32"),
    (lambda: optim.Adam(param_groups=[{"kinds": "bias", "eps": 1e-50}]), r"param_groups\[0\]: eps=1e-50"),
]


@pytest.mark.parametrize("make, message", EPS_ZERO_IN_FLOAT32, ids=[f"eps{i}" for i in range(len(EPS_ZERO_IN_FLOAT32))])
def test_an_eps_that_is_zero_in_the_model_dtype_is_refused_at_bind(make, message):
    """eps = 0 is refused at construction (a zero gradient would divide 0 / 0); an eps that only becomes 0 as
    float32 passed, and a model's zero-gradient weights turned NaN at the first step."""
    opt = make()
    with pytest.raises(ValueError, match=message):
        opt.bind(layout_of(np.float32))
    assert opt.layout is None and opt.state == {}  # nothing changed: it binds to a float64 model
    opt.bind(layout_of(np.float64))
    model = fastnn.Sequential([fastnn.layers.Dense(3)], input_dim=4, dtype="float32", seed=0)
    X = np.ones((8, 4), np.float32)
    X[:, 3] = 0.0  # a feature that is always 0: zero gradients
    before = model.get_weights()
    with pytest.raises(ValueError, match="0 in float32"):
        model.train_step(X, np.arange(8) % 3, loss="cross_entropy", optimizer=make())
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_loaded_state_dicts_eps_is_checked_against_the_dtype():
    sd = optim.Adam(eps=1e-50).bind(layout_of(np.float64)).state_dict()
    sd = dict(sd, dtype="float32", state={k: v.astype(np.float32) for k, v in sd["state"].items()})
    opt = optim.Adam().bind(layout_of(np.float32))
    with pytest.raises(optim.OptimizerStateError, match="eps=1e-50 and eps_root=0.0 are both 0 in float32"):
        opt.load_state_dict(sd)
    assert opt.defaults["eps"] == 1e-8


@pytest.mark.parametrize("make, message", [
    (lambda: optim.Adagrad(initial_accumulator_value=1e300), "initial_accumulator_value=1e[+]300 is inf in float32"),
    (lambda: optim.Adagrad(param_groups=[{"kinds": "bias", "initial_accumulator_value": 1e39}]),
     r"param_groups\[0\]: initial_accumulator_value=1e[+]39 is inf in float32"),
], ids=["defaults", "group"])
def test_an_adagrad_initial_accumulator_that_is_inf_in_the_model_dtype_is_refused_at_bind(make, message):
    """Found by review 9: 1e300 on a float32 model filled the state with inf under a numpy cast warning, and
    every update was 0 (torch refuses the value). As for eps: refused at bind, before anything changes."""
    opt = make()
    with pytest.raises(ValueError, match=message):
        opt.bind(layout_of(np.float32))
    assert opt.layout is None and opt.state == {}
    opt.bind(layout_of(np.float64))  # float64 holds it
    sd = opt.state_dict()
    with np.errstate(over="ignore"):  # a float32 state dict saved before the check: its sums are inf
        sd = dict(sd, dtype="float32", state={k: v.astype(np.float32) for k, v in sd["state"].items()})
    with pytest.raises(optim.OptimizerStateError, match=message):
        optim.Adagrad().bind(layout_of(np.float32)).load_state_dict(sd)


BAD_STATE = [
    ({"lr_scale": -1.0}, "lr_scale must be a finite real number >= 0.0, got -1.0"),
    ({"lr_scale": float("nan")}, "lr_scale .* got nan"),
    ({"lr_scale": float("inf")}, "lr_scale .* got inf"),
    ({"lr_scale": "abc"}, "lr_scale must be a finite real number >= 0.0, got str 'abc'"),
    ({"step_count": 2.7}, "step_count must be an integer"),
    ({"step_count": True}, "step_count must be an integer"),
    ({"step_count": -1}, "step_count must be an integer in"),
    ({"skipped_steps": -5}, "skipped_steps must be an integer in"),
    ({"exp_avg_sq": -1.0}, "'exp_avg_sq' holds negative or NaN values"),
    ({"exp_avg_sq": np.nan}, "'exp_avg_sq' holds negative or NaN values"),
    ({"exp_avg": np.inf}, "'exp_avg' holds NaN or infinite values"),
]


@pytest.mark.parametrize("bad, message", BAD_STATE, ids=[f"state{i}" for i in range(len(BAD_STATE))])
def test_a_state_dict_with_values_no_step_writes_is_refused_before_anything_changes(bad, message):
    """lr_scale, the counters and the buffers' values were taken as given: lr_scale=-1 trained by gradient ascent,
    NaN / inf poisoned the weights, step_count=2.7 became 2, and a refused dict had already replaced the
    buffers and step_count; loaded before bind, a refused dict left the optimizer bound with fresh zeros."""
    layout = layout_of()
    src = optim.Adam(lr=0.1).bind(layout)
    p = np.zeros(layout.size)
    for _ in range(2):
        src.step(p, np.linspace(-1, 1, layout.size))
    sd = src.state_dict()
    state = {k: v.copy() for k, v in sd["state"].items()}
    for key, value in bad.items():
        if key in state:
            state[key][3] = value
        else:
            sd[key] = value
    sd["state"] = state
    opt = optim.Adam(lr=0.1).bind(layout)
    opt.step(p, np.ones(layout.size))
    before = opt.state_dict()
    with pytest.raises(optim.OptimizerStateError, match=message):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert all(after[k] == before[k] for k in ("step_count", "skipped_steps", "lr_scale", "config"))
    assert all(np.array_equal(after["state"][k], before["state"][k]) for k in before["state"])
    unbound = optim.Adam(lr=0.1)
    unbound.load_state_dict(sd)
    with pytest.raises(optim.OptimizerStateError, match=message):
        unbound.bind(layout)
    assert unbound.layout is None and unbound.state == {}


def test_an_lr_scale_set_by_hand_cannot_make_an_invalid_lr():
    layout = layout_of()
    opt = optim.SGD(lr=0.1, param_groups=[{"kinds": "bias", "lr": 1e300}]).bind(layout)
    p = np.zeros(layout.size)
    for scale in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr_scale must be a finite real number >= 0.0"):
            opt.lr_scale = scale
    for scale in (-1.0, float("nan"), 1e10):  # a scale written into the list, or one that overflows the lr
        opt.lr_scales[1] = scale
        with pytest.raises(ValueError, match=r"param_groups\[0\]: lr at optimizer step 0 is"):
            opt.step(p, np.ones(layout.size))
    assert opt.step_count == 0 and np.all(p == 0)


def test_rebinding():
    layout = layout_of()
    opt = optim.Adam().bind(layout)
    p = np.zeros(layout.size)
    opt.step(p, np.ones(layout.size))
    assert opt.bind(layout_of()) is opt and opt.step_count == 1  # an equal layout keeps the state
    with pytest.raises(optim.OptimizerStateError, match="different parameter layout"):
        opt.bind(layout_of(norm=False))
    with pytest.raises(TypeError):
        optim.Adam().bind("layout")


def test_step_checks_arrays():
    layout = layout_of()
    opt = optim.SGD(lr=0.1)
    with pytest.raises(RuntimeError, match="bind"):
        opt.step(np.zeros(layout.size), np.zeros(layout.size))
    opt.bind(layout)
    n = layout.size
    with pytest.raises(TypeError, match="dtype"):
        opt.step(np.zeros(n, np.float32), np.zeros(n))
    with pytest.raises(ValueError, match="shape"):
        opt.step(np.zeros(n + 1), np.zeros(n + 1))
    with pytest.raises(ValueError, match="contiguous"):
        opt.step(np.zeros(2 * n)[::2], np.zeros(n))
    ro = np.zeros(n)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        opt.step(ro, np.zeros(n))
    with pytest.raises(TypeError, match="numpy"):
        opt.step(list(range(n)), np.zeros(n))
    ro_grads = np.ones(n)
    ro_grads.flags.writeable = False
    opt.step(np.zeros(n), ro_grads)  # read-only gradients are fine


BAD_HYPER = [
    (lambda: optim.SGD(lr=-0.1), ValueError, "lr must be a finite real number >= 0"),
    (lambda: optim.SGD(lr=0.1, momentum=-0.5), ValueError, "momentum must be a finite real number >= 0"),
    (lambda: optim.SGD(lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda: optim.SGD(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda: optim.SGD(lr=0.1, weight_decay=-1), ValueError, "weight_decay must be a finite real number >= 0"),
    (lambda: optim.SGD(lr="0.1"), TypeError, "lr"),
    (lambda: optim.SGD(lr=0.1, nesterov="yes"), TypeError, "nesterov"),
    (lambda: optim.Adam(betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be a finite real number in \[0.0, 1.0\)"),
    (lambda: optim.Adam(betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be a finite real number in \[0.0, 1.0\)"),
    (lambda: optim.Adam(betas=0.9), TypeError, "betas"),
    (lambda: optim.Adam(eps=0.0), ValueError, "eps and eps_root are both 0"),
    (lambda: optim.AdamW(eps=-1e-8), ValueError, "eps must be a finite real number >= 0"),
    (lambda: optim.RMSprop(eps=0.0, eps_root=-1e-8), ValueError, "eps_root must be a finite real number >= 0"),
    (lambda: optim.SGD(prox_l1=-0.1), ValueError, "prox_l1 must be a finite real number >= 0"),
    (lambda: optim.SGD(param_groups=[{"kinds": "weight", "prox_l1": float("nan")}]), ValueError, "prox_l1"),
    (lambda: optim.Adam(lr=float("nan")), ValueError, "nan"),
    (lambda: optim.Adagrad(lr_decay=-1), ValueError, "lr_decay must be a finite real number >= 0"),
    (lambda: optim.Adagrad(initial_accumulator_value=-1), ValueError,
     "initial_accumulator_value must be a finite real number >= 0"),
    (lambda: optim.Adagrad(eps=0), ValueError, "eps and eps_root are both 0"),
    (lambda: optim.RMSprop(alpha=1.5), ValueError, r"alpha must be a finite real number in \[0.0, 1.0\]"),
    (lambda: optim.RMSprop(momentum=-1), ValueError, "momentum must be a finite real number >= 0"),
    (lambda: optim.Adadelta(rho=1.5), ValueError, r"rho must be a finite real number in \[0.0, 1.0\]"),
    (lambda: optim.SGD(lr=0.1, param_groups=[{"lr": 0.1}]), ValueError, "no selector"),
    (lambda: optim.SGD(lr=0.1, param_groups=[{"kinds": ["bias"], "betas": (0.9, 0.9)}]), ValueError,
     "unknown keys"),
    (lambda: optim.SGD(lr=0.1, param_groups=[{"kinds": ["biases"]}]), ValueError, "unknown kinds"),
    (lambda: optim.SGD(lr=0.1, param_groups=[{"layers": [0], "lr": -1.0}]), ValueError,
     r"param_groups\[0\]: lr must be a finite real number >= 0"),
    (lambda: optim.SGD(lr=0.1, param_groups={"kinds": ["bias"]}), TypeError, "list of dicts"),
]


@pytest.mark.parametrize("make,exc,msg", BAD_HYPER, ids=[f"bad{i}" for i in range(len(BAD_HYPER))])
def test_bad_hyperparameters_raise_at_construction(make, exc, msg):
    with pytest.raises(exc, match=msg):
        make()


CHAPTER_OPTIONS = {"eps_root": 0.0, "prox_l1": 0.0}


def test_torch_names_and_defaults():
    torch = pytest.importorskip("torch")
    import inspect
    for name in ("SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"):
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for pname, p in ours.items():
            if pname in ("param_groups",):
                continue
            if pname in CHAPTER_OPTIONS:  # not in torch: defaults that leave torch's update unchanged
                assert p.default == CHAPTER_OPTIONS[pname] and p.kind == p.KEYWORD_ONLY, (name, pname)
                continue
            assert pname in theirs, (name, pname)
            assert p.default == theirs[pname].default, (name, pname, p.default, theirs[pname].default)
        for pname in ("lr", "weight_decay"):
            assert pname in ours


def test_groups_resolve_into_merged_segments():
    layout = layout_of()
    opt = optim.SGD(lr=0.1, param_groups=optim.no_decay_on_bias_and_norm()).bind(layout)
    seg = opt._segments
    # 0.W | 0.b 1.gamma 1.beta (merged) | 2.W | 2.b
    assert list(seg.group) == [0, 1, 0, 1]
    e = layout.by_name
    assert list(seg.bounds) == [0, e["0.b"].offset, e["2.W"].offset, e["2.b"].offset, layout.size]
    p = np.ones(layout.size)
    opt2 = optim.SGD(lr=0.0, weight_decay=1.0, param_groups=[{"kinds": "norm", "lr": 0.5}]).bind(layout)
    opt2.step(p, np.zeros(layout.size))
    # lr 0 everywhere but the norm parameters, which decay: p - 0.5 * (0 + 1.0 * p)
    np.testing.assert_array_equal(layout.view(p, "1.gamma"), 0.5)
    np.testing.assert_array_equal(layout.view(p, "0.W"), 1.0)


def test_first_matching_group_wins():
    layout = layout_of()
    opt = optim.SGD(lr=1.0, param_groups=[{"layers": [0], "lr": 0.5}, {"kinds": ["bias"], "lr": 0.25}]).bind(layout)
    p = np.zeros(layout.size)
    opt.step(p, np.ones(layout.size))
    assert layout.view(p, "0.b")[0] == -0.5 and layout.view(p, "2.b")[0] == -0.25
    assert layout.view(p, "2.W")[0, 0] == -1.0
    assert opt.group_lr(2) == 0.25


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_config_round_trip(make):
    opt = make(param_groups=[{"kinds": ["bias"], "weight_decay": 0.0, "lr": schedules.Exponential(0.01, 0.9)}])
    cfg = json.loads(json.dumps(opt.get_config()))
    again = optim.optimizer_from_config(cfg)
    assert type(again) is type(opt)
    assert again.get_config() == opt.get_config()
    layout = layout_of()
    pa, pb = np.zeros(layout.size), np.zeros(layout.size)
    opt.bind(layout)
    again.bind(layout)
    for s in range(5):
        opt.step(pa, grads_for(layout, s))
        again.step(pb, grads_for(layout, s))
    np.testing.assert_array_equal(pa, pb)


def test_adam_decoupled_flag_equals_adamw():
    layout = layout_of()
    a = optim.Adam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True).bind(layout)
    b = optim.AdamW(lr=0.01, weight_decay=0.1).bind(layout)
    pa, pb = np.ones(layout.size), np.ones(layout.size)
    for s in range(5):
        a.step(pa, grads_for(layout, s))
        b.step(pb, grads_for(layout, s))
    np.testing.assert_array_equal(pa, pb)
    assert optim.optimizer_from_config(a.get_config())._decoupled


def test_plain_callable_lr_works_but_cannot_be_saved():
    layout = layout_of()
    opt = optim.SGD(lr=lambda t: 0.1 / (t + 1)).bind(layout)
    p = np.zeros(layout.size)
    assert opt.step(p, np.ones(layout.size))["lr"] == 0.1
    assert opt.current_lr() == 0.05
    with pytest.raises(TypeError, match="cannot be saved"):
        opt.get_config()
    sd = opt.state_dict()  # the state still saves (hyperparameters stay as constructed on load)
    assert sd["config"] is None
    again = optim.SGD(lr=lambda t: 0.1 / (t + 1)).bind(layout)
    again.load_state_dict(sd)
    assert again.step_count == 1


def test_get_by_name():
    assert isinstance(optim.get("adam", lr=0.1), optim.Adam)
    assert isinstance(optim.get("AdamW"), optim.AdamW)
    o = optim.SGD()
    assert optim.get(o) is o
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.get("lbfgs")


def test_lr_scale_and_current_lr():
    layout = layout_of()
    opt = optim.SGD(lr=schedules.StepDecay(1.0, 1, 0.5)).bind(layout)
    assert opt.current_lr() == 1.0
    opt.lr_scale = 0.1
    assert opt.current_lr() == 0.1
    p = np.zeros(layout.size)
    info = opt.step(p, np.ones(layout.size))
    assert info["lr"] == 0.1 and opt.step_count == 1 and opt.current_lr() == 0.05
    np.testing.assert_array_equal(p, -0.1)


def test_per_group_lr_scales_save_load_and_pickle():
    """Each group has its own lr scale (ReduceOnPlateau reduces groups on their own); a state dict keeps them (one
    number when they are equal, as before: older state dicts and checkpoints load unchanged)."""
    layout = layout_of()
    groups = [{"kinds": ["bias", "norm"], "lr": 0.02}]
    opt = optim.SGD(lr=0.1, param_groups=groups).bind(layout)
    assert opt.state_dict()["lr_scale"] == 1.0
    opt.lr_scales[1] = 0.5
    assert opt.lr_scale == 1.0 and opt.group_lr(1) == 0.01
    sd = opt.state_dict()
    assert sd["lr_scale"] == [1.0, 0.5]
    for restored in (pickle_roundtrip(opt), _loaded(optim.SGD(lr=0.1), sd, layout)):
        assert restored.lr_scales == [1.0, 0.5] and restored.group_lr(1) == 0.01
    old = _loaded(optim.SGD(lr=0.1), dict(sd, lr_scale=0.25), layout)  # one number: every group's
    assert old.lr_scales == [0.25, 0.25]
    with pytest.raises(optim.OptimizerStateError, match="lr_scale has 3 values, one per parameter group"):
        _loaded(optim.SGD(lr=0.1), dict(sd, lr_scale=[1.0, 0.5, 0.5]), layout)
    with pytest.raises(optim.OptimizerStateError, match=r"lr_scale\[1\] must be a finite real number >= 0.0"):
        _loaded(optim.SGD(lr=0.1), dict(sd, lr_scale=[1.0, -0.5]), layout)
    opt.lr_scale = 0.1  # sets every group's
    assert opt.lr_scales == [0.1, 0.1]
    unpickled = optim.SGD.__new__(optim.SGD)  # an optimizer pickled before per-group scales
    state = opt.__getstate__()
    state["lr_scale"] = state.pop("lr_scales")[0]
    unpickled.__setstate__(state)
    assert unpickled.lr_scales == [0.1, 0.1]


def _loaded(opt, sd, layout):
    opt.bind(layout).load_state_dict(sd)
    return opt


def test_empty_layout():
    layout = ParamLayout([], np.float32)
    opt = optim.Adam().bind(layout)
    info = opt.step(np.zeros(0, np.float32), np.zeros(0, np.float32), clip=C.ByGlobalNorm(1.0))
    assert info["grad_norm"] == 0.0 and opt.step_count == 1


def test_public_names():
    for name in ("SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "optimizer_from_config",
                 "no_decay_on_bias_and_norm"):
        assert hasattr(fastnn.optim, name)
    for name in ("Constant", "StepDecay", "MultiStep", "Exponential", "InverseTime", "Cosine", "Polynomial",
                 "Warmup", "Cyclic", "CosineWarmRestarts", "OneCycle", "ReduceOnPlateau"):
        assert hasattr(fastnn.schedules, name)
    assert hasattr(fastnn.clip, "ByValue") and hasattr(fastnn.clip, "ByGlobalNorm")


def test_hp_row_fields_agree_with_the_c_enums():
    from fastnn._ext import optim as ext

    layout = ext.hp_layout()
    assert set(layout) == set(ops.HP_FIELDS)
    for kind, (offsets, width) in layout.items():
        assert width == ops.HP_WIDTH[kind] == len(ops.HP_FIELDS[kind]), kind
        assert offsets == {f: i for i, f in enumerate(ops.HP_FIELDS[kind])}, kind
        assert tuple(ops.HP[kind]) == tuple(range(width)) and ops.HP[kind]._fields == ops.HP_FIELDS[kind]


@pytest.mark.parametrize("dtype", DTYPES)
def test_centered_rmsprop_kernel_and_reference_keep_an_overflowed_square_infinite(dtype):
    """v = inf (a gradient whose square overflowed) gives an infinite denominator, so a zero update, not
    inf - inf = NaN (torch's fused multiply-add): kernel and numpy twin alike, to the bit."""
    huge = dtype(1e30 if dtype == np.float32 else 1e200)
    f = ops.HP["rmsprop"]
    hp = np.zeros((1, ops.HP_WIDTH["rmsprop"]))
    hp[0, [f.lr, f.alpha, f.eps, f.centered]] = 0.1, 0.99, 1e-8, 1.0
    grad = np.array([huge, 0.5], dtype)
    results = []
    for step in (ops.rmsprop_step, ref.rmsprop_step):
        param, sq, ga = np.ones(2, dtype), np.zeros(2, dtype), np.zeros(2, dtype)
        with np.errstate(over="ignore"):  # the twin's g * g overflows, as intended
            step(grad, np.array([0, 2], np.int64), hp, param, sq, ga)
        results.append((param, sq, ga))
    for mine, theirs in zip(*results):
        np.testing.assert_array_equal(mine, theirs)
    param, sq, _ = results[0]
    assert param[0] == 1.0 and param[1] < 1.0 and sq[0] == np.inf
