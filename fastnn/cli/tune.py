"""``fastnn tune --config tune.toml``: search an MLP's hyperparameters (fastnn.tune.tune_model) and write the
trials, the best configuration, the model retrained with it and, with ``--plot``, the figures.

The config (TOML; every section and key optional)::

    [data]                        # as `fastnn train --data`
    source = "embedded"           # "embedded", "fashion-mnist", or a .npz / .csv path
    validation_fraction = 0.2     # of the training rows, stratified: the trials are scored on it
    test_fraction = 0.25          # held out when the data have no test split (0: none)
    subset = 5000                 # train on the first rows of a stratified shuffle only (0: all)
    dtype = "float32"

    [search]
    method = "hyperband"          # grid, random, random+refine, bayes, successive_halving, hyperband, bohb
    n_trials = 30                 # (hyperband, bohb: brackets until this many configurations have started)
    max_epochs = 27               # a trial's maximum budget
    min_epochs = 1
    eta = 3
    metric = "val_accuracy"
    seed = 0
    refit = true                  # false: the search only (no model.safetensors, no test score)
    # grid_points = 3             # with method = "grid": any further key is an option of the method

    [executor]                    # default: in-process
    kind = "processes"            # or "dask" with address = "tcp://host:8786"
    n_workers = 2
    checkpoint_dir = "ckpts"      # trials' checkpoints (a filesystem every worker sees), default: temporary

    [space]                       # fastnn.tune.mlp_space arguments:
    depth = {low = 1, high = 3}   #   a table {low, high}: a range
    batch_size = [32, 64, 128]    #   an array: a choice
    dropout = 0.0                 #   a value: fixed

``--dask tcp://host:8786`` runs the trials on that Dask scheduler whatever the config says. Writes, in
``--output DIR``: ``trials.csv``, ``best.json`` (params, score, metric, epochs trained) and ``model.safetensors``
(the best configuration trained for max_epochs); with ``--plot``: ``score_vs_trial.png`` (every trial's score and
the running best), for grid and random searches ``pairs.png`` (the score over each pair of numeric
hyperparameters that some trial has together), for successive halving, Hyperband and BOHB ``rungs.png`` (each
configuration's score against its budget). A run replaces the whole set: its files are written into a hidden
directory in DIR, then renamed into place, and the files of the set it does not write (model.safetensors with
``refit = false`` or a failed retraining, the figures without ``--plot``) are removed; so a failed run (a full disk,
an error, Ctrl-C) leaves the previous run's files as they were, its error naming the file that failed, and DIR
never mixes two runs (a run killed outright may leave its hidden ``.tune-*`` directory, safe to delete); a file
replaced keeps its permission bits. A key or section the config does not allow, and the values that can be
checked without the data (method, metric's type, mode, seed, refit, max_epochs, the [data] fractions, subset,
dtype and source's type, the journal's and checkpoint_dir's paths, the space), stop the command before any data are
read, exit status 2; the other values (a metric name, loss, the methods' options) are checked by tune_model before
its first trial, exit status 1. One progress line per finished trial. matplotlib is imported here only, with ``--plot``.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import optional_import
from ..formats.common import atomic_write_bytes, open_regular
from ..validation import check_scalar, check_seed
from ._types import UsageError, output_directory, pyplot_for, replaced_file

COMMAND = "tune"

_SECTIONS = {
    "data": {"source", "validation_fraction", "test_fraction", "subset", "dtype"},
    "search": None,  # method options pass through to fastnn.tune.search
    "executor": {"kind", "address", "n_workers", "checkpoint_dir"},
    "space": None,   # checked by mlp_space
}
# tune_model's and search's keywords that fastnn tune or tune_model sets itself (journal_key, journal_digest: tune_model
# passes its own to search), or that a config cannot give: refused in [search] (they arrived as duplicate keywords,
# or made every trial fail), naming where they belong
_NOT_IN_SEARCH = {"dtype": "[data] dtype", "executor": "[executor] kind", "n_workers": "[executor] n_workers",
                  "checkpoint_dir": "[executor] checkpoint_dir", "space": "the [space] section",
                  "validation_data": "[data] validation_fraction", "build": None, "callback": None,
                  "journal_key": None, "journal_digest": None, "X": None, "y": None, "objective": None,
                  "min_budget": "[search] min_epochs", "max_budget": "[search] max_epochs"}
# every file a run may write in --output: a run replaces the whole set (replace_outputs)
OUTPUTS = ("trials.csv", "best.json", "model.safetensors", "score_vs_trial.png", "pairs.png", "rungs.png")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        COMMAND, help="search an MLP's hyperparameters and write trials, best config and model",
        usage="%(prog)s --config tune.toml [options]", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--config", required=True, metavar="TOML", help="the search's config file (see below)")
    parser.add_argument("--output", "-o", default="tune_out", metavar="DIR", type=output_directory,
                        help="directory for the results, created if missing (default: tune_out)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run the trials on this Dask scheduler (e.g. tcp://host:8786)")
    parser.add_argument("--plot", action="store_true", help="also write the figures (needs matplotlib)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line per trial")
    return parser


def read_config(path: str) -> dict[str, dict[str, Any]]:
    """The config's sections, with unknown sections and keys refused (naming them). A file that cannot be read
    (missing, a directory, not UTF-8) is an error naming --config and the path, as in ``fastnn train``; a FIFO is
    refused before it is opened (reading it would wait for a writer forever)."""
    # tomllib is in the standard library from Python 3.11; tomli is the same parser for 3.10
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    def not_regular(name: str, problem: str) -> ValueError:
        return ValueError(f"--config {name}: cannot read it: it {problem}")

    try:
        with open_regular(path, not_regular) as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--config {path}: cannot read it ({type(exc).__name__}: {exc})") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config {path}: not valid TOML: {exc}") from None
    except RecursionError:  # the parser recurses once per nesting level
        raise ValueError(f"--config {path}: nested too deeply to be a config") from None
    for section, value in config.items():
        if section not in _SECTIONS:
            raise ValueError(f"--config {path}: unknown section [{section}]; expected {sorted(_SECTIONS)}")
        if not isinstance(value, dict):
            raise ValueError(f"--config {path}: {section} must be a [section] table")
        allowed = _SECTIONS[section]
        unknown = sorted(set(value) - allowed) if allowed is not None else []
        if allowed is not None and unknown:
            raise ValueError(f"--config {path}: unknown key(s) {unknown} in [{section}]; expected {sorted(allowed)}")
        reserved = sorted(set(value) & set(_NOT_IN_SEARCH)) if section == "search" else []
        if reserved:
            where = _NOT_IN_SEARCH[reserved[0]]
            raise ValueError(f"--config {path}: [search] {reserved[0]} is not a search option"
                             + (f"; use {where}" if where else " (fastnn tune sets it itself)"))
    return {section: dict(config.get(section, {})) for section in _SECTIONS}


def space_of(section: dict[str, Any]) -> dict[str, Any]:
    """The [space] section as mlp_space arguments ({low, high} tables -> ranges, arrays -> choices)."""
    from ..tune import mlp_space

    kwargs: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            if set(value) != {"low", "high"}:
                raise ValueError(f"[space] {key}: a range is a table {{low = ..., high = ...}}, got {value}")
            value = (value["low"], value["high"])
        kwargs[key] = value
    try:
        return mlp_space(**kwargs)
    except TypeError as exc:
        raise ValueError(f"[space]: {exc}") from None


def _data_options(section: dict[str, Any]) -> tuple[float, float, int]:
    """(test_fraction, validation_fraction, subset) of the [data] section, checked."""
    test_fraction = _checked("data", "test_fraction", section.get("test_fraction", 0.25), Real, min_val=0.0,
                             max_val=1.0, include_boundaries="left")
    validation_fraction = _checked("data", "validation_fraction", section.get("validation_fraction", 0.2), Real,
                                   min_val=0.0, max_val=1.0, include_boundaries="neither")
    subset = _checked("data", "subset", section.get("subset", 0), Integral, min_val=0)
    source = section.get("source", "embedded")
    if not (isinstance(source, str) and source):
        raise ValueError(f"[data] source must be a data set's name or a file's path, got {source!r}")
    from ..models import DTYPES

    dtype = section.get("dtype", "float32")  # numpy's "Cannot interpret '3' as a data type" came after the reading
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"[data] dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return test_fraction, validation_fraction, subset


def _check_paths(config: dict[str, dict[str, Any]], output: str) -> None:
    """[search] journal and [executor] checkpoint_dir checked before any data are read: a number failed after the
    reading with "expected str, bytes or os.PathLike object, not int", and a journal in a missing directory with a
    bare "[Errno 2]". The journal's directory must exist or be --output (made before the search)."""
    journal = config["search"].get("journal")
    if journal is not None:
        if not (isinstance(journal, str) and journal):
            raise ValueError(f"[search] journal must be a file's path, got {journal!r}")
        directory = os.path.dirname(os.path.abspath(journal))
        if os.path.isdir(journal):
            raise ValueError(f"[search] journal {journal!r} is a directory; give a file's path in it")
        if not os.path.isdir(directory) and directory != os.path.abspath(output):
            raise ValueError(f"[search] journal {journal!r}: its directory {directory} does not exist (fastnn tune "
                             f"makes only --output)")
    checkpoint_dir = config["executor"].get("checkpoint_dir")
    if checkpoint_dir is not None:
        if not (isinstance(checkpoint_dir, str) and checkpoint_dir):
            raise ValueError(f"[executor] checkpoint_dir must be a directory's path, got {checkpoint_dir!r}")
        if os.path.lexists(checkpoint_dir) and not os.path.isdir(checkpoint_dir):
            raise ValueError(f"[executor] checkpoint_dir {checkpoint_dir!r} exists and is not a directory")


def _data(section: dict[str, Any], seed: int):
    """(X_train, y_train, X_val, y_val, X_test, y_test) for the [data] section.

    A subset that leaves out a class is refused rather than shrunk around it or grown to hold it: the model's
    outputs follow the labels it sees, so it could not predict the missing class and the test rows would ask for
    it (subset = 5 of 10 digits failed with "y: label 6 at row 3 asks for 7 classes from 5 labels"); a subset is
    stratified, so one of at least one row per class keeps every class unless the classes are very unbalanced."""
    from ..datasets import stratified_split
    from . import _data as data

    test_fraction, validation_fraction, subset = _data_options(section)
    X, y, Xt, yt = data.load(section.get("source", "embedded"), test_fraction, seed, section.get("dtype", "float32"))
    if subset and subset < len(y):
        keep, _ = stratified_split(y, _fraction_leaving(len(y), subset), seed)
        classes, kept = len(np.unique(y)), len(np.unique(y[keep]))
        if kept < classes:
            raise ValueError(f"[data] subset = {subset} keeps rows of only {kept} of the data's {classes} classes: a "
                             f"model trained on it could not predict the others; give a subset of at least one row "
                             f"per class (>= {classes}, more for unbalanced classes), or 0 for all {len(y)} rows")
        X, y = X[keep], y[keep]
    train, val = stratified_split(y, validation_fraction, seed)
    rows = f"the {len(y)} rows" + (f" of subset = {subset}" if subset and subset <= len(y) else "")
    if len(train) == 0:  # fit said "X is empty: it has 0 samples", naming neither key
        raise ValueError(f"[data] validation_fraction = {validation_fraction} leaves no training rows: it takes all "
                         f"{rows} to score the trials on; lower it")
    if len(val) == 0:
        raise ValueError("[data] validation_fraction leaves no validation rows to score the trials on")
    return X[train], y[train], X[val], y[val], Xt, yt


def _checked(section: str, key: str, value: Any, kind: type, **bounds: Any) -> Any:
    """A config scalar checked before any work, the error naming its section and key."""
    return check_scalar(value, f"[{section}] {key}", kind, error=ValueError, **bounds)


def _fraction_leaving(n: int, keep: int) -> float:
    """The test_fraction whose stratified split (``ceil(fraction * n)`` test rows) leaves exactly ``keep`` of ``n``
    rows: ``1 - keep / n`` can round up a row (1 - 500/1347 left 499)."""
    fraction = 1.0 - keep / n
    while math.ceil(fraction * n) > n - keep:
        fraction = math.nextafter(fraction, 0.0)
    while math.ceil(fraction * n) < n - keep:
        fraction = math.nextafter(fraction, 1.0)
    return fraction


def _executor(section: dict[str, Any], dask: str | None) -> tuple[Any, dict[str, Any]]:
    """(executor, extra search keywords) for the [executor] section and --dask; a Dask one checks that dask is
    installed (before the data are read)."""
    if dask is not None or section.get("kind") == "dask":
        optional_import("distributed", "a Dask executor", "fastnn[dask]")
    if dask is not None:
        return dask, {}
    kind = section.get("kind", "in-process")
    for key, needs in (("n_workers", "processes"), ("address", "dask")):
        if key in section and kind != needs:  # it would be ignored
            raise ValueError(f"[executor] {key}: only for kind = \"{needs}\", the kind is {kind!r}")
    if kind == "in-process":
        return None, {}
    if kind == "processes":
        return "processes", {"n_workers": section.get("n_workers")}
    if kind == "dask":
        if "address" not in section:
            raise ValueError("[executor] kind = \"dask\" needs address = \"tcp://host:8786\"")
        return section["address"], {}
    raise ValueError(f"[executor] kind must be 'in-process', 'processes' or 'dask', got {kind!r}")


class Progress:
    """The line printed as each trial finishes: number, budget, score, running best, seconds (or the error)."""

    def __init__(self, metric: str, mode: str, quiet: bool):
        self.metric, self.sign, self.quiet = metric, 1.0 if mode == "min" else -1.0, quiet
        self.best: float | None = None

    def __call__(self, trial) -> None:
        if trial.status == "ok" and (self.best is None or self.sign * trial.score < self.sign * self.best):
            self.best = trial.score
        if self.quiet:
            return
        budget = f"  epochs {trial.budget}" if trial.budget is not None else ""
        result = (f"{self.metric} {trial.score:.4f}  best {self.best:.4f}" if trial.status == "ok"
                  else f"failed: {trial.error}")
        print(f"trial {trial.number:4d}{budget}  {result}  ({trial.seconds:.2f} s)", flush=True)


def run(args) -> int:
    import fastnn as fnn
    from fastnn.tune import tune_model

    try:  # a config error stops the command before any data are read or any file is made: status 2
        config, settings, search = _checked_config(args)
        executor, executor_kwargs = _executor(config["executor"], args.dask)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    method, metric, seed, max_epochs = settings.method, settings.metric, settings.seed, settings.max_epochs
    plt = _pyplot() if args.plot else None  # a missing matplotlib stops the command before any work
    X, y, Xv, yv, Xt, yt = _data(config["data"], seed)
    Path(args.output).mkdir(parents=True, exist_ok=True)  # before the search: a journal may be kept in it
    print(f"tune: {method} over {len(settings.space)} hyperparameters, {len(X)} training and {len(Xv)} "
          f"validation rows, up to {max_epochs} epochs a trial")
    result = tune_model(settings.space, X, y, validation_data=(Xv, yv), method=method, max_epochs=max_epochs,
                        metric=metric, dtype=config["data"].get("dtype", "float32"), seed=seed, executor=executor,
                        checkpoint_dir=config["executor"].get("checkpoint_dir"),
                        callback=Progress(metric, settings.mode, args.quiet), refit=settings.refit,
                        **executor_kwargs, **search)
    refitted = result.model is not None
    test = result.model.evaluate(Xt, yt) if refitted and len(Xt) else None
    best = {"metric": metric, "score": result.best_score, "params": result.best_params, "method": method,
            "trials": len(result.trials), "epochs_trained": result.epochs_trained,
            "seconds": round(result.seconds, 3), "test": test, "refit_error": result.refit_error}

    def write(directory: Path) -> list[str]:
        result.to_csv(directory / "trials.csv")
        atomic_write_bytes(directory / "best.json", (json.dumps(best, indent=2, default=_plain) + "\n").encode())
        written = ["trials.csv", "best.json"]
        if refitted:
            fnn.save(result.model, directory / "model.safetensors")
            written.append("model.safetensors")
        if plt is not None:
            written += write_figures(plt, result.search, directory, metric, method)
        return written

    written = replace_outputs(Path(args.output), write)
    print(f"best {metric} {result.best_score:.4f} with {json.dumps(result.best_params, default=_plain)}")
    print(f"{len(result.trials)} trials, {result.epochs_trained} epochs trained, {result.seconds:.1f} s"
          + (f"; test accuracy of the retrained model {test['accuracy']:.4f}" if test and "accuracy" in test else ""))
    print(f"written to {args.output}: {', '.join(written)}")
    if settings.refit and not refitted:
        print(f"fastnn tune: error: retraining the best configuration failed ({result.refit_error}); no "
              "model.safetensors (the search's results are written)", file=sys.stderr)
        return 1
    return 0


@dataclasses.dataclass
class Settings:
    """What run() reads from the config itself, checked."""

    method: str
    metric: str
    seed: int
    refit: bool
    max_epochs: int
    mode: str  # also passed through to tune_model in the other [search] keys
    space: Any


def _checked_config(args) -> tuple[dict[str, dict[str, Any]], Settings, dict[str, Any]]:
    """(config, its settings, the other [search] keys for tune_model): every key and value that can be checked
    without the data, and the output files, checked."""
    from fastnn.training.callbacks import monitor_mode

    config = read_config(args.config)
    search = dict(config["search"])
    method, metric = search.pop("method", "hyperband"), search.pop("metric", "val_accuracy")
    if not (isinstance(metric, str) and metric):
        raise ValueError(f"[search] metric must be a metric name such as 'val_accuracy', got {metric!r}")
    seed = check_seed(search.pop("seed", 0), "[search] seed")
    refit = _checked("search", "refit", search.pop("refit", True), bool)
    max_epochs = _checked("search", "max_epochs", search.pop("max_epochs", 27), Integral, min_val=1)
    check_search_keys(method, search)
    try:
        mode = monitor_mode(search.get("mode", "auto"), metric)
    except ValueError as exc:
        raise ValueError(f"[search] {exc}") from None
    space = space_of(config["space"])
    _data_options(config["data"])
    _check_paths(config, args.output)
    _check_replaceable(Path(args.output))
    return config, Settings(method, metric, seed, refit, max_epochs, mode, space), search


def _check_replaceable(out: Path) -> None:
    """The files of OUTPUTS in ``out`` are replaced by a rename, which would cut a link or fail on a directory:
    refused before any work, as fastnn's atomic writes refuse them."""
    for name in OUTPUTS:
        if os.path.lexists(out / name):
            try:
                replaced_file(os.fspath(out / name))
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"--output: {exc}") from None


def check_search_keys(method: str, search: dict[str, Any]) -> None:
    """Refuse a [search] key that tune_model would not use: an unknown method, a budget for a method that has none,
    or a key that is neither tune_model's and search's own keyword nor an option of ``method`` (the table
    fastnn.tune.search checks a method's options against: fastnn.tune.searchers.method_options)."""
    from fastnn.tune.searchers import BUDGETED, METHODS, method_options

    if method not in METHODS:
        raise ValueError(f"[search] method must be one of {sorted(METHODS)}, got {method!r}")
    budget_keys = sorted({"min_epochs", "eta"} & set(search))
    if budget_keys and method not in BUDGETED:  # tune_model would ignore them: every trial trains max_epochs
        raise ValueError(f"[search] {budget_keys[0]}: only for the budgeted methods ({', '.join(sorted(BUDGETED))}); "
                         f"{method} trains every trial max_epochs epochs")
    options = [name for name in method_options(method) if name not in _NOT_IN_SEARCH]
    unknown = sorted(set(search) - _search_keywords() - set(options))
    if unknown:
        raise ValueError(f"[search] {unknown[0]}: method {method!r} does not take it (its options: "
                         f"{', '.join(options) or 'none'}; fastnn.tune.search lists every method's)")


def _search_keywords() -> set[str]:
    """tune_model's and search's own keywords that [search] may give (the others are in _NOT_IN_SEARCH)."""
    from fastnn.tune import tune_model
    from fastnn.tune.search import search

    return {p.name for function in (tune_model, search) for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - set(_NOT_IN_SEARCH)


def replace_outputs(out: Path, write: Callable[[Path], list[str]]) -> list[str]:
    """Replace the run's files in ``out`` (created if missing) by those ``write(directory)`` writes and names: into
    a hidden directory in ``out`` first, then renamed into place, and the files of OUTPUTS it did not write are
    removed. So a failed write (a full disk) leaves the previous run's files as they were, and ``out`` never
    holds two runs' files; the error names the file of ``out`` that failed."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tune-", dir=out))
    try:
        try:
            written = write(staging)
        except OSError as exc:
            if isinstance(exc.filename, str) and Path(exc.filename).parent == staging:
                exc.filename = os.fspath(out / Path(exc.filename).name)  # the file of out, not the staged one
            raise
        for name in written:
            if os.path.exists(out / name):  # the new file keeps the replaced one's permission bits, as atomic_write
                os.chmod(staging / name, stat.S_IMODE(os.stat(out / name).st_mode))
            os.replace(staging / name, out / name)
        for name in set(OUTPUTS) - set(written):  # an earlier run's model or figure would pass for this run's
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


# ------------------------------------------------------------------------------------------------ figures


def _pyplot():
    return pyplot_for("score_vs_trial.png", "--plot")  # the figures are PNGs; a missing matplotlib is status 1


def write_figures(plt, result, out: Path, metric: str, method: str) -> list[str]:
    """The figures of a search (see the module docstring); returns the file names written."""
    from ..tune.searchers import BUDGETED

    ok = [t for t in result.trials if t.status == "ok"]
    if not ok:
        return []
    written = [_score_vs_trial(plt, result, ok, out, metric)]
    if method in BUDGETED:
        written.append(_rungs(plt, ok, out, metric))
    elif method in ("grid", "random", "random+refine"):
        name = _pairs(plt, ok, out, metric)
        if name:
            written.append(name)
    return written


def _score_vs_trial(plt, result, ok, out: Path, metric: str) -> str:
    sign = 1.0 if result.mode == "min" else -1.0
    fig, ax = plt.subplots(figsize=(7, 3.8))
    budgets = sorted({t.budget for t in ok if t.budget is not None})
    for budget in budgets or [None]:
        trials = [t for t in ok if t.budget == budget]
        ax.scatter([t.number for t in trials], [t.score for t in trials], s=14, alpha=0.7,
                   label=f"{budget} epochs" if budget is not None else "trial")
    top = max(budgets) if budgets else None
    running, best = [], math.inf
    for t in ok:
        if t.budget == top:
            best = min(best, sign * t.score)
        running.append(sign * best if best < math.inf else np.nan)
    ax.step([t.number for t in ok], running, where="post", color="k", lw=1.5,
            label="running best" + (f" ({top} epochs)" if top is not None else ""))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(plt, fig, out, "score_vs_trial.png")


def _rungs(plt, ok, out: Path, metric: str) -> str:
    """Each configuration's score against its budget (log scale), its rungs joined by a line."""
    fig, ax = plt.subplots(figsize=(6, 4))
    by_config: dict[Any, list] = {}
    for t in ok:
        by_config.setdefault(t.config if t.config is not None else t.number, []).append(t)
    for trials in by_config.values():
        trials.sort(key=lambda t: t.budget)
        ax.plot([t.budget for t in trials], [t.score for t in trials], "-o", ms=3, lw=0.7, alpha=0.6)
    ax.set_xscale("log")
    budgets = sorted({t.budget for t in ok})
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("budget (epochs)")
    ax.set_ylabel(metric)
    ax.set_title("each rung's budget vs score")
    ax.grid(alpha=0.3)
    return _save(plt, fig, out, "rungs.png")


def _pairs(plt, ok, out: Path, metric: str, max_params: int = 6) -> str | None:
    """The score over each pair of numeric hyperparameters that vary (at most ``max_params`` of them)."""
    names = []
    for t in ok:
        names += [k for k, v in t.params.items() if k not in names and isinstance(v, (int, float))
                  and not isinstance(v, bool)]
    names = [n for n in names if len({t.params.get(n) for t in ok if n in t.params}) > 1][:max_params]
    pairs: list[tuple[str, str]] = []
    apart: list[tuple[str, str]] = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:  # conditional parameters (momentum for SGD, width_2 for depth 2) may never meet
            (pairs if any(a in t.params and b in t.params for t in ok) else apart).append((a, b))
    if apart:
        print(f"pairs.png leaves out {'; '.join(f'{a} with {b}' for a, b in apart)}: no trial has both")
    if not pairs:
        return None
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    scores = [t.score for t in ok]
    for ax, (a, b) in zip(axes.ravel(), pairs, strict=False):
        both = [t for t in ok if a in t.params and b in t.params]
        points = ax.scatter([t.params[a] for t in both], [t.params[b] for t in both], c=[t.score for t in both],
                            cmap="viridis", vmin=min(scores), vmax=max(scores), s=22)
        for axis, name in (("x", a), ("y", b)):
            values = [t.params[name] for t in both]
            if min(values) > 0 and max(values) / min(values) > 50:
                getattr(ax, f"set_{axis}scale")("log")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
    for ax in axes.ravel()[len(pairs):]:
        ax.set_visible(False)
    fig.colorbar(points, ax=axes.ravel().tolist(), label=metric, fraction=0.03, pad=0.02)
    return _save(plt, fig, out, "pairs.png")


def _save(plt, fig, out: Path, name: str) -> str:
    from ..plot import save_figure

    save_figure(fig, out / name, dpi=110)
    plt.close(fig)
    return name
