"""Tuning fastnn models: :func:`tune_model` searches a space of models (default: :func:`fastnn.tune.mlp_space`
points built by :func:`fastnn.tune.build_mlp`) with any searcher of fastnn.tune.search, the budget of a trial
being its number of epochs, and retrains the best configuration.

Continuation. Successive halving, Hyperband and BOHB evaluate a configuration at 3 epochs, then promote the best to 9,
27, ... A promoted configuration is not retrained from scratch: every trial ends with a checkpoint
(``fit(..., checkpoint=)``: weights, optimizer state, schedule position, data order, history), and the next
budget continues it with ``fastnn.resume(path, ..., epochs=budget)``, which trains only the missing epochs and
gives bitwise the weights of a run trained to that budget in one go (same thread count). A schedule that needs
its total length (cosine) is built for the trial's maximum budget, ``max_epochs``, so every budget of one
configuration follows one schedule. Checkpoints are keyed by the configuration (its params, the seed,
``max_epochs``, a fingerprint of the data and a digest of what the build made: the model's config and initial
weights and fit's arguments); a trial that finds none (another machine without a shared
``checkpoint_dir``, a crash before it was written) trains from scratch and gets the same bits, so continuation
saves time and never changes a result. A run a callback of the build ended (EarlyStopping) is not trained on
by a larger budget: run to that budget in one go, it would have stopped at the same epoch.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import types
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from .. import losses
from .. import targets as _targets
from ..formats.common import atomic_write_bytes
from ..metrics import check_metrics
from ..models import resolve_dtype
from ..runs import resume_checkpoint
from ..training.callbacks import monitor_mode
from ..training.checkpoint import fingerprint, read_checkpoint
from ..training.loop import check_validation_data
from ..training.step import checked_targets
from ..validation import as_2d_features, check_finite, check_length, check_scalar
from .mlp import build_mlp
from .search import search
from .searchers import BUDGETED

Build = Callable[..., tuple[Any, dict[str, Any]]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value) if not isinstance(value, (str, int, float, bool, type(None), list, dict)) else value


@dataclass
class TrialTrainer:
    """The objective of one tune_model call: ``trainer(params, budget=None) -> score``, training the configuration
    ``params`` for ``budget`` epochs (None: ``max_epochs``), continuing its latest checkpoint of at most that many
    epochs. Picklable (a process pool or Dask worker gets a copy) when ``build`` is a module-level function.

    Every call also writes ``<key>-e<budget>.json`` beside the checkpoint: the epochs it actually trained and its
    seconds (:func:`tune_model` sums them into ``epochs_trained``)."""

    X: Any
    y: Any
    validation_data: tuple
    build: Build
    max_epochs: int
    metric: str
    checkpoint_dir: str
    seed: int = 0
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    data_key: str = ""
    fit_metrics: list[str] | None = None  # fit's metrics= (None: the loss's defaults)

    def __call__(self, params: Mapping[str, Any], budget: int | None = None) -> float:
        model = self.train(params, budget)
        value = model.history[self.metric][-1]
        return float(value)

    def identity(self) -> dict[str, Any]:
        """What defines this objective besides the params (a journal of another one is refused, not replayed)."""
        return {"tune_model": {"metric": self.metric, "data": self.data_key, "build": build_name(self.build),
                               "build_kwargs": {k: _jsonable(v) for k, v in self.build_kwargs.items()},
                               "metrics": self.fit_metrics}}

    def key(self, params: Mapping[str, Any], built: str) -> str:
        """The configuration's checkpoint key: everything that shapes its training (params, seed, max_epochs, the
        data, the build's keywords -- loss, dtype, ... -- fit's metrics, and ``built``: the digest of the model
        and fit arguments the build made of them, :func:`build_digest`), so a checkpoint_dir kept across calls
        never continues a model built otherwise (by a partial of other arguments, a build edited since). Not the
        build's name: the digest covers what it trains, and is the same in every process."""
        objective = self.identity()["tune_model"]
        del objective["metric"], objective["build"]  # the scoring metric does not change training; the name: above
        text = json.dumps({"params": {k: _jsonable(v) for k, v in params.items()}, "seed": self.seed,
                           "max_epochs": self.max_epochs, "built": built, **objective}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def checkpoint_path(self, key: str, epochs: int) -> str:
        return os.path.join(self.checkpoint_dir, f"{key}-e{epochs}.ckpt")

    def latest_checkpoint(self, key: str, budget: int) -> tuple[str | None, int]:
        """(path, epochs) of the checkpoint of ``key`` with the most epochs <= budget, (None, 0) if there is
        none."""
        prefix = key + "-e"
        best: tuple[str | None, int] = (None, 0)
        try:
            names = os.listdir(self.checkpoint_dir)
        except FileNotFoundError:
            return best
        for name in names:
            if name.startswith(prefix) and name.endswith(".ckpt"):
                epochs = int(name[len(prefix):-len(".ckpt")])
                if best[1] < epochs <= budget:
                    best = (os.path.join(self.checkpoint_dir, name), epochs)
        return best

    def train(self, params: Mapping[str, Any], budget: int | None = None) -> Any:
        """The model of ``params`` trained for ``budget`` epochs (continued from a checkpoint when there is one)."""
        budget = self.max_epochs if budget is None else max(1, int(round(budget)))
        if not 1 <= budget <= self.max_epochs:
            raise ValueError(f"budget={budget}: a trial's epochs must be in 1..max_epochs={self.max_epochs}")
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        model, fit_kwargs = self._built(params)
        key = self.key(params, build_digest(model, fit_kwargs))
        final = self.checkpoint_path(key, budget)
        work = f"{final}.{uuid.uuid4().hex}.tmp"  # private: concurrent trials of one configuration never clash
        source, start = self.latest_checkpoint(key, budget)
        t0 = time.perf_counter()
        try:
            continued = self._continued(source, work, budget, fit_kwargs) if source is not None else None
            if continued is None:
                start = before = 0
                model.fit(self.X, self.y, validation_data=self.validation_data, epochs=budget, verbose=0,
                          checkpoint=work, checkpoint_every=None, **fit_kwargs)
            else:
                model, before = continued
            _check_not_diverged(model, budget)  # its checkpoint is not kept: a promotion could not resume it
            os.replace(work, final)
            if source is not None and start and source != final:
                _remove(source)  # continued: one checkpoint per configuration (the disk stays bounded)
        finally:
            if os.path.exists(work):
                os.remove(work)
        _write_json(f"{final[:-len('.ckpt')]}-{uuid.uuid4().hex[:8]}.json", {
            "budget": budget, "start": start, "epochs_trained": len(model.history["loss"]) - before,
            "seconds": time.perf_counter() - t0})
        return model

    def digest(self, params: Mapping[str, Any]) -> str | None:
        """:func:`build_digest` of what the build makes of ``params`` (a journal records it with each trial and
        replays a trial only for the same), None when the build fails (the trial failed too)."""
        try:
            built = self._built(params)
        except Exception:  # noqa: BLE001 - the trial reports the build's error itself
            return None
        return build_digest(*built)

    def _built(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        model, fit_kwargs = self.build(dict(params), **self.build_kwargs)
        if self.fit_metrics is not None:
            fit_kwargs.setdefault("metrics", self.fit_metrics)
        return model, fit_kwargs

    def _continued(self, source: str, work: str, budget: int, fit_kwargs: dict[str, Any]) -> tuple[Any, int] | None:
        """(the run checkpointed in ``source`` continued in ``work`` to ``budget`` epochs, the epochs it had), or None
        when the checkpoint is gone (another worker moved it on: training from scratch gives the same bits)."""
        try:
            shutil.copyfile(source, work)
        except FileNotFoundError:
            return None
        checkpoint = read_checkpoint(work)
        # a run a callback ended stays ended (epochs=None): run to any larger budget in one go, it stops there too
        epochs = None if checkpoint.stop_training else budget
        # the build's callbacks (resume can rebuild only those with get_config) and sample weights (not in a checkpoint)
        model = resume_checkpoint(checkpoint, self.X, self.y, validation_data=self.validation_data,
                                  sample_weight=fit_kwargs.get("sample_weight"), epochs=epochs,
                                  callbacks=fit_kwargs.get("callbacks"), verbose=0)
        return model, checkpoint.position.epoch


def build_name(build: Callable[..., Any]) -> str:
    """A readable label of ``build`` for a journal's identity, the same in every process: a function by its
    qualified name (without its module: a script's f is __main__.f here, __mp_main__.f in a pool worker), a
    bound method by its class's, a functools.partial by its function and the names of its keywords, another
    callable by its class. A label only: two builds may share it (methods of two instances, partials of other
    arguments, a function edited since); journals and checkpoints tell them apart by :func:`build_digest`."""
    if isinstance(build, functools.partial):
        arguments = ["..."] * len(build.args) + [f"{k}=..." for k in sorted(build.keywords)]
        return f"partial({', '.join([build_name(build.func), *arguments])})"
    name = getattr(build, "__qualname__", None)
    return name if isinstance(name, str) else type(build).__qualname__


def build_digest(model: Any, fit_kwargs: Mapping[str, Any]) -> str:
    """A digest of what a build made of a configuration -- the model's config and initial arrays, fit's arguments --
    so that a checkpoint is continued only where that build would train the same model the same way, whatever its
    name says (a build function edited between two calls keeps its name)."""
    arrays = model.state_arrays() if model.built else {}
    text = json.dumps(_described([model.get_config(), arrays, fit_kwargs]), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _described(value: Any, outer: frozenset[int] = frozenset()) -> Any:
    """``value`` as JSON that tells apart values that train differently, the same in every process: numbers and
    strings as they are, an array by its dtype, shape and a hash of its bytes, a set sorted, an object by its class
    and ``get_config()`` (an optimizer, its schedule, a callback, a loss) or else its attributes (a custom
    callback's arguments), or its class alone when neither describes it (no attributes; an object met again
    inside itself: ``outer`` holds the objects being described around ``value``)."""
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return [value.dtype.str, list(value.shape), digest]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if id(value) in outer:
        return [type(value).__qualname__, None]
    inner = outer | {id(value)}
    if isinstance(value, Mapping):
        return {str(k): _described(v, inner) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_described(v, inner) for v in value]
    if isinstance(value, (set, frozenset)):  # its order follows PYTHONHASHSEED
        return sorted((_described(v, inner) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, types.ModuleType):
        return ["module", value.__name__]
    get_config = getattr(value, "get_config", None)
    if callable(get_config):
        return [type(value).__qualname__, _described(get_config(), inner)]
    attributes = getattr(value, "__dict__", None)
    return [type(value).__qualname__, _described(attributes, inner) if isinstance(attributes, dict) else None]


def _check_not_diverged(model: Any, epochs: int) -> None:
    """Fail the trial (ValueError) when its training diverged: a last epoch's loss or val_loss that is not finite
    (a meaningless score). fit stops on a non-finite training loss only; an update that leaves inf weights fails
    the trial earlier, at fit's checkpoint write (which refuses them, naming them: resume could not read them)."""
    last = {name: model.history[name][-1] for name in ("loss", "val_loss") if name in model.history}
    bad = [f"{name} {value}" for name, value in last.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"training diverged: after {epochs} epoch(s), {', '.join(bad)}")


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _write_json(path: str, record: dict[str, Any]) -> None:
    """Write ``record`` as JSON through fastnn's atomic writer (a failed write leaves no temporary behind)."""
    text = json.dumps(record).encode()
    atomic_write_bytes(path, text)


@dataclass
class TuneResult:
    """What :func:`tune_model` found: the search's result (``search``: trials, ``to_csv``), the best
    configuration and its score, the best configuration's model trained for ``max_epochs`` (``model``; None with
    ``refit=False``, or when that training failed: ``refit_error`` then says why, and a RuntimeWarning was
    issued), and ``epochs_trained``: the epochs actually trained by this call's trials together
    (continued trials count only their new epochs; the refit, and trials of an earlier call sharing the
    ``checkpoint_dir``, are not counted), as recorded in the checkpoint directory; ``seconds``: the wall time
    of the search and the refit."""

    search: Any
    best_params: dict[str, Any]
    best_score: float
    model: Any
    epochs_trained: int
    seconds: float
    refit_error: str | None = None

    @property
    def trials(self) -> list[Any]:
        return self.search.trials

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        self.search.to_csv(path)


def tune_model(space: Mapping[str, Any], X: Any, y: Any, validation_data: tuple, method: str = "hyperband",
               max_epochs: int = 27, min_epochs: int = 1, eta: int = 3, metric: str = "val_accuracy",
               mode: str = "auto", n_trials: int | None = None, build: Build | None = None,
               loss: str | dict[str, Any] | losses.Loss = "cross_entropy", dtype: str = "float32", seed: int = 0,
               executor: Any = None, journal: str | os.PathLike[str] | None = None,
               checkpoint_dir: str | os.PathLike[str] | None = None, refit: bool = True,
               **search_kwargs: Any) -> TuneResult:
    """Search ``space`` for the model with the best ``metric`` on ``validation_data`` (X_val, y_val).

    A trial builds a model with ``build(params, input_dim=, n_outputs=, loss=, dtype=, seed=, max_epochs=,
    n_train=)`` -> ``(model, fit_kwargs)`` (default :func:`fastnn.tune.build_mlp`; a custom build takes the same
    keywords and must be a module-level function to run in other processes), trains it and scores it by the
    last epoch's ``metric``. ``mode`` "auto" maximizes a metric where higher is better (accuracy, precision,
    recall, f1, r2), else minimizes (losses, mse, mae). ``loss``: any loss fit takes (a name, a Keras alias, a
    Loss or its config), given to ``build`` as it is. Labels, for cross_entropy in any spelling (also an (n, 1)
    column): integers are class indices 0..K-1 (K = the largest label of y and y_val, plus one), as in fit; for
    it and for binary_cross_entropy with one output (1-D y), other labels (strings, ...) are mapped to the classes
    of y and y_val together (two for binary_cross_entropy), which the refit model keeps as ``classes_``. The data,
    ``dtype`` and ``build`` are checked as fit would check them before the first trial. A trial whose training
    diverges (the last epoch's loss or val_loss, or a weight, not finite) is a failed trial, whatever its metric
    says.

    method: "successive_halving", "hyperband" and "bohb" give trials budgets of ``min_epochs`` .. ``max_epochs`` epochs
    (``eta``: the promotion ratio; see fastnn.tune.search) and continue promoted configurations from their
    checkpoints (module docstring); every other method ("random", "random+refine", "grid", "bayes") trains each
    trial ``max_epochs`` epochs. ``n_trials``, ``executor``, ``journal`` and further keywords go to
    fastnn.tune.search. Every trial uses ``seed`` (init, shuffling, dropout), so configurations are compared on
    the same footing and the search is repeatable. A journal records with each trial the digest of the model and
    fit arguments the build made of its params (:func:`build_digest`) and is refused, before any trial, when the
    build now makes another of them (a build function edited, a partial of other arguments, another instance's
    method); its identity names the build only by a label (:func:`build_name`). A journal written before records
    had a digest is replayed when that label and the rest of the search match, as it was then.

    checkpoint_dir: where the trials' checkpoints go (None: a temporary directory, removed at the end). Give one
    on a filesystem every worker sees to continue trials across machines, or to keep them across a crash with
    ``journal``; a checkpoint is continued only by a build that makes the same model and fit arguments of its
    configuration (:func:`build_digest`), whatever its name. refit: train the best configuration for
    ``max_epochs`` (continuing its checkpoint; the same bits as training it from scratch) and return it as
    ``model``.
    """
    for name, ours in (("min_budget", "min_epochs"), ("max_budget", "max_epochs")):
        if name in search_kwargs:  # tune_model sets the budgets in epochs itself; a silent overwrite would mislead
            raise TypeError(f"tune_model takes {ours}, not {name} (a trial's budget is its epochs)")
    max_epochs = check_scalar(max_epochs, "max_epochs", Integral, min_val=1, error=ValueError)
    min_epochs = check_scalar(min_epochs, "min_epochs", Integral, min_val=1, max_val=max_epochs, error=ValueError)
    loss_fn = losses.get(loss)  # once: every spelling of a loss is read by its kind, never by its name
    metric, fit_metrics = _check_metric(metric, loss_fn)
    if build is not None and not callable(build):
        raise TypeError(f"build must be a function params -> (model, fit_kwargs) or None, got {build!r}")
    model_dtype = resolve_dtype(dtype)
    X, y, Xv, yv = _check_data(X, y, validation_data, model_dtype)
    y, yv, classes = _class_indices(loss_fn, y, yv)
    n_outputs = _n_outputs(loss_fn, y, yv)
    for name, labels in (("y", y), ("validation y", yv)):  # as fit checks them, once instead of in every trial
        checked_targets(loss_fn, labels, name, len(labels), n_outputs, model_dtype)
    build_kwargs = {"input_dim": int(X.shape[1]), "n_outputs": n_outputs, "loss": loss, "dtype": dtype,
                    "seed": seed, "max_epochs": max_epochs, "n_train": int(len(X))}
    search_mode = monitor_mode(mode, metric)
    data_key = json.dumps([fingerprint(X, y), fingerprint(Xv, yv)], sort_keys=True)
    owns_dir = checkpoint_dir is None
    directory = tempfile.mkdtemp(prefix="fastnn-tune-") if owns_dir else os.fspath(checkpoint_dir)  # type: ignore
    trainer = TrialTrainer(X, y, (Xv, yv), build or build_mlp, max_epochs, metric, directory, seed, build_kwargs,
                           data_key, fit_metrics)
    if method in BUDGETED:
        search_kwargs.update(min_budget=min_epochs, max_budget=max_epochs, eta=eta)
    if n_trials is not None:
        search_kwargs["n_trials"] = n_trials
    t0 = time.perf_counter()
    try:
        earlier = _trial_records(directory)  # a checkpoint_dir kept from an earlier call holds its records too
        result = search(trainer, space, method=method, mode=search_mode, seed=seed, executor=executor,
                        journal=journal, journal_key=trainer.identity(), journal_digest=trainer.digest,
                        **search_kwargs)
        epochs = _epochs_trained(directory, earlier)
        model, refit_error = _refit(trainer, result.best_params, max_epochs) if refit else (None, None)
        if model is not None and classes is not None:
            model.classes_ = classes
    finally:
        if owns_dir:
            shutil.rmtree(directory, ignore_errors=True)
    return TuneResult(result, dict(result.best_params), float(result.best_score), model, epochs,
                      time.perf_counter() - t0, refit_error)


def _refit(trainer: TrialTrainer, params: Mapping[str, Any], max_epochs: int) -> tuple[Any, str | None]:
    """(the best configuration trained for max_epochs, None), or (None, why) when that training fails: the best
    may have been scored at a smaller budget (no configuration reached max_epochs, or those that did diverged),
    and a failure here must not lose the search's result."""
    try:
        return trainer.train(params, max_epochs), None
    except Exception as exc:  # noqa: BLE001 - reported with the result instead of losing it
        why = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"tune_model: refitting the best configuration for {max_epochs} epochs failed ({why}); "
                      "the result has model=None and refit_error", RuntimeWarning, stacklevel=3)
        return None, why


def _check_data(X: Any, y: Any, validation_data: Any, dtype: np.dtype) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """(X, y, X_val, y_val) checked as fit checks them (shapes, lengths, finite in the model's dtype), so bad data
    is refused before the first trial rather than failing every one of them."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (X_val, y_val): trials are scored on it")
    X = as_2d_features(X, "X")
    check_finite(X, "X", dtype)
    check_length("y", y, X.shape[0])
    checked = check_validation_data(tuple(validation_data), X.shape[1], dtype)
    assert checked is not None  # it is None only for validation_data=None
    Xv, yv, _ = checked
    return X, np.asarray(y), Xv, np.asarray(yv)


def _check_metric(metric: object, loss: losses.Loss) -> tuple[str, list[str] | None]:
    """(the logged name of ``metric``, fit's ``metrics=`` that logs it or None for the loss), refused before any
    trial when the loss cannot report it."""
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"metric must be the name of a logged metric such as 'val_accuracy', got {metric!r}")
    prefix = "val_" if metric.startswith("val_") else ""
    base = metric[len(prefix):]
    if base == "loss":
        return metric, None
    try:
        (name,) = check_metrics([base], loss)
    except ValueError as exc:
        raise ValueError(f"metric={metric!r}: {exc}") from None
    return prefix + name, [name]


def _one_output_per_class(loss: losses.Loss) -> bool:
    """Whether 1-D labels of ``loss`` name one output each (cross_entropy: K classes, K outputs), rather than the
    value of a single output (binary_cross_entropy's two classes, a regression's numbers)."""
    return isinstance(loss, losses.CrossEntropy)


def _class_indices(loss: losses.Loss, y: np.ndarray,
                   yv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(y, y_val, classes) as fit reads labels: for cross_entropy an (n, 1) column is 1-D labels and integer
    labels are class indices 0..K-1; labels that are not numbers (strings, ...) of cross_entropy or of a one-output
    binary_cross_entropy become the indices of the classes of y and y_val together (the refit model gets them as
    classes_); other targets are kept."""
    per_class = _one_output_per_class(loss)
    if per_class:  # an (n, 1) column is labels, as fit reads it (fastnn.targets.as_label_vector)
        y, yv = (labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels for labels in (y, yv))
    if y.ndim != 1 or yv.ndim != 1:
        return y, yv, None
    if not (_targets.needs_encoding(y, None) or _targets.needs_encoding(yv, None)):  # numbers: fit's own targets
        if per_class:
            _check_class_indices(y, yv)
        return y, yv, None
    for name, labels in (("y", y), ("validation y", yv)):
        _targets.check_no_missing(labels, name)
    found = _targets.classes_of(np.concatenate([y.astype(object), yv.astype(object)]))
    n_classes = len(found) if per_class else loss.n_classes(1)
    classes = _targets.check_classes(found, n_classes, "the distinct labels of y and the validation y")
    return (_targets.resolve_labels(y, classes, n_classes, "y")[0],
            _targets.resolve_labels(yv, classes, n_classes, "validation y")[0], classes)


def _check_class_indices(y: np.ndarray, yv: np.ndarray) -> None:
    """Numeric labels of cross_entropy are class indices 0..K-1, named by argument and row when one is not: a
    negative one (mapping labels is for labels of another type), a float that is not a whole number (NaN, inf,
    2.5), or one that asks for more classes than there are labels (1e10 would make every trial allocate a
    1e10-wide output layer)."""
    n_labels = len(y) + len(yv)
    for name, labels in (("y", y), ("validation y", yv)):
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(labels) | (labels != np.round(labels)) if labels.dtype.kind == "f" else None
        if bad is not None and bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}: label {labels[row].item()!r} at row {row} is not a class index (a whole number "
                             "0..K-1)")
        if len(labels) and labels.min() < 0:
            row = int(np.argmin(labels))
            raise ValueError(f"{name}: labels that are numbers are class indices 0..K-1, got {labels[row].item()!r} "
                             f"at row {row}; pass labels of another type (strings, ...) to have them mapped")
        if len(labels) and labels.max() >= n_labels:
            row = int(np.argmax(labels))
            raise ValueError(f"{name}: label {labels[row].item()!r} at row {row} asks for {int(labels[row]) + 1} "
                             f"classes from {n_labels} labels; class indices are 0..K-1")


def _n_outputs(loss: losses.Loss, y: np.ndarray, yv: np.ndarray) -> int:
    """Output units for the loss: one per class for cross_entropy's labels (class indices 0..K-1), else y's
    columns."""
    if _one_output_per_class(loss) and y.ndim == 1:
        return int(max(y.max(), yv.max())) + 1
    return 1 if y.ndim == 1 else int(y.shape[1])


def _trial_records(directory: str) -> set[str]:
    """The names of the trials' records (``<key>-e<budget>-<id>.json``) in ``directory``."""
    try:
        return {name for name in os.listdir(directory) if name.endswith(".json")}
    except FileNotFoundError:
        return set()


def _epochs_trained(directory: str, earlier: set[str]) -> int:
    """The epochs trained by the trials whose records were written since ``earlier`` was listed."""
    total = 0
    for name in _trial_records(directory) - earlier:
        with open(os.path.join(directory, name)) as f:
            total += int(json.load(f)["epochs_trained"])
    return total


__all__ = ["tune_model", "TuneResult", "TrialTrainer", "build_name", "build_digest"]
