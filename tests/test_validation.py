"""The one scalar checker (fastnn.validation.check_scalar) and the one config convention (fastnn._registry)."""
import json
import numbers

import numpy as np
import pytest

import fastnn
from fastnn import augment as A
from fastnn import optim
from fastnn._registry import Registry
from fastnn.optim import clip as C
from fastnn.optim import schedules as S
from fastnn.validation import check_scalar


@pytest.mark.parametrize("value, target, expected", [
    (3, numbers.Integral, 3), (np.int64(3), numbers.Integral, 3), (2, numbers.Real, 2.0),
    (np.float32(0.5), numbers.Real, 0.5), (True, bool, True), (np.bool_(False), bool, False),
])
def test_check_scalar_returns_plain_python_values(value, target, expected):
    got = check_scalar(value, "x", target)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, target, kwargs, error, message", [
    (True, numbers.Integral, {}, TypeError, "n must be an integer, got bool True"),
    (2.5, numbers.Integral, {}, TypeError, "n must be an integer, got float 2.5"),
    ("1", numbers.Real, {}, TypeError, "n must be a finite real number, got str '1'"),
    (1, bool, {}, TypeError, "n must be a bool, got int 1"),
    (0, numbers.Integral, {"min_val": 1}, ValueError, "n must be an integer >= 1, got 0"),
    (float("nan"), numbers.Real, {}, ValueError, "n must be a finite real number, got nan"),
    (float("inf"), numbers.Real, {"min_val": 0}, ValueError, "n must be a finite real number >= 0, got inf"),
    (0.0, numbers.Real, {"min_val": 0, "include_boundaries": "right"}, ValueError, "> 0, got 0.0"),
    (1.0, numbers.Real, {"min_val": 0, "max_val": 1, "include_boundaries": "left"}, ValueError,
     r"in \[0, 1\), got 1.0"),
    (0.0, numbers.Real, {"min_val": 0, "max_val": 1, "include_boundaries": "neither"}, ValueError,
     r"in \(0, 1\), got 0.0"),
    (5, numbers.Integral, {"max_val": 4}, ValueError, "<= 4, got 5"),
    ("a", numbers.Integral, {"error": KeyError}, KeyError, "n must be an integer, got str 'a'"),
])
def test_check_scalar_errors_name_argument_value_and_expectation(value, target, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_scalar(value, "n", target, **kwargs)


def test_check_scalar_bounds_none_and_infinity():
    assert check_scalar(None, "n", numbers.Integral, allow_none=True) is None
    assert check_scalar(float("inf"), "n", numbers.Real, finite=False) == float("inf")
    assert check_scalar(1.0, "n", numbers.Real, min_val=0, max_val=1) == 1.0
    with pytest.raises(ValueError, match="include_boundaries"):
        check_scalar(1, "n", numbers.Integral, include_boundaries="open")
    with pytest.raises(TypeError, match="check_scalar checks"):
        check_scalar(1, "n", int)


def test_huge_numbers_are_a_value_error_naming_the_argument():
    """A Python int beyond the float range was an OverflowError from float(x) (math.isnan(x) for an integer
    argument): not a ValueError, and no argument named."""
    with pytest.raises(ValueError, match=r"n must be a finite real number >= 0, got 1.000e\+400 \(beyond the largest"):
        check_scalar(10**400, "n", numbers.Real, min_val=0)
    with pytest.raises(ValueError, match=r"n must be an integer <= 5, got 1.000e\+400$"):
        check_scalar(10**400, "n", numbers.Integral, max_val=5)
    assert check_scalar(10**400, "n", numbers.Integral, min_val=0) == 10**400  # an int is exact at any size
    for make, name in ((lambda: optim.SGD(lr=10**400), "lr"), (lambda: optim.Adam(eps=10**400), "eps"),
                       (lambda: C.ByGlobalNorm(10**400), "max_norm"),
                       (lambda: S.Cosine(0.1, total_steps=10**400), "total_steps")):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            make()


def test_every_config_uses_the_class_key():
    configs = [optim.Adam(lr=S.Cosine(0.1, 10)).get_config(), S.Warmup(S.Cosine(0.1, 10), 2).get_config(),
               C.ByGlobalNorm(1.0).get_config(), C.ByValue(0.5).get_config(),
               fastnn.layers.Dense(3).get_config(), A.Compose([A.RandomRotation(5)]).get_config()]
    for cfg in configs:
        assert "class" in cfg and "name" not in cfg, cfg
    assert configs[0]["lr"]["schedule"]["class"] == "Cosine"
    assert configs[1]["schedule"]["class"] == "Cosine"


def test_configs_written_with_the_old_name_key_still_load():
    """fastnn 0.1 wrote {"name": ...} for optimizers, schedules and clipping rules."""
    old_opt = {"name": "SGD", "lr": {"schedule": {"name": "Warmup", "schedule": {"name": "Cosine", "lr": 0.1,
                                                                                   "total_steps": 10, "min_lr": 0.0},
                                                  "warmup_steps": 2, "start_factor": 0.0}},
               "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False, "param_groups": None}
    opt = optim.optimizer_from_config(json.loads(json.dumps(old_opt)))
    assert opt.get_config() == optim.SGD(lr=S.Warmup(S.Cosine(0.1, 10), 2), momentum=0.9).get_config()
    assert optim.get(old_opt).defaults["momentum"] == 0.9
    assert S.from_config({"name": "StepDecay", "lr": 1.0, "step_size": 3, "gamma": 0.5}) == S.StepDecay(1.0, 3, 0.5)
    assert C.from_config({"name": "ByValue", "clip_value": 0.5}) == C.ByValue(0.5)
    # an optimizer state dict of 0.1 (config with "name") restores its hyperparameters
    layout = fastnn.Sequential([fastnn.layers.Dense(2)], input_dim=3).layout
    sd = optim.Adam(lr=0.01).bind(layout).state_dict()
    sd["config"] = {"name": "Adam", **{k: v for k, v in sd["config"].items() if k != "class"}}
    fresh = optim.Adam(lr=0.5).bind(layout)
    fresh.load_state_dict(sd)
    assert fresh.defaults["lr"] == 0.01


def test_unknown_class_names_what_is_known():
    with pytest.raises(ValueError, match=r"unknown optimizer config .*one of \['Adadelta'"):
        optim.optimizer_from_config({"class": "Lion"})
    with pytest.raises(ValueError, match="unknown schedule"):
        S.from_config({"lr": 0.1})
    with pytest.raises(A.AugmentError, match="unknown augmentation"):
        A.Compose.from_config({"class": "Compose", "transforms": [{"class": "Blur"}]})
    with pytest.raises(ValueError, match="unknown layer"):
        fastnn.layers.layer_from_config({"name": "Dense", "units": 3})  # layers never used "name"


def test_registry_is_the_dict_of_its_classes():
    reg = Registry("thing")

    @reg.register
    class Thing:
        def __init__(self, a=1):
            self.a = a

    assert dict(reg) == {"Thing": Thing} and reg.from_config({"class": "Thing", "a": 2}).a == 2


def test_moved_modules_keep_their_old_import_paths():
    import fastnn.clip
    import fastnn.schedules
    from fastnn.training.callbacks import Callback, ReduceOnPlateau

    assert fastnn.schedules.Cosine is S.Cosine and fastnn.schedules.from_config is S.from_config
    assert fastnn.schedules.ReduceOnPlateau is ReduceOnPlateau and issubclass(ReduceOnPlateau, Callback)
    assert fastnn.clip.ByGlobalNorm is C.ByGlobalNorm and fastnn.clip.NonFiniteGradientError is C.NonFiniteGradientError
    assert set(fastnn.schedules.__all__) >= {"Cosine", "ReduceOnPlateau", "SCHEDULES", "from_config"}


def test_reexports_are_complete():
    import fastnn.clip
    import fastnn.schedules

    assert set(fastnn.schedules.__all__) == set(S.__all__) | {"ReduceOnPlateau"}
    assert set(fastnn.clip.__all__) == set(C.__all__)
    for mod in (fastnn.schedules, fastnn.clip):
        assert all(hasattr(mod, name) for name in mod.__all__)
