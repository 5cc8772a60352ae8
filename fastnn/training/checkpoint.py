"""Training checkpoints: everything a ``fit`` needs to continue bit for bit, in one safetensors file.

``fit(..., checkpoint="run.ckpt")`` writes one (:class:`CheckpointWriter`) after every ``checkpoint_every``
epochs, every ``checkpoint_every_steps`` optimizer steps (mid-epoch) and at the end of the run;
``fastnn.resume`` reads it (:func:`read_checkpoint`) and continues. The file is a safetensors file written by
the hardened container (fastnn.formats: no pickle, atomic: a temp file in the same directory renamed over the
old checkpoint once complete and fsynced, so a process killed at any moment, during a write too, leaves the
previous checkpoint valid; a killed write may leave a ``.run.ckpt.*.tmp`` file behind, never read). A write
that ``resume`` could not read back is refused before the file is touched: NaN or inf weights or optimizer
moments (a diverged run, trained on with ``on_nonfinite_loss="ignore"``) raise a ValueError naming them.

Tensors: ``model.<name>`` (``model.state_arrays()``: parameters, BatchNorm statistics, a fitted
preprocessor), ``optimizer.<buffer>`` (moments ...), ``loader.order`` (the current epoch's row order), and the
arrays inside the history and the callbacks' states (``history.*``, ``callbacks.<i>.*``). Metadata (JSON):
``format`` "fastnn-checkpoint", ``format_version``, ``fastnn_version``, ``model`` (``model.get_config()``)
and ``run``:

* ``fit``: the arguments that define the run (loss, optimizer class and hyperparameters with its schedule,
  clip, batch size, epochs, seed, shuffle, augmentation, on_nonfinite_loss, the checkpoint cadence);
* ``callbacks``: each callback's class and ``get_config()`` (null for one without it);
* ``position``: the epoch and batch to run next, the optimizer step of that epoch's first batch (the
  augmentation key) and the epoch's running loss sums (a mid-epoch checkpoint continues the epoch's logs);
* ``step_count`` (the training step count: it keys dropout masks and augmentation, which keep no other state,
  see fastnn.layers.dropout and fastnn.data.loader), ``stop_training``;
* ``optimizer``: its state dict without the buffers (step count = schedule position, lr_scale, layout);
* ``loader``: the shuffling generator's state (numpy PCG64, JSON-able);
* ``history``, ``callback_states``: the History so far and each callback's ``get_state()``;
* ``data``: a fingerprint of the training (and validation) data, see :func:`fingerprint`.

Floats are written with Python's shortest round-trip repr (NaN and infinities tagged), so every value comes
back bit for bit. This module works on the model interface and imports no model class.
"""
from __future__ import annotations

import hashlib
import json
import numbers
import os
import reprlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..formats import ModelFileError, read_safetensors, write_safetensors
from ..formats.common import strict_json
from ..validation import MAX_STEP, check_scalar
from .callbacks import CALLBACKS

if TYPE_CHECKING:
    from ..data.loader import Loader
    from .interface import TrainableModel

FORMAT_NAME = "fastnn-checkpoint"
FORMAT_VERSION = "1"
FINGERPRINT_ROWS = 256
FINGERPRINT_KEYS = ("X_shape", "X_dtype", "y_shape", "y_dtype", "digest")  # what fingerprint() records


# ---- JSON with arrays and exact floats ------------------------------------------------------------------------
def encode_tree(tree: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """``tree`` as JSON-able data: each numpy array is moved into ``arrays`` under ``prefix + path`` and
    replaced by ``{"__array__": name}``; a non-finite float becomes ``{"__float__": "nan" | "inf" | "-inf"}``;
    numpy scalars become Python numbers, tuples lists. Inverse: :func:`decode_tree`."""
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, np.generic):
        tree = tree.item()
    if isinstance(tree, float):
        return tree if np.isfinite(tree) else {"__float__": repr(tree)}
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise TypeError(f"checkpoint state {prefix!r}: dict keys must be strings")
        return {k: encode_tree(v, arrays, f"{prefix}.{k}") for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [encode_tree(v, arrays, f"{prefix}.{i}") for i, v in enumerate(tree)]
    if tree is None or isinstance(tree, (bool, int, str)):
        return tree
    raise TypeError(f"checkpoint state {prefix!r}: {type(tree).__name__} is not JSON-able data or an array")


def decode_tree(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        if set(tree) == {"__float__"}:
            return float(tree["__float__"])
        return {k: decode_tree(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [decode_tree(v, arrays) for v in tree]
    return tree


# ---- the data a run trains on ---------------------------------------------------------------------------------
def fingerprint(X: np.ndarray, y: Any, sample_weight: np.ndarray | None = None) -> dict[str, Any]:
    """Shapes, dtypes and a BLAKE2b digest of (up to 256 evenly spaced rows of X, the first and last included; all of y;
    all of ``sample_weight`` when given). It detects another shape or dtype, any change in y (values or order), and a
    change in any sampled row of X (another data set, shuffled or re-sorted rows); it misses a change confined to rows
    of X it does not sample (with more than 256 rows). Reading 256 rows keeps it cheap for a large memmap."""
    n = X.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).round().astype(np.int64))
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(X[rows]).tobytes())
    y = np.asarray(y)
    digest.update(repr(y.tolist()).encode() if y.dtype.kind == "O" else np.ascontiguousarray(y).tobytes())
    if sample_weight is not None:
        digest.update(b"sample_weight" + np.ascontiguousarray(sample_weight).tobytes())
    return {"X_shape": list(X.shape), "X_dtype": X.dtype.str, "y_shape": list(y.shape), "y_dtype": y.dtype.str,
            "digest": digest.hexdigest()}


def check_same_data(saved: dict[str, Any] | None, X: np.ndarray | None, y: Any, what: str,
                    sample_weight: np.ndarray | None = None) -> None:
    """Refuse data other than the checkpointed run's (``what``: "training data" or "validation_data")."""
    if saved is None and X is None:
        return
    if saved is None:
        raise ValueError(f"the checkpointed run had no {what}; resume it without {what}")
    if X is None:
        raise ValueError(f"the checkpointed run had {what} (X {tuple(saved['X_shape'])}); pass the same {what}")
    now = fingerprint(X, y, sample_weight)
    for key, label in (("X_shape", "X shape"), ("X_dtype", "X dtype"), ("y_shape", "y shape"),
                       ("y_dtype", "y dtype")):
        if now[key] != saved[key]:
            raise ValueError(f"{what} differs from the checkpointed run's: {label} {now[key]} instead of "
                             f"{saved[key]}")
    if now["digest"] != saved["digest"]:
        raise ValueError(f"{what} differs from the checkpointed run's: same shapes and dtypes, other values (the "
                         "fingerprint of y, the sample weights and sampled rows of X does not match); resume with "
                         "the same arrays")


# ---- where a run stands -----------------------------------------------------------------------------------------
@dataclass
class Position:
    """The next batch to run: ``batch`` of ``epoch`` (0: the epoch starts afresh), the optimizer step of that
    epoch's first batch, and the epoch's running sums so far (what its logs are computed from)."""
    epoch: int = 0
    batch: int = 0
    epoch_first_step: int = 0
    logs: dict[str, Any] | None = None  # the epoch's running sums (loop.EpochLogs.state), None: none yet


@dataclass
class Checkpoint:
    """A checkpoint as read back: the model's config and arrays, the run's fit arguments and its state.
    :func:`read_checkpoint` checks the position and step count, the callback lists and the data fingerprints;
    what needs the run's model, data, optimizer or callbacks is checked as it is restored (:meth:`reading`,
    :meth:`restore_loader`), each before training starts."""
    path: str
    model_config: dict[str, Any]
    model_arrays: dict[str, np.ndarray]
    fit: dict[str, Any]
    callbacks: list[dict[str, Any]]
    position: Position
    step_count: int
    stop_training: bool
    optimizer_state: dict[str, Any]
    loader_state: dict[str, Any]
    history_state: dict[str, Any]
    callback_states: list[Any]
    data: dict[str, Any]

    @contextmanager
    def reading(self, field: str) -> Iterator[None]:
        """Restore ``field`` (e.g. "run.optimizer") in the block: a value it refuses is a ModelFileError naming
        the file and the field (a checkpoint is a file like any other: it may be damaged or edited)."""
        try:
            yield
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ModelFileError(self.path, f"{field}: {exc}") from None

    def rebuild_callbacks(self) -> list[Any]:
        """The run's callbacks rebuilt from the configs ``run.callbacks`` records (fastnn.resume without
        ``callbacks=``): a config that does not rebuild is a ModelFileError naming the entry; a callback recorded
        without a config (it has no get_config) a ValueError asking for ``callbacks=``."""
        rebuilt = []
        for i, entry in enumerate(self.callbacks):
            with self.reading(f"run.callbacks[{i}]"):
                config, name = entry["config"], entry["class"]
                callback = CALLBACKS.from_config(config) if config is not None else None
            if callback is None:
                raise ValueError(f"the checkpointed run's callbacks[{i}] ({name}) has no get_config, so resume "
                                 "cannot rebuild it: pass callbacks= (the same callbacks, in the same order)")
            rebuilt.append(callback)
        return rebuilt

    def restore_loader(self, loader: Loader) -> None:
        """Put the run's shuffling state into ``loader`` (built over the run's data), refusing a position past the
        epoch's last batch."""
        if self.position.batch >= loader.n_batches:
            raise ModelFileError(self.path, f"run.position.batch is {self.position.batch}, but an epoch of this run "
                                            f"has {loader.n_batches} batches")
        try:
            loader.restore(self.loader_state)
        except ValueError as exc:  # "loader state: ..." naming what is wrong
            raise ModelFileError(self.path, f"the run's {exc}") from None


def callback_entry(callback: Any) -> dict[str, Any]:
    """What a checkpoint records of a callback: its class and ``get_config()`` (None without one)."""
    get_config = getattr(callback, "get_config", None)
    return {"class": type(callback).__name__, "config": get_config() if get_config is not None else None}


class CheckpointWriter:
    """Writes a run's checkpoints to ``path``: ``fit`` builds one when given ``checkpoint=`` and calls
    :meth:`write` at the points its cadence names. ``fit_args``, ``callbacks`` and ``data`` are fixed for the
    run; the state is read from the model, the loader and the callbacks at each write."""

    def __init__(self, path: str | os.PathLike[str], fit_args: dict[str, Any], callbacks: list[Any],
                 data: dict[str, Any]):
        self.path = os.fspath(path)
        self.fit_args, self.callbacks, self.data = fit_args, callbacks, data
        self.callback_entries = [callback_entry(cb) for cb in callbacks]
        json.dumps(self.callback_entries, allow_nan=False)  # a config that cannot be saved fails before training

    def write(self, model: TrainableModel, position: Position, loader: Loader, history: Any) -> None:
        """Write the run's checkpoint; a ValueError naming the tensor, before the file is touched (the previous
        checkpoint stays), for weights or optimizer moments fastnn.resume would refuse (NaN or inf: a diverged
        run, which no resume could bring back)."""
        state = model.training_state
        optimizer = state.optimizer
        assert optimizer is not None and model.built
        try:
            model_config, model_arrays = model.file_contents()  # refuses weights fastnn.load would refuse
            optimizer.check_state()  # and moments load_state_dict would refuse
        except ValueError as exc:
            raise ValueError(f"checkpoint {self.path!r} not written (the previous one, if any, is kept): "
                             f"{exc}") from exc
        arrays: dict[str, np.ndarray] = {f"model.{k}": v for k, v in model_arrays.items()}
        opt_state = optimizer.state_dict()
        arrays.update({f"optimizer.{k}": v for k, v in opt_state.pop("state").items()})
        loader_state = loader.state()
        arrays["loader.order"] = loader_state["order"]
        run = {
            "fit": self.fit_args,
            "callbacks": self.callback_entries,
            "position": vars(position),
            "step_count": state.step_count,
            "stop_training": bool(state.stop_training),
            "optimizer": opt_state,
            "loader": {"rng": loader_state["rng"]},
            "history": encode_tree(history.get_state(), arrays, "history"),
            "callback_states": [encode_tree(cb.get_state(), arrays, f"callbacks.{i}")
                                if hasattr(cb, "get_state") else None for i, cb in enumerate(self.callbacks)],
            "data": self.data,
        }
        metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "fastnn_version": __version__,
                    "model": json.dumps(model_config, allow_nan=False),
                    "run": json.dumps(encode_tree(run, arrays, "run"), allow_nan=False)}
        write_safetensors(self.path, arrays, metadata)


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :class:`CheckpointWriter` (the hardened safetensors reader, then the
    format name and version); a file that is not one raises ModelFileError naming it, as does a position, step
    count, callback list or data fingerprint no fit writes (naming the field)."""
    arrays, meta = read_safetensors(path)
    if meta.get("format") != FORMAT_NAME:
        raise ModelFileError(path, f"not a fastnn checkpoint (metadata format={meta.get('format')!r}, expected "
                                   f"{FORMAT_NAME!r}; fastnn.load reads model files)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(path, f"checkpoint format_version {meta.get('format_version')!r} (written by fastnn "
                                   f"{meta.get('fastnn_version', '?')}); this fastnn reads {FORMAT_VERSION!r}")
    try:
        model_config = strict_json(meta["model"])
        run = decode_tree(strict_json(meta["run"]), arrays)
        opt_state = dict(run["optimizer"])
        opt_state["state"] = _with_prefix(arrays, "optimizer.")
        position = Position(**run["position"])
        checkpoint = Checkpoint(
            path=os.fspath(path), model_config=model_config, model_arrays=_with_prefix(arrays, "model."),
            fit=run["fit"], callbacks=run["callbacks"], position=position, step_count=run["step_count"],
            stop_training=run["stop_training"], optimizer_state=opt_state,
            loader_state={"rng": run["loader"]["rng"], "order": arrays["loader.order"]},
            history_state=run["history"], callback_states=run["callback_states"], data=run["data"])
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ModelFileError(path, f"checkpoint metadata is incomplete or invalid ({type(exc).__name__}: {exc})"
                             ) from None
    try:
        _check_position(checkpoint)
        _check_callbacks(checkpoint)
        _check_data(checkpoint.data)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(path, str(exc)) from None
    return checkpoint


def _check_position(c: Checkpoint) -> None:
    """Where the run stands, as fit writes it: counts >= 0, and the step count is the steps before the epoch plus
    the batches of it done (each batch is one step)."""
    p = c.position
    for name in ("epoch", "batch", "epoch_first_step"):
        setattr(p, name, check_scalar(getattr(p, name), f"run.position.{name}", numbers.Integral, min_val=0,
                                      max_val=MAX_STEP))
    c.step_count = check_scalar(c.step_count, "run.step_count", numbers.Integral, min_val=0, max_val=MAX_STEP)
    c.stop_training = check_scalar(c.stop_training, "run.stop_training", bool)
    if c.step_count != p.epoch_first_step + p.batch:
        raise ValueError(f"run.step_count {c.step_count} is not run.position.epoch_first_step {p.epoch_first_step} "
                         f"+ run.position.batch {p.batch}")
    if p.logs is not None:
        if not isinstance(p.logs, dict):
            raise TypeError(f"run.position.logs must be the epoch's running sums (a dict), got "
                            f"{type(p.logs).__name__}")
        loss_total = p.logs.get("loss_total")  # NaN too: a run that ignores non-finite losses sums them
        if isinstance(loss_total, bool) or not isinstance(loss_total, numbers.Real):
            raise TypeError(f"run.position.logs.loss_total must be a real number, got {loss_total!r}")
        check_scalar(p.logs.get("weight_total"), "run.position.logs.weight_total", numbers.Real, min_val=0.0)
        check_scalar(p.logs.get("seen"), "run.position.logs.seen", numbers.Integral, min_val=0)


def _check_callbacks(c: Checkpoint) -> None:
    """The run's callbacks as fit records them: an entry naming the class of each, and a state (or null) for each
    (each callback's set_state checks its own when the run is resumed)."""
    if not isinstance(c.callbacks, list) or not all(isinstance(e, dict) and isinstance(e.get("class"), str)
                                                    for e in c.callbacks):
        raise TypeError(f"run.callbacks must be a list of {{'class': ..., 'config': ...}} entries, got "
                        f"{reprlib.repr(c.callbacks)}")
    if not isinstance(c.callback_states, list) or len(c.callback_states) != len(c.callbacks):
        raise TypeError(f"run.callback_states must be a list of one state (or null) per callback of run.callbacks "
                        f"({len(c.callbacks)}), got {reprlib.repr(c.callback_states)}")


def _check_data(data: Any) -> None:
    """The fingerprints of the run's data, as fit writes them (check_same_data compares them with the data given):
    a damaged one is the file's fault, not the data's."""
    if not isinstance(data, dict) or not isinstance(data.get("train"), dict) or not isinstance(
            data.get("validation"), (dict, type(None))):
        raise TypeError(f"run.data must hold the fingerprints of the training and validation data, got "
                        f"{reprlib.repr(data)}")
    for part in ("train", "validation"):
        if data[part] is not None:
            _check_fingerprint(data[part], f"run.data.{part}")


def _check_fingerprint(saved: dict[str, Any], name: str) -> None:
    """The fields :func:`fingerprint` writes: shapes (lists of counts), dtype strings, a 16-byte hex digest."""
    missing = [key for key in FINGERPRINT_KEYS if key not in saved]
    if missing:
        raise TypeError(f"{name} has no {missing[0]!r}")
    for key in ("X_shape", "y_shape"):
        shape = saved[key]
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise TypeError(f"{name}.{key} must be a list of counts (an array's shape), got {reprlib.repr(shape)}")
    for key in ("X_dtype", "y_dtype"):
        if not _is_dtype_str(saved[key]):
            raise TypeError(f"{name}.{key} must be a numpy dtype string such as '<f4' (dtype.str), got "
                            f"{reprlib.repr(saved[key])}")
    digest = saved["digest"]
    if not isinstance(digest, str) or len(digest) != 32 or any(ch not in "0123456789abcdef" for ch in digest):
        raise TypeError(f"{name}.digest must be 32 hexadecimal digits, got {reprlib.repr(digest)}")


def _is_dtype_str(value: Any) -> bool:
    """Whether ``value`` is a numpy dtype's ``.str`` ("<f4", "|b1", "|O" ...), as :func:`fingerprint` records it.
    A dtype of numpy's new kind (StringDType) has its repr there ("StringDType()"), which np.dtype does not
    parse: it is taken when it names such a dtype class."""
    if not isinstance(value, str):
        return False
    name, parenthesis, _ = value.partition("(")
    if parenthesis and value.endswith(")"):
        return isinstance(getattr(getattr(np, "dtypes", None), name, None), type) and name.endswith("DType")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns of deprecated spellings, which dtype.str never gives
            return np.dtype(value).str == value
    except (TypeError, ValueError, SyntaxError, OverflowError):  # numpy's parser raises each for some strings
        return False


def _with_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


__all__ = ["Checkpoint", "CheckpointWriter", "Position", "check_same_data", "fingerprint", "read_checkpoint"]
