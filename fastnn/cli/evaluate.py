"""``fastnn evaluate MODEL DATA``: the loss and metrics of a saved model on a data set.

DATA is what ``fastnn train --data`` takes: the test rows of a named data set (the split ``train`` makes with the
same ``--test-fraction`` and ``--seed``; the seed defaults to the model's, which ``train`` sets to its own), of an
.npz holding X_test, y_test, or every row of a file (an .npz of X, y or a .csv); rows are checked as ``train``
checks them. A model trained on labels such as strings (it has classes_) reads a file's labels through them, as
model.evaluate does: a .csv label field (quoted or not, as ``predict --output labels`` writes it; a ``#`` outside
quotes starts a comment) or an .npz y of strings. A regression model (loss mse) is evaluated on every row of a
file, its targets real numbers (an .npz y may hold a row of them per sample).
"""
from __future__ import annotations

import argparse
import json
import math

from . import _data
from ._types import UsageError, checked, seed_int
from .experiment import SCHEMA, _data_source

COMMAND = "evaluate"


def _data_arg(text: str) -> str:
    try:
        _data_source(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if text.lower().endswith(".npy"):
        raise argparse.ArgumentTypeError("a .npy holds no labels: give an .npz (X, y) or a .csv")
    return text


def _model_file(text: str) -> str:
    try:
        return _data.data_file(text)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(_data.reworded_for(exc, "")) from None


def _metric_names(text: str) -> list[str]:
    """Comma-separated names; whether the model's loss can report them is checked in ``run``."""
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated metric names such as accuracy,f1, got {text!r}")
    return names


# what a regression model reports without --metrics (its loss is the mse already)
REGRESSION_METRICS = ("mae", "r2")


def _checked_metrics(names: list[str] | None, loss) -> tuple[str, ...]:
    """The metrics to report for a model of ``loss``: ``names`` (--metrics), checked against that loss, or by
    default the loss's own (accuracy where it has one) and else REGRESSION_METRICS."""
    from ..metrics import check_metrics

    if names is None:
        names = list(check_metrics(None, loss) or REGRESSION_METRICS)
    try:
        return check_metrics(names, loss)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--metrics: {exc}") from None


def _json_value(value: float) -> float | None:
    """JSON has no NaN or infinity (a loss that overflowed): such a value is written as null."""
    return value if math.isfinite(value) else None


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(COMMAND, help="loss and metrics of a model file on a data set",
                              usage="%(prog)s MODEL DATA [options]", description=__doc__.split("\n\n")[1])
    p.add_argument("model", type=_model_file, metavar="MODEL", help="a model file (fastnn.save / fastnn train)")
    p.add_argument("data", type=_data_arg, metavar="DATA", help="embedded, fashion-mnist, or an .npz / .csv file")
    p.add_argument("--metrics", type=_metric_names, default=None, metavar="NAME,...",
                   help="a classifier's accuracy, top_k_accuracy, precision, recall, f1 (macro), or a regression "
                   f"model's mse, mae, r2 (default: accuracy, or {', '.join(REGRESSION_METRICS)})")
    p.add_argument("--test-fraction", type=checked(float, SCHEMA["data"]["test_fraction"].check), default=None,
                   help="the test split of a named data set, as train made it (default: 0.25 for embedded; 0 "
                   "for files: every row)")
    p.add_argument("--seed", type=seed_int, default=None,
                   help="the split's seed, as train's --seed (default: the model's seed, which train sets to its "
                   "--seed: the rows train held out)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines (a value that is "
                   "not finite, such as the loss of outputs that overflowed, is null)")
    return p


def split_seed(model) -> int:
    """The seed of the split ``train`` made for ``model``: the model's own seed, which train sets to its --seed (0
    for a model without one). With another seed a named data set's test rows would include rows it trained on."""
    seed = getattr(model, "seed", 0)
    return seed if isinstance(seed, int) else 0


def run(args) -> int:
    from . import _sources

    model = _sources.load_model(args.model)  # a model file or an .onnx (imported); a plan file is refused by name
    metrics = _checked_metrics(args.metrics, model.loss)
    classifier = model.loss.n_classes(model.output_dim) is not None  # DATA's labels are class labels
    if not classifier and args.test_fraction and args.data not in ("embedded", "fashion-mnist"):
        raise UsageError("--test-fraction: a regression model is evaluated on every row of DATA (the split train "
                         "makes is stratified by class)")
    fraction = args.test_fraction if args.test_fraction is not None else (0.25 if args.data == "embedded" else 0.0)
    seed = args.seed if args.seed is not None else split_seed(model)
    X_train, y_train, X_test, y_test = _data.load(args.data, fraction, seed, str(model.dtype),
                                                  for_training=False, arg="DATA", class_labels=classifier,
                                                  classes=model.classes_)
    X, y = (X_test, y_test) if len(X_test) else (X_train, y_train)
    result = model.evaluate(X, y, metrics=metrics)
    if args.json:
        print(json.dumps({"samples": len(X), **{k: _json_value(v) for k, v in result.items()}}, allow_nan=False))
    else:
        print(f"{args.data}: {len(X)} samples")
        for name, value in result.items():
            print(f"{name}: {value:.6g}")
    return 0
