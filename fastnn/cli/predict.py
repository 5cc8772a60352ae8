"""``fastnn predict MODEL DATA -o OUT [--output predict|logits|proba|labels] [--batch-size N]``: score rows.

MODEL: a fastnn model file, a plan file or an .onnx file (compiled into a plan first). DATA: a .npy file
(memory-mapped, streamed block by block: it never has to fit in memory) or a .csv of numbers (``--skip-header``
for a header line). OUT: .npy (written block by block into a memory-mapped file) or .csv (labels of mixed
types, such as 1 and "other", only to a .csv: a .npy would hold them pickled). Progress goes to
stderr for inputs of more than ``--progress-rows`` rows.

Examples::

    fastnn predict model.safetensors X_test.npy -o scores.npy
    fastnn predict model.plan rows.csv -o labels.csv --output labels
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from ..formats.common import atomic_write, open_regular
from ..validation import check_finite
from . import _sources
from ._data import CSV_ENCODING, _line_of, csv_problem, first_line, has_header, map_npy, refuse_column_numbers
from ._types import UsageError, positive_int, replaced_file

COMMAND = "predict"


def _out_file(text: str) -> str:
    """-o: a .npy or .csv that fastnn may replace (a usage error otherwise, before the model is read)."""
    if not text.lower().endswith((".npy", ".csv")):
        raise argparse.ArgumentTypeError(f"must name a .npy or .csv file, got {text!r}")
    return replaced_file(text)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(COMMAND, help="predict with a model, plan or ONNX file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model file, plan file or .onnx")
    p.add_argument("data", help="input rows: .npy (streamed) or .csv")
    p.add_argument("-o", "--out", required=True, type=_out_file, help="output file: .npy or .csv (replaced "
                   "whole when every row is scored, never left half written)")
    p.add_argument("--output", choices=("predict", "logits", "proba", "labels"), default="predict",
                   help="what to write: the model's predict (default), raw logits, probabilities, or the predicted "
                   "labels of a classifier, as model.predict_labels gives them (the labels fit was given, e.g. "
                   "strings, through the model's classes_, which a plan file keeps; labels of mixed types, such as "
                   "1 and 'other', only to a .csv; a binary_cross_entropy model's "
                   "probability > 0.5; an ONNX file holds no classes_: class indices; an ONNX graph without an "
                   "output map: the argmax of its outputs)")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=8192,
                   help="rows per block (default 8192)")
    p.add_argument("--skip-header", action="store_true", help="the .csv starts with a header line")
    p.add_argument("--progress-rows", type=positive_int("--progress-rows"), default=200_000,
                   help="report progress on stderr for inputs with more rows than this (default 200000)")
    return p


def _rows(path: str, skip_header: bool) -> np.ndarray:
    """The rows of DATA: a .npy memory-mapped (never loaded whole) or a .csv read. Only a regular file is opened
    (a FIFO would block forever)."""
    lower = path.lower()
    if not lower.endswith((".npy", ".csv")):
        raise ValueError(f"DATA must be a .npy or .csv file, got {path!r}")
    if lower.endswith(".npy"):
        return map_npy(path, "DATA")
    with open_regular(path) as f:
        line = None if skip_header else first_line(path, "DATA")
        if line is not None:
            refuse_column_numbers(path, line, "DATA", "if it is a data row, give the rows as a .npy")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below instead
                X = np.loadtxt(f, delimiter=",", ndmin=2, skiprows=1 if skip_header else 0, encoding=CSV_ENCODING)
        except ValueError as exc:
            header = not skip_header and has_header(path, "DATA")
            hint = "; it starts with a header line: pass --skip-header" if header else ""
            # the file's own line and column, as train names them (numpy counts rows from 0, past the header)
            raise ValueError(csv_problem(path, skip_header, exc, "DATA", "the model's features") + hint) from None
    if X.size == 0:
        raise ValueError(f"{path}: no data rows")
    return X


def _check_finite(X: np.ndarray, path: str, skip_header: bool, dtype: np.dtype) -> None:
    """check_finite of every row; for a .csv the error names the file's own line and column, as train names them
    (check_finite's row and column count from 0 among the data rows: past a header, blank or comment lines)."""
    try:
        check_finite(X, path, dtype)
    except ValueError:
        if not path.lower().endswith(".csv"):
            raise
        with np.errstate(over="ignore"):
            row, column = np.argwhere(~np.isfinite(X.astype(dtype)))[0]
        value = X[row, column].item()
        why = ("is not finite; remove or impute it" if not math.isfinite(value) else
               f"overflows the model's dtype {np.dtype(dtype)} to inf; rescale it or use a float64 model")
        raise ValueError(f"DATA {path} line {_line_of(path, skip_header, int(row))}, column {column + 1}: {value!r} "
                         f"{why}") from None


def _write_npy(f: BinaryIO, blocks: Iterator[np.ndarray], n: int, width: int, dtype: np.dtype) -> None:
    """A .npy of shape (n, width) written block by block (never held whole). ``dtype`` holds no Python objects
    (:func:`_refuse_npy_of_objects`): their raw bytes are pointers into this process."""
    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                                             "shape": (n, width)})
    for block in blocks:
        f.write(np.ascontiguousarray(block, dtype).data)


def _write_csv(f: BinaryIO, blocks: Iterator[np.ndarray], labels: bool) -> None:
    for block in blocks:
        if labels and block.dtype.kind not in "biu":  # labels of classes_ (strings ...): quoted where needed
            f.write(_csv_text(block).encode("utf-8"))
        else:  # as many digits as read back to the same float: 9 for float32, 17 for float64
            digits = 9 if block.dtype == np.float32 else 17
            np.savetxt(f, block, delimiter=",", fmt="%d" if labels else f"%.{digits}g")


def _csv_text(block: np.ndarray) -> str:
    """Rows of labels as .csv lines, a field quoted where a reader would misread it: one that holds a comma, a
    quote or a line break (the csv module's rule) or a ``#``, which starts a comment outside quotes."""
    text = io.StringIO()
    minimal = csv.writer(text, lineterminator="\n")
    quoted = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in block.tolist():
        (quoted if any("#" in str(label) for label in row) else minimal).writerow(row)
    return text.getvalue()


def _labeler(plan) -> tuple[Callable[[np.ndarray], np.ndarray], int, np.dtype]:
    """(rows -> their labels as a 2-D block, the block's width, its dtype) for ``--output labels``: what
    ``model.predict_labels`` gives (the plan's ``predict_labels``: the loss's predicted classes, through the model's
    ``classes_`` when it has them)."""
    if plan.predicts_probabilities:
        width = plan.n_outputs if plan.output_map == "sigmoid" and plan.n_outputs > 1 else 1  # several sigmoids: 0/1
        dtype = np.dtype(np.int64) if plan.classes_ is None else plan.classes_.dtype
        return lambda rows: plan.predict_labels(rows).reshape(len(rows), width), width, dtype
    if plan.info.get("loss") is None and plan.n_outputs > 1:  # an ONNX graph without an output map: its argmax
        return lambda rows: plan.predict_logits(rows).argmax(axis=1)[:, None], 1, np.dtype(np.int64)
    raise ValueError(f"--output labels needs a classifier (cross_entropy or binary_cross_entropy); this model's "
                     f"loss is {plan.info.get('loss')!r} with {plan.n_outputs} output(s): use --output predict")


def _refuse_npy_of_objects(out_path: str, classes: np.ndarray | None) -> None:
    """Labels of mixed types (classes_ an object array, e.g. ``[1, "other"]``) in a .npy: a usage error before
    anything is written. The .npy written block by block would hold raw object pointers, and writing them as strings
    would change their types silently; the .csv keeps each label as its text."""
    if classes is not None and classes.dtype.hasobject and out_path.lower().endswith(".npy"):
        raise UsageError(f"-o {out_path}: this model's labels mix types (classes_ {classes.tolist()!r:.100}), which a "
                         ".npy cannot hold without pickling: write them to a .csv (-o labels.csv)")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    out_path = args.out
    if os.path.exists(out_path) and os.path.exists(args.data) and os.path.samefile(out_path, args.data):
        raise ValueError(f"-o {out_path} is the input DATA file: write the predictions to another file")
    model = None if _sources.kind_of(args.model)[0] == "plan" else _sources.load_model(args.model)
    plan = _sources.load_plan(args.model) if model is None else _sources.compile_model(model)
    X = _rows(args.data, args.skip_header)
    if X.ndim != 2 or X.shape[1] != plan.n_features_in:
        raise ValueError(f"{args.data}: rows of shape {X.shape}, the model takes {plan.n_features_in} features")
    _check_finite(X, args.data, args.skip_header, plan.dtype)  # every row before any is scored, named by its line
    labels = args.output == "labels"
    if labels:
        method, width, labels_dtype = _labeler(plan)
        _refuse_npy_of_objects(out_path, plan.classes_)
    else:
        method = {"predict": plan.predict, "logits": plan.predict_logits, "proba": plan.predict_proba}[args.output]
        width = plan.n_outputs
    n = X.shape[0]
    show = n > args.progress_rows
    start_time = time.perf_counter()

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, n, args.batch_size):
            block = method(X[start:start + args.batch_size])
            yield block
            if show:
                done = min(start + args.batch_size, n)
                rate = done / max(time.perf_counter() - start_time, 1e-9)
                print(f"\r{done}/{n} rows ({rate:,.0f} rows/s)", end="", file=sys.stderr, flush=True)

    # atomic: the old file or the complete new one (a failure midway leaves no partial output, and the input's
    # memory map keeps reading its own bytes even when -o replaces a file it shares data with)
    if out_path.lower().endswith(".npy"):
        dtype = labels_dtype if labels else np.dtype(plan.dtype)
        atomic_write(out_path, lambda f: _write_npy(f, blocks(), n, width, dtype))
    else:
        atomic_write(out_path, lambda f: _write_csv(f, blocks(), labels))
    if show:
        print(file=sys.stderr)
    print(f"wrote {n} rows of {width} to {out_path}")
    return 0
