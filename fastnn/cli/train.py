"""``fastnn train``: train an MLP classifier (on the embedded digits by default) and write a model file.

The run is an experiment config (fastnn.cli.experiment: ``--config exp.toml`` or ``.json``); each flag overrides
one key of it (``--lr`` is ``optimizer.lr``, ``--set train.drop_last=true`` any key), the whole is checked before
any data are read, and ``--print-config`` prints the effective config, which repeats the run exactly.
``--resume run.ckpt`` continues a run trained with ``checkpoint.path`` (its config is recorded next to the
checkpoint, in ``run.ckpt.config.json``).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import string
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ..formats.common import atomic_write_bytes
from . import _data, augment_preview, experiment
from ._data import MAX_CLASSES
from ._types import (
    UsageError,
    available_cores,
    checked,
    positive_int,
    positive_int_list,
    real,
    replaced_file,
    seed_int,
    thread_count,
)

COMMAND = "train"

# flag dest -> the config key it overrides
FLAG_KEYS = {"data": "data.train", "hidden": "model.hidden", "activation": "model.activation",
             "epochs": "train.epochs", "batch_size": "train.batch_size", "lr": "optimizer.lr",
             "momentum": "optimizer.momentum", "nesterov": "optimizer.nesterov", "seed": "train.seed",
             "threads": "train.threads", "dtype": "data.dtype", "test_fraction": "data.test_fraction",
             "output": "output", "optimizer": "optimizer.class", "validation_split": "validation.split",
             "checkpoint": "checkpoint.path", "metrics": "train.metrics", "preprocess": "model.preprocess"}
# what --resume lets a flag change: where the data are, how long, how fast, how loud, where the model goes
RESUME_FLAGS = ("data", "epochs", "threads", "quiet", "output", "config", "set")
# the config keys --config / --set may change on --resume (the same things); any other is the recorded run's
# (checkpoint.path only to name the --resume file, which the resumed run writes back to: _check_writes_back)
RESUME_KEYS = ("output", "data.train", "data.labels", "data.mmap", "data.test", "validation.data", "train.threads",
               "train.verbose", "checkpoint.path")


def _data_spec(text: str) -> str:
    try:
        experiment._data_source(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _check_lr(lr: float) -> None:
    """The optimizer's own check of its learning rate."""
    from ..optim import SGD

    SGD(lr=lr)


def _check_test_fraction(fraction: float) -> None:
    """The split's own check of its fraction."""
    import numpy as np

    from ..datasets import stratified_split

    stratified_split(np.zeros(1, np.int64), fraction)


def _key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--set``: VALUE is read as JSON (numbers, true/false, null, lists) or else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as optimizer.lr=0.01, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _not_a_file(path: str) -> str | None:
    """Why ``path`` is not a regular file to read ("no such file", "not a regular file"), or None when it is one."""
    if Path(path).is_file():
        return None
    return "not a regular file" if Path(path).exists() else "no such file"


def _config_file(text: str) -> str:
    if not text.lower().endswith((".toml", ".json")):
        raise argparse.ArgumentTypeError(f"expected a .toml or .json file, got {text!r}")
    if (problem := _not_a_file(text)) is not None:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return text


def add_parser(subparsers) -> argparse.ArgumentParser:
    train = subparsers.add_parser(
        COMMAND, help="train an MLP and write the model file", usage="%(prog)s [options]",
        description="Train an MLP classifier and write the model file. With no arguments: the embedded UCI digits "
        "(8x8 images, 10 classes), SGD with momentum. --config exp.toml describes a whole run (see README, 'The "
        "command line'); each flag overrides one of its keys. Every option and config key is checked before any "
        "data are read (exit status 2); a bad data file stops the command before training (exit status 1), naming "
        "the row as the file counts it.")
    train.add_argument("--config", type=_config_file, default=None, metavar="FILE",
                       help="experiment config, .toml or .json (the flags below override its keys)")
    train.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, e.g. --set optimizer.weight_decay=1e-4 (VALUE read as JSON)")
    train.add_argument("--print-config", action="store_true",
                       help="print the full effective config (JSON, defaults filled in) and exit: --config with "
                       "it repeats the run exactly")
    train.add_argument("--resume", default=None, metavar="CHECKPOINT",
                       help="continue the run that wrote CHECKPOINT (checkpoint.path / --checkpoint), to its end")
    train.add_argument("--data", type=_data_spec, default=None, metavar="DATASET",
                       help="'embedded' (UCI digits, bundled), 'fashion-mnist' (IDX files from $FASTNN_DATA or "
                       "/usr/share/datasets/fashion-mnist), or a path to a .npz (X_train, y_train or X, y[, "
                       "X_test, y_test]) or .csv (label in the last column, optional header line) file; labels "
                       f"are class indices 0..K-1, K <= {MAX_CLASSES:,} (default: embedded)")
    train.add_argument("--hidden", type=positive_int_list("hidden layer size"), default=None, metavar="N,N,...",
                       help="hidden layer sizes (default: 256,128 for embedded, 512,256 otherwise)")
    train.add_argument("--activation", default=None, choices=experiment.SCHEMA["model"]["activation"].choices,
                       help="hidden activation (default: relu)")
    train.add_argument("--epochs", type=positive_int("epochs"), default=None,
                       help="epochs (default: 30 embedded, 10 else)")
    train.add_argument("--batch-size", type=positive_int("batch_size"), default=None, help="mini-batch size; 1 = "
                       "stochastic, the sample count = full batch (default: 32)")
    train.add_argument("--lr", type=checked(float, _check_lr), default=None, help="learning rate >= 0 "
                       "(default: 0.05)")
    train.add_argument("--momentum", type=real("momentum", min_val=0.0, max_val=1.0, include_boundaries="left"),
                       default=None, help="SGD momentum in [0, 1): 1 and above never converge, so they are refused "
                       "(default: 0.9)")
    train.add_argument("--nesterov", action="store_true", default=None,
                       help="use Nesterov momentum (needs --momentum > 0)")
    train.add_argument("--seed", type=seed_int, default=None,
                       help="seed for init, shuffling and the split, 0..2**64-1 (default: 0)")
    train.add_argument("--threads", type=thread_count, default=None, help="threads for kernels and BLAS, at most "
                       f"the cores available to the process, {available_cores()} here (default: all of them)")
    train.add_argument("--dtype", default=None, choices=["float32", "float64"])
    train.add_argument("--test-fraction", type=checked(float, _check_test_fraction), default=None,
                       help="held-out fraction in [0, 1) when the dataset has no test split; 0 trains on every row "
                       "and skips the test evaluation (default: 0.25)")
    train.add_argument("--output", "-o", type=replaced_file, default=None,
                       help="model file to write, checked before training (default: fastnn_model.safetensors)")
    train.add_argument("--optimizer", default=None, type=str.lower,
                       choices=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"],
                       help="optimizer class, starting from its own defaults (SGD's: lr 0.001, no momentum), "
                       "which --lr, --momentum, --nesterov, --set optimizer.KEY=VALUE override (default: SGD with "
                       "lr 0.05, momentum 0.9)")
    train.add_argument("--validation-split", type=checked(float, experiment.SCHEMA["validation"]["split"].check),
                       default=None, help="last fraction of the training rows held out for validation, in [0, 1)")
    train.add_argument("--metrics", type=lambda t: t.split(","), default=None, metavar="NAME,...",
                       help="metrics per epoch (accuracy, top_k_accuracy, precision, recall, f1)")
    train.add_argument("--preprocess", default=None, metavar="NAME",
                       help="standard, minmax, pca_whiten, zca_whiten, ... (fastnn.preprocessing.make)")
    train.add_argument("--checkpoint", type=replaced_file, default=None, metavar="FILE",
                       help="write a resumable checkpoint every epoch (fastnn train --resume FILE continues it)")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    augment_preview.add_augment_arguments(train)
    train.set_defaults(**dict.fromkeys(AUGMENT_MODIFIERS))  # None: not given, so the config's value stays
    return train


def _given(args) -> list[str]:
    """The flags given on the command line (dests)."""
    given = [dest for dest in FLAG_KEYS if getattr(args, dest) is not None]
    given += ["quiet"] * args.quiet + ["set"] * bool(args.set) + ["config"] * (args.config is not None)
    if _augment_transforms(args) or any(getattr(args, dest) is not None for dest in AUGMENT_MODIFIERS):
        given.append("augment")
    return given


# augmentation flags that modify the augmentation rather than add a transform: None when not given (train.add_parser)
AUGMENT_MODIFIERS = {"flip_p": 0.5, "fill_mode": "constant", "fill_value": 0.0, "image_shape": None}


def _augment_transforms(args) -> list[dict]:
    """The configs of the transforms the augmentation flags describe (none when all are off)."""
    filled = {k: default if getattr(args, k) is None else getattr(args, k) for k, default in AUGMENT_MODIFIERS.items()}
    return augment_preview.build_pipeline(argparse.Namespace(**{**vars(args), **filled})).get_config()["transforms"]


def _augment_flags(args, raw: dict, put) -> None:
    """The augmentation flags applied to ``raw``: the transform flags replace augment.transforms, --fill-mode,
    --fill-value and --image-shape set their keys (the config's others stay); each needs an augmentation."""
    if args.flip_p is not None and args.flip == "none":
        raise UsageError("--flip-p is the probability of --flip: give --flip too")
    transforms = _augment_transforms(args)
    if transforms:
        section = raw.get("augment")
        raw["augment"] = {**(section if isinstance(section, dict) else {}), "transforms": transforms}
        put("augment.transforms", transforms, "the augmentation flags")
    for dest in ("fill_mode", "fill_value", "image_shape"):
        value, flag = getattr(args, dest), "--" + dest.replace("_", "-")
        if value is None:
            continue
        if not isinstance(raw.get("augment"), dict):
            raise UsageError(f"{flag}: there is no augmentation to apply it to (give --rotation, --shift, --zoom, "
                             "--flip or --noise, or [augment] transforms)")
        put(f"augment.{dest}", list(value) if dest == "image_shape" else value, flag)


def _raw_config(args, base: dict | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """(the config with every flag applied, [(key path, the flag that set it)])."""
    raw = base if base is not None else (experiment.read(args.config) if args.config else {})
    flags: list[tuple[str, str]] = []

    def put(key: str, value: object, flag: str) -> None:
        experiment.set_key(raw, key, value)
        flags.append((key, flag))

    if args.optimizer is not None:  # a class of its own: its defaults, not the config's other hyperparameters;
        raw["optimizer"] = {}       # first, so that --lr, --momentum, --set optimizer.KEY apply to it
    for key, value in args.set:
        put(key, value, f"--set {key}")
    for dest, key in FLAG_KEYS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if dest == "hidden":
            raw.get("model", {}).pop("layers", None)
        put(key, value, "--" + dest.replace("_", "-"))
    if args.quiet:
        put("train.verbose", 0, "--quiet")
    _augment_flags(args, raw, put)
    return raw, flags


def _experiment(args, base: dict | None = None) -> experiment.Experiment:
    raw, flags = _raw_config(args, base)
    try:
        return experiment.check(raw, f"{args.config}: " if args.config else "")
    except experiment.ConfigError as exc:
        text = str(exc)
        where = text.removeprefix(f"{args.config}: ").split(":")[0].strip()
        setters = [flag for key, flag in flags if _blamed(key, where, text)]
        raise experiment.ConfigError(text + (f" (set by {', '.join(setters)})" if setters else "")) from None


def _blamed(key: str, where: str, message: str) -> bool:
    """Whether the flag that set config key ``key`` shares the blame for an error at key path ``where``: the same
    key, one inside the other ("optimizer" and "optimizer.lr"), or a key of the same object that chose its kind
    ("schedule.class" for "schedule.total_steps: required by Cosine") or that the message names as a cause
    ("optimizer.nesterov" in "optimizer.momentum: Nesterov momentum requires a momentum")."""
    if any(a == b or a.startswith((b + ".", b + "[")) for a, b in ((key, where), (where, key))):
        return True
    parent, _, name = key.rpartition(".")
    # an unknown key's message names the allowed keys and a close match, never a cause: "allowed: ... verbose"
    # does not make --quiet (train.verbose) share the blame for train.bogus
    named = "unknown key" not in message and re.search(rf"\b{re.escape(name)}\b", message, re.I)
    return bool(parent and where.startswith(parent + ".") and (name in ("class", "name") or named))


def _check_files_apart(config: dict, config_file: str | None, resume: str | None = None) -> None:
    """No file the run writes may be one it reads or another one it writes (the --data file replaced by the
    checkpoint, the checkpoint by the model file, the config by a CSV log): refused naming both, before any data
    are read. ``resume``: the checkpoint a resumed run continues, the one file it reads and writes back to."""
    # the checkpoint a resumed run writes is the one it continues (fastnn.resume writes back to it), not the
    # recorded checkpoint.path; a new run records its config beside its checkpoint, a resumed one reads that record
    writes = [(key, path) for key, path in experiment.written_files(config) if key != "checkpoint.path"]
    reads = experiment.read_files(config)
    checkpoint = resume if resume is not None else config["checkpoint"]["path"]
    if checkpoint is not None:
        record = (f"{'--resume' if resume else 'checkpoint.path'}'s config record", str(sidecar(checkpoint)))
        writes.append(("--resume" if resume else "checkpoint.path", checkpoint))
        (reads if resume else writes).append(record)
    reads += [("--config", config_file)] if config_file is not None else []
    for i, written in enumerate(writes):
        for other in writes[:i] + reads:
            if _same_file(written, other):
                harm = "one would replace the other" if other in writes else "the run would overwrite it"
                raise UsageError(f"{_named(written[0])} {written[1]} is the file of {_named(other[0])}: {harm}")


def _named(key: str) -> str:
    """A config key with the flag that sets it: "data.train (--data)"."""
    flag = next((dest for dest, k in FLAG_KEYS.items() if k == key), None)
    return f"{key} (--{flag.replace('_', '-')})" if flag is not None else key


def _same_file(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether the (key, path) pairs ``a`` and ``b`` name one file: os.path.samefile when both exist, else by
    their resolved paths, a ModelCheckpoint filepath pattern standing for every path it can format to."""
    if os.path.exists(a[1]) and os.path.exists(b[1]):
        return os.path.samefile(a[1], b[1])
    path_a, path_b = (os.path.normcase(os.path.realpath(path)) for _, path in (a, b))
    return bool(_names(a[0], path_a).fullmatch(path_b) or _names(b[0], path_b).fullmatch(path_a))


def _names(key: str, path: str) -> re.Pattern[str]:
    """The regular expression of the file names ``path`` stands for: itself, or for the pattern of a
    ModelCheckpoint filepath ("m-{epoch}.fnn") every name with some text in place of each field."""
    if not key.endswith(".filepath"):
        return re.compile(re.escape(path))
    parts = string.Formatter().parse(path)  # a pattern that does not parse was refused with the config
    return re.compile("".join(re.escape(literal) + (".+" if field is not None else "") for literal, field, *_ in parts))


def sidecar(checkpoint: str) -> Path:
    """Where ``train`` records the config of a checkpointed run, for ``--resume``."""
    return Path(checkpoint + ".config.json")


def run(args) -> int:
    if args.resume is not None:
        return _resume(args)
    exp = _experiment(args)
    if args.print_config:
        sys.stdout.write(experiment.dumps(exp.config))
        return 0
    _check_files_apart(exp.config, args.config)
    with _threads(exp.config):
        return _train(exp, _train_arg(args))


def _threads(config: dict):
    """The run's thread count for kernels and BLAS, put back afterwards (None: as set)."""
    import fastnn as fnn

    return fnn.threads(config["train"]["threads"])


def _train_arg(args) -> str:
    """What errors call the training data: the source the user gave them by, --data or a config (--set) key."""
    return "--data" if args.data is not None else "data.train"


def _load(config: dict, train_arg: str):
    """(X_train, y_train, X_test, y_test, validation_data or None) of the config's data sections; errors name
    data.train as ``train_arg`` (:func:`_train_arg`), data.test and validation.data by their keys."""
    try:
        X_train, y_train, X_test, y_test = _data.load_config(config["data"], config["train"]["seed"])
    except (ValueError, FileNotFoundError) as exc:
        raise type(exc)(_data.reworded_for(exc, train_arg, dtype_hint=True)) from None
    _warn_of_classes_missing_from_validation(y_train, config["validation"]["split"])
    validation = config["validation"]["data"]
    try:
        val = _data.read_rows(validation, config["data"]["dtype"]) if validation is not None else None
    except (ValueError, FileNotFoundError) as exc:
        raise type(exc)(_data.reworded_for(exc, "validation.data", dtype_hint=True)) from None
    if config["augment"] is not None:
        try:
            experiment.Experiment(config).augment().check_rows(X_train.shape[1])
        except ValueError as exc:  # the shape of the flag or of the config file: the key, named with its flag
            raise ValueError(f"augment.image_shape (--image-shape): {exc}") from None
    return X_train, y_train, X_test, y_test, val


def _warn_of_classes_missing_from_validation(y_train, split: float | None) -> None:
    """A warning on stderr when validation.split holds out rows that lack classes of the rows trained on."""
    if not split:
        return
    rows, classes, missing = _data.classes_validation_split_misses(y_train, split)
    if missing:
        print(f"fastnn train: warning: validation.split {split} holds out the last {rows} training rows (the file's "
              f"order is kept), which lack {missing} of the {classes} classes trained on: shuffle the file's rows, "
              "or give validation rows of their own ([validation] data in a --config file)", file=sys.stderr)


def _train(exp: experiment.Experiment, train_arg: str) -> int:
    import fastnn as fnn

    config = exp.config
    data, train, ckpt = config["data"], config["train"], config["checkpoint"]
    X_train, y_train, X_test, y_test, val = _load(config, train_arg)
    labels = [y_train, y_test] + ([val[1]] if val is not None else [])
    n_classes = int(max(y.max(initial=0) for y in labels)) + 1
    if n_classes > MAX_CLASSES:
        raise ValueError(f"--data {data['train']}: {n_classes} classes is more than {MAX_CLASSES}")
    try:
        model = fnn.Sequential(exp.layers(n_classes), input_dim=X_train.shape[1], dtype=data["dtype"],
                               seed=train["seed"], preprocess=config["model"]["preprocess"], loss=exp.loss())
    except MemoryError as exc:  # numpy's "Unable to allocate 27.3 TiB" named no key
        widths = [X_train.shape[1], *(c["units"] for c in config["model"]["layers"] if "units" in c), n_classes]
        raise MemoryError(f"model.layers (model.hidden, --hidden): a model of widths {'-'.join(map(str, widths))} "
                          f"does not fit in memory ({exc})") from None
    print(f"data: {data['train']}  train {X_train.shape}  test {X_test.shape}  classes {n_classes}")
    model.summary()
    if config["augment"] is not None:
        print(f"augmentation: {exp.augment()!r}")
    t0 = time.perf_counter()
    with _config_recorded(ckpt["path"], config):
        model.fit(X_train, y_train, loss=exp.loss(), optimizer=exp.optimizer(), epochs=train["epochs"],
                  batch_size=train["batch_size"], shuffle=train["shuffle"], seed=train["seed"], clip=exp.clip(),
                  validation_data=val, callbacks=exp.callbacks(), verbose=train["verbose"], augment=exp.augment(),
                  on_nonfinite_loss=train["on_nonfinite_loss"], validation_split=config["validation"]["split"],
                  drop_last=train["drop_last"], class_weight=train["class_weight"], metrics=train["metrics"],
                  checkpoint=ckpt["path"], checkpoint_every=ckpt["every"], checkpoint_every_steps=ckpt["every_steps"])
    return _finish(model, config, X_train, X_test, y_test, time.perf_counter() - t0)


def _finish(model, config: dict, X_train, X_test, y_test, train_time: float, resumed_at: int | None = None) -> int:
    """Evaluate, save and report. ``resumed_at``: the optimizer step a resumed run continued from (its history
    holds the epochs before it too, so only the steps of this process are reported)."""
    import fastnn as fnn

    metrics = config["train"]["metrics"] or None
    result = model.evaluate(X_test, y_test, metrics=metrics) if len(X_test) else None
    fnn.save(model, config["output"])
    if resumed_at is not None:
        print(f"resumed at step {resumed_at}: trained {model.step_count - resumed_at} more steps in "
              f"{train_time:.2f} s")
    else:
        epochs = len(model.history.history.get("loss", [])) if model.history is not None else 0
        print(f"trained {epochs} epochs in {train_time:.2f} s "
              f"({epochs * len(X_train) / max(train_time, 1e-9):,.0f} samples/s)")
    if result is None:
        print("test accuracy: not measured (no test rows: --test-fraction 0 trains on every row)")
    else:
        print("  ".join(f"test {k}: {v:.4f}" for k, v in [*list(result.items())[1:], ("loss", result["loss"])]))
    print(f"model written to {config['output']}")
    return 0


@contextlib.contextmanager
def _config_recorded(checkpoint: str | None, config: dict) -> Iterator[None]:
    """The run's config recorded beside its checkpoint (``sidecar``, what --resume reads) for the block, which
    runs fit. If the block stops before fit has written a checkpoint (fit's own checks refused the run once the
    data were read, or an interrupt), the record is put back as it was: this run left nothing to resume, and an
    earlier run's checkpoint at that path keeps its own record."""
    if checkpoint is None:
        yield
        return
    record = sidecar(checkpoint)
    before = _stamp(checkpoint), record.read_bytes() if record.is_file() else None
    atomic_write_bytes(record, experiment.dumps(config).encode())
    try:
        yield
    except BaseException:
        if _stamp(checkpoint) == before[0]:
            if before[1] is None:
                record.unlink(missing_ok=True)
            else:
                atomic_write_bytes(record, before[1])
        raise


def _stamp(path: str) -> tuple[int, int, int] | None:
    """What changes when a file is written (a checkpoint write replaces the file): None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _check_unchanged(recorded: dict, config: dict, path: str = "") -> None:
    """Refuse a --config / --set on --resume that changes a key of the recorded run other than RESUME_KEYS: the
    checkpoint holds the run's own settings, so the change would be silently ignored."""
    for key in sorted(recorded.keys() | config.keys(), key=lambda k: (k != "class", k)):  # a class first
        where = f"{path}.{key}" if path else key
        old, new = recorded.get(key), config.get(key)
        if where in RESUME_KEYS or old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            _check_unchanged(old, new, where)
            continue
        hint = " (--epochs trains longer)" if where == "train.epochs" else ""
        raise UsageError(f"--resume continues the recorded run: {where} would change it (recorded {old!r}, given "
                         f"{new!r}){hint}; only the data's location, threads, verbosity and output may change")


def _check_writes_back(path: str | None, recorded: dict | None, resume: str) -> None:
    """A resumed run writes its checkpoints back to the --resume file (fastnn.resume): a checkpoint.path that
    --config / --set give for another file would be ignored, and the checkpoint the user meant to keep
    overwritten. The recorded path (relative to where the run started) and the --resume file itself are fine."""
    old = recorded["checkpoint"]["path"] if recorded is not None else None
    if path is None or path == old or _same_file(("checkpoint.path", path), ("--resume", resume)):
        return
    raise UsageError(f"--resume continues the recorded run: checkpoint.path would change it (recorded {old!r}, given "
                     f"{path!r}); the resumed run writes its checkpoints back to {resume} (copy it, and its "
                     f"{sidecar('').name}, to continue the run elsewhere)")


def _check_recorded_is_the_checkpoints(exp: experiment.Experiment, checkpoint: str, fit: dict, recorded: Path) -> None:
    """The recorded config against the checkpoint's own fit arguments, which are what the resumed run uses: an
    edited record (or another run's) would show, and print, settings the run does not have."""
    config = exp.config
    train = config["train"]
    clip, augment = exp.clip(), exp.augment()
    implied = {"loss": exp.loss().get_config(), "optimizer": exp.optimizer().get_config(),
               "clip": clip.get_config() if clip is not None else None,
               "augment": augment.get_config() if augment is not None else None,
               "batch_size": train["batch_size"], "seed": train["seed"], "shuffle": train["shuffle"],
               "drop_last": train["drop_last"], "on_nonfinite_loss": train["on_nonfinite_loss"],
               "validation_split": config["validation"]["split"]}
    for key, value in implied.items():
        value = json.loads(json.dumps(value))  # as the checkpoint stores it (tuples are lists)
        if key in fit and fit[key] != value:
            raise UsageError(f"--resume {checkpoint}: the recorded config {recorded} "
                             f"gives {key} {value!r}, but the checkpoint's run has {fit[key]!r}; the record was "
                             "edited or belongs to another run")


def _resume(args) -> int:
    """Continue a checkpointed run: its recorded config (or --config / the flags when none was recorded), with
    only the data's location, the epochs, threads, verbosity and output changeable."""
    import fastnn as fnn

    from ..formats import ModelFileError
    from ..training.checkpoint import read_checkpoint

    changes = [g for g in _given(args) if g not in RESUME_FLAGS]
    if changes:
        raise UsageError(f"--resume continues the recorded run: --{changes[0].replace('_', '-')} would change it "
                         f"(only --data, --epochs, --threads, --quiet, --output apply)")
    if args.print_config:
        raise UsageError("--print-config with --resume: print the recorded config instead "
                         f"({sidecar(args.resume)})")
    recorded = sidecar(args.resume)
    base = experiment.read(str(recorded)) if recorded.is_file() else None
    epochs, args.epochs = args.epochs, None  # resume's own argument, not a key of the recorded config
    exp = _experiment(args, None if args.config is not None else copy.deepcopy(base))  # the flags edit it
    config = exp.config
    recorded_config = experiment.check(base).config if base is not None else None
    if recorded_config is not None:
        _check_unchanged(recorded_config, config)
    _check_writes_back(config["checkpoint"]["path"], recorded_config, args.resume)
    _check_files_apart(config, args.config, resume=args.resume)
    if (problem := _not_a_file(args.resume)) is not None:
        raise FileNotFoundError(f"--resume {args.resume}: {problem}")
    try:
        checkpoint = read_checkpoint(args.resume)  # once: its run settings here, its step count below
    except ModelFileError as exc:
        raise ValueError(f"--resume {exc}") from None
    if base is not None:
        _check_recorded_is_the_checkpoints(exp, args.resume, checkpoint.fit, recorded)
    with _threads(config):
        X_train, y_train, X_test, y_test, val = _load(config, _train_arg(args))
        try:
            resumed_at = checkpoint.step_count
            t0 = time.perf_counter()
            model = fnn.resume(args.resume, X_train, y_train, validation_data=val, epochs=epochs,
                               verbose=config["train"]["verbose"])
        except ModelFileError as exc:
            raise ValueError(f"--resume {exc}") from None
        except ValueError as exc:
            raise ValueError(f"--resume {args.resume}: {exc} (data: {config['data']['train']})") from None
        return _finish(model, config, X_train, X_test, y_test, time.perf_counter() - t0, resumed_at)
