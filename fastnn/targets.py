"""What ``fit`` and ``evaluate`` accept as labels, and how they weigh rows.

Labels: integers are class indices (output c is class c). Any other 1-D labels -- strings, or str, int, float
and bool values in an object array (or a list mixing them, :func:`label_array`): what a model file can store;
other types (dates, tuples) are refused -- are classes: the model remembers them, sorted (as ``np.unique`` sorts
them; in order of first appearance when they cannot be sorted), as ``model.classes_``, so that output c is
``classes_[c]``; ``predict_labels`` maps back. Once a model has ``classes_`` every 1-D label array (integers
too) is read through them, by ``fit``, ``evaluate`` and ``train_step`` alike (:func:`resolve_labels`), so a
model can also be given ``classes_`` before its first fit or step (e.g. integer classes that are not 0..C-1).
A missing label (NaN, None, pd.NA) is refused, naming its row. Under cross_entropy an (n, 1) column is 1-D
labels. One-hot or probability rows are targets in the kernel's own layout and are not encoded.

Weights (Keras's ``sample_weight`` / ``class_weight``): row i weighs ``sample_weight[i] * class_weight[class of
row i]`` (either factor 1 when not given); the loss is the weighted mean ``sum w_i l_i / sum w_i`` (see
fastnn.losses). ``class_weight`` is a dict keyed by class -- the labels themselves when the model has
``classes_``, else the class indices -- with 1 for a class it leaves out, or "balanced" (scikit-learn's
``n_samples / (n_classes * count(class))``).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .validation import c_array, check_scalar


def needs_encoding(y: np.ndarray, classes: np.ndarray | None) -> bool:
    """True when 1-D labels ``y`` are read through classes: the model has them, or y is not numeric."""
    return y.ndim == 1 and (classes is not None or y.dtype.kind not in "biuf")


def classes_of(y: np.ndarray) -> np.ndarray:
    """The distinct labels of y, sorted (first appearance when the values cannot be compared)."""
    try:
        return np.unique(y)
    except TypeError:
        return np.array(list(dict.fromkeys(y.tolist())), dtype=object)


def label_array(labels: ArrayLike) -> np.ndarray:
    """``labels`` as an array that keeps every label as given: a list or tuple mixing str with int, float or bool
    values becomes an object array (np.asarray would turn ``[1, "other"]`` into the strings '1' and 'other'). A
    list of numbers alone (``[0, 2.0, 1]``, bools among them) is what its np.asarray is, as an ndarray of the
    same values would be: class indices, not labels."""
    if isinstance(labels, np.ndarray):
        return labels
    kinds = {type(v) for v in labels} if isinstance(labels, (list, tuple)) else set()
    if str in kinds and len(kinds) > 1 and kinds <= {str, int, float, bool}:
        return np.array(labels, dtype=object)
    return np.asarray(labels)


def is_missing(value: object) -> bool:
    """Whether a label is a missing value: None, a float NaN (also pandas's NaN and NaT) or pandas's NA (looked
    up only when pandas is imported: without it no pd.NA exists)."""
    pandas = sys.modules.get("pandas")
    if value is None or (pandas is not None and value is getattr(pandas, "NA", None)):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # an array-like label: not a missing value (refused later as a label)
        return False


def check_no_missing(labels: np.ndarray, name: str = "y") -> None:
    """Refuse 1-D labels holding a missing value (NaN in a float array; None, NaN or pd.NA in an object array,
    as pandas gives for a label column with gaps), naming the first row: it would become a class of its own."""
    if labels.dtype.kind == "f":
        missing = np.isnan(labels)
        row = int(np.argmax(missing)) if missing.any() else None
    elif labels.dtype.kind == "O":
        row = next((i for i, v in enumerate(labels.tolist()) if is_missing(v)), None)
    else:
        return
    if row is not None:
        value = labels[row:row + 1].tolist()[0]  # a Python value: nan, not np.float64(nan)
        raise ValueError(f"{name} has a missing label ({value!r}) at row {row}: drop or fill those rows")


def as_label_vector(y: np.ndarray, n_classes: int | None, n_outputs: int | None) -> np.ndarray:
    """An (n, 1) column as the 1-D labels it holds when the loss has one output per class (cross_entropy, with
    C >= 2 outputs, whose target rows have C columns: a single column can only be labels), as Keras's sparse
    categorical crossentropy squeezes it. Any other y as it is: for binary_cross_entropy with one output an
    (n, 1) column is its target layout (0/1 or probabilities), so it keeps that meaning."""
    if y.ndim == 2 and y.shape[1] == 1 and n_outputs is not None and n_outputs >= 2 and n_classes == n_outputs:
        return y.reshape(-1)
    return y


def check_classes(classes: ArrayLike, n_classes: int | None, what: str = "classes_") -> np.ndarray:
    """``classes`` as a 1-D array of distinct labels, one per class of the model's loss (``n_classes``; None:
    not known yet, checked by the next fit)."""
    try:
        classes = label_array(classes)
    except ValueError:  # numpy's message would not say what was expected
        raise ValueError(f"{what} must be a non-empty 1-D sequence of labels, got a ragged sequence") from None
    if classes.ndim != 1 or len(classes) == 0:
        raise ValueError(f"{what} must be a non-empty 1-D sequence of labels, got shape {classes.shape}")
    if len(classes_of(classes)) != len(classes):
        raise ValueError(f"{what} must not repeat a label, got {classes.tolist()!r:.200}")
    if n_classes is not None and len(classes) != n_classes:
        raise ValueError(f"{what} has {len(classes)} labels but the model's loss has {n_classes} classes; give "
                         f"one label per class (set model.classes_ to list every class, in output order)")
    jsonable_classes(classes, what)  # refused now, not when the trained model is saved or folded
    return classes


def jsonable_classes(classes: np.ndarray, what: str = "classes_") -> list[Any]:
    """classes_ as JSON values (str, int, float, bool) for a model config or a plan file: the only labels a file
    can store and give back as they were. Others raise ValueError naming the first one and its type (dates: their
    dtype, as ``tolist`` turns them into datetime objects or plain integers)."""
    values = classes.tolist()
    if classes.dtype.kind in "mM":
        bad = f"labels of dtype {classes.dtype}"
    else:
        bad = next((f"{v!r} ({type(v).__name__})" for v in values if not isinstance(v, (str, int, float, bool))), "")
    if bad:
        raise ValueError(f"{what}: {bad} cannot be stored in a model file; only str, int, float or bool labels can "
                         "be saved, so only those are taken: convert them first (e.g. y.astype(str))")
    return values


def encode(y: np.ndarray, classes: np.ndarray, name: str = "y", at: Callable[[int], str] | None = None
           ) -> np.ndarray:
    """Class indices (int64) of the labels ``y``; a label not among ``classes`` raises, naming it and its row
    (``at(row)``: where that row is in the caller's words, such as a file's line)."""
    index = {label: i for i, label in enumerate(classes.tolist())}
    values = y.tolist()
    try:
        return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
    except (KeyError, TypeError):
        row = next(i for i, v in enumerate(values) if _lookup(index, v) is None)
        where = f"{at(row)}: label {values[row]!r}" if at else f"{name}: label {values[row]!r} at row {row}"
        raise ValueError(f"{where} is not one of the model's classes {classes.tolist()!r:.200}") from None


def labels_of_text(texts: Iterable[str], classes: np.ndarray) -> np.ndarray:
    """The labels that ``texts`` (the fields of a .csv, the strings of a data file) name, as an object array to
    :func:`encode` through ``classes``. A text is the string class it spells (as written, else without the
    spaces around it); any other text is the number, True or False it spells, which is then the class of equal
    value (1, 1.0 and True are one class, as for labels given in Python); else it stays the text, a label that is
    not a class. So labels written as text (``fastnn predict --output labels``) read back as the same classes,
    and strings such as "01" that look like numbers stay the strings the model knows."""
    strings = {label for label in classes.tolist() if isinstance(label, str)}
    return np.array([_label_of_text(text, strings) for text in texts], dtype=object)


def _label_of_text(text: str, strings: set[str]) -> object:
    word = text.strip()
    for spelled in (text, word):
        if spelled in strings:
            return spelled
    if word in ("True", "False"):
        return word == "True"
    for number in (int, float):
        try:
            return number(word)
        except ValueError:
            pass
    return text


def _lookup(index: dict, value: object) -> int | None:
    try:
        return index.get(value)
    except TypeError:  # unhashable
        return None


def decode(indices: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Labels of class indices: ``classes[indices]`` (the indices themselves without classes)."""
    return indices if classes is None else classes[indices]


def resolve_labels(y: ArrayLike, classes: np.ndarray | None, n_classes: int | None, name: str = "y",
                   learn: bool = False, n_outputs: int | None = None) -> tuple[Any, np.ndarray | None]:
    """(y as class indices where it holds labels, the classes): the one reading of labels that fit, evaluate
    and train_step share. 1-D labels (an (n, 1) column too when ``n_outputs`` says it can only be labels, see
    :func:`as_label_vector`) are read through ``classes``; without them non-numeric labels define new classes
    when ``learn`` (a fit), else are refused. A missing label is refused, naming its row. Other y is returned
    as an array, unchanged."""
    arr = as_label_vector(label_array(y), n_classes, n_outputs)
    if n_classes is not None and arr.ndim == 1:
        check_no_missing(arr, name)
    if not needs_encoding(arr, classes):
        return arr, classes
    if n_classes is None:
        raise ValueError(f"{name} holds class labels, but the model's loss takes numeric targets (class labels "
                         "need cross_entropy, or binary_cross_entropy with one output)")
    if classes is not None:
        check_classes(classes, n_classes)
    else:
        if not learn:
            raise ValueError(f"{name} holds labels of dtype {arr.dtype}, but the model has no classes_: pass "
                             "integer class indices, or set model.classes_ to every label (in output order) "
                             "first")
        classes = check_classes(classes_of(arr), n_classes, f"the distinct labels of {name}")
    return encode(arr, classes, name), classes


def check_sample_weight(sample_weight: ArrayLike | None, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """``sample_weight`` as float64 of shape (n,): finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {w.dtype}")
    w = c_array(w, np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one weight per sample), got {w.shape}")
    if not np.all(np.isfinite(w)) or (n and w.min() < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    if n and not w.any():
        raise ValueError(f"{name} is all zeros: no sample would count")
    return w


def class_weight_per_row(class_weight: Mapping[Any, Any] | str, row_classes: np.ndarray | None, n_classes: int,
                         classes: np.ndarray | None) -> np.ndarray:
    """The weight of every row from ``class_weight`` (a dict by label or index, or "balanced")."""
    if row_classes is None:
        raise ValueError("class_weight needs class targets (cross_entropy, or binary_cross_entropy with one "
                         "output); use sample_weight")
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        counts = np.bincount(row_classes, minlength=n_classes).astype(np.float64)
        present = counts > 0  # as scikit-learn: over the classes present in y
        per_class = np.ones(n_classes)
        per_class[present] = len(row_classes) / (present.sum() * counts[present])
        return per_class[row_classes]
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"class_weight must be a dict {{class: weight}} or 'balanced', got "
                        f"{type(class_weight).__name__}")
    keys = classes.tolist() if classes is not None else list(range(n_classes))
    index = {k: i for i, k in enumerate(keys)}
    per_class = np.ones(n_classes)
    for key, value in class_weight.items():
        if _lookup(index, key) is None:
            kind = "labels" if classes is not None else "class indices"
            raise ValueError(f"class_weight has the key {key!r}, which is not one of the {kind} {keys!r:.200}")
        per_class[index[key]] = check_scalar(value, f"class_weight[{key!r}]", Real, min_val=0.0)
    return per_class[row_classes]
