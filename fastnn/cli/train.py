"""``fastnn train``: train an MLP classifier (on the embedded digits by default) and write a model file."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from . import _data, augment_preview
from ._data import MAX_CLASSES
from ._types import (
    UsageError,
    available_cores,
    checked,
    output_file,
    positive_int,
    positive_int_list,
    real,
    seed_int,
    thread_count,
)

COMMAND = "train"

_NAMED_DATA = ("embedded", "fashion-mnist")
# image shapes of the named datasets, for the augmentation flags of ``train``
_IMAGE_SHAPES = {"embedded": (8, 8), "fashion-mnist": (28, 28)}


def _data_spec(text: str) -> str:
    if text in _NAMED_DATA or text.lower().endswith((".npz", ".csv")):
        return text
    raise argparse.ArgumentTypeError(f"unknown dataset {text!r}: use 'embedded', 'fashion-mnist', or a .npz / "
                                     ".csv path")


def _check_lr(lr: float) -> None:
    """The optimizer's own check of its learning rate."""
    from ..optim import SGD

    SGD(lr=lr)


def _check_test_fraction(fraction: float) -> None:
    """The split's own check of its fraction."""
    from ..datasets import stratified_split

    stratified_split(np.zeros(1, np.int64), fraction)


def add_parser(subparsers) -> argparse.ArgumentParser:
    train = subparsers.add_parser(
        COMMAND, help="train an MLP and write the model file", usage="%(prog)s [options]",
        description="Train an MLP classifier with mini-batch SGD (momentum) and write the model file. With no "
        "arguments: the embedded UCI digits (8x8 images, 10 classes). Every option is checked before any data "
        "are read (exit status 2); a bad data file stops the command before training (exit status 1), naming the "
        "row as the file counts it.")
    train.add_argument("--data", type=_data_spec, default="embedded", metavar="DATASET",
                       help="'embedded' (UCI digits, bundled), 'fashion-mnist' (IDX files from $FASTNN_DATA or "
                       "/usr/share/datasets/fashion-mnist), or a path to a .npz (X_train, y_train[, X_test, "
                       "y_test] or X, y) or .csv (label in the last column, optional header line) file; labels "
                       f"are class indices 0..K-1, K <= {MAX_CLASSES:,} (default: embedded)")
    train.add_argument("--hidden", type=positive_int_list("hidden layer size"), default=None, metavar="N,N,...",
                       help="hidden layer sizes (default: 256,128 for embedded, 512,256 otherwise)")
    train.add_argument("--activation", default="relu", choices=["relu", "leaky_relu", "tanh", "sigmoid", "gelu"],
                       help="hidden activation (default: relu)")
    train.add_argument("--epochs", type=positive_int("epochs"), default=None,
                       help="epochs (default: 30 embedded, 10 else)")
    train.add_argument("--batch-size", type=positive_int("batch_size"), default=32, help="mini-batch size; 1 = "
                       "stochastic, the sample count = full batch (default: 32)")
    train.add_argument("--lr", type=checked(float, _check_lr), default=0.05, help="learning rate >= 0 "
                       "(default: 0.05)")
    train.add_argument("--momentum", type=real("momentum", min_val=0.0, max_val=1.0, include_boundaries="left"),
                       default=0.9, help="SGD momentum in [0, 1): 1 and above never converge, so they are refused "
                       "(default: 0.9)")
    train.add_argument("--nesterov", action="store_true", help="use Nesterov momentum (needs --momentum > 0)")
    train.add_argument("--seed", type=seed_int, default=0,
                       help="seed for init, shuffling and the split, 0..2**64-1 (default: 0)")
    train.add_argument("--threads", type=thread_count, default=None, help="threads for kernels and BLAS, at most "
                       f"the cores available to the process, {available_cores()} here (default: all of them)")
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    train.add_argument("--test-fraction", type=checked(float, _check_test_fraction), default=0.25,
                       help="held-out fraction in [0, 1) when the dataset has no test split; 0 trains on every row "
                       "and skips the test evaluation (default: 0.25)")
    train.add_argument("--output", "-o", type=output_file, default="fastnn_model.safetensors",
                       help="model file to write, checked before training (default: fastnn_model.safetensors)")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    augment_preview.add_augment_arguments(train)
    return train


load_dataset = _data.load  # (X_train, y_train, X_test, y_test) for --data, every row checked before the split


def _optimizer(args):
    from ..optim import SGD

    if args.nesterov and args.momentum == 0:
        raise UsageError("--nesterov needs --momentum above 0")
    return SGD(lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)


def _train_augmentation(args):
    """The training batches' augmentation the flags ask for, or None."""
    pipeline = augment_preview.build_pipeline(args, image_shape=args.image_shape or _IMAGE_SHAPES.get(args.data))
    if not pipeline.transforms:
        return None
    if pipeline.image_shape is None and any(t.geometric for t in pipeline.transforms):
        raise UsageError(f"--data {args.data}: give --image-shape H,W[,C] to rotate, shift, zoom or flip its rows")
    return pipeline


def _check_not_the_data(args) -> None:
    data = Path(args.data)
    if data.is_file() and Path(args.output).exists() and Path(args.output).samefile(data):
        raise UsageError(f"--output {args.output} is the --data file: it would be overwritten by the model")


def run(args) -> int:
    import fastnn as fnn
    from fastnn.layers import Dense

    # every combination of flags first: nothing is read, built or written before they are all fine
    optimizer = _optimizer(args)
    augment = _train_augmentation(args)
    _check_not_the_data(args)
    if args.threads:
        fnn.set_num_threads(args.threads)
    X_train, y_train, X_test, y_test = load_dataset(args.data, args.test_fraction, args.seed, args.dtype)
    if augment is not None:
        try:
            augment.check_rows(X_train.shape[1])
        except ValueError as exc:
            raise ValueError(f"--image-shape: {exc}") from None
    embedded = args.data == "embedded"
    hidden = args.hidden or ([256, 128] if embedded else [512, 256])
    epochs = args.epochs or (30 if embedded else 10)
    n_classes = int(max(y_train.max(), y_test.max(initial=0))) + 1
    model = fnn.Sequential([Dense(h, activation=args.activation) for h in hidden] + [Dense(n_classes)],
                           input_dim=X_train.shape[1], dtype=args.dtype, seed=args.seed)
    print(f"data: {args.data}  train {X_train.shape}  test {X_test.shape}  classes {n_classes}")
    model.summary()
    if augment is not None:
        print(f"augmentation: {augment!r}")
    t0 = time.perf_counter()
    model.fit(X_train, y_train, loss="cross_entropy", optimizer=optimizer, epochs=epochs,
              batch_size=args.batch_size, seed=args.seed, verbose=0 if args.quiet else 1, augment=augment)
    train_time = time.perf_counter() - t0
    result = model.evaluate(X_test, y_test) if len(X_test) else None
    fnn.save(model, args.output)
    print(f"trained {epochs} epochs in {train_time:.2f} s "
          f"({epochs * len(X_train) / train_time:,.0f} samples/s)")
    if result is None:
        print("test accuracy: not measured (--test-fraction 0: every row was used for training)")
    else:
        print(f"test accuracy: {result['accuracy']:.4f}  test loss: {result['loss']:.4f}")
    print(f"model written to {args.output}")
    return 0
