"""InferencePlan: a compiled, read-only forward pass, run by the infer kernel in one C call per block of rows.

A plan holds a :class:`fastnn.ops.infer.Program` (the layers after folding: Dense with fused bias and
activation, per-feature scale-shift, LayerNorm, activation) and the output map of the model's loss. A call of
``predict`` on ``n`` rows runs

* ``n <= block_rows`` (and at most ``small_batch_max``): the whole program in ONE C call with the GIL released
  (csrc/infer.c: a register-tiled GEMM over weights packed in panels, the activations fused, the output map at
  the end), on the calling thread's scratch, which grows to the rows of its largest call so far (at most
  ``block_rows``): a thread's calls of one size allocate it once, and a large ``block_rows`` costs nothing
  until a call has that many rows. One row (batch 1) goes through each dense
  layer by a row GEMV (AVX2 and AVX-512) that reads only the weight rows of its nonzero inputs: image pixels and
  ReLU outputs are often 0, and at batch 1 the time is the time to read the weights (784-512-256-10 on
  Fashion-MNIST images: half of them skipped). The result is the same as reading every row;
* more rows, up to ``small_batch_max``: one such C call per block of ``block_rows`` rows;
* more than ``small_batch_max`` rows: blocks of ``block_rows``, each dense layer one product of fastnn's gemm
  (fastnn.ops.gemm, GIL released, threads as ``fastnn.set_num_threads`` sets them) into the thread's scratch
  followed by one C epilogue (bias and activation, or the row-wise layer), the last layer straight into the
  result rows. The gemm cuts its output into fixed tasks, so a row's outputs are the same bits whatever the
  threads and whatever other rows share its call (numpy's OpenBLAS would change them with its thread count and
  with the rows of a block's tail).
A memmap is read block by block. ``small_batch_max`` (None: no limit) defaults to what was measured on the
kernel's SIMD level (``KERNEL_ROWS_MAX``): with AVX-512 the kernel beat numpy's OpenBLAS at every batch size
measured (1 to 1024 rows, 784-512-256-10; OpenBLAS 0.3.31 runs its AVX2 kernel on that CPU), with AVX2 fastnn's
gemm only from about 100 rows (bench/RESULTS.md). ``threads`` > 1 splits each dense layer's panels over OpenMP
threads in one parallel region (calls below ``THREADED_MIN_MACS`` multiply-adds stay on one thread): while the
pool's threads still spin from the previous call (fastnn's default, GOMP_SPINCOUNT=10000: calls back to back) a
second thread halves batch-1 latency (784-512-256-10: 9-11 us vs 19-21 us); a thread that has gone to sleep costs
~100 us to wake, more than it saves at batch 1, and a second thread takes a core other work may need: the default
is 1.

Thread safety: a plan is immutable after construction; each thread has its own scratch, so any number of threads
may call one plan at once, and results do not depend on how many do. Calls in flight at once (of any plan) share
the threads: two Python threads calling a ``threads=2`` plan on two cores run one kernel thread each. In steady
state a call allocates only its result (none with ``out=``). Plans pickle and save (their layers and
``run_options``: threads, small_batch_max, block_rows; the compiled program and the scratch are rebuilt).
"""
from __future__ import annotations

import json
import threading
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import targets as _targets
from .._config import CALLS_IN_FLIGHT, GEMM_MACS_PER_ELEMENT, free_threads, in_flight
from .._version import __version__
from ..formats import write_safetensors
from ..ops import gemm as _gemm
from ..ops import infer as ops
from ..ops._checks import out_array
from ..validation import as_2d_features, c_array, check_finite, check_scalar

# Rows up to which the kernel beats the gemm blocks, by SIMD level (None: every size measured), 784-512-256-10
# float32, interleaved repeats of a plan with the kernel for every size against the gemm blocks (bench/RESULTS.md,
# "Inference plan"): AVX-512 kernel 1.1 ms vs numpy's OpenBLAS (the blocks' products then) 3.5 ms at 256 rows, 4.5
# vs 9.0 ms at 1024; AVX2 (2026-12-01), kernel / gemm time 0.95, 0.98, 1.14, 1.21 at 33, 64, 128, 256 rows on 1
# thread (0.86, 0.90, 1.12, 1.16 on 2). Level 0 (SSE2) is not measured: set as level 1.
KERNEL_ROWS_MAX: dict[int, int | None] = {0: 64, 1: 64, 2: None}
# Rows per kernel call or gemm block: intermediates of 256 x 512 floats stay in the L2 cache.
BLOCK_ROWS = 256
# Multiply-adds below which a plan with threads > 1 runs a kernel call on one thread: two threads of a briefly
# spinning OpenMP pool (GOMP_SPINCOUNT=10000) paid from 2 x 128 x 128 at batch 1 (32768 multiply-adds: 1.41 vs
# 1.41 us; 131072: 3.29 vs 2.59 us; 8192: 0.75 vs 1.00 us), interleaved in one process (bench/RESULTS.md).
THREADED_MIN_MACS = 1 << 15

_PROBABILITY_MAPS = ("softmax", "sigmoid")
FORMAT_NAME = "fastnn-plan"  # of plan files (fastnn.inference.files)
FORMAT_VERSION = "1"


_NO_SCRATCH = (None, 0)  # a thread's (scratch, the rows it holds) before its first call

# Rows of a call are at most int64's range (the kernel's row count): a block_rows beyond it blocks nothing more.
MAX_BLOCK_ROWS = np.iinfo(np.int64).max
# Threads of a plan: OpenMP starts that many where the load is not tracked (OMP_WAIT_POLICY set by the user), and
# 100,000 crashed the interpreter (a segfault, past the process's thread limit); no CPU served has more than 1024.
MAX_THREADS = 1024
# What compile takes besides the model: pickles and plan files keep them (run_options)
RUN_OPTIONS = ("threads", "small_batch_max", "block_rows")


def _count(name: str, value: Any, least: int, most: int | None = None, allow_none: bool = False) -> int | None:
    return check_scalar(value, name, Integral, min_val=least, max_val=most, allow_none=allow_none, error=ValueError)


def check_run_options(options: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Every one of RUN_OPTIONS, from ``options`` (some of them; the others take their defaults), checked as a plan
    takes them: threads 1 to MAX_THREADS, small_batch_max "auto", None or an integer >= 0, block_rows 1 to
    MAX_BLOCK_ROWS. A ValueError names ``where`` + the option (a plan file's "plan options.block_rows")."""
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise ValueError(f"{where}{unknown[0]!s:.40} is not a plan option (they are {', '.join(RUN_OPTIONS)})")
    small = options.get("small_batch_max", "auto")
    if not (isinstance(small, str) and small == "auto"):
        small = _count(where + "small_batch_max", small, 0, allow_none=True)
    return {"threads": _count(where + "threads", options.get("threads", 1), 1, MAX_THREADS),
            "small_batch_max": small,
            "block_rows": _count(where + "block_rows", options.get("block_rows", BLOCK_ROWS), 1, MAX_BLOCK_ROWS)}


class InferencePlan:
    """A compiled forward pass (see the module docstring); build one with :func:`fastnn.inference.compile`.

    ``predict(X)`` has the meaning of the model's ``predict``: the loss's output map applied to the raw outputs
    (``output_map``: "softmax" for cross_entropy, "sigmoid" for binary_cross_entropy, "none" for mse or no loss);
    ``predict_logits`` gives the raw outputs, ``predict_proba`` the probabilities (a ValueError without a
    classification loss), ``predict_classes`` the class indices and ``predict_labels`` the model's labels
    (``classes_``, kept from the model: strings, ...). X: (n, n_features_in) raw rows (the preprocessor is part of
    the plan); float32 or float64 as the plan (other inputs are converted). ``out=``: a C-contiguous, aligned
    (n, n_outputs) array of the plan's dtype to write into instead of a new one; it may be X itself (then X is
    read from a copy).
    """

    def __init__(self, layers: list[ops.ProgramLayer], dtype: Any = "float32", output_map: str = "none",
                 info: dict[str, Any] | None = None, small_batch_max: int | None | str = "auto",
                 block_rows: int = BLOCK_ROWS, threads: int = 1, classes: ArrayLike | None = None) -> None:
        if output_map not in ops.OUTPUTS:
            raise ValueError(f"output_map must be one of {sorted(ops.OUTPUTS)}, got {output_map!r}")
        self.program = ops.Program(layers, dtype)
        self.dtype = self.program.dtype
        self.output_map = output_map
        self.n_features_in, self.n_outputs = self.program.n_in, self.program.n_out
        self.info = dict(info or {})
        options = check_run_options({"threads": threads, "small_batch_max": small_batch_max,
                                     "block_rows": block_rows})
        self.threads, self.block_rows = options["threads"], options["block_rows"]
        self._auto_small_batch_max = options["small_batch_max"] == "auto"  # resolved again where a copy loads
        self.small_batch_max = (KERNEL_ROWS_MAX.get(ops.simd_level(), 32) if self._auto_small_batch_max
                                else options["small_batch_max"])
        self._one_call_rows = min(self.block_rows, self.block_rows if self.small_batch_max is None
                                  else self.small_batch_max)
        self._macs_per_row = sum(layer.w.size for layer in self.program.layers
                                 if layer.kind == "dense" and layer.w is not None)
        self._local = threading.local()
        # small calls: tests, result and kernel in one C call (ops.infer.one_call)
        self._one_call = ops.one_call(self.program, self._one_call_rows)
        self.classes_ = None if classes is None else _targets.check_classes(classes, self._n_classes())

    @property
    def layers(self) -> list[ops.ProgramLayer]:
        return self.program.layers

    @property
    def predicts_probabilities(self) -> bool:
        return self.output_map in _PROBABILITY_MAPS

    # -- prediction ------------------------------------------------------------------------------------------
    def predict(self, X: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
        """The model's ``predict``: probabilities for a classification loss, raw outputs otherwise."""
        return self._run(X, self.output_map, out)

    def predict_logits(self, X: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
        """Raw outputs, before the loss's output map."""
        return self._run(X, "none", out)

    def predict_proba(self, X: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (softmax or sigmoid); a ValueError for a plan without a classification loss."""
        if not self.predicts_probabilities:
            raise ValueError(f"predict_proba needs a classification loss (cross_entropy or binary_cross_entropy); "
                             f"this plan's loss is {self.info.get('loss')!r}: use predict")
        return self._run(X, self.output_map, out)

    def predict_classes(self, X: ArrayLike) -> np.ndarray:
        """Predicted class indices (int64), as the model's ``predict_classes``: the argmax of the outputs (softmax),
        logit > 0 (sigmoid: (n,) with one output, (n, outputs) of 0/1 with several)."""
        if not self.predicts_probabilities:
            raise ValueError(f"predict_classes needs a classifier's outputs (a softmax or sigmoids); this plan's "
                             f"output map is {self.output_map!r}")
        logits = self.predict_logits(X)
        if self.output_map == "softmax":
            return logits.argmax(axis=1)
        classes = (logits > 0).astype(np.int64)
        return classes[:, 0] if self.n_outputs == 1 else classes

    def predict_labels(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels: ``classes_[predict_classes(X)]``, the labels the model was fitted on; the class indices
        for a model without ``classes_``."""
        return _targets.decode(self.predict_classes(X), self.classes_)

    def _n_classes(self) -> int:
        """How many classes labels name, as the model's loss counts them (fastnn.losses, not imported here: a
        serving process loads no training code): softmax, one per output; one sigmoid output, 2; a ValueError
        otherwise (several sigmoids are labels of their own)."""
        if self.output_map == "softmax":
            return self.n_outputs
        if self.output_map == "sigmoid" and self.n_outputs == 1:
            return 2
        raise ValueError(f"classes need a classifier's outputs (a softmax, or one sigmoid output); this plan's "
                         f"output map is {self.output_map!r} with {self.n_outputs} output(s)")

    def _run(self, X: ArrayLike, output: str, out: np.ndarray | None) -> np.ndarray:
        if self._one_call_rows:
            # the one-call path takes calls of up to as many rows as this thread's scratch holds (None for
            # anything else): a call of more rows takes the checked path once, which grows the scratch
            scratch, rows_held = getattr(self._local, "scratch", _NO_SCRATCH)
            threads = 1
            if self.threads > 1 and type(X) is np.ndarray and X.ndim == 2:  # it counts itself in flight as it runs
                threads = self._threads(X.shape[0], len(CALLS_IN_FLIGHT) + 1)
            try:
                y = self._one_call(X, out, scratch, rows_held, ops.OUTPUTS[output], threads, CALLS_IN_FLIGHT)
            except ValueError:
                check_finite(np.asarray(X), "X", self.dtype)  # names the row and column
                raise
            if y is not None:
                return y
        # the fast test first (a request's array as it comes; `is`: float32 and float64 are singletons)
        if (type(X) is np.ndarray and X.dtype is self.dtype and X.ndim == 2 and X.shape[1] == self.n_features_in
                and X.shape[0] > 0 and (flags := X.flags).c_contiguous and flags.aligned):
            x = X
        else:
            x = as_2d_features(X, n_features=self.n_features_in)
            if x.shape[0] <= self._one_call_rows:  # the kernel reads C-contiguous rows of the plan's dtype
                x = c_array(x, self.dtype)
        n = x.shape[0]
        if out is None:
            out = np.empty((n, self.n_outputs), self.dtype)
        else:
            if not (type(out) is np.ndarray and out.dtype == self.dtype and out.shape == (n, self.n_outputs)
                    and (flags := out.flags).c_contiguous and flags.writeable and flags.aligned):
                out_array("out", out, (n, self.n_outputs), self.dtype)  # raises, naming what is wrong
            if np.may_share_memory(out, x):  # a kernel writes a tile's outputs over inputs it still reads
                x = x.copy()
        if n <= self._one_call_rows:
            return self._kernel(X, x, output, out)
        return self._run_blocks(X, x, output, out)

    def _kernel(self, X: ArrayLike, x: np.ndarray, output: str, out: np.ndarray) -> np.ndarray:
        """One C call on x (at most block_rows rows) into out, on the thread's scratch, counted in flight while it
        runs (fastnn._config.in_flight)."""
        scratch = self._scratch(x.shape[0])
        threads = self._threads(x.shape[0], len(CALLS_IN_FLIGHT) + 1)  # it counts itself in flight as it runs
        try:
            return in_flight(ops.forward, self.program, x, out, scratch, output, threads, False)  # checked above
        except ValueError:
            check_finite(np.asarray(X), "X", self.dtype)  # names the row and column
            raise

    def _threads(self, rows: int, callers: int) -> int:
        """Threads for a call of ``rows`` rows with ``callers`` calls in flight (itself included): one below
        THREADED_MIN_MACS multiply-adds, else no more than this call's share of the cores that other processes
        and the other calls in flight leave free (fastnn._config.free_threads); results do not depend on it."""
        macs = rows * self._macs_per_row
        if self.threads == 1 or macs < THREADED_MIN_MACS:
            return 1
        return free_threads(self.threads, callers, macs // GEMM_MACS_PER_ELEMENT)

    def _scratch(self, rows: int) -> np.ndarray | None:
        """This thread's scratch, grown to hold a call of ``rows`` rows (at most block_rows; None when the program
        needs none). It grows to at least twice its rows, so calls of rising sizes reallocate it a few times only,
        and calls of sizes it holds not at all. Kept with the rows it holds as one pair (one attribute read on the
        one-call path); a program without hidden layers holds any call."""
        scratch, rows_held = getattr(self._local, "scratch", _NO_SCRATCH)
        if rows > rows_held:
            rows = min(max(rows, 2 * rows_held), self.block_rows)
            size = self.program.scratch_size(rows)
            scratch = np.empty(size, self.dtype) if size else None
            self._local.scratch = scratch, rows if size else self.block_rows
        return scratch

    def _run_blocks(self, X: ArrayLike, x: np.ndarray, output: str, out: np.ndarray) -> np.ndarray:
        """Blocks of block_rows rows: one kernel call each, or (above small_batch_max) a gemm per layer."""
        kernel = self.small_batch_max is None or x.shape[0] <= self.small_batch_max
        for start in range(0, x.shape[0], self.block_rows):
            src = c_array(x[start:start + self.block_rows], self.dtype)
            result = out[start:start + src.shape[0]]
            if kernel:
                self._kernel(X, src, output, result)
            else:
                if not ops.all_finite(src):
                    check_finite(np.asarray(X), "X", self.dtype)
                self._gemm_block(src, output, result)
        return out

    def _gemm_block(self, src: np.ndarray, output: str, result: np.ndarray) -> None:
        """One block: each dense layer a product of fastnn's gemm and a C epilogue, the hidden layers' outputs in
        the two halves of the thread's scratch (as the kernel uses it), the last layer's straight into ``result``.
        The buffers are the plan's own, C-contiguous, of its dtype and apart: the gemm's checks are skipped."""
        rows = src.shape[0]
        bufs = self.program.scratch_buffers(self._scratch(rows), rows)
        in_flight(self._gemm_layers, src, bufs, result)  # calls in flight at once share the threads (the gemm counts)
        if output != "none":
            ops.output_map(result, output)

    def _gemm_layers(self, src: np.ndarray, bufs: list[np.ndarray], result: np.ndarray) -> None:
        """The layers of :meth:`_gemm_block`, the hidden layers' outputs in ``bufs``, the last one's in result."""
        layers, last, rows = self.program.layers, len(self.program.layers) - 1, src.shape[0]
        for i, layer in enumerate(layers):
            dst = result if i == last else bufs[i % 2][:rows * layer.n_out].reshape(rows, layer.n_out)
            if layer.w is not None and layer.kind == "dense":
                _gemm.gemm(src, layer.w, dst, check=False)
                ops.epilogue(self.program, i, dst, dst)
            else:
                ops.epilogue(self.program, i, src, dst)
            src = dst

    # -- description, pickling, files ------------------------------------------------------------------------
    def summary(self) -> str:
        lines = [f"InferencePlan ({self.n_features_in} -> {self.n_outputs}, {self.dtype.name}, output map "
                 f"{self.output_map}, kernel up to {self.small_batch_max or 'any number of'} rows, "
                 f"{self.block_rows} per call)"]
        for i, layer in enumerate(self.layers):
            act = "" if layer.activation == "identity" else f" + {layer.activation}"
            lines.append(f"  {i}: {layer.kind}{act}  {layer.n_in} -> {layer.n_out}")
        lines.append(f"  parameters: {self.n_parameters}")
        return "\n".join(lines)

    @property
    def n_parameters(self) -> int:
        return sum(a.size for layer in self.layers for a in (layer.w, layer.b) if a is not None)

    def __repr__(self) -> str:
        return self.summary()

    @property
    def run_options(self) -> dict[str, Any]:
        """The options of :func:`~fastnn.inference.compile` (RUN_OPTIONS), as pickles and plan files keep them:
        ``small_batch_max`` is "auto" when it was left to the plan, so a copy loaded on another CPU takes that
        CPU's measured value (``KERNEL_ROWS_MAX``)."""
        return {"threads": self.threads, "block_rows": self.block_rows,
                "small_batch_max": "auto" if self._auto_small_batch_max else self.small_batch_max}

    def __getstate__(self) -> dict[str, Any]:
        return {"layers": self.layers, "dtype": self.dtype.name, "output_map": self.output_map, "info": self.info,
                "classes": self.classes_, **self.run_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def save(self, path: Any) -> None:
        """Write the plan to ``path``, atomically: a safetensors file whose metadata describes the layers and
        whose tensors are their arrays in the plain layout, with the ``run_options`` (format in
        fastnn.inference.files, which reads it)."""
        layers, arrays = [], {}
        for i, layer in enumerate(self.layers):
            layers.append({"kind": layer.kind, "activation": layer.activation, "alpha": layer.alpha,
                           "eps": layer.eps, "width": layer.width})
            arrays.update({f"{i}.{name}": a for name, a in (("w", layer.w), ("b", layer.b)) if a is not None})
        doc = {"dtype": self.dtype.name, "output_map": self.output_map, "n_features_in": self.n_features_in,
               "info": self.info, "layers": layers, "options": self.run_options}
        if self.classes_ is not None:
            doc["classes"] = _targets.jsonable_classes(self.classes_)
        metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "fastnn_version": __version__,
                    "plan": json.dumps(doc, allow_nan=False)}
        write_safetensors(path, arrays, metadata)
