"""Ctrl-C (SIGINT) during training leaves the model after a whole step (fastnn.training.interrupts).

The fused step updates each Dense weight right after its gradient, from the last layer back, so a KeyboardInterrupt
raised inside backward used to leave the last layers a step ahead of the first ones, with the step count and the
optimizer's moments behind: a model neither before nor after the step, which a later fit carried on.
"""
import contextlib
import os
import signal

import numpy as np
import pytest

import fastnn as fnn
from fastnn.layers import Dense, Layer
from fastnn.training import NonFiniteLossError
from fastnn.training import step as _step

STOP = 5  # the step during which SIGINT arrives


class SigintInBackward(Layer):
    """Identity layer that sends SIGINT to this process from its backward pass at step ``at``: after the layer
    behind it took its fused weight update, before the layer in front of it did."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def forward(self, x, ws, ctx):
        return x

    def backward(self, dy, ws, ctx, need_dx):
        if ctx.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return dy


def _model(at):
    return fnn.Sequential([Dense(16, activation="relu"), SigintInBackward(at), Dense(3)], input_dim=8, seed=1)


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((60, 8)).astype(np.float32), rng.integers(0, 3, 60)


def _snapshot(model):
    arrays = {k: v.copy() for k, v in model.state_arrays().items()}
    moments = {k: np.array(v, copy=True) for k, v in model.optimizer.state_dict()["state"].items()}
    return model.step_count, arrays, moments


def _assert_same(a, b):
    assert a[0] == b[0]
    for got, want in zip(a[1:], b[1:]):
        assert got.keys() == want.keys()
        for k in want:
            assert np.array_equal(got[k], want[k]), k


@pytest.fixture
def default_sigint():
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a handler other than Python's default here")


@pytest.fixture(params=[True, False], ids=["fused", "plain"])
def fused(request, monkeypatch):
    monkeypatch.setattr(_step, "FUSE_WEIGHT_UPDATES", request.param)
    return request.param


def test_sigint_inside_a_fit_step_is_raised_after_the_whole_step(default_sigint, fused):
    X, y = _data()
    args = dict(epochs=2, batch_size=10, optimizer=fnn.optim.Adam(lr=0.01), verbose=0)
    after = {}

    class Record(fnn.training.Callback):
        def on_batch_end(self, batch, logs, model):
            after[model.step_count] = _snapshot(model)

    with fnn.threads(1):
        _model(-1).fit(X, y, **{**args, "callbacks": [Record()]})
        model = _model(STOP)
        args["optimizer"] = fnn.optim.Adam(lr=0.01)
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y, **args)
    _assert_same(_snapshot(model), after[STOP + 1])
    assert len(model.history.steps["lr"]) == STOP + 1  # the step's record too
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_inside_train_step_is_raised_after_the_whole_step(default_sigint, fused):
    X, y = _data()
    batches = [(X[10 * k:10 * k + 10], y[10 * k:10 * k + 10]) for k in range(STOP + 1)]
    with fnn.threads(1):
        reference, model = _model(-1), _model(STOP)
        for m in (reference, model):
            m.train_step(*batches[0], loss="cross_entropy", optimizer=fnn.optim.Adam(lr=0.01))
        for batch in batches[1:]:
            reference.train_step(*batch)
            if batch is batches[-1]:
                with pytest.raises(KeyboardInterrupt):
                    model.train_step(*batch)
            else:
                model.train_step(*batch)
    _assert_same(_snapshot(model), _snapshot(reference))


def test_sigint_outside_a_step_is_raised_at_once(default_sigint):
    X, y = _data()
    reached = []

    class InterruptAtEpochEnd(fnn.training.Callback):
        def on_epoch_end(self, epoch, logs, model):
            os.kill(os.getpid(), signal.SIGINT)
            reached.append(epoch)  # never: the KeyboardInterrupt comes first

    with pytest.raises(KeyboardInterrupt):
        _model(-1).fit(X, y, epochs=3, batch_size=10, callbacks=[InterruptAtEpochEnd()], verbose=0)
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_installed_during_fit_is_left_in_place(default_sigint):
    X, y = _data()

    def mine(signum, frame):
        pass

    class InstallHandler(fnn.training.Callback):
        def on_epoch_end(self, epoch, logs, model):
            signal.signal(signal.SIGINT, mine)

    try:
        _model(-1).fit(X, y, epochs=1, batch_size=10, callbacks=[InstallHandler()], verbose=0)
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# ---- the data order after a fit that ended early -------------------------------------------------------------

ROWS, BATCH = 40, 10  # 4 steps an epoch
END_AT = 9  # the second batch of the third epoch: a second fit of 2 epochs after a first of 1 ends there


class RowsSeen(Layer):
    """Identity layer that records the row ids (feature 0) of every training batch, and at step ``at`` ends the
    fit the way ``how`` says: a SIGINT inside the step, or a NaN output (a non-finite loss)."""

    def __init__(self, at=-1, how=None):
        super().__init__()
        self.at, self.how, self.rows = at, how, []

    def forward(self, x, ws, ctx):
        if not ctx.training:
            return x
        self.rows.append(x[:, 0].astype(int).tolist())
        if ctx.step == self.at and self.how == "sigint":
            os.kill(os.getpid(), signal.SIGINT)  # raised once the whole step is taken
        if ctx.step == self.at and self.how == "nonfinite_loss":
            return x * np.nan
        return x

    def backward(self, dy, ws, ctx, need_dx):
        return dy


class EndAt(fnn.training.Callback):
    def __init__(self, how):
        self.how = how

    def on_batch_end(self, batch, logs, model):
        if logs["step"] == END_AT and self.how == "keyboard_interrupt":
            raise KeyboardInterrupt
        if logs["step"] == END_AT and self.how == "callback_stop":
            model.stop_training = True


def _rows_model(**kwargs):
    return fnn.Sequential([RowsSeen(**kwargs), Dense(3)], input_dim=4, seed=1)


@pytest.mark.parametrize("how", ["sigint", "keyboard_interrupt", "callback_stop", "nonfinite_loss"])
def test_a_fit_that_ended_early_hands_on_its_data_order(default_sigint, how):
    """A fit ended by Ctrl-C or a non-finite loss did not record where it left the data order, so the next fit of
    the same data and seed replayed the orders it had already trained on, from where the fit before it ended. Now
    the next fit shuffles on as the uninterrupted run's next epoch does (the rest of the interrupted epoch is
    skipped, as a callback's stop skips it)."""
    rng = np.random.default_rng(0)
    X = np.c_[np.arange(ROWS), rng.standard_normal((ROWS, 3))].astype(np.float32)
    y = rng.integers(0, 3, ROWS)
    args = dict(batch_size=BATCH, seed=3, verbose=0)
    straight = _rows_model()
    straight.fit(X, y, epochs=4, **args)
    epoch_orders = [sum(straight.layers[0].rows[k:k + 4], []) for k in range(0, 16, 4)]

    model = _rows_model(at=END_AT, how=how)
    model.fit(X, y, epochs=1, **args)
    ends = {"sigint": KeyboardInterrupt, "keyboard_interrupt": KeyboardInterrupt,
            "nonfinite_loss": NonFiniteLossError}
    with pytest.raises(ends[how]) if how in ends else contextlib.nullcontext():
        model.fit(X, y, epochs=2, callbacks=[EndAt(how)], **args)
    assert model.step_count == END_AT + (how != "nonfinite_loss")  # a refused step is not taken
    seen = model.layers[0].rows
    seen.clear()
    model.layers[0].at = -1
    model.fit(X, y, epochs=1, **args)
    assert sum(seen, []) == epoch_orders[3]  # the order after the interrupted third epoch, not a replay


class FailsAtBatchBegin(fnn.training.Callback):
    def on_batch_begin(self, batch, logs, model):
        raise RuntimeError("a callback's bug")


@pytest.mark.parametrize("how", ["callback_error", "nonfinite_loss"])
@pytest.mark.parametrize("epochs_before", [0, 1])
def test_a_fit_that_took_no_step_leaves_the_data_order_as_it_was(how, epochs_before):
    """A fit that raised before its first step (a callback's error in on_batch_begin, a refused non-finite first
    step) recorded where its loader had shuffled to, so the next fit skipped an epoch's order and differed from
    the same fit of a model the failed fit never touched. Now the next fit shuffles as if the failed one had not
    run."""
    rng = np.random.default_rng(0)
    X = np.c_[np.arange(ROWS), rng.standard_normal((ROWS, 3))].astype(np.float32)
    y = rng.integers(0, 3, ROWS)
    args = dict(batch_size=BATCH, seed=3, verbose=0)
    straight = _rows_model()
    straight.fit(X, y, epochs=epochs_before + 1, **args)
    steps = ROWS // BATCH
    model = _rows_model(at=epochs_before * steps, how=how)
    if epochs_before:
        model.fit(X, y, epochs=epochs_before, **args)
    with pytest.raises(RuntimeError if how == "callback_error" else NonFiniteLossError):
        model.fit(X, y, epochs=2, callbacks=[FailsAtBatchBegin()] if how == "callback_error" else None, **args)
    assert model.step_count == epochs_before * steps
    model.layers[0].rows.clear()
    model.layers[0].at = -1
    model.fit(X, y, epochs=1, **args)
    assert model.layers[0].rows == straight.layers[0].rows[-steps:]  # the order the epoch after the last one had
