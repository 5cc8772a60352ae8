"""Fashion-MNIST from the standard IDX files (not bundled: 30 MB; Debian ships it as dataset-fashion-mnist)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._idx import IDXFormatError, read_idx

__all__ = ["load_fashion_mnist", "FASHION_MNIST_FILES", "fashion_mnist_dirs"]

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Where Debian's dataset-fashion-mnist package installs the four .gz files.
SYSTEM_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

_HOW_TO_INSTALL = (
    "Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu: /usr/share/datasets/fashion-mnist),\n"
    "or download the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,\n"
    "t10k-labels-idx1-ubyte.gz) from https://github.com/zalandoresearch/fashion-mnist (data/fashion) into a\n"
    "directory and pass it as path= or set FASTNN_DATA to it."
)


def fashion_mnist_dirs(path=None) -> list[Path]:
    """Directories searched, in order: ``path`` (and ``path/fashion-mnist``) when given, and only those;
    otherwise ``$FASTNN_DATA``, ``$FASTNN_DATA/fashion-mnist``, then /usr/share/datasets/fashion-mnist."""
    if path is not None:
        base = Path(os.fspath(path))
        return [base, base / "fashion-mnist"]
    dirs = []
    env = os.environ.get("FASTNN_DATA")
    if env:
        dirs += [Path(env), Path(env) / "fashion-mnist"]
    return dirs + list(SYSTEM_DIRS)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        p = directory / name
        if p.is_file():
            return p
    return None


def _locate(path) -> dict[str, Path]:
    report = []
    for d in fashion_mnist_dirs(path):
        found = {key: _find(d, stem) for key, stem in FASHION_MNIST_FILES.items()}
        paths = {key: p for key, p in found.items() if p is not None}
        if len(paths) == len(found):
            return paths
        if not d.is_dir():
            report.append(f"  {d}: no such directory")
        else:
            missing = [FASHION_MNIST_FILES[k] + "[.gz]" for k, p in found.items() if p is None]
            report.append(f"  {d}: missing {', '.join(missing)}")
    env_note = "" if path is not None or os.environ.get("FASTNN_DATA") else " ($FASTNN_DATA is not set)"
    raise FileNotFoundError("Fashion-MNIST files not found. Looked in" + env_note + ":\n" + "\n".join(report)
                            + "\n" + _HOW_TO_INSTALL)


def _pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXFormatError(images_path, f"expected a 3-D uint8 image array, got shape {images.shape} "
                                          f"dtype {images.dtype}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXFormatError(labels_path, f"expected a 1-D uint8 label array, got shape {labels.shape} "
                                          f"dtype {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(labels_path, f"{labels.shape[0]} labels for {images.shape[0]} images in {images_path}")
    if labels.size and labels.max() > 9:
        raise IDXFormatError(labels_path, f"label {int(labels.max())} out of range 0..9")
    return images, labels


def load_fashion_mnist(path=None, dtype="float32", flatten: bool = True):
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando Research, MIT licence) from IDX files.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (each gzip-compressed with a ``.gz`` suffix, or uncompressed) in the first
    directory of :func:`fashion_mnist_dirs` that holds all four: ``path`` (and ``path/fashion-mnist``) if
    given, and then nothing else, so an explicit path never silently falls back to another copy; otherwise
    ``$FASTNN_DATA``, ``$FASTNN_DATA/fashion-mnist`` and ``/usr/share/datasets/fashion-mnist`` (Debian's
    ``dataset-fashion-mnist`` package).

    Parameters
    ----------
    dtype : "float32" (default), "float64" or "uint8"
        Float pixels are divided by 255 into [0, 1] (correctly rounded); "uint8" returns the raw 0..255 values.
    flatten : bool
        True gives images as rows of 784 features, False keeps (n, 28, 28).

    Returns
    -------
    X_train (60000, 784), y_train (60000,) int64, X_test (10000, 784), y_test (10000,) int64.

    Raises
    ------
    FileNotFoundError
        No searched directory holds all four files; the message lists each place and what was missing there,
        and how to install the data.
    IDXFormatError
        A file is malformed or truncated, or images and labels disagree in count.
    """
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)):
        raise TypeError(f"dtype must be float32, float64 or uint8, got {dt}")
    files = _locate(path)
    out = []
    for split in ("train", "test"):
        images, labels = _pair(files[f"{split}_images"], files[f"{split}_labels"])
        if flatten:
            images = images.reshape(images.shape[0], -1)
        if dt != np.uint8:
            X = images.astype(dt)
            np.divide(X, 255, out=X)  # a true division, correctly rounded (not a multiply by 1/255)
        else:
            X = images
        out += [X, labels.astype(np.int64)]
    return tuple(out)
