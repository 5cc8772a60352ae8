"""``fastnn plot``: training curves of a CSVLogger file (``fastnn plot history.csv -o curves.png``) or the
confusion matrix of a model on a data set (``fastnn plot --confusion MODEL DATA -o cm.png``). Needs matplotlib
(``pip install 'fastnn[plot]'``); without it the command fails with status 1."""
from __future__ import annotations

import argparse

from ._types import UsageError, pyplot_for, replaced_file

COMMAND = "plot"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(COMMAND, help="plot a training history (CSV) or a confusion matrix",
                              usage="%(prog)s HISTORY.csv -o OUT.png | %(prog)s --confusion MODEL DATA -o OUT.png",
                              description=__doc__)
    p.add_argument("history", nargs="?", default=None, metavar="HISTORY.csv",
                   help="a CSVLogger file (columns epoch, loss, val_loss, metrics, lr ...)")
    p.add_argument("--confusion", nargs=2, default=None, metavar=("MODEL", "DATA"),
                   help="the confusion matrix of MODEL on DATA (the rows evaluate uses)")
    p.add_argument("--normalize", action="store_true", help="confusion matrix: fractions of each true class")
    p.add_argument("--output", "-o", type=replaced_file, default="plot.png", help="image to write (default plot.png)")
    return p


def run(args) -> int:
    if (args.history is None) == (args.confusion is None):
        raise UsageError("give HISTORY.csv or --confusion MODEL DATA (one of them)")
    pyplot_for(args.output, "--output")  # matplotlib installed and the format known, before the data are read
    if args.confusion is not None:
        from .evaluate import _data_arg, _model_file

        try:
            model_path, data = _model_file(args.confusion[0]), _data_arg(args.confusion[1])
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--confusion: {exc}") from None
    from .. import plot

    if args.history is not None:
        fig = plot.history_from_csv(args.history)
        what = f"training curves of {args.history}"
    else:
        from . import _data, _sources
        from .evaluate import split_seed

        model = _sources.load_model(model_path)  # a model file or an .onnx; a plan file is refused by name
        X_train, y_train, X_test, y_test = _data.load(data, 0.25 if data == "embedded" else 0.0, split_seed(model),
                                                      str(model.dtype), for_training=False, arg="DATA",
                                                      classes=model.classes_)
        X, y = (X_test, y_test) if len(X_test) else (X_train, y_train)
        fig = plot.confusion_matrix(model, X, y, normalize=args.normalize)
        what = f"confusion matrix of {model_path} on {data} ({len(X)} samples)"
    plot.save_figure(fig, args.output)
    print(f"wrote {args.output}: {what}")
    return 0
