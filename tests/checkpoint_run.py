"""The run tests/test_checkpoint.py kills and resumes: Adam + OneCycle + Dropout + BatchNorm + augmentation +
shuffling + validation, EarlyStopping, ReduceOnPlateau and a CSVLogger, with checkpoints every epoch and every
few steps. Run as a script it trains (or resumes, if the checkpoint exists) with slowed steps and checkpoint
writes, so that a SIGKILL sent at a random moment lands anywhere, often inside a checkpoint write."""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import fastnn as fnn
from fastnn.layers import BatchNorm, Dense, Dropout, ReLU

EPOCHS, BATCH, EVERY_STEPS = 5, 16, 3


def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(180, 64)).astype(np.float32)
    y = (X[:, :10].argmax(axis=1) + rng.integers(0, 2, 180)) % 10
    return X[:140], y[:140], (X[140:], y[140:])


def model():
    return fnn.Sequential([Dense(32), BatchNorm(), ReLU(), Dropout(0.25), Dense(10)], input_dim=64, seed=3)


def callbacks(csv_path):
    return [fnn.training.EarlyStopping(monitor="val_loss", patience=20),
            fnn.training.ReduceOnPlateau(monitor="loss", patience=0, factor=0.5),
            fnn.training.CSVLogger(csv_path)]


def fit_args(checkpoint, csv_path):
    return dict(optimizer=fnn.optim.Adam(lr=fnn.schedules.OneCycle(max_lr=0.02, total_steps=60)),
                epochs=EPOCHS, batch_size=BATCH, seed=11, verbose=0, callbacks=callbacks(csv_path),
                augment=fnn.augment.Compose([fnn.augment.RandomShift(1), fnn.augment.GaussianNoise(0.1)],
                                            image_shape=(8, 8)),
                checkpoint=checkpoint, checkpoint_every=1, checkpoint_every_steps=EVERY_STEPS)


def run(checkpoint, csv_path):
    """Start the run, or resume it when a checkpoint exists (what a user restarting a killed job does)."""
    X, y, val = data()
    if os.path.exists(checkpoint):
        return fnn.resume(checkpoint, X, y, validation_data=val, verbose=0)
    m = model()
    m.fit(X, y, validation_data=val, **fit_args(checkpoint, csv_path))
    return m


def _slow_down(step_delay, write_delay):
    """Stretch each training step and each checkpoint write (between the temp file's last byte and its rename)."""
    from fastnn.training import loop

    take_step = loop.take_step

    def slow_step(*args, **kwargs):
        time.sleep(step_delay)
        return take_step(*args, **kwargs)

    fsync = os.fsync

    def slow_fsync(fd):
        time.sleep(write_delay)
        fsync(fd)

    loop.take_step = slow_step
    os.fsync = slow_fsync


if __name__ == "__main__":
    checkpoint, csv_path = sys.argv[1:3]
    fnn.set_num_threads(1)
    _slow_down(0.002, 0.02)
    print("ready", flush=True)
    run(checkpoint, csv_path)
    print("done", flush=True)
