"""Datasets: the embedded digits, Fashion-MNIST from IDX files, a synthetic generator, and the IDX reader.

* :func:`load_digits` / :func:`load_embedded`: UCI optical handwritten digits (8x8, 1797 samples, 10
  classes; Alpaydin & Kaynak, CC BY 4.0), bundled in the package.
* :func:`load_fashion_mnist`: the standard IDX .gz files from ``path``, ``$FASTNN_DATA`` or
  /usr/share/datasets/fashion-mnist.
* :func:`make_classification`: Gaussian clusters for benchmarks.
* :func:`read_idx` / :func:`write_idx`: IDX files, validated against the data actually present.
* :func:`stratified_split`: the deterministic stratified split the loaders use.
"""
from __future__ import annotations

from ._digits import DATA_DIR, load_digits, load_embedded
from ._fashion import fashion_mnist_dirs, load_fashion_mnist
from ._idx import IDXFormatError, read_idx, write_idx
from ._split import stratified_split
from ._synthetic import make_classification

__all__ = [
    "DATA_DIR",
    "IDXFormatError",
    "fashion_mnist_dirs",
    "load_digits",
    "load_embedded",
    "load_fashion_mnist",
    "make_classification",
    "read_idx",
    "stratified_split",
    "write_idx",
]
