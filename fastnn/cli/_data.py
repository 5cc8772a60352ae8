"""The data of ``fastnn train --data FILE``: read a .npz (by the hardened reader) or a .csv, check every row
BEFORE the train/test split, so that an error names the user's row (``d.csv line 12, column 3``,
``d.npz: X[11, 2]``) rather than a position in a shuffled split, then split.

Checks: features are real numbers in a 2-D table that stay finite in the training dtype (1e300 overflows
float32), labels are class indices 0..K-1 (whole numbers, K <= MAX_CLASSES) and hold at least two classes (or,
for ``evaluate`` of a regression model, targets are finite real numbers, one or a row of them per sample).
For a model that has ``classes_`` (``evaluate`` and ``plot --confusion`` of a model trained in Python on labels
such as strings) the labels are read through them instead, as ``model.evaluate`` reads them: numbers by value,
and, when a class is text, a .csv's label field or an .npz's string y as the label it spells
(fastnn.targets.labels_of_text).
"""
from __future__ import annotations

import csv
import itertools
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..formats.common import open_regular

CSV_ENCODING = "utf-8-sig"  # UTF-8, and the byte order mark spreadsheets write first dropped
MAX_CLASSES = 100_000  # labels are class indices: a label of 1e9 would ask for a 1e9-wide output layer
DTYPE_HINT = " (try --dtype float64)"  # train's option; evaluate and plot use the model's dtype


def data_file(spec: str, arg: str = "--data") -> str:
    """``spec`` if it names a regular file (a FIFO or device would block or never end), else an error naming the
    command-line argument ``arg`` that gave it, the file and what it is (a FIFO, a directory...)."""
    if not Path(spec).exists():
        raise FileNotFoundError(f"{arg} {spec}: no such file")
    with open_regular(spec, lambda path, problem: ValueError(f"{arg} {path}: {problem}")):
        return spec


class Rows(NamedTuple):
    """Features and labels as read from the file, with the user's name for each position."""

    X: np.ndarray
    y: np.ndarray
    x_name: str                      # e.g. "d.csv", "d.npz: X_train"
    y_name: str
    x_at: Callable[[int, int], str]  # (row, column) -> e.g. "d.csv line 12, column 3"
    y_at: Callable[[int], str]       # row -> e.g. "d.npz: y[11]"
    labels_with_comment: dict[int, str] | None = None  # row -> a .csv label field with the comment cut from it


# ------------------------------------------------------------------------------------------------ .npz


def read_arrays(path: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz by the hardened reader (no pickle; every member's size checked before it is read;
    arrays of strings, such as labels, are read as text)."""
    from ..formats import ModelFileError, load_arrays

    try:
        return load_arrays(data_file(path), text=True)
    except ModelFileError as exc:  # names the file and the problem
        raise ValueError(f"--data {exc}") from None


NPZ_PAIRS = (("X_train", "y_train"), ("X", "y"), ("X_test", "y_test"))  # the arrays of a data .npz, in pairs


def read_npz(path: str, test_only: bool = False) -> tuple[Rows, Rows | None]:
    """(train rows, test rows or None) of an .npz holding X_train, y_train or X, y, and optionally X_test, y_test
    (the test rows of either). An array of a pair without its other half, both training pairs, or an array of
    another name (X_val, ...) is refused: one would be dropped without a word. ``test_only``: an .npz of X_test,
    y_test alone is read too, its rows as the first of the two (data to score, not to train on)."""
    arrays = read_arrays(path)
    keys = set(arrays)
    for x, y in NPZ_PAIRS:
        if (x in keys) != (y in keys):
            held, missing = (x, y) if x in keys else (y, x)
            raise ValueError(f"--data {path}: it holds {held} but not its pair {missing}; rows need both")
    if test_only and keys == set(NPZ_PAIRS[2]):
        return _npz_rows(path, arrays, *NPZ_PAIRS[2]), None
    train = [pair for pair in NPZ_PAIRS[:2] if pair[0] in keys]
    if len(train) != 1:
        found = "both X_train, y_train and X, y: which are the training rows? keep one pair" if train else (
            f"found {sorted(keys)}")
        raise ValueError(f"--data {path}: expected arrays X_train, y_train or X, y (and optionally X_test, y_test); "
                         f"{found}")
    unread = sorted(keys.difference(*NPZ_PAIRS))
    if unread:
        raise ValueError(f"--data {path}: it holds arrays that are not read: {', '.join(unread)} (a data .npz holds "
                         "X_train, y_train or X, y, and optionally X_test, y_test; validation rows go in a file of "
                         "their own)")
    test = _npz_rows(path, arrays, "X_test", "y_test") if "X_test" in keys else None
    return _npz_rows(path, arrays, *train[0]), test


def _npz_rows(path: str, arrays: dict[str, np.ndarray], x: str, y: str) -> Rows:
    return Rows(arrays[x], arrays[y], f"{path}: {x}", f"{path}: {y}",
                lambda i, c: f"{path}: {x}[{i}, {c}]", lambda i: f"{path}: {y}[{i}]")


# ------------------------------------------------------------------------------------------------ .csv


def read_csv(path: str, text_labels: bool = False) -> Rows:
    """A .csv of numbers with the label in the last column and an optional header line (a first line of which
    no field is a number, nan and inf included: see :func:`has_header`). Empty lines are skipped, and every ``#``
    starts a comment to the end of its line, as ``numpy.loadtxt`` reads them (a line of white space is a row of
    one blank value to it: refused).

    ``text_labels``: the labels are kept as text, to be read through a model's classes_ (see
    :func:`_read_text_labels`). A field may then be quoted (line 1 too), and a ``#`` outside a quoted field starts
    a comment only where it begins a line or follows white space or a quote (``cat  # note``, ``"C#"# note``);
    elsewhere (``C#``, ``a#b``, ``#1`` after a comma) it is a character of its field, as pandas and the csv module
    write such labels unquoted. A label field a comment was cut from is the text before the ``#``, unless only
    the text with the comment is one of the classes; when both are, or when no label is left, the line is refused
    (see :func:`_labels_through`)."""
    header = has_header(data_file(path), quoted=text_labels)
    X, y, with_comment = _read_text_labels(path, header) if text_labels else (*_read_numbers(path, header), None)

    def x_at(i: int, c: int) -> str:
        return f"{path} line {_line_of(path, header, i, text_labels)}, column {c + 1}"

    def y_at(i: int) -> str:
        return f"{path} line {_line_of(path, header, i, text_labels)}, last column (the label)"
    return Rows(X, y, path, f"{path} (labels)", x_at, y_at, with_comment)


def _read_numbers(path: str, header: bool) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of a .csv of numbers, by numpy's reader."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below instead
            table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2, skiprows=int(header), comments="#",
                               encoding=CSV_ENCODING)
    except ValueError as exc:  # numpy's message speaks of usecols and rows it counted itself
        raise ValueError(csv_problem(path, header, exc)) from None
    _check_table(path, header, table.shape, lambda: _line_of(path, header, 0))
    return table[:, :-1], table[:, -1]


def _read_text_labels(path: str, header: bool) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(features, labels as text, {row: its label field with the comment cut from it}) of a .csv whose label
    field may be quoted ("a,b", a quote doubled) as ``fastnn predict --output labels`` writes it. The file is
    streamed: the csv module splits each record, numpy's reader parses its features, and only the label field is
    kept as text."""
    comments: dict[int, str] = {}
    records = _quoted_records(path, header, comments)
    first = next(records, None)
    line, fields = first if first is not None else (0, [])
    _check_table(path, header, (int(first is not None), len(fields)), lambda: line)
    labels: list[str] = []
    with_comment: dict[int, str] = {}
    rows = itertools.chain([(line, fields)], records)
    try:  # the features parsed by numpy's reader, in C (float() on each field is several times slower)
        X = np.loadtxt(_features_keeping_labels(rows, len(fields), labels, comments, with_comment), delimiter=",",
                       dtype=np.float64, ndmin=2, comments=None)
    except ValueError as exc:  # the records read again, to name the line as the file counts it
        where = _first_bad_record(_data_records(path, header, quoted=True), "--data", path,
                                  "the features, then the label", text_label=True)
        raise ValueError(where or _numpy_problem(path, header, exc, "--data", quoted=True)) from None
    return X, np.array(labels, dtype=str), with_comment


def _features_keeping_labels(records: Iterable[tuple[int, list[str]]], width: int, labels: list[str],
                             comments: dict[int, str], with_comment: dict[int, str]) -> Iterator[str]:
    """The feature fields of each record as one line for numpy's reader; its label field appended to ``labels``,
    and to ``with_comment`` (row -> text) with the comment cut from its line (``comments``: line -> comment). A
    record of another ``width``, whose features hold a comma (a quoted field), or whose one feature is blank (a
    line numpy's reader would skip) would be misread: it stops the read (a ValueError that
    :func:`_first_bad_record` words)."""
    for line, fields in records:
        features = ",".join(fields[:-1])
        if len(fields) != width or features.count(",") != width - 2 or not features.strip():
            raise ValueError("a record numpy's reader would misread")
        if line in comments:
            with_comment[len(labels)] = fields[-1] + comments[line]
        labels.append(fields[-1])
        yield features


def _check_table(path: str, header: bool, shape: tuple[int, int], first_line: Callable[[], int]) -> None:
    """A table of at least one row of a feature and the label (``first_line``: the file's line of row 0)."""
    if shape[0] == 0:
        raise ValueError(f"--data {path}: no data rows{' after the header line' if header else ''}")
    if shape[1] < 2:
        raise ValueError(f"--data {path}: a row needs at least one feature and the label (last column); "
                         f"line {first_line()} has {shape[1]} value")


def _lines(path: str, arg: str = "--data") -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of a text file, refusing one that is not UTF-8."""
    try:
        with open(path, encoding=CSV_ENCODING) as f:
            yield from enumerate(f, 1)
    except UnicodeDecodeError:
        raise ValueError(f"{arg} {path}: not a UTF-8 text file (a .csv of numbers is expected)") from None


def first_line(path: str, arg: str = "--data") -> str | None:
    """Line 1 of a text file (None if it is empty); ``path`` must be known to be a regular file."""
    return next((line for _, line in _lines(path, arg)), None)


def has_header(path: str, arg: str = "--data", quoted: bool = False) -> bool:
    """Whether line 1 is a header: a line of which no field is a number (nan and inf are numbers, as numpy's
    reader reads them; ``quoted``: its fields may be quoted, as the csv module reads them: ``"0.34"`` is a number,
    and the last is a text label). A line 1 of the column numbers 0..d-1 or 1..d, which pandas'
    ``DataFrame.to_csv`` writes for unnamed columns, is refused (see :func:`refuse_column_numbers`), and so is one
    of nan or inf among names (see :func:`_refuse_non_finite_names`)."""
    line = first_line(path, arg)
    if line is None:
        return False
    refuse_column_numbers(path, line, arg, "if it is a data row, put a line of column names above it")
    try:
        fields = next(csv.reader([line])) if quoted else line.split(",")
    except csv.Error:  # a NUL byte...: not a header; the reader of the rows words the problem
        return False
    _refuse_non_finite_names(path, fields[:-1] if quoted else fields, arg)  # a text label is text in data too
    return not any(_is_number(field) for field in fields)


def _refuse_non_finite_names(path: str, fields: list[str], arg: str) -> None:
    """A ValueError when ``fields`` (of line 1) hold nan or inf, no finite number, and a field that is not a
    number: a header naming a column nan or inf, or a data row of values that are not finite (and a typo)? Taken
    for a header a data row would be dropped without a word, so fastnn does not guess."""
    numbers = [_is_number(field) for field in fields]
    if all(numbers) or not any(numbers) or any(_is_finite_number(field) for field in fields):
        return
    shown = ",".join(field.strip() for field in fields[:3]) + (",..." if len(fields) > 3 else "")
    raise ValueError(f"{arg} {path} line 1 reads {shown}: a header naming a column nan or inf, or a data row of "
                     "values that are not finite? fastnn does not guess: if it is a header, rename those columns; "
                     "if it is a data row, remove or impute its nan and inf")


def refuse_column_numbers(path: str, line: str, arg: str, if_data: str) -> None:
    """A ValueError when ``line`` (line 1 of ``path``) holds the integers 0..d-1 or 1..d in order, d >= 3: the
    header pandas writes for unnamed columns, or a data row; read as data it would add a row of made-up values,
    so fastnn does not guess (``if_data``: what to do when it is a data row). Two columns are read as data: a
    first row 0,1 or 1,2 is common in data of small integers (two binary features: one file in four)."""
    fields = [field.strip() for field in line.split("#", 1)[0].split(",")]
    if len(fields) < 3 or not all(field.isdigit() for field in fields):
        return
    values = [int(field) for field in fields]
    if values in (list(range(len(values))), list(range(1, len(values) + 1))):
        raise ValueError(f"{arg} {path} line 1 reads {','.join(fields[:3])},...: the column numbers pandas writes as "
                         "a header (DataFrame.to_csv), or a data row? fastnn does not guess: if it is a header, "
                         f"write the file without it (to_csv(header=False)) or with named columns; {if_data}")


def _is_number(text: str) -> bool:
    """Whether numpy's reader of a .csv reads ``text`` as a number: float()'s syntax (white space around it, nan,
    inf) without what only Python reads (``1_000``, digits of other scripts such as ``\u0664``)."""
    value = text.strip()
    if not value.isascii() or "_" in value:
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_finite_number(text: str) -> bool:
    return _is_number(text) and math.isfinite(float(text))


def _format_hint(field: str) -> str:
    """Why a field is not a number when the file is not a .csv of plain numbers (quoted fields, another separator:
    a first line of such fields was taken for a header, so the error is on line 2)."""
    text = field.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return "; the fields are quoted: a .csv of plain numbers is expected"
    separators = (("\t", "tabs"), (";", "semicolons"), (" ", "spaces"))
    separator = next((name for sep, name in separators if sep in text), None)
    return f"; the values are separated by {separator}: a .csv must be comma-separated" if separator else ""


# A record's fields up to its comment: each field quoted ("...", a quote doubled; it may hold ',', '#' and line
# breaks) or not; a '"' inside an unquoted field is a character of it, as the csv module reads it. A '#' outside
# quotes is a character of its field after any character but white space or a quote (C#, a#b, #1 after a
# comma); the match ends at the '#' that starts a comment (at the start of the line or after one of those) or at
# the end of the line; group "open" is set when a quoted field runs on past the end of the line.
_UNCOMMENTED = re.compile(r'(?:(?:"(?:[^"]|"")*(?:"|(?P<open>\Z)))?(?:[^,#]|(?<=[^\s"])#)*,?)*')


def _uncommented_lines(path: str, comment: list[str]) -> Iterator[str]:
    """The lines of a .csv of quoted fields (one item per line, for the csv module to count them) with each
    comment cut off (see ``_UNCOMMENTED``); ``comment[0]``: the comment cut from the line last given, or ''."""
    in_quotes = False  # the line before ended inside a quoted field
    for _, line in _lines(path):
        comment[0] = ""
        if not (in_quotes or "#" in line or '"' in line):
            yield line
            continue
        match = _UNCOMMENTED.match('"' + line if in_quotes else line)
        assert match is not None  # it matches every text (at worst its empty start)
        end, in_quotes = match.end() - in_quotes, match["open"] is not None
        if end == len(line):
            yield line
        else:
            comment[0] = line[end:].rstrip("\r\n")
            yield line[:end] + "\n"


def _data_records(path: str, header: bool, quoted: bool = False) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data record of a .csv, the header, empty lines and comments skipped.
    ``quoted``: as :func:`_quoted_records`; else a quote is a character of its field and every ``#`` starts a
    comment, as numpy.loadtxt reads a .csv of numbers: a line of white space (before a comment) is a record of one
    blank field to it, which it refuses."""
    if quoted:
        yield from _quoted_records(path, header)
        return
    for number, line in _lines(path):
        content = line.rstrip("\n").split("#", 1)[0]
        if content and not (header and number == 1):
            yield number, content.split(",")


def _quoted_records(path: str, header: bool, comments: dict[int, str] | None = None
                    ) -> Iterator[tuple[int, list[str]]]:
    """:func:`_data_records` of a .csv whose fields may be quoted, as the csv module reads them (a record starts on
    the line numbered), and whose comments start as ``_UNCOMMENTED`` says. ``comments`` gets the comment cut from
    each record's (last) line: {line number: comment}."""
    comment = [""]
    reader = csv.reader(_uncommented_lines(path, comment))
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num  # a quoted field may span lines
            blank = len(fields) <= 1 and not "".join(fields).strip()
            if not (blank or (header and start == 1)):
                if comments is not None and comment[0]:
                    comments[start] = comment[0]
                yield start, fields
    except csv.Error as exc:  # a NUL byte, a field above the csv module's size limit
        raise ValueError(f"--data {path} line {end + 1}: {exc}") from None


def _line_of(path: str, header: bool, row: int, quoted: bool = False) -> int:
    """The file's line number of data row ``row`` (counted from 0; ``quoted``: as :func:`_data_records`); run only
    to word an error."""
    for k, (number, _) in enumerate(_data_records(path, header, quoted)):
        if k == row:
            return number
    raise IndexError(row)


def csv_problem(path: str, header: bool, exc: ValueError, arg: str = "--data",
                row: str = "the features, then the label") -> str:
    """Why numpy.loadtxt refused the .csv (its error ``exc``), in words, as the file counts its lines: the first
    row of another width or field that is not a number (``arg``: the command-line argument that named the file;
    ``row``: what a row holds), else numpy's own message with its row given as the file's line."""
    return _first_bad_record(_data_records(path, header), arg, path, row) or _numpy_problem(path, header, exc, arg)


# numpy's reader names a row by its count of data rows (past the header, empty lines and comments): from 0 in
# "could not convert string 'x' to float64 at row 2, column 2.", from 1 in "the number of columns changed ... at
# row 2; ..."
_NUMPY_ROW = re.compile(r" at row (\d+)(?:, column (\d+))?\.?")


def _numpy_problem(path: str, header: bool, exc: ValueError, arg: str, quoted: bool = False) -> str:
    """numpy's message for a file :func:`_first_bad_record` finds nothing wrong with, its row as the file's line
    (``quoted``: as :func:`_data_records`)."""
    message = " ".join(str(exc).split())
    at = _NUMPY_ROW.search(message)
    if at is not None:
        row = int(at[1]) - (not message.startswith("could not convert"))
        record = next(itertools.islice(_data_records(path, header, quoted), max(row, 0), None), None)
        if record is not None:
            column = f", column {at[2]}" if at[2] else ""
            return f"{arg} {path} line {record[0]}{column}: {message[:at.start()]}{message[at.end():]}"
    return f"{arg} {path}: {message}"


def _first_bad_record(records: Iterable[tuple[int, list[str]]], arg: str, path: str, row: str,
                      text_label: bool = False) -> str | None:
    """The first of the (line number, fields) records of a different width than the first, or with a field that is
    not a number (the last field not checked when it is a ``text_label``), in words."""
    width = first = None
    for number, fields in records:
        if len(fields) == 1 and not fields[0].strip():  # numpy's reader skips empty lines only
            return f"{arg} {path} line {number}: only white space, which numpy's reader takes for a row: delete it"
        if width is None:
            width, first = len(fields), number
        elif len(fields) != width:
            return f"{arg} {path} line {number}: {len(fields)} values, but line {first} has {width} (every row: {row})"
        for column, field in enumerate(fields[:-1] if text_label else fields, 1):
            if not _is_number(field):
                return (f"{arg} {path} line {number}, column {column}: {field.strip()!r} is not a number"
                        + _format_hint(field))
    return None


# ------------------------------------------------------------------------------------------------ checks


def checked(rows: Rows, dtype: str, class_labels: bool = True, classes: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(X as ``dtype``, y as int64) after checking every row; errors name the row as the user's file does.
    ``class_labels=False``: y holds regression targets (float64). ``classes``: a model's classes_, through which
    the labels are read (y: their class indices)."""
    X = _checked_features(rows, dtype)
    if not class_labels:
        return X, _checked_targets(rows, len(X))
    return X, _checked_labels(rows, len(X)) if classes is None else _labels_through(rows, len(X), classes)


def _checked_features(rows: Rows, dtype: str) -> np.ndarray:
    X, where = rows.X, rows.x_name
    if X.dtype.kind not in "biuf":
        raise ValueError(f"--data {where}: features must be real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        hint = (f"; reshape images to rows (n, {math.prod(X.shape[1:])}) and give --image-shape "
                f"{','.join(map(str, X.shape[1:]))}" if X.ndim in (3, 4) else "")
        raise ValueError(f"--data {where}: features must be a 2-D table (samples, features), got shape "
                         f"{X.shape}{hint}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"--data {where}: features are empty (shape {X.shape})")
    with np.errstate(over="ignore"):
        cast = X.astype(dtype)
    bad = _first_false(np.isfinite(cast).all(axis=1))
    if bad is not None:
        column = int(np.flatnonzero(~np.isfinite(cast[bad]))[0])
        value = X[bad, column].item()
        why = "is not finite" if not np.isfinite(value) else f"overflows {dtype}{DTYPE_HINT}"
        raise ValueError(f"--data {rows.x_at(bad, column)}: {value!r} {why}; remove or impute it")
    return cast


def classes_validation_split_misses(y_train: np.ndarray, split: float) -> tuple[int, int, int]:
    """(validation rows, classes trained on, of those the ones they lack) when fit's ``validation_split`` holds
    out the last training rows (as Keras; the CLI keeps a file's order): a file sorted by class validates on its
    last class alone (val_accuracy 0), which fit does not remark on."""
    from ..training.loop import validation_split_point

    split_at = validation_split_point(len(y_train), split)  # fit's own split: it refuses one leaving no rows
    if split_at is None:
        return 0, 0, 0
    trained = np.unique(y_train[:split_at])
    return len(y_train) - split_at, len(trained), len(np.setdiff1d(trained, y_train[split_at:]))


def _check_one_per_row(rows: Rows, n: int) -> None:
    if rows.y.ndim != 1 or len(rows.y) != n:
        raise ValueError(f"--data {rows.y_name}: labels must be one per row ({n},), got shape {rows.y.shape}")


def _checked_labels(rows: Rows, n: int) -> np.ndarray:
    y, where = rows.y, rows.y_name
    _check_one_per_row(rows, n)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"--data {where}: labels must be class indices (integers), got dtype {y.dtype} (labels "
                         "such as strings are read only for a model that has classes_, one trained on them)")
    with np.errstate(invalid="ignore"):
        ok = (y >= 0) & (y < MAX_CLASSES) & (y == np.round(y) if y.dtype.kind == "f" else True)
    bad = _first_false(np.asarray(ok))
    if bad is not None:
        raise ValueError(f"--data {rows.y_at(bad)}: label {y[bad].item()!r} is not a class index (an integer in "
                         f"0..{MAX_CLASSES - 1})")
    return y.astype(np.int64)


def _labels_through(rows: Rows, n: int, classes: np.ndarray) -> np.ndarray:
    """The class indices (int64) of the labels, read through the model's ``classes``: text (a .csv field, an
    .npz of strings) as the label it spells, numbers by value; a label the model does not know is an error
    naming it and its row. A .csv label field a comment was cut from is read as :func:`_label_before_comment`
    says."""
    from ..targets import encode, labels_of_text

    _check_one_per_row(rows, n)
    y = rows.y
    labels = labels_of_text(_texts(rows), classes) if y.dtype.kind in "US" else y
    known = set(classes.tolist())
    for row, text in (rows.labels_with_comment or {}).items():
        labels[row] = _label_before_comment(rows, row, labels[row], text, classes, known)
    return encode(labels, classes, at=lambda i: f"--data {rows.y_at(i)}")


def _label_before_comment(rows: Rows, row: int, cut: object, text: str, classes: np.ndarray, known: set) -> object:
    """The label of a .csv field ``text`` that holds a ``#`` which starts a comment: ``cut``, the label before the
    ``#`` (``cat  # note``), unless only the label of the whole ``text`` is one of the ``known`` classes (``Item
    #3``). When both are, or when nothing is left before the ``#``, the row is refused: which did the file mean?"""
    from ..targets import labels_of_text

    whole = labels_of_text([text], classes)[0]
    if whole in known and cut in known:
        raise ValueError(f"--data {rows.y_at(row)}: {text.strip()!r} reads as the class {whole!r}, or as the class "
                         f"{cut!r} followed by a comment (a '#' after a space starts one): quote the label "
                         "(\"...\") if the '#' is part of it, or put the comment on a line of its own")
    if whole in known:
        return whole
    if not rows.y[row].strip():
        raise ValueError(f"--data {rows.y_at(row)}: no label before the comment {text.strip()!r} (a '#' after a "
                         "space starts one): quote the label (\"...\") if the '#' is part of it")
    return cut


def _texts(rows: Rows) -> list[str]:
    """The labels of a unicode or bytes array as str (bytes as UTF-8, as a .csv is read)."""
    if rows.y.dtype.kind == "U":
        return rows.y.tolist()
    texts = []
    for i, label in enumerate(rows.y.tolist()):
        try:
            texts.append(label.decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"--data {rows.y_at(i)}: label {label!r} is not UTF-8 text") from None
    return texts


def _checked_targets(rows: Rows, n: int) -> np.ndarray:
    """Regression targets as float64: real numbers, finite, one value or one row of values per sample."""
    y, where = rows.y, rows.y_name
    if y.dtype.kind not in "biuf":
        raise ValueError(f"--data {where}: targets must be real numbers, got dtype {y.dtype}")
    if y.ndim not in (1, 2) or len(y) != n:
        raise ValueError(f"--data {where}: targets must be one value or one row per sample, ({n},) or ({n}, k), got "
                         f"shape {y.shape}")
    y = y.astype(np.float64)
    bad = _first_false(np.isfinite(y).reshape(n, -1).all(axis=1))
    if bad is not None:
        raise ValueError(f"--data {rows.y_at(bad)}: the target is not finite; remove or impute it")
    return y


def _first_false(ok: np.ndarray) -> int | None:
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else None


# ------------------------------------------------------------------------------------------------ load


def load(spec: str, test_fraction: float, seed: int, dtype: str, for_training: bool = True, arg: str = "--data",
         class_labels: bool = True, classes: np.ndarray | None = None):
    """(X_train, y_train, X_test, y_test) for ``--data``; X_test is empty when ``test_fraction`` is 0 and the
    data have no test split. ``for_training=False`` (evaluate, plot): rows of a single class are data too.
    ``arg``: what errors call the data, for a command that names them otherwise than train's ``--data`` (the DATA
    of evaluate and plot, whose dtype is the model's: no ``--dtype`` hint then). ``class_labels=False``: the
    labels are regression targets, and a file's rows are all kept (the split is stratified by class).
    ``classes``: the classes_ of the model the data are for, through which a file's labels are read (see the
    module docstring)."""
    try:
        return load_config({"train": spec, "labels": None, "mmap": False, "test": None,
                            "test_fraction": test_fraction, "dtype": dtype}, seed, for_training, class_labels,
                           classes)
    except (ValueError, FileNotFoundError) as exc:
        if arg == "--data":
            raise
        raise type(exc)(reworded_for(exc, arg)) from None


def reworded_for(exc: Exception, arg: str, dtype_hint: bool = False) -> str:
    """The message of a ``--data`` error for a command whose data are the argument ``arg`` (empty: the message
    names no argument) and whose dtype is the model's (so no ``--dtype`` hint, unless ``dtype_hint``: train's
    data named by a config key)."""
    message = str(exc) if dtype_hint else str(exc).replace(DTYPE_HINT, "")
    if message.startswith("--data "):
        message = f"{arg} {message[len('--data '):]}" if arg else message[len("--data "):]
    return message


def load_config(data: dict, seed: int, for_training: bool = True, class_labels: bool = True,
                classes: np.ndarray | None = None):
    """(X_train, y_train, X_test, y_test) for the ``[data]`` section of an experiment config
    (fastnn.cli.experiment): a named data set or a file, and its test rows from ``test`` (a file), the file's own
    test split (.npz X_test, y_test) or a stratified ``test_fraction`` split (a file's rows stay in its order;
    ``test_fraction`` 0 keeps every row). A memory-mapped .npy stays on disk:
    its rows are checked by ``fit`` (in chunks) instead of here. ``classes``: as :func:`load`."""
    from .. import datasets

    spec, dtype = data["train"], data["dtype"]
    if spec == "embedded":
        X_train, y_train, X_test, y_test = datasets.load_embedded(test_fraction=data["test_fraction"], seed=seed,
                                                                  dtype=dtype)
    elif spec == "fashion-mnist":
        X_train, y_train, X_test, y_test = datasets.load_fashion_mnist(dtype=dtype)
    else:
        X_train, y_train, X_test, y_test = _load_file(data, seed, class_labels, classes, for_training)
    present = np.unique(y_train) if for_training else None
    if present is not None and len(present) < 2:
        raise ValueError(f"--data {spec}: the training rows hold a single class ({present[0]}): nothing to learn")
    return X_train, y_train, X_test, y_test


def _text_classes(classes: np.ndarray | None) -> bool:
    """Whether a .csv's label field is read as text for a model of these ``classes``: when one is text (str or
    bytes), a bool (written True / False) or an integer float64 cannot hold exactly (beyond 2**53, which numpy's
    reader of numbers would round to another class). Other numeric classes are read from numpy's reader of
    numbers (its comment rule), by value."""
    return classes is not None and any(isinstance(c, (str, bytes, bool)) or (isinstance(c, int) and abs(c) > 2**53)
                                       for c in classes.tolist())


def _load_file(data: dict, seed: int, class_labels: bool, classes: np.ndarray | None, for_training: bool):
    """:func:`load_config` of a data file (one of only test rows too, when not ``for_training``)."""
    spec, dtype = data["train"], data["dtype"]
    if spec.lower().endswith(".npy"):
        X, y, test = *read_npy_pair(spec, data["labels"], data["mmap"], dtype), None
    else:
        train, test_rows = read_npz(spec, test_only=not for_training) if spec.lower().endswith(".npz") else (
            read_csv(spec, text_labels=_text_classes(classes)), None)
        X, y = checked(train, dtype, class_labels, classes)
        test = checked(test_rows, dtype, class_labels, classes) if test_rows is not None else None
    if data["test"] is not None:  # a file only a config names
        try:
            test = read_rows(data["test"], dtype, class_labels, classes)
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(reworded_for(exc, "data.test", dtype_hint=True)) from None
    if test is None:
        # no split: of a memory map (it would copy the rows), of regression targets (it is stratified by class),
        # or for test_fraction 0 (every row, in the file's order)
        keep_all = data["mmap"] or not class_labels or data["test_fraction"] == 0
        X_train, y_train, X_test, y_test = (X, y, X[:0], y[:0]) if keep_all else _split(
            X, y, data["test_fraction"], seed)
    else:
        (X_train, y_train), (X_test, y_test) = (X, y), test
    if X_test.shape[1] != X_train.shape[1]:
        raise ValueError(f"--data {spec}: the test rows have {X_test.shape[1]} features, the training rows "
                         f"{X_train.shape[1]}")
    if classes is not None and class_labels:  # the labels themselves, which a model with classes_ reads back
        y_train, y_test = classes[y_train], classes[y_test]
    return X_train, y_train, X_test, y_test


def read_rows(spec: str, dtype: str, class_labels: bool = True, classes: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Every row of a .npz (X, y or X_train, y_train) or .csv file, checked: validation or test data
    (``classes``: as :func:`checked`). An .npz that holds a test split too is refused: which rows are meant?"""
    if not spec.lower().endswith(".npz"):
        return checked(read_csv(spec, text_labels=_text_classes(classes)), dtype, class_labels, classes)
    rows, test = read_npz(spec)
    if test is not None:
        raise ValueError(f"--data {spec}: it holds a test split (X_test, y_test) besides its rows; as validation or "
                         "test data, give a file of one pair (X, y)")
    return checked(rows, dtype, class_labels, classes)


def read_npy_pair(path: str, labels: str, mmap: bool, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a features .npy and a labels .npy. With ``mmap`` X stays a read-only memory map (fit casts and
    checks it in batches); without, it is read by the hardened reader and every row checked here."""
    y = _read_npy(labels)
    if not mmap:
        return checked(Rows(_read_npy(path), y, path, labels, lambda i, c: f"{path}: X[{i}, {c}]",
                            lambda i: f"{labels}: y[{i}]"), dtype)
    X = map_npy(path)
    if X.dtype.kind not in "biuf" or X.ndim != 2 or len(X) == 0:
        raise ValueError(f"--data {path}: features must be a non-empty 2-D table of real numbers, got {X.dtype} "
                         f"{X.shape}")
    return X, _checked_labels(Rows(X, y, path, labels, lambda i, c: f"{path}: X[{i}, {c}]",
                                   lambda i: f"{labels}: y[{i}]"), len(X))


def _read_npy(path: str) -> np.ndarray:
    from ..formats import ModelFileError, read_npy

    try:
        return read_npy(data_file(path))
    except ModelFileError as exc:  # names the file and the problem
        raise ValueError(f"--data {exc}") from None


def map_npy(path: str, arg: str = "--data") -> np.ndarray:
    """A .npy memory-mapped, never read whole nor unpickled: numpy refuses a header declaring more bytes than the
    file holds (so a small file cannot make us allocate gigabytes). The one reader of .npy DATA for every command
    (train --data, predict, augment-preview): errors name the argument ``arg``, the file and the problem."""
    data_file(path, arg)
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises more than ValueError on crafted input
        raise ValueError(f"{arg} {path}: not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(X, np.ndarray):  # np.load opens a zip as an NpzFile whatever its name
        X.close()
        raise ValueError(f"{arg} {path}: not a .npy array (an .npz archive? name it .npz)")
    return X


def _split(X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    """Stratified split of rows already checked (so no later error has to name a shuffled position). Both parts
    keep the file's order, so validation.split (fit's: the last rows, as Keras) holds out the file's last
    training rows, as it does with no test split (fit shuffles the batches itself)."""
    from ..datasets import stratified_split

    train_idx, test_idx = map(np.sort, stratified_split(y, test_fraction, seed))
    if len(train_idx) == 0:
        raise ValueError(f"--test-fraction {test_fraction} leaves none of the {len(y)} rows to train on")
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]
