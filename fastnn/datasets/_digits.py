"""The embedded dataset: UCI optical recognition of handwritten digits (8x8, 1797 samples, 10 classes)."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ._idx import read_idx
from ._split import stratified_split

__all__ = ["load_digits", "load_embedded", "DATA_DIR"]

DATA_DIR = Path(__file__).resolve().parent / "data"
_IMAGES = "digits-images-idx3-ubyte.gz"
_LABELS = "digits-labels-idx1-ubyte.gz"


def real_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(DATA_DIR / _IMAGES)
    labels = read_idx(DATA_DIR / _LABELS)
    if images.shape != (1797, 8, 8) or labels.shape != (1797,) or images.max() > 16 or labels.max() > 9:
        raise RuntimeError(f"the bundled digits files in {DATA_DIR} are damaged: reinstall fastnn")
    images.flags.writeable = False  # cached: callers get copies
    labels.flags.writeable = False
    return images, labels


def load_digits(test_fraction: float = 0.25, seed: int = 0, dtype="float32"):
    """Load the embedded handwritten digits and split them into train and test sets.

    1797 grayscale 8x8 images of the digits 0-9 (about 180 per class), flattened to 64 features. Each pixel
    is the number of "on" bits in a 4x4 block of a 32x32 bitmap (0..16); it is divided by 16, so features
    lie in [0, 1] (exactly representable in float32). The split is stratified and deterministic from
    ``seed`` (see :func:`fastnn.datasets.stratified_split`): ``ceil(test_fraction * 1797)`` test samples,
    so 1347 train and 450 test with the default 0.25.

    Data: E. Alpaydin and C. Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine Learning
    Repository, https://doi.org/10.24432/C50P49, licensed CC BY 4.0
    (https://creativecommons.org/licenses/by/4.0/). The copy bundled here is the one scikit-learn ships; see
    ``fastnn/datasets/data/DIGITS_LICENSE.txt``.

    Returns
    -------
    X_train : (n_train, 64) float array of ``dtype``
    y_train : (n_train,) int64 labels 0..9
    X_test : (n_test, 64) float array of ``dtype``
    y_test : (n_test,) int64 labels 0..9
    """
    dt = real_dtype(dtype)
    images, labels = _raw()
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    flat = images.reshape(len(images), -1)

    def take(idx):
        X = flat[idx].astype(dt)
        X /= 16  # k/16 is exact in binary floating point
        return X, labels[idx].astype(np.int64)

    X_train, y_train = take(train_idx)
    X_test, y_test = take(test_idx)
    return X_train, y_train, X_test, y_test


def load_embedded(test_fraction: float = 0.25, seed: int = 0, dtype="float32"):
    """The dataset embedded in the package (used by ``fastnn train`` by default): same as :func:`load_digits`."""
    return load_digits(test_fraction=test_fraction, seed=seed, dtype=dtype)
