"""``fastnn evaluate MODEL DATA``: the loss and metrics of a saved model on a data set.

DATA is what ``fastnn train --data`` takes: the test rows of a named data set (the split ``train`` makes with the
same ``--test-fraction`` and ``--seed``), of an .npz holding X_test, y_test, or every row of a file (an .npz of
X, y or a .csv); rows are checked as ``train`` checks them.
"""
from __future__ import annotations

import argparse
import json

from . import _data
from ._types import checked, seed_int
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
    from ._data import data_file

    try:
        return data_file(text)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--data ", "")) from None


def _metric_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    try:
        SCHEMA["train"]["metrics"].check(names)  # the library's own check of the names
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(COMMAND, help="loss and metrics of a model file on a data set",
                              usage="%(prog)s MODEL DATA [options]", description=__doc__.split("\n\n")[1])
    p.add_argument("model", type=_model_file, metavar="MODEL", help="a model file (fastnn.save / fastnn train)")
    p.add_argument("data", type=_data_arg, metavar="DATA", help="embedded, fashion-mnist, or an .npz / .csv file")
    p.add_argument("--metrics", type=_metric_list, default=["accuracy"], metavar="NAME,...",
                   help="accuracy, top_k_accuracy, precision, recall, f1 (macro) (default: accuracy)")
    p.add_argument("--test-fraction", type=checked(float, SCHEMA["data"]["test_fraction"].check), default=None,
                   help="the test split of a named data set, as train made it (default: 0.25 for embedded; 0 "
                   "for files: every row)")
    p.add_argument("--seed", type=seed_int, default=0, help="the split's seed, as train's --seed (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    return p


def run(args) -> int:
    from . import _sources

    metrics = args.metrics
    model = _sources.load_model(args.model)  # a model file or an .onnx (imported); a plan file is refused by name
    fraction = args.test_fraction if args.test_fraction is not None else (0.25 if args.data == "embedded" else 0.0)
    X_train, y_train, X_test, y_test = _data.load(args.data, fraction, args.seed, str(model.dtype),
                                                  for_training=False)
    X, y = (X_test, y_test) if len(X_test) else (X_train, y_train)
    result = model.evaluate(X, y, metrics=metrics)
    if args.json:
        print(json.dumps({"samples": len(X), **result}))
    else:
        print(f"{args.data}: {len(X)} samples")
        for name, value in result.items():
            print(f"{name}: {value:.6g}")
    return 0
