"""Training callbacks, in Keras's and PyTorch Lightning's vocabulary.

``fit`` calls, in this order::

    set_run(run)                                  before anything changes (may refuse the run by raising)
    on_train_begin(model)
    [set_state(state); check_state(model)]        only when fastnn.resume continues a checkpointed run
    for each epoch:   on_epoch_begin(epoch, logs, model)          logs: {} (Keras passes an empty dict too);
                                                                  not again for the epoch a resume enters midway
        for each batch: on_batch_begin(batch, logs, model)        logs: {"step"}
                        on_batch_end(batch, logs, model)          logs: {"loss", "lr", "grad_norm", "clipped",
                                                                        "skipped", "step", "size"}
        on_epoch_end(epoch, logs, model)          logs: loss, accuracy, samples_per_s, lr, val_loss, ...
    on_train_end(model)

``batch`` counts within the epoch from 0, ``step`` is the optimizer step the batch took (0-based, the step whose
lr the schedule gave: ``lr == schedule(step) * lr_scale``); ``grad_norm`` is the pre-clip global norm (None
without ``clip=ByGlobalNorm``), ``size`` the batch's rows. A callback stops training by setting
``model.stop_training = True``: from ``on_batch_end`` after that batch (the epoch's logs then cover the batches
run, and ``on_epoch_end`` is still called, as Keras does), from ``on_epoch_end`` after that epoch.

Zero cost when unused: ``fit`` resolves, once per run, which callbacks define which hook (a method other than
the no-op of :class:`Callback`); a hook no callback defines is never called and its logs are never built
(bench/suites/callbacks.py measures the per-batch cost).

State for checkpoints: a callback whose behaviour depends on what it has seen (EarlyStopping's best value and
wait, ReduceOnPlateau's counters, ModelCheckpoint's best, CSVLogger's rows) returns it from ``get_state()``
(JSON-able values and numpy arrays) and takes it back in ``set_state(state)``, refusing (TypeError, ValueError
naming the entry, before it changes) a state no fit writes: a checkpoint is a file, it may be damaged. What a
state needs of the model is checked in ``check_state(model)`` (EarlyStopping: its best weights fit the model), and
what it needs of the run's position in ``check_position(epochs_done, steps_done)`` (History: one record per epoch
done; EarlyStopping: its best epoch is one of them), both of which ``fastnn.resume`` calls after ``set_state``
with the checkpoint's position. When any of them refuses, resume puts back every callback's attributes as they were
(a shallow copy taken before the first ``set_state``), so a ``set_state`` should rebind its attributes, as these
do: an object it changed in place (a list it extended) would keep the change.
``get_config()`` returns the constructor arguments (``{"class": ..., **args}``), so ``fastnn.resume`` can rebuild
the callbacks of a run.

Before any hook, and before the model or its training state change, ``fit`` gives every callback that has a
``set_run`` method the :class:`TrainingRun` it is about to start (epochs, seed, the metric names the epoch logs
will hold, ...). :class:`Callback` stores it as ``self.run``; ``EarlyStopping`` and ``ReduceOnPlateau`` refuse
there a ``monitor`` the run will never log, instead of after the first epoch (``ReduceOnPlateau`` also a ``min_lr``
list of another length than the optimizer's parameter groups). A callback without ``set_run`` (one that only
defines ``on_train_begin(model)``, say) works as before.

``ReduceOnPlateau`` is the callback half of the learning-rate schedules (fastnn.optim.schedules): it needs the
validation metric, so it is not a function of the step."""
from __future__ import annotations

import math
import operator
import reprlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from .._registry import Registry, class_config
from ..metrics import higher_is_better
from ..validation import check_scalar, weights_dtype_problem

HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_epoch_end", "on_train_end")


@dataclass(frozen=True)
class TrainingRun:
    """What a ``fit`` is about to do, given to the callbacks before it starts (``Callback.set_run``).

    metrics: the keys of every epoch's logs ("loss", "accuracy" for a loss with an accuracy, "samples_per_s",
    "lr", and "val_loss" / "val_accuracy" with validation data). seed: the run's seed (drawn when fit was given
    ``seed=None``: pass it back to repeat the run). n_param_groups: the optimizer's parameter groups, the defaults
    and each of its param_groups (``len(optimizer.lr_scales)``: what ReduceOnPlateau's min_lr list must match)."""
    epochs: int
    batch_size: int
    steps_per_epoch: int
    seed: int
    metrics: tuple[str, ...]
    validation: bool
    n_param_groups: int


def require_metric(owner: str, monitor: str, logged: Iterable[str], validation: bool | None = None) -> None:
    """Refuse a ``monitor`` that is not among the ``logged`` metric names, saying what is logged."""
    logged = sorted(logged)
    if monitor not in logged:
        hint = " (val_* metrics need validation_data in fit)" if monitor.startswith("val_") and not validation else ""
        raise ValueError(f"{owner} monitors {monitor!r}, which is not among the logged metrics {logged}{hint}")


# ---- checkpointed state: what set_state takes back ------------------------------------------------------------
def state_entries(owner: str, state: Any, **checks: Callable[[Any, str], Any]) -> dict[str, Any]:
    """The entries of ``state`` (what ``owner``'s get_state returned, read back from a checkpoint) named by
    ``checks``, each as its check (``_count``, ``_best``, ...) returns it. A state no fit writes (a damaged or
    edited file) raises a TypeError or ValueError naming the entry, so set_state refuses it before changing."""
    if not isinstance(state, dict):
        raise TypeError(f"{owner} state must be a dict (what its get_state returns), got {reprlib.repr(state)}")
    missing = [key for key in checks if key not in state]
    if missing:
        raise ValueError(f"{owner} state has no {missing[0]!r}")
    return {key: check(state[key], f"{owner} {key}") for key, check in checks.items()}


def _count(value: Any, name: str) -> int:
    return check_scalar(value, name, Integral, min_val=0)


def _best(value: Any, name: str) -> float:
    """The best value of a monitored metric so far: infinite until the first one (NaN is never the best)."""
    return check_scalar(value, name, Real, finite=False)


def _list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise TypeError(f"{name} must be a list, got {reprlib.repr(value)}")
    return list(value)


def _dict(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, got {reprlib.repr(value)}")
    return value


def _counts(value: Any, name: str) -> list[int]:
    return [_count(v, f"{name}[{i}]") for i, v in enumerate(_list(value, name))]


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a list of strings, got {reprlib.repr(value)}")
    return list(value)


def _arrays(value: Any, name: str) -> list[np.ndarray]:
    """Arrays of real numbers (copies): floats, or integers (the model casts them to its dtype, as set_weights
    does); not booleans, which no weights are (weights_dtype_problem). The model checks their shapes and values
    (EarlyStopping.check_state)."""
    if not isinstance(value, list) or not all(isinstance(a, np.ndarray) for a in value):
        raise TypeError(f"{name} must be a list of arrays of real numbers, got {reprlib.repr(value)}")
    for i, a in enumerate(value):
        problem = weights_dtype_problem(a)
        if problem is not None:
            raise TypeError(f"{name}[{i}] {problem}")
    return [np.array(a) for a in value]


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``check``, letting None (null) through."""
    return lambda value, name: None if value is None else check(value, name)


def _reals(value: Any, name: str, allow_none: bool = False) -> list:
    """A per-epoch record of a metric: a list of real numbers (NaN and infinities too: a run that ignores
    non-finite losses logs them), and None where ``allow_none`` (the "lr" fit logs for an optimizer without one)."""
    values = _list(value, name)
    for i, v in enumerate(values):
        if (isinstance(v, bool) or not isinstance(v, Real)) and not (v is None and allow_none):
            raise TypeError(f"{name}[{i}] must be a real number{' or None' if allow_none else ''}, got "
                            f"{reprlib.repr(v)}")
    return values


class Callback:
    """Base of the callbacks; ``model`` is the model being trained (a fastnn.models.Sequential)."""

    run: TrainingRun | None = None

    def set_run(self, run: TrainingRun) -> None:
        """Called by ``fit`` before anything changes; a subclass refuses a run it cannot serve by raising."""
        self.run = run

    def on_train_begin(self, model: Any) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Called once per epoch, before its first batch. A run resumed in the middle of an epoch
        (fastnn.resume) does not call it again for that epoch: the killed process did, and what it changed
        (the optimizer, the callbacks' get_state) is in the checkpoint."""

    def on_batch_begin(self, batch: int, logs: dict[str, Any], model: Any) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict[str, Any], model: Any) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        pass

    def on_train_end(self, model: Any) -> None:
        pass


def defines_hook(callback: object, hook: str) -> bool:
    """Whether ``callback`` has ``hook`` other than the no-op of :class:`Callback` (then fit never calls it)."""
    method = getattr(type(callback), hook, None)
    if method is None:
        return hasattr(callback, hook)  # set on the instance
    return method is not getattr(Callback, hook, None)


class CallbackHooks:
    """The bound hooks of a run's callbacks, one list per hook, resolved once: ``fit`` tests a list before
    building any logs for it, so a hook that no callback defines costs one truth test per batch."""

    def __init__(self, callbacks: list[Any]):
        self.callbacks = callbacks
        for hook in HOOKS:
            setattr(self, hook, [getattr(cb, hook) for cb in callbacks if defines_hook(cb, hook)])

    on_train_begin: list
    on_epoch_begin: list
    on_batch_begin: list
    on_batch_end: list
    on_epoch_end: list
    on_train_end: list


class StepColumn(Sequence):
    """One per-step record of a :class:`History` (``history.steps["lr"]`` ...): the values in a growable numpy
    buffer (float64 or bool) that doubles when full, so a step costs its 8 or 1 bytes (at most twice that
    with the spare capacity) and no Python object.

    It reads as a list: ``len``, indexing and slicing give Python floats/bools and lists,
    iteration, ``max``/``sum``, ``==`` against a list (one bool, element by element as a list compares) or
    another StepColumn (NaN equals NaN: the same record), ``+`` and ``*`` make lists as a list's do, ``copy()``
    and ``tolist()`` a list of the values, ``repr`` as a list; ``np.asarray`` gives a copy. ``array()`` is a
    read-only view of the values without copying. It is not a list (``isinstance(c, list)`` is False, and
    json needs ``tolist()``), and it is read-only: only :meth:`append`, which History calls, changes it."""

    __slots__ = ("_buffer", "_slots", "_size")
    MIN_CAPACITY = 64
    ITER_CHUNK = 4096  # iteration converts this many values at a time, not the whole record at once

    def __init__(self, dtype: Any, values: Iterable[Any] = (), name: str = "a step record"):
        buffer = np.array(values, dtype)
        if buffer.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional (a value per step), got shape {buffer.shape}")
        self._set_buffer(buffer)
        self._size = len(buffer)

    def _set_buffer(self, buffer: np.ndarray) -> None:
        self._buffer = buffer
        self._slots = buffer.data  # a memoryview: assigning one value through it is twice as fast as through numpy

    def append(self, value: Any) -> None:
        """Record one step's value: a real number for a float64 column, its truth value for a bool one."""
        size = self._size
        try:
            self._slots[size] = value
        except IndexError:  # full: double the capacity (once per doubling, so free in the common case)
            self._grow()
            self._slots[size] = value
        self._size = size + 1

    def _grow(self) -> None:
        grown = np.empty(max(2 * self._size, self.MIN_CAPACITY), self._buffer.dtype)
        grown[:self._size] = self._buffer[:self._size]
        self._set_buffer(grown)

    def array(self) -> np.ndarray:
        """The recorded values as a read-only numpy view (appends never change the values it shows)."""
        view = self._buffer[:self._size]
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, slice):  # an integer of any kind, as a list takes it (numpy reads a bool as a mask)
            index = operator.index(index)
        return self._buffer[:self._size][index].tolist()

    def __iter__(self) -> Any:
        for start in range(0, self._size, self.ITER_CHUNK):
            yield from self._buffer[start:min(start + self.ITER_CHUNK, self._size)].tolist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StepColumn):
            floats = self._buffer.dtype.kind == "f" and other._buffer.dtype.kind == "f"
            return bool(np.array_equal(self.array(), other.array(), equal_nan=floats))
        if isinstance(other, list):
            return len(other) == self._size and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def tolist(self) -> list:
        """The values as a list of Python floats or bools (what json.dumps takes)."""
        return self[:]

    copy = tolist  # as list.copy: a list of its own

    def __add__(self, other: object) -> list:
        if isinstance(other, (list, StepColumn)):
            return self.tolist() + list(other)
        return NotImplemented

    def __radd__(self, other: object) -> list:
        if isinstance(other, list):
            return other + self.tolist()
        return NotImplemented

    def __mul__(self, times: Any) -> list:
        try:
            count = operator.index(times)  # any integer (bool, numpy's too), as list * n takes
        except TypeError:
            return NotImplemented
        return self.tolist() * count

    __rmul__ = __mul__

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.array(), dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self._buffer.dtype, self.array())  # the values only, not the spare capacity

    def __repr__(self) -> str:
        return repr(self[:])


class History(Callback):
    """Per-epoch metrics (``history["loss"]`` ...) and per-step optimizer records (``history.steps``: "lr" of
    every step, "grad_norm" and "clipped" of every step whose norm was computed (a clip by global norm), and
    "skipped"), each a :class:`StepColumn` that reads like a list.

    Cost of the per-step record: 9 bytes a step (a float64 lr and a bool skipped), 18 with norm clipping,
    up to twice that while the buffers have spare capacity (they double when full), and no Python object per
    step; about 1 MB per 100,000 steps. A checkpoint stores the records too (the same bytes, without the
    spare capacity), so resuming continues them."""

    _STEP_DTYPES = {"lr": np.float64, "grad_norm": np.float64, "clipped": bool, "skipped": bool}

    def __init__(self):
        self.history: dict[str, list] = {}
        self.steps: dict[str, StepColumn] = {key: StepColumn(dtype) for key, dtype in self._STEP_DTYPES.items()}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs, model):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def record_step(self, info: dict) -> None:
        steps = self.steps
        lr = info.get("lr")
        if lr is not None:
            steps["lr"].append(lr)
        grad_norm = info.get("grad_norm")
        if grad_norm is not None:
            steps["grad_norm"].append(grad_norm)
            steps["clipped"].append(info.get("clipped", False))
        steps["skipped"].append(info.get("skipped", False))

    def get_state(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch,
                "steps": {key: column.array() for key, column in self.steps.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        entries = state_entries("History", state, history=_dict, epoch=_counts, steps=_dict)
        history = {key: _reals(values, f"History history[{key!r}]", allow_none=key == "lr")
                   for key, values in entries["history"].items()}
        steps = {key: StepColumn(dtype, entries["steps"].get(key, ()), f"history steps[{key!r}]")
                 for key, dtype in self._STEP_DTYPES.items()}  # all checked before anything changes
        self.history, self.epoch, self.steps = history, entries["epoch"], steps

    def check_position(self, epochs_done: int, steps_done: int) -> None:
        """After set_state (fastnn.resume), against the checkpoint's position: fit records every epoch it
        completes, numbered from 0, with the same keys, so ``epoch`` is 0 .. epochs_done - 1 and each metric has
        that many values; a step record has at most one entry per step the model took (``steps_done``). A
        ValueError naming the record otherwise."""
        if self.epoch != list(range(epochs_done)):
            raise ValueError(f"History epoch is {reprlib.repr(self.epoch)}, not the {epochs_done} epochs the run has "
                             "completed (run.position.epoch) numbered from 0")
        for key, values in self.history.items():
            if len(values) != epochs_done:
                raise ValueError(f"History history[{key!r}] has {len(values)} values, not one for each of the "
                                 f"{epochs_done} epochs the run has completed (run.position.epoch)")
        for key, column in self.steps.items():
            if len(column) > steps_done:
                raise ValueError(f"History steps[{key!r}] has {len(column)} entries, more than the {steps_done} "
                                 "steps the model has taken (run.step_count)")

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __repr__(self):
        return f"History({self.history!r})"


def check_monitor(monitor: object) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be the name of a logged metric such as 'val_loss', got {monitor!r}")
    return monitor


def monitor_mode(mode: object, monitor: str) -> str:
    """"min" or "max"; "auto" is "max" for a metric where higher is better (accuracy, top-k accuracy, precision,
    recall, f1, r2, any name containing "acc": fastnn.metrics.higher_is_better), else "min" (losses, mse, mae)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return ("max" if higher_is_better(monitor) else "min") if mode == "auto" else str(mode)


class MonitoringCallback(Callback):
    """A callback that reads ``logs[self.monitor]`` every epoch: a run that will never log it is refused."""

    monitor: str

    def set_run(self, run: TrainingRun) -> None:
        require_metric(type(self).__name__, self.monitor, run.metrics, run.validation)
        super().set_run(run)


class EarlyStopping(MonitoringCallback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs (Keras's and
    Lightning's count: ``patience=3`` stops at the third epoch in a row without improvement; 0 at the first).

    ``restore_best_weights=True`` is fastnn's default, unlike Keras (whose default is False): at the end of
    ``fit`` the weights of the best epoch are put back, whether the run stopped early or reached its last epoch
    (Keras 3). ``start_from_epoch``: epochs before it (0-based) are not watched (warm-up; Keras's argument).
    ``baseline``: an epoch counts as an improvement, resetting the wait, only when it also beats ``baseline`` (by
    ``min_delta``), so a run that never reaches it stops after ``max(patience, 1)`` watched epochs; the best value
    and weights are tracked regardless (Keras lets a run that improves below the baseline go on). Each ``fit``
    starts the watch afresh."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = True, start_from_epoch: int = 0, baseline: float | None = None):
        self.monitor = check_monitor(monitor)
        self.mode = monitor_mode(mode, monitor)
        self.patience = check_scalar(patience, "EarlyStopping patience", Integral, min_val=0)
        self.min_delta = check_scalar(min_delta, "EarlyStopping min_delta", Real, min_val=0.0)
        self.restore_best_weights = check_scalar(restore_best_weights, "restore_best_weights", bool)
        self.start_from_epoch = check_scalar(start_from_epoch, "EarlyStopping start_from_epoch", Integral, min_val=0)
        self.baseline = None if baseline is None else check_scalar(baseline, "EarlyStopping baseline", Real)
        self.on_train_begin(None)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, monitor=self.monitor, patience=self.patience, min_delta=self.min_delta,
                            mode=self.mode, restore_best_weights=self.restore_best_weights,
                            start_from_epoch=self.start_from_epoch, baseline=self.baseline)

    def on_train_begin(self, model):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.best_epoch, self.stopped_epoch, self._best_params = 0, None, None, None

    def _improved(self, value, reference) -> bool:
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_epoch_end(self, epoch, logs, model):
        # a None value (the "lr" of an optimizer without one) is not logged, as for ReduceOnPlateau
        require_metric("EarlyStopping", self.monitor, (k for k, v in logs.items() if v is not None))
        if epoch < self.start_from_epoch:
            return
        value = logs[self.monitor]
        improved = self._improved(value, self.best)
        if improved:
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self._best_params = model.get_weights()
        if improved and (self.baseline is None or self._improved(value, self.baseline)):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            model.stop_training = True

    def on_train_end(self, model):
        if self.restore_best_weights and self._best_params is not None:
            model.set_weights(self._best_params)

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_params": self._best_params}

    def set_state(self, state: dict[str, Any]) -> None:
        entries = state_entries("EarlyStopping", state, best=_best, wait=_count, best_epoch=_optional(_count),
                                stopped_epoch=_optional(_count), best_params=_optional(_arrays))
        self.best, self.wait = entries["best"], entries["wait"]
        self.best_epoch, self.stopped_epoch = entries["best_epoch"], entries["stopped_epoch"]
        self._best_params = entries["best_params"]

    def check_state(self, model) -> None:
        """After set_state: the best weights are weights of ``model`` (count, shapes, finite values), so that
        on_train_end can put them back; a ValueError before the resumed run trains otherwise."""
        if self._best_params is not None:
            self._best_params = model.checked_weights(self._best_params, "EarlyStopping best_params")

    def check_position(self, epochs_done: int, steps_done: int) -> None:
        """After set_state (fastnn.resume): the best and stop epochs are epochs the run has completed and the
        wait is no longer than the run (each fit starts the watch afresh). A ValueError naming the entry
        otherwise."""
        if self.wait > epochs_done:
            raise ValueError(f"EarlyStopping wait is {self.wait}, more than the {epochs_done} epochs the run has "
                             "completed (run.position.epoch)")
        for name, epoch in (("best_epoch", self.best_epoch), ("stopped_epoch", self.stopped_epoch)):
            if epoch is not None and epoch >= epochs_done:
                raise ValueError(f"EarlyStopping {name} is {epoch}, an epoch the run has not completed (it has "
                                 f"completed {epochs_done}: run.position.epoch)")


class TerminateOnNaN(Callback):
    """Stop training when the epoch loss is NaN or inf (at the end of that epoch, the weights as they are).

    ``fit`` already stops at the first non-finite step loss by default, before applying that step (see its
    ``on_nonfinite_loss``), so this callback acts only with ``fit(on_nonfinite_loss="ignore")``."""

    def get_config(self) -> dict[str, Any]:
        return class_config(self)

    def on_epoch_end(self, epoch, logs, model):
        if not np.isfinite(logs.get("loss", 0.0)):
            model.stop_training = True


class ReduceOnPlateau(MonitoringCallback):
    """``fit`` callback: multiply the optimizer's lr by ``factor`` when ``monitor`` stops improving.

    PyTorch's ReduceLROnPlateau rule, applied once per epoch to ``logs[monitor]``: the metric improves when it
    beats the best so far by ``threshold`` (rel: ``a < best * (1 - threshold)`` in min mode, ``a > best *
    (1 + threshold)`` in max mode; abs: ``a < best - threshold`` / ``a > best + threshold``). After more than
    ``patience`` epochs without improvement the lr is multiplied by ``factor`` (never below ``min_lr``; a change
    smaller than ``eps`` is ignored), then ``cooldown`` epochs pass before bad epochs count again. With parameter
    groups each group's lr is reduced on its own by that rule, as torch reduces each param group's.

    It changes the optimizer's per-group ``lr_scales``, not the schedule, so a schedule keeps running
    underneath: a group's lr is ``schedule(step) * lr_scales[group]``. ``min_lr`` bounds the lr at the moment
    of a reduction: one number for every group, or a list of one per group (the defaults first, then
    ``param_groups`` in order), as torch takes it.
    ``mode="auto"`` picks "max" for metrics where higher is better (accuracy, f1, r2, ...), else "min".
    ``verbose``: 0 quiet, 1 prints each reduction (a bool is taken as 0 or 1, as ``fit(verbose=)`` takes it).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8, verbose: int = 0):
        self.monitor = check_monitor(monitor)
        self.mode = monitor_mode(mode, monitor)
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = check_scalar(factor, "factor", Real, min_val=0.0, max_val=1.0, include_boundaries="neither")
        self.patience = check_scalar(patience, "patience", Integral, min_val=0)
        self.threshold = check_scalar(threshold, "threshold", Real, min_val=0.0)
        self.threshold_mode = threshold_mode
        self.cooldown = check_scalar(cooldown, "cooldown", Integral, min_val=0)
        if isinstance(min_lr, (list, tuple)):
            if not min_lr:
                raise ValueError("min_lr: give one number, or a list of one per parameter group (not empty)")
            self.min_lr: float | list[float] = [check_scalar(v, f"min_lr[{i}]", Real, min_val=0.0)
                                                for i, v in enumerate(min_lr)]
        else:
            self.min_lr = check_scalar(min_lr, "min_lr", Real, min_val=0.0)
        self.eps = check_scalar(eps, "eps", Real, min_val=0.0)
        self.verbose = (int(verbose) if isinstance(verbose, (bool, np.bool_))
                        else check_scalar(verbose, "ReduceOnPlateau verbose", Integral, min_val=0, max_val=1))
        self.reset()

    def get_config(self) -> dict[str, Any]:
        return class_config(self, monitor=self.monitor, mode=self.mode, factor=self.factor, patience=self.patience,
                            threshold=self.threshold, threshold_mode=self.threshold_mode, cooldown=self.cooldown,
                            min_lr=self.min_lr, eps=self.eps, verbose=self.verbose)

    def set_run(self, run: TrainingRun) -> None:
        """Also refuses a ``min_lr`` list of another length than the run's parameter groups here, with the other
        checks of the run, before fit changes anything: for a callback fastnn.resume rebuilt from a checkpoint's
        config, fit then blames the checkpoint's entry (a ModelFileError naming the file and run.callbacks[i]), as
        it does for a monitor the run never logs."""
        self._check_floors(run.n_param_groups)
        super().set_run(run)

    def _check_floors(self, n_groups: int) -> None:
        if isinstance(self.min_lr, list) and len(self.min_lr) != n_groups:
            raise ValueError(f"ReduceOnPlateau min_lr has {len(self.min_lr)} values, but the optimizer has "
                             f"{n_groups} parameter groups (the defaults and each of param_groups)")

    def floors(self, optimizer) -> list[float]:
        """``min_lr`` per parameter group of ``optimizer`` (a list of another length is refused: ValueError)."""
        self._check_floors(len(optimizer.lr_scales))
        return self.min_lr if isinstance(self.min_lr, list) else [self.min_lr] * len(optimizer.lr_scales)

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.reductions = 0

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if self.threshold_mode == "rel" else a > best + self.threshold

    def on_epoch_end(self, epoch: int, logs: dict, model) -> None:
        require_metric("ReduceOnPlateau", self.monitor, (k for k, v in logs.items() if v is not None))
        self.update(float(logs[self.monitor]), model.optimizer)

    def update(self, current: float, optimizer) -> bool:
        """Feed one epoch's metric; returns True if the lr was reduced. A ``min_lr`` list that does not fit
        ``optimizer`` is refused (ValueError) here, before the counters move, not at the first reduction."""
        self._check_floors(len(optimizer.lr_scales))
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = self._reduce(optimizer)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
            return reduced
        return False

    def _reduce(self, optimizer) -> bool:
        """torch's ``_reduce_lr``, group by group: ``new = max(old * factor, min_lr)``, applied when
        ``old - new > eps``; True when any group's lr changed."""
        changes = []
        for group, (scale, floor) in enumerate(zip(optimizer.lr_scales, self.floors(optimizer))):
            old = optimizer.group_lr(group)
            if old - max(old * self.factor, floor) <= self.eps:
                continue
            if old * self.factor >= floor:
                optimizer.lr_scales[group] = scale * self.factor
            else:  # min_lr now: old > min_lr >= 0, so the scheduled lr is > 0
                optimizer.lr_scales[group] = floor / optimizer.base_lr(group=group)
            changes.append(f"{f'param_groups[{group - 1}] ' if group else ''}lr {old:.4g} -> "
                           f"{optimizer.group_lr(group):.4g}")
        if not changes:
            return False
        self.reductions += 1
        if self.verbose:
            print(f"ReduceOnPlateau: {self.monitor} has not improved for {self.patience + 1} epochs; "
                  f"{', '.join(changes)}")
        return True

    def state_dict(self) -> dict:
        return {"best": self.best, "num_bad_epochs": self.num_bad_epochs, "cooldown_counter": self.cooldown_counter,
                "reductions": self.reductions}

    def load_state_dict(self, sd: dict) -> None:
        entries = state_entries("ReduceOnPlateau", sd, best=_best, num_bad_epochs=_count, cooldown_counter=_count)
        reductions = _count(sd.get("reductions", 0), "ReduceOnPlateau reductions")  # states before it had none
        self.best, self.num_bad_epochs = entries["best"], entries["num_bad_epochs"]
        self.cooldown_counter, self.reductions = entries["cooldown_counter"], reductions

    get_state, set_state = state_dict, load_state_dict


# The callbacks fastnn.resume can rebuild from a checkpoint's config (fastnn.training.writers adds its own).
CALLBACKS = Registry("callback", (EarlyStopping, ReduceOnPlateau, TerminateOnNaN))
