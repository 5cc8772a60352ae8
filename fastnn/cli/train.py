"""``fastnn train``: train an MLP classifier (on the embedded digits by default) and write a model file."""
from __future__ import annotations

import argparse
import time

import numpy as np

from . import augment_preview
from ._types import positive_int, positive_int_list

COMMAND = "train"


def add_parser(subparsers) -> argparse.ArgumentParser:
    train = subparsers.add_parser(
        COMMAND, help="train an MLP and write the model file",
        description="Train an MLP classifier with mini-batch SGD (momentum) and write the model file. With no "
        "arguments: the embedded UCI digits (8x8 images, 10 classes).")
    train.add_argument("--data", default="embedded", metavar="DATASET",
                       help="'embedded' (UCI digits, bundled), 'fashion-mnist' (IDX files from $FASTNN_DATA or "
                       "/usr/share/datasets/fashion-mnist), or a path to a .npz (X_train, y_train[, X_test, "
                       "y_test] or X, y) or .csv (label in the last column) file (default: embedded)")
    train.add_argument("--hidden", type=positive_int_list, default=None, metavar="N,N,...",
                       help="hidden layer sizes (default: 256,128 for embedded, 512,256 otherwise)")
    train.add_argument("--activation", default="relu", choices=["relu", "leaky_relu", "tanh", "sigmoid", "gelu"],
                       help="hidden activation (default: relu)")
    train.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: 30 embedded, 10 else)")
    train.add_argument("--batch-size", type=positive_int, default=32, help="mini-batch size; 1 = stochastic, "
                       "the sample count = full batch (default: 32)")
    train.add_argument("--lr", type=float, default=0.05, help="learning rate (default: 0.05)")
    train.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    train.add_argument("--nesterov", action="store_true", help="use Nesterov momentum")
    train.add_argument("--seed", type=int, default=0, help="seed for init, shuffling and the split (default: 0)")
    train.add_argument("--threads", type=positive_int, default=None, help="threads for kernels and BLAS "
                       "(default: all available cores)")
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    train.add_argument("--test-fraction", type=float, default=0.25,
                       help="held-out fraction when the dataset has no test split (default: 0.25)")
    train.add_argument("--output", "-o", default="fastnn_model.safetensors",
                       help="model file to write (default: fastnn_model.safetensors)")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    augment_preview.add_augment_arguments(train)
    return train


def load_dataset(spec: str, test_fraction: float, seed: int, dtype: str):
    """(X_train, y_train, X_test, y_test) for the --data argument."""
    from .. import datasets

    if spec == "embedded":
        return datasets.load_embedded(test_fraction=test_fraction, seed=seed, dtype=dtype)
    if spec == "fashion-mnist":
        return datasets.load_fashion_mnist(dtype=dtype)
    if spec.endswith(".npz"):
        return _split_if_needed(*_load_npz(spec), test_fraction, seed, dtype)
    if spec.endswith(".csv"):
        table = np.loadtxt(spec, delimiter=",", dtype=np.float64, ndmin=2,
                           skiprows=1 if _has_header(spec) else 0)
        return _split_if_needed(table[:, :-1], table[:, -1], None, None, test_fraction, seed, dtype)
    raise ValueError(f"unknown dataset {spec!r}: use 'embedded', 'fashion-mnist', or a .npz / .csv path")


def _has_header(path: str) -> bool:
    with open(path) as f:
        first = f.readline().split(",")
    try:
        [float(v) for v in first]
        return False
    except ValueError:
        return True


def _load_npz(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    from ..io import (
        load_arrays,  # validates every member against its size before allocating
    )

    z = load_arrays(path)
    keys = set(z)
    if {"X_train", "y_train"} <= keys:
        test = (z["X_test"], z["y_test"]) if {"X_test", "y_test"} <= keys else (None, None)
        return z["X_train"], z["y_train"], *test
    if {"X", "y"} <= keys:
        return z["X"], z["y"], None, None
    raise ValueError(f"{path}: expected arrays X_train, y_train (and optionally X_test, y_test) or X, y; "
                     f"found {sorted(keys)}")


def _split_if_needed(X, y, X_test, y_test, test_fraction, seed, dtype):
    from ..datasets import stratified_split

    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError("labels must be integers (class indices)")
        y = y.astype(np.int64)
    if X_test is None:
        train_idx, test_idx = stratified_split(y, test_fraction, seed)
        X_test, y_test, X, y = X[test_idx], y[test_idx], X[train_idx], y[train_idx]
    return (np.asarray(X, dtype), y.astype(np.int64), np.asarray(X_test, dtype),
            np.asarray(y_test).astype(np.int64))


# image shapes of the named datasets, for the augmentation flags of ``train``
_IMAGE_SHAPES = {"embedded": (8, 8), "fashion-mnist": (28, 28)}


def _train_augmentation(args):
    """The training batches' augmentation the flags ask for, or None."""
    pipeline = augment_preview.build_pipeline(args, image_shape=args.image_shape or _IMAGE_SHAPES.get(args.data))
    if not pipeline.transforms:
        return None
    if pipeline.image_shape is None and any(t.geometric for t in pipeline.transforms):
        raise ValueError(f"--data {args.data}: give --image-shape H,W[,C] to rotate, shift, zoom or flip its rows")
    return pipeline


def run(args) -> int:
    import fastnn as fnn
    from fastnn.layers import Dense

    if args.threads:
        fnn.set_num_threads(args.threads)
    X_train, y_train, X_test, y_test = load_dataset(args.data, args.test_fraction, args.seed, args.dtype)
    embedded = args.data == "embedded"
    hidden = args.hidden or ([256, 128] if embedded else [512, 256])
    epochs = args.epochs or (30 if embedded else 10)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = fnn.Sequential([Dense(h, activation=args.activation) for h in hidden] + [Dense(n_classes)],
                           input_dim=X_train.shape[1], dtype=args.dtype, seed=args.seed)
    print(f"data: {args.data}  train {X_train.shape}  test {X_test.shape}  classes {n_classes}")
    model.summary()
    augment = _train_augmentation(args)
    if augment is not None:
        print(f"augmentation: {augment!r}")
    optimizer = fnn.optim.SGD(lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)
    t0 = time.perf_counter()
    model.fit(X_train, y_train, loss="cross_entropy", optimizer=optimizer, epochs=epochs,
              batch_size=args.batch_size, seed=args.seed, verbose=0 if args.quiet else 1, augment=augment)
    train_time = time.perf_counter() - t0
    result = model.evaluate(X_test, y_test)
    fnn.save(model, args.output)
    print(f"trained {epochs} epochs in {train_time:.2f} s "
          f"({epochs * len(X_train) / train_time:,.0f} samples/s)")
    print(f"test accuracy: {result['accuracy']:.4f}  test loss: {result['loss']:.4f}")
    print(f"model written to {args.output}")
    return 0
