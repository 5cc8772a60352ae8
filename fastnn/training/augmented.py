"""Augmented training batches for ``fit``: several consecutive batches are augmented in one call.

``fit`` augments a chunk of consecutive batches (about ``CHUNK_VALUES`` values) per call and hands the batches
out one by one: the per-call costs (Python, the random matrices, waking a second thread) are paid once per
chunk, a chunk is large enough for two threads to pay (a 128-image batch is not), and the warp reads the
shuffled rows straight from X (bench/RESULTS.md, augmentation section).

Keying: the image at position p of an epoch's order is augmented with the key (seed, s0, p), where s0 is the
optimizer step of the epoch's first batch. Keys never repeat between epochs, and the result does not depend on
the chunk size (nor on the thread count or the CPU).
"""
from __future__ import annotations

import numpy as np

# Values (rows x features) augmented per call: ~4 MB of float32, 10 batches of 128 x 784. Measured per image at
# 2 threads outside training: 1024 images per call cost 0.54x what 128 per call do, 2048 images 0.52x; inside
# a training epoch 2**18, 2**19 and 2**20 measured alike within the noise.
CHUNK_VALUES = 1 << 20


class AugmentedBatches:
    """Hands out augmented batches of one epoch in order; refills its chunk when a batch runs past it."""

    def __init__(self, augment, source, n_rows: int, batch_size: int, seed: int):
        n_features = source.X.shape[1]
        self.augment, self.source, self.n_rows, self.seed = augment, source, n_rows, seed
        chunk_batches = max(1, CHUNK_VALUES // (batch_size * n_features))
        self.chunk_rows = min(n_rows, chunk_batches * batch_size)
        self.out_buf = np.empty((self.chunk_rows, n_features), source.x_buf.dtype)
        # rows of another dtype or layout are gathered and cast first
        self.rows_buf = None if source.direct else np.empty_like(self.out_buf)
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
                rows = self.source.gather_rows(order[lo:hi], self.rows_buf[:hi - lo])
                self.augment.apply(rows, out, self.seed, self.epoch_step, lo)
            self.lo, self.hi = lo, hi
        return self.out_buf[start - self.lo:stop - self.lo]
