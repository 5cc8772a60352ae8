"""``fastnn predict MODEL DATA -o OUT [--output predict|logits|proba|labels] [--batch-size N]``: score rows.

MODEL: a fastnn model file, a plan file or an .onnx file (compiled into a plan first). DATA: a .npy file
(memory-mapped, streamed block by block: it never has to fit in memory) or a .csv of numbers (``--skip-header``
for a header line). OUT: .npy (written block by block into a memory-mapped file) or .csv. Progress goes to
stderr for inputs of more than ``--progress-rows`` rows.

Examples::

    fastnn predict model.safetensors X_test.npy -o scores.npy
    fastnn predict model.plan rows.csv -o labels.csv --output labels
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import _sources
from ._types import positive_int

COMMAND = "predict"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(COMMAND, help="predict with a model, plan or ONNX file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model file, plan file or .onnx")
    p.add_argument("data", help="input rows: .npy (streamed) or .csv")
    p.add_argument("-o", "--out", required=True, help="output file: .npy or .csv")
    p.add_argument("--output", choices=("predict", "logits", "proba", "labels"), default="predict",
                   help="what to write: the model's predict (default), raw logits, probabilities, or argmax labels")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=8192,
                   help="rows per block (default 8192)")
    p.add_argument("--skip-header", action="store_true", help="the .csv starts with a header line")
    p.add_argument("--progress-rows", type=positive_int("--progress-rows"), default=200_000,
                   help="report progress on stderr for inputs with more rows than this (default 200000)")
    return p


def _rows(path: str, skip_header: bool) -> np.ndarray:
    if path.lower().endswith(".npy"):
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if path.lower().endswith(".csv"):
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1 if skip_header else 0)
    raise ValueError(f"DATA must be a .npy or .csv file, got {path!r}")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    out_path = args.out
    if not out_path.lower().endswith((".npy", ".csv")):
        raise ValueError(f"-o must name a .npy or .csv file, got {out_path!r}")
    plan = _sources.load_plan(args.model)
    X = _rows(args.data, args.skip_header)
    if X.ndim != 2 or X.shape[1] != plan.n_features_in:
        raise ValueError(f"{args.data}: rows of shape {X.shape}, the model takes {plan.n_features_in} features")
    method = {"predict": plan.predict, "logits": plan.predict_logits, "proba": plan.predict_proba,
              "labels": plan.predict}[args.output]
    n = X.shape[0]
    width = 1 if args.output == "labels" else plan.n_outputs
    dtype = np.int64 if args.output == "labels" else plan.dtype
    to_npy = out_path.lower().endswith(".npy")
    npy = np.lib.format.open_memmap(out_path, mode="w+", dtype=dtype, shape=(n, width)) if to_npy else None
    csv = None if to_npy else open(out_path, "w")
    show = n > args.progress_rows
    start_time = time.perf_counter()
    try:
        for start in range(0, n, args.batch_size):
            block = method(X[start:start + args.batch_size])
            if args.output == "labels":
                block = block.argmax(axis=1).reshape(-1, 1)
            if npy is not None:
                npy[start:start + block.shape[0]] = block
            elif csv is not None:
                np.savetxt(csv, block, delimiter=",", fmt="%d" if args.output == "labels" else "%.9g")
            if show:
                done = start + block.shape[0]
                rate = done / max(time.perf_counter() - start_time, 1e-9)
                print(f"\r{done}/{n} rows ({rate:,.0f} rows/s)", end="", file=sys.stderr, flush=True)
    finally:
        if npy is not None:
            npy.flush()
            del npy
        if csv is not None:
            csv.close()
    if show:
        print(file=sys.stderr)
    print(f"wrote {n} rows of {width} to {out_path}")
    return 0
