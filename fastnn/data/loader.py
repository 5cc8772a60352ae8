"""The loader of ``fit``: an epoch's mini-batches of (X, targets), shuffled, cast and augmented.

Rows are gathered into a batch buffer allocated once (fastnn.ops.augment.gather_rows, which prefetches the
next rows: a shuffled batch's rows lie anywhere in X; ``np.take`` for X that is not C-contiguous), so X may be a
np.memmap larger than RAM: only one batch (with ``augment=``, one chunk of about ``CHUNK_VALUES`` values) is ever
in memory. Rows of another dtype are gathered raw, then cast. Unshuffled C-contiguous data of the model dtype
is handed out as slices of X, without a copy.

Weights: with per-row ``weights`` every batch's targets come as fastnn.losses.Weighted (targets, weights),
the weights gathered with the rows. ``drop_last``: an epoch ends with its last full batch (the n % batch_size
rows after it, a different set each shuffled epoch, are not trained on in that epoch).

Shuffling: one numpy PCG64 generator from ``seed`` permutes the row order in place at the start of every
epoch, so the same seed gives the same order. The generator's state and the current order are the loader's
whole state (:meth:`Loader.state` / :meth:`Loader.restore`): a checkpoint holds them, so a resumed run, or a
later ``fit`` continuing this one, shuffles on exactly as the uninterrupted run would, and a run resumed in
the middle of an epoch continues that epoch's order (``Loader.epoch(first_step, start_batch)``).

Augmentation: several consecutive batches are augmented in one call (about ``CHUNK_VALUES`` values) and
handed out one by one: the per-call costs (Python, the random matrices, waking a second thread) are paid once
per chunk, a chunk is large enough for two threads to pay (a 128-image batch is not), and the warp reads the
shuffled rows straight from X (bench/RESULTS.md, augmentation section). Keying: the image at position p of
an epoch's order is augmented with the key (seed, s0, p), where s0 is the optimizer step of the epoch's first
batch. Keys never repeat between epochs, and the result does not depend on the chunk size (nor on the thread
count or the CPU).

This module knows nothing of models or training: it needs only the arrays, the batch size and the dtype.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..losses import Weighted
from ..ops.augment import gather_rows

# Values (rows x features) augmented per call: ~4 MB of float32, 10 batches of 128 x 784. Measured per image at
# 2 threads outside training: 1024 images per call cost 0.54x what 128 per call do, 2048 images 0.52x; inside
# a training epoch 2**18, 2**19 and 2**20 measured alike within the noise.
CHUNK_VALUES = 1 << 20


class BatchSource:
    """Gathers mini-batches of X and the prepared targets into buffers allocated once.

    The indices are a permutation of the rows, always in range: the row gather takes them unchecked, and np.take
    (the targets, and X when it is not C-contiguous) uses mode="clip", since mode="raise" (the default) buffers
    ``out`` through a temporary copy (3x slower for a 128x784 batch)."""

    def __init__(self, X, targets, batch_size: int, dtype, target_buffer: np.ndarray | None = None,
                 weights: np.ndarray | None = None):
        self.X, self.targets, self.weights = X, targets, weights
        self.direct = X.dtype == dtype and X.flags.c_contiguous and X.flags.aligned
        self.x_buf = np.empty((batch_size, X.shape[1]), dtype)
        self.raw_buf: np.ndarray | None = None  # rows of a different dtype are gathered raw, then cast
        self.t_buf = (target_buffer if target_buffer is not None else
                      np.empty((batch_size,) + targets.shape[1:], targets.dtype))
        self.w_buf = np.empty(batch_size, np.float64) if weights is not None else None
        # the row gather, decided once: the C kernel over X's bytes (viewed once: a memmap's view costs a
        # microsecond) for C-contiguous X, np.take otherwise; the indices are always the loader's int64 order
        self.x_bytes = np.asarray(X).view(np.uint8) if X.flags.c_contiguous else None

    def slice(self, start: int, stop: int):
        """Rows start:stop without a copy (unshuffled training on C-contiguous data of the model dtype)."""
        return self.X[start:stop], self.sliced_targets(start, stop)

    def sliced_targets(self, start: int, stop: int):
        if self.weights is None:
            return self.targets[start:stop]
        return Weighted(self.targets[start:stop], self.weights[start:stop])

    def gather_rows(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.direct:
            return self._gather(idx, out)
        if self.raw_buf is None or self.raw_buf.shape[0] < len(idx):
            self.raw_buf = np.empty((len(idx), self.X.shape[1]), self.X.dtype)
        np.copyto(out, self._gather(idx, self.raw_buf[:len(idx)]), casting="unsafe")
        return out

    def _gather(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out[i] = X[idx[i]] (idx: the loader's int64 row indices, in range; out: a C-contiguous buffer of X's
        dtype)."""
        if self.x_bytes is None:
            return np.take(self.X, idx, axis=0, out=out, mode="clip")
        gather_rows(self.x_bytes, idx, out.view(np.uint8), check=False)
        return out

    def gather_targets(self, idx: np.ndarray):
        targets = np.take(self.targets, idx, axis=0, out=self.t_buf[:len(idx)], mode="clip")
        if self.weights is None:
            return targets
        assert self.w_buf is not None
        return Weighted(targets, np.take(self.weights, idx, out=self.w_buf[:len(idx)], mode="clip"))

    def gather(self, idx: np.ndarray):
        return self.gather_rows(idx, self.x_buf[:len(idx)]), self.gather_targets(idx)


class AugmentedBatches:
    """Hands out augmented batches of one epoch in order; refills its chunk when a batch runs past it."""

    def __init__(self, augment, source: BatchSource, n_rows: int, batch_size: int, seed: int):
        n_features = source.X.shape[1]
        self.augment, self.source, self.n_rows, self.seed = augment, source, n_rows, seed
        chunk_batches = max(1, CHUNK_VALUES // (batch_size * n_features))
        self.chunk_rows = min(n_rows, chunk_batches * batch_size)
        self.out_buf = np.empty((self.chunk_rows, n_features), source.x_buf.dtype)
        # rows of another dtype or layout are gathered and cast first
        self.rows_buf: np.ndarray | None = None if source.direct else np.empty_like(self.out_buf)
        self.epoch_step = 0
        self.lo = self.hi = 0  # epoch positions held in out_buf

    def new_epoch(self, first_step: int) -> None:
        self.epoch_step = first_step
        self.lo = self.hi = 0

    def batch(self, order: np.ndarray | None, start: int, stop: int) -> np.ndarray:
        """The augmented rows at epoch positions start:stop (``order=None``: unshuffled, rows start:stop of X)."""
        if stop > self.hi:
            lo, hi = start, min(start + self.chunk_rows, self.n_rows)
            out = self.out_buf[:hi - lo]
            if order is None:  # unshuffled C-contiguous data of the model dtype: no copy
                self.augment.apply(self.source.X[lo:hi], out, self.seed, self.epoch_step, lo)
            elif self.source.direct:  # the pipeline reads the shuffled rows straight from X
                self.augment.apply(self.source.X, out, self.seed, self.epoch_step, lo, rows=order[lo:hi])
            else:
                assert self.rows_buf is not None  # allocated when the source is not direct
                rows = self.source.gather_rows(order[lo:hi], self.rows_buf[:hi - lo])
                self.augment.apply(rows, out, self.seed, self.epoch_step, lo)
            self.lo, self.hi = lo, hi
        return self.out_buf[start - self.lo:stop - self.lo]


class Loader:
    """An epoch's mini-batches ``(rows, targets)`` of (X, targets), ``batch_size`` rows each (the last one may
    be smaller, or dropped with ``drop_last``). ``targets`` come from ``loss.prepare_targets``; ``target_buffer``
    holds a batch of them (default: allocated like them). ``augment``: a fastnn.augment pipeline applied to
    every batch, keyed by ``seed``. ``weights``: one float64 weight per row (see the module docstring).

    The arrays handed out are buffers (or views of X) overwritten by the next batch."""

    def __init__(self, X, targets, batch_size: int, dtype, target_buffer: np.ndarray | None = None, *,
                 shuffle: bool = True, seed: int = 0, augment=None, weights: np.ndarray | None = None,
                 drop_last: bool = False):
        self.n_rows = n = X.shape[0]
        self.batch_size = batch_size
        self.shuffle = shuffle
        # the rows an epoch trains on: all, or the full batches' (at least one batch: batch_size <= n)
        self.n_used = n - n % batch_size if drop_last and n >= batch_size else n
        self.source = BatchSource(X, targets, batch_size, dtype, target_buffer, weights)
        self.order = np.arange(n)
        self.rng = np.random.default_rng(seed)
        self.augmented = AugmentedBatches(augment, self.source, n, batch_size, seed) if augment is not None else None
        # unshuffled, C-contiguous rows of the model dtype in memory (not a memmap): slices of X, no copy
        self.zero_copy = not shuffle and self.source.direct and type(X) is np.ndarray

    @property
    def n_batches(self) -> int:
        return -(-self.n_used // self.batch_size)

    def state(self) -> dict:
        """The shuffling state: the generator's (JSON-able) state and the current order (the live array)."""
        return {"rng": self.rng.bit_generator.state, "order": self.order}

    def restore(self, state: dict) -> None:
        """Put back a :meth:`state` (of a loader over as many rows): the next epoch shuffles as it would have."""
        order = np.asarray(state["order"])
        if order.shape != (self.n_rows,) or order.dtype.kind not in "iu":
            raise ValueError(f"loader state: order must be {self.n_rows} row indices, got {order.dtype}{order.shape}")
        if not np.array_equal(np.sort(order), np.arange(self.n_rows)):
            raise ValueError("loader state: order is not a permutation of the rows")
        try:
            self.rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"loader state: rng is not a state of numpy's {type(self.rng.bit_generator).__name__} "
                             f"generator ({type(exc).__name__}: {exc})") from None
        self.order[...] = order

    def epoch(self, first_step: int, start_batch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Reshuffle (when shuffling), then yield the epoch's batches in order. ``first_step``: the optimizer
        step of the epoch's first batch, the augmentation key's s0. ``start_batch > 0`` continues the current
        epoch from that batch: no reshuffle, the same order and augmentation keys (a mid-epoch resume)."""
        if self.shuffle and start_batch == 0:
            self.rng.shuffle(self.order)
        if self.augmented is not None:
            self.augmented.new_epoch(first_step)
        source, order = self.source, self.order
        for start in range(start_batch * self.batch_size, self.n_used, self.batch_size):
            stop = min(start + self.batch_size, self.n_used)
            if self.augmented is not None:
                xb = self.augmented.batch(None if self.zero_copy else order, start, stop)
                tb = source.sliced_targets(start, stop) if self.zero_copy else source.gather_targets(order[start:stop])
                yield xb, tb
            elif self.zero_copy:
                yield source.slice(start, stop)
            else:
                yield source.gather(order[start:stop])
