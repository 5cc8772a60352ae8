"""The trained weights of bench/bench_inference.py's ``--data fashion``: the 784-512-256-10 MLP (``relu``: Dense +
ReLU; ``batchnorm``: Dense, BatchNorm, ReLU) trained on Fashion-MNIST, saved with test images as inputs.

    python bench/fashion_mlp.py --out bench/.cache        # writes fashion_relu.npz and fashion_batchnorm.npz

Training: the 60000 training images (pixels / 255), Adam (lr 1e-3), batch 128, 5 epochs, seed 0, 2 threads
(fastnn's training is bitwise the same for any thread count, so every run writes the same weights). Each .npz
holds ``sizes``, ``arch``, ``W{k}``, ``b{k}``, for batchnorm ``g{k}``, ``beta{k}``, ``mean{k}``, ``var{k}`` (the
evaluation-mode statistics, eps 1e-5) and ``X``: the first 2048 test images, float32. Prints each model's test
accuracy and the fraction of zeros in its inputs and hidden activations.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [784, 512, 256, 10]
N_INPUTS = 2048


def train(arch: str) -> dict[str, np.ndarray]:
    from suites import training

    import fastnn as fnn
    from fastnn.datasets import load_fashion_mnist

    X, y, X_test, y_test = load_fashion_mnist()
    model = training.fastnn_model(SIZES, bn=arch == "batchnorm")
    model.fit(X, y, loss="cross_entropy", optimizer=fnn.optim.Adam(lr=1e-3), epochs=5, batch_size=128, seed=0,
              verbose=0)
    accuracy = float((model.predict(X_test).argmax(1) == y_test).mean())
    arrays = iter(model.get_weights())
    out: dict[str, np.ndarray] = {"sizes": np.array(SIZES), "arch": np.array(arch), "X": X_test[:N_INPUTS]}
    for k in range(len(SIZES) - 1):
        out[f"W{k}"], out[f"b{k}"] = next(arrays), next(arrays)
        if arch == "batchnorm" and k < len(SIZES) - 2:
            for name in ("g", "beta", "mean", "var"):
                out[f"{name}{k}"] = next(arrays)
    zeros = _zero_fractions(model.compile_inference(), out["X"])
    print(f"{arch}: test accuracy {accuracy:.4f}; zero fraction of the inputs and hidden activations "
          f"(first {N_INPUTS} test images): {zeros}", flush=True)
    return out


def _zero_fractions(plan, X) -> list[float]:
    """The fraction of zeros in the input of each dense layer of the plan (after folding)."""
    fractions, h = [], X
    for layer in plan.program.layers:
        fractions.append(round(float((h == 0).mean()), 3))
        h = h @ layer.w + layer.b
        if layer.activation == "relu":
            h = np.maximum(h, 0)
    return fractions


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(HERE, ".cache"))
    p.add_argument("--arch", nargs="+", default=["relu", "batchnorm"])
    args = p.parse_args()
    sys.path.insert(0, HERE)
    import fastnn

    fastnn.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    for arch in args.arch:
        np.savez(os.path.join(args.out, f"fashion_{arch}.npz"), **train(arch))


if __name__ == "__main__":
    main()
