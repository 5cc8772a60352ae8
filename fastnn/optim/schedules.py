"""Learning-rate schedules: pure functions of the optimizer step, usable as ``lr=`` of every optimizer.

``schedule(step) -> lr`` with ``step`` counted from 0: the first optimizer step uses ``schedule(0)``, the
optimizer's ``step_count``-th step uses ``schedule(step_count)``. Every schedule lists its values
(``schedule.values(n)``) for printing or plotting (``fastnn schedule NAME ...`` on the command line), has a
JSON-able ``get_config()`` (``{"class": ..., **args}``) (``from_config`` recreates it) and checks its arguments at
construction.

Where PyTorch has the schedule, the values equal ``torch.optim.lr_scheduler``'s after ``step`` calls of
``scheduler.step()`` (closed forms; PyTorch's chainable updates agree to rounding):

=====================  =====================================================================================
Constant(lr)           lr
StepDecay              lr * gamma ** (t // step_size)                                   (StepLR)
MultiStep              lr * gamma ** (number of milestones <= t)                        (MultiStepLR)
Exponential            lr * gamma ** t                                                  (ExponentialLR)
InverseTime            lr / (1 + decay_rate * t / decay_steps)     (Keras InverseTimeDecay; staircase floors)
Cosine                 min_lr + (lr - min_lr) (1 + cos(pi t / T)) / 2, held at min_lr for t >= T
                                                        (CosineAnnealingLR for t <= T; it rises again after T)
Polynomial             (lr - min_lr) (1 - min(t, T) / T) ** power + min_lr              (PolynomialLR, min_lr=0)
Warmup(s, W, f)        s(t) * (f + (1 - f) min(t, W) / W): a linear ramp multiplied into any schedule, counted
                       inside its total (LinearLR(start_factor=f, total_iters=W) chained with s; no torch chain
                       equals it for Cyclic, CosineWarmRestarts, OneCycle)
Cyclic                 CyclicLR's triangular / triangular2 / exp_range   (CyclicLR, cycle_momentum=False)
CosineWarmRestarts     SGDR: cosine over T_0, T_0*T_mult, ... steps, restarting at lr  (CosineAnnealingWarmRestarts)
                       (peak_decay < 1, not in PyTorch: the m-th restart's peak is lr * peak_decay ** m)
OneCycle               linear-or-cosine rise from max_lr/div_factor to max_lr over pct_start of the steps, then
                       down to max_lr/(div_factor*final_div_factor); held there after
                                                                         (OneCycleLR, cycle_momentum=False)
=====================  =====================================================================================

Cyclic and OneCycle set the lr only. PyTorch's CyclicLR and OneCycleLR default to ``cycle_momentum=True``: they
also move SGD's momentum (Adam's and AdamW's beta1) against the lr (CyclicLR between 0.8 and 0.9, OneCycleLR
between 0.85 and 0.95). fastnn keeps the optimizer's momentum or beta1 fixed, so it equals PyTorch with
``cycle_momentum=False``: pass that to PyTorch when porting a recipe or comparing the two.

``ReduceOnPlateau`` is not a function of the step (it needs the validation metric): it is a ``fit`` callback
(fastnn.training.callbacks) that multiplies the optimizer's per-group ``lr_scales``, so it composes with any
schedule (a group's lr is ``schedule(step) * lr_scales[group]``) instead of replacing it.
"""
from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._registry import Registry, class_config
from ..validation import MAX_STEP, check_scalar


# ------------------------------------------------------------------------------------------ arg checks
def _real(name: str, value: object, **bounds: Any) -> float:
    return check_scalar(value, name, numbers.Real, **bounds)


def _int(name: str, value: object, *, low: int) -> int:
    """A step count in [low, MAX_STEP] (so the float arithmetic of every schedule stays finite)."""
    # a whole float (e.g. total_steps computed as epochs * n / batch; numpy floats too) is the integer it is
    if (isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, np.bool_))
            and float(value).is_integer()):
        value = int(float(value))
    value = check_scalar(value, name, numbers.Integral, min_val=low)
    return check_scalar(value, name, numbers.Integral, max_val=MAX_STEP)


def _lr(name: str, value: object) -> float:
    return _real(name, value, min_val=0.0)


def _power(base: float, exponent: int) -> float:
    """``base ** exponent``, inf where it overflows (a growing schedule, gamma > 1, late in a run): the optimizer
    then refuses that lr, naming the step, instead of an OverflowError escaping."""
    try:
        return base ** exponent
    except OverflowError:
        return math.inf


def _check_step(step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"a schedule is evaluated at an integer optimizer step, got {step!r}")
    step = int(step)
    if not 0 <= step <= MAX_STEP:
        raise ValueError(f"optimizer steps count from 0 to {MAX_STEP} (64 bits), got {step}")
    return step


# ---------------------------------------------------------------------------------------------- base
class Schedule:
    """A learning rate as a function of the optimizer step (counted from 0)."""

    def __call__(self, step: int) -> float:
        return self._value(_check_step(step))

    def _value(self, t: int) -> float:
        raise NotImplementedError

    def values(self, n: int, start: int = 0) -> np.ndarray:
        """The lr of steps ``start .. start + n - 1`` as a float64 array."""
        n = _int("n", n, low=0)
        start = _int("start", start, low=0)
        return np.array([self._value(t) for t in range(start, start + n)], dtype=np.float64)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, **{k: _jsonable(v) for k, v in self._args().items()})

    def _args(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._args().items())})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    __hash__ = object.__hash__


def _jsonable(v: object) -> object:
    if isinstance(v, Schedule):
        return v.get_config()
    if isinstance(v, tuple):
        return list(v)
    return v


def _as_schedule(name: str, s: Schedule | float) -> Schedule:
    if isinstance(s, Schedule):
        return s
    if isinstance(s, numbers.Real) and not isinstance(s, bool):
        return Constant(float(s))
    raise TypeError(f"{name} must be a fastnn.schedules schedule or a number, got {type(s).__name__}")


# ------------------------------------------------------------------------------------------ schedules
class Constant(Schedule):
    """lr at every step."""

    def __init__(self, lr: float) -> None:
        self.lr = _lr("lr", lr)

    def _value(self, t):
        return self.lr

    def _args(self):
        return {"lr": self.lr}


class StepDecay(Schedule):
    """lr * gamma ** (t // step_size)  (torch StepLR)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = _lr("lr", lr)
        self.step_size = _int("step_size", step_size, low=1)
        self.gamma = _real("gamma", gamma, min_val=0.0, include_boundaries="right")

    def _value(self, t):
        return self.lr * _power(self.gamma, t // self.step_size)

    def _args(self):
        return {"lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class MultiStep(Schedule):
    """lr * gamma ** (number of milestones <= t)  (torch MultiStepLR; a repeated milestone counts twice)."""

    def __init__(self, lr: float, milestones: Sequence[int], gamma: float = 0.1) -> None:
        self.lr = _lr("lr", lr)
        try:
            ms = list(milestones)
        except TypeError:
            raise TypeError(f"milestones must be a list of step numbers, got {milestones!r}") from None
        self.milestones = tuple(sorted(_int("milestones[]", m, low=0) for m in ms))
        self.gamma = _real("gamma", gamma, min_val=0.0, include_boundaries="right")

    def _value(self, t):
        return self.lr * _power(self.gamma, bisect.bisect_right(self.milestones, t))

    def _args(self):
        return {"lr": self.lr, "milestones": self.milestones, "gamma": self.gamma}


class Exponential(Schedule):
    """lr * gamma ** t  (torch ExponentialLR). ``Exponential.natural(lr, beta)`` is the chapter's natural
    exponential decay lr * e^(-beta t), i.e. gamma = e^(-beta)."""

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = _lr("lr", lr)
        self.gamma = _real("gamma", gamma, min_val=0.0, include_boundaries="right")

    @classmethod
    def natural(cls, lr: float, beta: float) -> Exponential:
        """lr * e^(-beta t): the natural exponential decay (beta >= 0)."""
        return cls(lr, math.exp(-_real("beta", beta, min_val=0.0)))

    def _value(self, t):
        return self.lr * _power(self.gamma, t)

    def _args(self):
        return {"lr": self.lr, "gamma": self.gamma}


class InverseTime(Schedule):
    """lr / (1 + decay_rate * t / decay_steps); ``staircase=True`` uses floor(t / decay_steps)
    (Keras InverseTimeDecay). Adagrad's ``lr_decay`` is the same rule with decay_steps = 1."""

    def __init__(self, lr: float, decay_rate: float, decay_steps: int, staircase: bool = False) -> None:
        self.lr = _lr("lr", lr)
        self.decay_rate = _real("decay_rate", decay_rate, min_val=0.0)
        self.decay_steps = _int("decay_steps", decay_steps, low=1)
        self.staircase = check_scalar(staircase, "staircase", bool)

    def _value(self, t):
        p = t // self.decay_steps if self.staircase else t / self.decay_steps
        return self.lr / (1 + self.decay_rate * p)

    def _args(self):
        return {"lr": self.lr, "decay_rate": self.decay_rate, "decay_steps": self.decay_steps,
                "staircase": self.staircase}


class Cosine(Schedule):
    """min_lr + (lr - min_lr) * (1 + cos(pi * t / total_steps)) / 2, held at min_lr for t >= total_steps.

    Equals torch CosineAnnealingLR(T_max=total_steps, eta_min=min_lr) up to step total_steps; PyTorch keeps
    following the cosine after that (the lr rises again), fastnn holds the minimum like Keras and optax."""

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0) -> None:
        self.lr = _lr("lr", lr)
        self.total_steps = _int("total_steps", total_steps, low=1)
        self.min_lr = _lr("min_lr", min_lr)
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")

    def _value(self, t):
        if t >= self.total_steps:
            return self.min_lr
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * t / self.total_steps)) / 2

    def _args(self):
        return {"lr": self.lr, "total_steps": self.total_steps, "min_lr": self.min_lr}


class Polynomial(Schedule):
    """(lr - min_lr) * (1 - min(t, total_steps) / total_steps) ** power + min_lr
    (torch PolynomialLR(total_iters=total_steps, power) when min_lr = 0; Keras PolynomialDecay's form)."""

    def __init__(self, lr: float, total_steps: int, power: float = 1.0, min_lr: float = 0.0) -> None:
        self.lr = _lr("lr", lr)
        self.total_steps = _int("total_steps", total_steps, low=1)
        self.power = _real("power", power, min_val=0.0)
        self.min_lr = _lr("min_lr", min_lr)
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")

    def _value(self, t):
        frac = (1.0 - min(self.total_steps, t) / self.total_steps) ** self.power
        if self.min_lr == 0.0:
            return self.lr * frac  # PyTorch's expression, bit for bit
        return (self.lr - self.min_lr) * frac + self.min_lr

    def _args(self):
        return {"lr": self.lr, "total_steps": self.total_steps, "power": self.power, "min_lr": self.min_lr}


class Warmup(Schedule):
    """Linear warmup multiplied into any schedule: ``schedule(t) * (start_factor + (1 - start_factor) *
    min(t, warmup_steps) / warmup_steps)``.

    The warmup counts inside the total: ``schedule`` is evaluated at the global step, so
    ``Warmup(Cosine(0.1, 1000), 100)`` still reaches its minimum at step 1000 (not 1100), and the ramp ends
    exactly on the wrapped curve (continuous at ``warmup_steps``). Equals torch's LinearLR(start_factor,
    total_iters=warmup_steps) chained with the wrapped scheduler when that one is a product of factors (StepDecay,
    MultiStep, Exponential, Polynomial, and a Cosine with ``min_lr=0``; torch's chained cosine with
    ``eta_min > 0`` is a recursion, not a product: under a 100-step warmup from 0.25, Cosine(0.1, 1000, 1e-3)
    differs from it by up to 1.1e-4 relative, from the end of the warmup on, shrinking to 6e-7 at step 1000).
    Cyclic, CosineWarmRestarts and OneCycle have no chained torch equivalent: torch's CyclicLR,
    CosineAnnealingWarmRestarts and OneCycleLR recompute the lr from the base lr at every step, so a chained
    LinearLR's factor is lost or applied once; the ramp times the curve is a LambdaLR there.
    ``start_factor=0`` starts from lr 0 (PyTorch's LinearLR needs > 0 and defaults to 1/3). ``schedule`` may be a
    number (a constant lr).

    ``count_from=1`` is the chapter's gradual warmup, counting the steps 1, 2, ..., T': step t (from 0) takes
    the ramp's value at t + 1, so the first step already uses ``1 / warmup_steps`` of the lr (with
    ``start_factor=0``: alpha_t = t / T' * alpha_0) and the ramp ends one step earlier.
    """

    def __init__(self, schedule: Schedule | float, warmup_steps: int, start_factor: float = 0.0,
                 count_from: int = 0) -> None:
        self.schedule = _as_schedule("schedule", schedule)
        self.warmup_steps = _int("warmup_steps", warmup_steps, low=1)
        self.start_factor = _real("start_factor", start_factor, min_val=0.0, max_val=1.0)
        if count_from not in (0, 1) or isinstance(count_from, bool):
            raise ValueError(f"count_from must be 0 (PyTorch's) or 1 (the chapter's), got {count_from!r}")
        self.count_from = int(count_from)

    def factor(self, t: int) -> float:
        f = self.start_factor
        return f + (1.0 - f) * min(self.warmup_steps, t + self.count_from) / self.warmup_steps

    def _value(self, t):
        return self.schedule._value(t) * self.factor(t)

    def _args(self):
        return {"schedule": self.schedule, "warmup_steps": self.warmup_steps, "start_factor": self.start_factor,
                "count_from": self.count_from}


class Cyclic(Schedule):
    """Cyclical lr (Smith 2017), torch CyclicLR's formula: with T = up + down, r = up / T,
    cycle = floor(1 + t / T), x = 1 + t / T - cycle, scale = x / r if x <= r else (x - 1) / (r - 1)::

        lr = base_lr + (max_lr - base_lr) * scale * f
        triangular: f = 1;  triangular2: f = 1 / 2 ** (cycle - 1);  exp_range: f = gamma ** t

    The lr only: the optimizer's momentum (or beta1) stays fixed, so this is CyclicLR(cycle_momentum=False);
    torch's default, True, also cycles the momentum between 0.8 and 0.9.
    """

    MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, base_lr: float, max_lr: float, step_size_up: int, step_size_down: int | None = None,
                 mode: str = "triangular", gamma: float = 1.0) -> None:
        self.base_lr = _lr("base_lr", base_lr)
        self.max_lr = _lr("max_lr", max_lr)
        if self.max_lr < self.base_lr:
            raise ValueError(f"max_lr ({self.max_lr}) must be >= base_lr ({self.base_lr})")
        self.step_size_up = _int("step_size_up", step_size_up, low=1)
        self.step_size_down = None if step_size_down is None else _int("step_size_down", step_size_down, low=1)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.gamma = _real("gamma", gamma, min_val=0.0, max_val=1.0, include_boundaries="right")
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        self._total = float(self.step_size_up + down)
        self._ratio = self.step_size_up / self._total

    def _value(self, t):
        cycle = math.floor(1 + t / self._total)
        x = 1.0 + t / self._total - cycle
        scale = x / self._ratio if x <= self._ratio else (x - 1) / (self._ratio - 1)
        height = (self.max_lr - self.base_lr) * scale
        if self.mode == "triangular":
            f = 1.0
        elif self.mode == "triangular2":
            f = math.ldexp(1.0, 1 - cycle)  # 1 / 2 ** (cycle - 1) exactly; underflows to 0 (2.0 ** 1024 overflows)
        else:
            f = self.gamma ** t
        return self.base_lr + height * f

    def _args(self):
        return {"base_lr": self.base_lr, "max_lr": self.max_lr, "step_size_up": self.step_size_up,
                "step_size_down": self.step_size_down, "mode": self.mode, "gamma": self.gamma}


class CosineWarmRestarts(Schedule):
    """SGDR (torch CosineAnnealingWarmRestarts): cosine from lr to eta_min over T_i steps, then restart at lr;
    T_0 is the first period and each next one is T_mult times longer (integer T_mult >= 1)::

        lr_t = eta_min + (lr * peak_decay ** m - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    m is the restart count (0 in the first period). ``peak_decay=1`` (default) is PyTorch's: every restart
    returns to lr. ``peak_decay < 1`` is the chapter's (and Loshchilov & Hutter's) variant, each restart's peak
    ``peak_decay`` times the previous one's; a peak below eta_min is held at eta_min.
    """

    def __init__(self, lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0, peak_decay: float = 1.0) -> None:
        self.lr = _lr("lr", lr)
        self.T_0 = _int("T_0", T_0, low=1)
        self.T_mult = _int("T_mult", T_mult, low=1)
        self.eta_min = _lr("eta_min", eta_min)
        self.peak_decay = _real("peak_decay", peak_decay, min_val=0.0, max_val=1.0, include_boundaries="right")

    def position(self, t: int) -> tuple[int, int]:
        """(T_cur, T_i) at step t, in exact integer arithmetic."""
        return self.cycle_position(t)[1:]

    def cycle_position(self, t: int) -> tuple[int, int, int]:
        """(m, T_cur, T_i) at step t: the restart count, the step inside the period and the period."""
        if self.T_mult == 1:
            return t // self.T_0, t % self.T_0, self.T_0
        m, start, period = 0, 0, self.T_0
        while t >= start + period:
            m, start, period = m + 1, start + period, period * self.T_mult
        return m, t - start, period

    def _value(self, t):
        m, t_cur, t_i = self.cycle_position(t)
        peak = max(self.lr * self.peak_decay ** m, self.eta_min) if self.peak_decay != 1.0 else self.lr
        return self.eta_min + (peak - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    def _args(self):
        return {"lr": self.lr, "T_0": self.T_0, "T_mult": self.T_mult, "eta_min": self.eta_min,
                "peak_decay": self.peak_decay}


class OneCycle(Schedule):
    """1cycle (torch OneCycleLR, two phases): from max_lr/div_factor up to max_lr over the first
    pct_start * total_steps steps, then down to max_lr/(div_factor*final_div_factor) at step total_steps - 1
    (cosine or linear), held there afterwards (PyTorch raises past total_steps).

    The lr only: the optimizer's momentum (or beta1) stays fixed, so this is OneCycleLR(cycle_momentum=False);
    torch's default, True, also moves the momentum from 0.95 down to 0.85 and back against the lr."""

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, anneal: str = "cos") -> None:
        self.max_lr = _lr("max_lr", max_lr)
        self.total_steps = _int("total_steps", total_steps, low=2)
        self.pct_start = _real("pct_start", pct_start, min_val=0.0, max_val=1.0, include_boundaries="neither")
        self.div_factor = _real("div_factor", div_factor, min_val=0.0, include_boundaries="right")
        self.final_div_factor = _real("final_div_factor", final_div_factor, min_val=0.0, include_boundaries="right")
        if anneal not in ("cos", "linear"):
            raise ValueError(f"anneal must be 'cos' or 'linear', got {anneal!r}")
        self.anneal = anneal
        self._up_end = float(self.pct_start * self.total_steps) - 1
        if not 0 < self._up_end < self.total_steps - 1:
            raise ValueError(f"pct_start * total_steps must leave at least one step to rise and one to fall: "
                             f"pct_start={self.pct_start}, total_steps={self.total_steps}")
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor

    def _anneal(self, start, end, pct):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _value(self, t):
        last = self.total_steps - 1
        if t <= self._up_end:
            return self._anneal(self.initial_lr, self.max_lr, t / self._up_end)
        t = min(t, last)
        return self._anneal(self.max_lr, self.min_lr, (t - self._up_end) / (last - self._up_end))

    def _args(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor, "anneal": self.anneal}


SCHEDULES = Registry("schedule", (Constant, StepDecay, MultiStep, Exponential, InverseTime, Cosine, Polynomial,
                                  Warmup, Cyclic, CosineWarmRestarts, OneCycle), legacy_key="name")


def from_config(cfg: dict[str, Any]) -> Schedule:
    """Recreate a schedule from ``get_config()`` (also reads the ``"name"`` key of fastnn 0.1 configs)."""
    cls, args = SCHEDULES.split(cfg)
    if cls is Warmup and isinstance(args.get("schedule"), dict):
        args["schedule"] = from_config(args["schedule"])
    return cls(**args)


__all__ = list(SCHEDULES) + ["Schedule", "from_config", "SCHEDULES"]
