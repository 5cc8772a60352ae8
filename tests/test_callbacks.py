"""Callbacks at every level (hooks, batch logs, zero cost when unused), EarlyStopping's start_from_epoch and
baseline, ModelCheckpoint, CSVLogger, the progress output, and History's per-step records (their memory and
their list-like reading)."""
from __future__ import annotations

import copy
import csv
import io
import json
import pickle
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import child_env

import fastnn as fnn
from fastnn.layers import Dense
from fastnn.training.callbacks import CallbackHooks, History
from fastnn.training.progress import ProgressBar


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _model():
    return fnn.Sequential([Dense(8, activation="relu"), Dense(2)], input_dim=5, seed=0)


class Recorder(fnn.training.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, model):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs, model):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_begin(self, batch, logs, model):
        self.calls.append(("batch_begin", batch, dict(logs)))

    def on_batch_end(self, batch, logs, model):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs, model):
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, model):
        self.calls.append(("train_end",))


def test_every_hook_is_called_in_order_with_its_logs():
    X, y = _data()
    rec = Recorder()
    sched = fnn.schedules.StepDecay(0.1, step_size=3, gamma=0.5)
    _model().fit(X, y, optimizer=fnn.optim.SGD(lr=sched), epochs=2, batch_size=32, verbose=0, callbacks=[rec],
                 clip=fnn.clip.ByGlobalNorm(0.01))
    names = [c[0] for c in rec.calls]
    assert names == (["train_begin"] + (["epoch_begin"] + ["batch_begin", "batch_end"] * 2 + ["epoch_end"]) * 2
                     + ["train_end"])
    ends = [c for c in rec.calls if c[0] == "batch_end"]
    assert [c[1] for c in ends] == [0, 1, 0, 1]  # batch within the epoch
    assert [c[2]["step"] for c in ends] == [0, 1, 2, 3]  # the optimizer step taken
    assert [c[2]["lr"] for c in ends] == [sched(t) for t in range(4)]
    assert all(c[2]["clipped"] and c[2]["grad_norm"] > 0.01 and c[2]["size"] == 32 for c in ends)
    assert [c[2]["step"] for c in rec.calls if c[0] == "batch_begin"] == [0, 1, 2, 3]


def test_hooks_are_resolved_once_and_the_noop_ones_are_left_out():
    class EpochOnly(fnn.training.Callback):
        def on_epoch_end(self, epoch, logs, model):
            pass

    class Duck:  # not a Callback subclass: whatever it has counts
        def on_batch_end(self, batch, logs, model):
            pass

    hooks = CallbackHooks([fnn.training.Callback(), EpochOnly(), Duck()])
    assert hooks.on_batch_begin == [] and len(hooks.on_batch_end) == 1 and len(hooks.on_epoch_end) == 1
    assert hooks.on_train_begin == [] and hooks.on_epoch_begin == []


def test_a_batch_hook_can_stop_training_after_that_batch():
    class StopAt(fnn.training.Callback):
        def on_batch_end(self, batch, logs, model):
            if logs["step"] == 2:
                model.stop_training = True

    X, y = _data()
    m = _model()
    h = m.fit(X, y, epochs=5, batch_size=16, verbose=0, callbacks=[StopAt()])
    assert m.step_count == 3 and h.epoch == [0]  # the partial epoch is logged, as Keras does


@pytest.mark.parametrize("seed", range(3))
def test_early_stopping_start_from_epoch_ignores_the_warmup(seed):
    X, y = _data(seed=seed)
    # patience 0 on an lr of 0: no epoch improves on the first, so it stops at the second watched epoch
    for start, stopped in ((0, 1), (3, 4)):
        es = fnn.training.EarlyStopping(monitor="loss", patience=0, start_from_epoch=start, min_delta=1e-6)
        _model().fit(X, y, optimizer=fnn.optim.SGD(lr=0.0), epochs=10, verbose=0, callbacks=[es])
        assert es.stopped_epoch == stopped and es.best_epoch == start


def test_early_stopping_baseline_resets_the_wait_only_when_beaten():
    X, y = _data()
    # a training loss that improves every epoch, but never reaches 1e-9: stops after patience epochs
    es = fnn.training.EarlyStopping(monitor="loss", patience=2, baseline=1e-9)
    _model().fit(X, y, optimizer=fnn.optim.SGD(lr=0.1), epochs=20, verbose=0, callbacks=[es])
    assert es.stopped_epoch == 1 and es.best_epoch == 1
    es = fnn.training.EarlyStopping(monitor="loss", patience=2, baseline=100.0)  # always beaten: no stop
    _model().fit(X, y, optimizer=fnn.optim.SGD(lr=0.1), epochs=6, verbose=0, callbacks=[es])
    assert es.stopped_epoch is None


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_counts_patience_as_keras(patience):
    """Keras and Lightning stop at the patience-th epoch in a row without improvement (fastnn stopped one later)."""
    X, y = _data()
    es = fnn.training.EarlyStopping(monitor="loss", patience=patience, min_delta=1e-6)
    h = _model().fit(X, y, optimizer=fnn.optim.SGD(lr=0.0), epochs=10, verbose=0, callbacks=[es])
    assert es.best_epoch == 0 and es.stopped_epoch == patience and len(h.epoch) == patience + 1


def test_early_stopping_restores_the_best_epoch_also_when_the_run_ends_without_stopping():
    """Keras 3: restore_best_weights puts the best epoch back at the end of every run, not only a stopped one."""
    X, y = _data()
    Xv, yv = _data(32, 1)
    yv = 1 - yv  # the opposite rule: the better the model learns, the worse its validation loss
    m = _model()
    best = {}

    class Keep(fnn.training.Callback):
        def on_epoch_end(self, epoch, logs, model):
            best[epoch] = (logs["val_loss"], model.get_weights())

    es = fnn.training.EarlyStopping(patience=50)
    m.fit(X, y, optimizer=fnn.optim.SGD(lr=0.5), epochs=8, verbose=0, validation_data=(Xv, yv),
          callbacks=[Keep(), es])
    assert es.stopped_epoch is None and es.best_epoch < 7
    assert min(best.values(), key=lambda v: v[0])[0] == best[es.best_epoch][0]
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), best[es.best_epoch][1]))
    assert not all(np.array_equal(a, b) for a, b in zip(m.get_weights(), best[7][1]))


@pytest.mark.parametrize("hook", ["on_batch_begin", "on_epoch_begin"])
def test_stop_training_set_by_a_begin_hook_ends_the_epoch_after_that_batch(hook):
    """The flag was read only when some callback had on_batch_end; alone, such a callback let the epoch run."""
    class Stop(fnn.training.Callback):
        pass

    def stop(self, index, logs, model):
        if hook == "on_epoch_begin" or index == 1:
            model.stop_training = True

    setattr(Stop, hook, stop)
    X, y = _data()
    m = _model()
    m.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[Stop()])
    assert m.step_count == (1 if hook == "on_epoch_begin" else 2)  # as Keras: the batch runs, then training ends


def test_early_stopping_restores_the_best_weights_by_default():
    assert fnn.training.EarlyStopping().restore_best_weights is True


def test_model_checkpoint_writes_loadable_files_named_by_epoch_and_metric(tmp_path):
    X, y = _data()
    mc = fnn.training.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{loss:.3f}.fnn"), every=2)
    m = _model()
    h = m.fit(X, y, epochs=4, verbose=0, callbacks=[mc])
    assert [p.split("/")[-1] for p in mc.saved] == [f"m-{e:02d}-{h['loss'][e - 1]:.3f}.fnn" for e in (2, 4)]
    loaded = fnn.load(mc.saved[-1])
    np.testing.assert_array_equal(loaded.predict(X), m.predict(X))


def test_model_checkpoint_save_best_only_keeps_the_best(tmp_path):
    X, y = _data()
    best = fnn.training.ModelCheckpoint(tmp_path / "best.fnn", monitor="val_loss", save_best_only=True)
    m = _model()
    h = m.fit(X, y, epochs=6, optimizer=fnn.optim.SGD(lr=2.0), verbose=0, validation_data=_data(32, 1),
              callbacks=[best, fnn.training.EarlyStopping(patience=10)])
    assert best.best == min(h["val_loss"])
    with pytest.raises(ValueError, match="logged metrics"):
        _model().fit(X, y, epochs=1, verbose=0, callbacks=[fnn.training.ModelCheckpoint(tmp_path / "{val_acc}.fnn")])


def test_model_checkpoint_best_only_keeps_the_best_across_fits(tmp_path):
    """A second fit with the same callback reset the best, so its first epoch overwrote the better file (Keras
    keeps the best from one fit to the next)."""
    X, y = _data()
    Xv, yv = _data(32, 1)
    best = fnn.training.ModelCheckpoint(tmp_path / "best.fnn", monitor="val_loss", save_best_only=True)
    m = _model()
    h1 = m.fit(X, y, epochs=4, optimizer=fnn.optim.SGD(lr=0.5), verbose=0, validation_data=(Xv, yv),
               callbacks=[best])
    h2 = m.fit(X, y, epochs=2, optimizer=fnn.optim.SGD(lr=50.0), verbose=0, validation_data=(Xv, yv),
               callbacks=[best], on_nonfinite_loss="ignore")
    assert best.best == min(h1["val_loss"] + [v for v in h2["val_loss"] if np.isfinite(v)])
    assert fnn.load(tmp_path / "best.fnn").evaluate(Xv, yv)["loss"] == pytest.approx(best.best, rel=1e-6)


def test_model_checkpoint_a_refused_write_keeps_the_best_it_had(tmp_path):
    """The best was updated before the write: a write refused (its directory missing) left best = 0.5 with no file
    holding it, so once the directory existed a model of loss 0.6 was never saved."""
    path = tmp_path / "sub" / "best.fnn"
    best = fnn.training.ModelCheckpoint(path, monitor="loss", save_best_only=True)
    m = _model()
    with pytest.raises(FileNotFoundError):
        best.on_epoch_end(0, {"loss": 0.5}, m)
    assert best.best == np.inf and best.saved == []
    path.parent.mkdir()
    best.on_epoch_end(1, {"loss": 0.6}, m)
    assert best.best == 0.6 and best.saved == [str(path)] and path.exists()


def test_an_interrupted_fit_leaves_no_csv_logger_file_open(tmp_path):
    """The file closed only in on_train_end, which an interrupted fit never reaches: 20 interrupted fits, 20 open
    files for as long as the callbacks lived."""
    import os

    class Interrupt(fnn.training.Callback):
        def on_epoch_end(self, epoch, logs, model):
            if epoch == 1:
                raise KeyboardInterrupt

    X, y = _data()
    loggers = []
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for k in range(5):
        loggers.append(fnn.training.CSVLogger(tmp_path / f"log{k}.csv"))
        with pytest.raises(KeyboardInterrupt):
            _model().fit(X, y, epochs=4, verbose=0, callbacks=[loggers[-1], Interrupt()])
        assert len((tmp_path / f"log{k}.csv").read_text().splitlines()) == 3  # the header and epochs 0 and 1
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) <= before


def test_csv_logger_writes_a_row_per_epoch(tmp_path):
    X, y = _data()
    path = tmp_path / "log.csv"
    h = _model().fit(X, y, epochs=3, verbose=0, callbacks=[fnn.training.CSVLogger(path)])
    rows = list(csv.DictReader(open(path)))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["loss"]) for r in rows] == h["loss"]  # exact: floats are written round-trip
    _model().fit(X, y, epochs=2, verbose=0, callbacks=[fnn.training.CSVLogger(path, append=True)])
    assert len(list(csv.DictReader(open(path)))) == 5


def test_callbacks_configs_rebuild_them():
    from fastnn.training.callbacks import CALLBACKS

    for cb in (fnn.training.EarlyStopping(monitor="loss", baseline=0.5, start_from_epoch=2),
               fnn.training.ReduceOnPlateau(factor=0.3), fnn.training.TerminateOnNaN(),
               fnn.training.CSVLogger("x.csv", separator=";"), fnn.training.ModelCheckpoint("m.fnn", every=3)):
        assert CALLBACKS.from_config(cb.get_config()).get_config() == cb.get_config()


def test_progress_is_one_line_per_epoch_when_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(3, 10, stream=stream)
    assert not bar.interactive
    for epoch in range(3):
        bar.begin_epoch(epoch)
        for step in range(10):
            bar.update(epoch, step + 1, {"loss": 1.0}, force=True)
        bar.end_epoch(epoch, {"loss": 1.0, "samples_per_s": 1000.0})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[0].startswith("epoch 1/3") and "ETA" in lines[0] and "run " in lines[0] and "samples/s" in lines[0]


def test_progress_redraws_in_place_on_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(2, 4, stream=stream, interactive=True)
    bar.update(0, 2, {"loss": 1.0}, force=True)
    bar.end_epoch(0, {"loss": 1.0})
    out = stream.getvalue()
    assert out.count("\r") == 2 and out.endswith("\n") and "ETA" in out


# ---- progress to a missing, closed or failing stream (review 9, fit #4) ---------------------------------------

class Ended(fnn.training.Callback):
    """Counts the epochs logged and whether on_train_end ran (EarlyStopping restores its weights there)."""

    def __init__(self):
        self.epochs, self.ended = 0, False

    def on_epoch_end(self, epoch, logs, model):
        self.epochs += 1

    def on_train_end(self, model):
        self.ended = True


class FailingStream(io.StringIO):
    """A stream whose writes fail from the ``after``-th on (a pipe whose reader went away)."""

    def __init__(self, after):
        super().__init__()
        self.writes, self.after = 0, after

    def write(self, text):
        self.writes += 1
        if self.writes > self.after:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def _fit_with_progress(verbose, epochs=3):
    X, y = _data()
    model, ended = _model(), Ended()
    history = model.fit(X, y, epochs=epochs, verbose=verbose, callbacks=[ended])
    return model, history, ended


@pytest.mark.parametrize("verbose, name, stream", [(1, "stderr", None), (2, "stdout", None),
                                                   (1, "stderr", "closed"), (2, "stdout", "closed")])
def test_progress_to_a_missing_or_closed_stream_is_turned_off_and_the_run_completes(monkeypatch, verbose, name,
                                                                                   stream):
    """verbose=1 with sys.stderr None (pythonw) or verbose=2 with a closed stdout crashed after an epoch had
    trained, skipping History, the callbacks and on_train_end; verbose=2 with stdout None wrote to stderr."""
    if stream == "closed":
        stream = io.StringIO()
        stream.close()
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(f"sys.{name}", stream)
    with pytest.warns(RuntimeWarning, match=rf"progress output is off: sys.{name} is "
                                            f"{'None' if stream is None else 'closed'}") as warned:
        model, history, ended = _fit_with_progress(verbose)
    assert len(warned) == 1 and model.step_count == 6 and len(history["loss"]) == 3 and ended.epochs == 3
    assert ended.ended
    if name == "stdout":
        assert stderr.getvalue() == ""  # not moved to the other stream


def test_a_missing_stream_is_found_before_anything_changes(monkeypatch):
    """A closed stderr failed in the progress bar's constructor, after the model had been built, the optimizer
    bound, history replaced and classes_ set; the stream is checked (and its warning raised) before."""
    monkeypatch.setattr("sys.stderr", None)
    model, (X, y) = fnn.Sequential([Dense(8, activation="relu"), Dense(2)], seed=0), _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the warning, turned into an error, refuses the call
        with pytest.raises(RuntimeWarning, match="progress output is off: sys.stderr is None"):
            model.fit(X, np.array(["no", "yes"])[y], epochs=1)
    assert not model.built and model.classes_ is None and model.history is None and model.step_count == 0


@pytest.mark.parametrize("verbose", [1, 2])
def test_a_write_that_fails_during_the_run_turns_progress_off_and_training_goes_on(monkeypatch, verbose):
    stream = FailingStream(after=1)  # the first epoch's line is written, the second's fails
    monkeypatch.setattr("sys.stderr" if verbose == 1 else "sys.stdout", stream)
    X, y = _data()
    es = fnn.training.EarlyStopping(monitor="loss", patience=100)
    model, ended = _model(), Ended()
    with pytest.warns(RuntimeWarning, match=r"progress output is off: writing it failed \(BrokenPipeError") as w:
        history = model.fit(X, y, epochs=4, verbose=verbose, callbacks=[ended, es], optimizer=fnn.optim.SGD(lr=0.1))
    assert len(w) == 1 and stream.writes == 2 and stream.getvalue().startswith("epoch 1/4")
    assert len(history["loss"]) == 4 and ended.epochs == 4 and ended.ended and model.step_count == 8


def test_progress_on_a_closed_stderr_in_a_real_process(tmp_path):
    """Outside pytest the warning itself goes to the closed stderr (the warnings module lets only OSError
    pass there); the run must still complete."""
    script = ("import io, sys, numpy as np, fastnn as fnn\n"
              "from fastnn.layers import Dense\n"
              "mode = sys.argv[1]\n"
              "s = io.StringIO(); s.close()\n"
              "sys.stderr = None if mode == 'none' else s\n"
              "X = np.random.default_rng(0).normal(size=(30, 4)); y = np.arange(30) % 3\n"
              "m = fnn.Sequential([Dense(3)], input_dim=4, seed=0)\n"
              "h = m.fit(X, y, epochs=3)\n"
              "print(m.step_count, len(h['loss']))\n")
    for mode in ("none", "closed"):
        # the fastnn these tests import, from outside the checkout (its unbuilt sources would shadow it in CI)
        done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path, env=child_env())
        assert done.returncode == 0 and done.stdout.split() == ["3", "3"], done.stderr


# ---- History's per-step records --------------------------------------------------------------------------------

def _step_info(step, clip):
    """What the optimizer reports for a step: a new float object per step, as a schedule makes."""
    if not clip:
        return {"lr": 0.1 / (step + 1), "grad_norm": None, "clipped": False, "skipped": False}
    return {"lr": 0.1 / (step + 1), "grad_norm": 1.0 + step % 7, "clipped": step % 3 == 0, "skipped": step % 11 == 0}


@pytest.mark.parametrize("clip, max_bytes", [(False, 20), (True, 40)])
def test_a_long_run_keeps_each_steps_record_in_a_few_bytes(clip, max_bytes):
    """A Python float and a list slot per step were kept: ~42 bytes a step (~80 with norm clipping), 3.6 GB a
    day at 1,000 steps/s. Numpy arrays hold 9 (18) bytes a step, at most twice that with their spare room."""
    history, steps = History(), 50_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for step in range(steps):
            history.record_step(_step_info(step, clip))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(history.steps["lr"]) == len(history.steps["skipped"]) == steps
    assert grown / steps <= max_bytes, f"{grown / steps:.1f} bytes a step"


def _recorded(steps=150, clip=True):
    """A History after ``steps`` records (past the first capacity, so the arrays grew) and the same as lists."""
    history = History()
    lists = {"lr": [], "grad_norm": [], "clipped": [], "skipped": []}
    for step in range(steps):
        info = _step_info(step, clip)
        history.record_step(info)
        for key in lists:
            if info[key] is not None:
                lists[key].append(info[key])
    return history, lists


def test_a_step_record_reads_as_the_list_it_was():
    history, lists = _recorded()
    for key, values in lists.items():
        column = history.steps[key]
        assert len(column) == len(values) and bool(column) and column[-1] == values[-1]
        assert column[0] == values[0] and type(column[0]) is type(values[0])
        assert column[3:9] == values[3:9] and isinstance(column[3:9], list) and column[::-7] == values[::-7]
        assert list(column) == values and list(reversed(column)) == values[::-1]
        assert (column == values) is True and (column != values) is False
        assert (column == values[:-1]) is False and (column == [not v for v in values]) is False
        assert (column == tuple(values)) is False  # as a list compares with a tuple
        assert max(column) == max(values) and min(column) == min(values) and sum(column) == sum(values)
        assert repr(column) == repr(values) and str(column) == str(values)
        assert values[5] in column and column.index(values[5]) == values.index(values[5])
        with pytest.raises(IndexError):
            column[len(values)]
    assert str(history.steps) == str(lists)


def test_a_step_record_combines_and_serializes_as_a_list_does():
    """What a list did and the first StepColumn refused (TypeError / AttributeError): +, *, copy(), and json
    through tolist()."""
    history, lists = _recorded()
    lr, values = history.steps["lr"], lists["lr"]
    assert lr + [1.0] == values + [1.0] and [1.0] + lr == [1.0] + values and lr + lr == values + values
    assert lr * 2 == values * 2 and 2 * lr == 2 * values and isinstance(lr + [], list)
    copied = lr.copy()
    assert copied == values and isinstance(copied, list)
    copied.append(9.0)  # a list of its own
    assert len(lr) == len(values)
    assert json.loads(json.dumps({k: c.tolist() for k, c in history.steps.items()})) == lists
    with pytest.raises(TypeError):
        lr + (1.0,)  # as list + tuple
    with pytest.raises(TypeError):
        lr * 1.5
    # any integer, as a list takes it: numpy's repeats too, and a bool index is an index, not numpy's mask
    assert lr * np.int64(2) == values * np.int64(2) and lr[True] == values[True] and lr[np.int64(-1)] == values[-1]


def test_a_step_record_works_with_numpy():
    history, lists = _recorded()
    lr, clipped = history.steps["lr"], history.steps["clipped"]
    as_array = np.asarray(lr)
    assert as_array.dtype == np.float64 and np.asarray(clipped).dtype == bool
    np.testing.assert_array_equal(lr, lists["lr"])
    assert np.mean(clipped) == np.mean(lists["clipped"]) and np.array(clipped, float).sum() == sum(lists["clipped"])
    as_array[0] = -1.0  # a copy, as np.asarray of a list is: the record does not change
    assert lr[0] == lists["lr"][0]
    view = lr.array()
    assert not view.flags.writeable and np.array_equal(view, lists["lr"])
    history.record_step(_step_info(150, True))
    assert len(view) == 150 and len(lr) == 151  # a view shows the values at the time it was taken


def test_step_records_compare_copy_and_pickle_by_their_values():
    history, _ = _recorded()
    other, _ = _recorded()
    assert history.steps == other.steps and copy.deepcopy(history.steps) == history.steps
    assert pickle.loads(pickle.dumps(history.steps)) == history.steps
    other.record_step(_step_info(0, True))
    assert history.steps["lr"] != other.steps["lr"]
    nan = History()
    nan.record_step({"lr": 0.1, "grad_norm": float("nan"), "clipped": False, "skipped": True})
    assert copy.deepcopy(nan.steps) == nan.steps  # a record with a NaN norm equals its copy, as a list did


def test_history_state_keeps_the_checkpoint_arrays_and_continues_them():
    """get_state gives the arrays the list-era History gave (float64 lr and norms, bool flags), so a checkpoint
    written before keeps resuming; set_state takes them back and the records go on."""
    history, lists = _recorded(clip=True)
    state = history.get_state()
    for key, dtype in (("lr", np.float64), ("grad_norm", np.float64), ("clipped", bool), ("skipped", bool)):
        old = np.array(lists[key], dtype)  # what the list-era get_state wrote
        assert state["steps"][key].dtype == old.dtype and state["steps"][key].tobytes() == old.tobytes(), key
    resumed = History()
    resumed.set_state({"history": {}, "epoch": [], "steps": {k: np.array(v, copy=True) for k, v in
                                                            state["steps"].items()}})
    assert resumed.steps == history.steps
    for step in range(150, 300):
        history.record_step(_step_info(step, True))
        resumed.record_step(_step_info(step, True))
    assert resumed.steps == history.steps and len(resumed.steps["lr"]) == 300


def test_history_state_refuses_step_records_that_are_not_one_value_per_step():
    history, _ = _recorded()
    state = history.get_state()
    bad = dict(state, history={"loss": [9.0]}, steps=dict(state["steps"], lr=np.zeros((3, 2))))
    before = copy.deepcopy((history.history, history.epoch, history.steps))
    with pytest.raises(ValueError, match=r"history steps\['lr'\] must be one-dimensional .* shape \(3, 2\)"):
        history.set_state(bad)
    assert (history.history, history.epoch, history.steps) == before


class _NoLrSGD(fnn.optim.SGD):
    """An optimizer without ``current_lr``: fit logs its epoch "lr" as None."""

    @property
    def current_lr(self):
        raise AttributeError("current_lr")


@pytest.mark.parametrize("make", [lambda: fnn.training.EarlyStopping(monitor="lr"),
                                  lambda: fnn.training.ReduceOnPlateau(monitor="lr")])
def test_monitor_logged_as_none_is_refused_by_name(make):
    """EarlyStopping compared a None "lr" with its best (a bare TypeError '<' between NoneType and float);
    it now refuses it as ReduceOnPlateau does, naming the monitor, before its state changes."""
    X, y = _data()
    callback = make()
    before = copy.deepcopy(vars(callback))
    with pytest.raises(ValueError, match=r"monitors 'lr', which is not among the logged metrics \['accuracy'"):
        _model().fit(X, y, optimizer=_NoLrSGD(lr=0.1), epochs=2, verbose=0, callbacks=[callback])
    assert {k: v for k, v in vars(callback).items() if k != "run"} == before


@pytest.mark.parametrize("verbose, error, message", [
    ("yes", TypeError, r"ReduceOnPlateau verbose must be an integer in \[0, 1\], got str 'yes'"),
    (None, TypeError, r"ReduceOnPlateau verbose must be"),
    (1.0, TypeError, r"ReduceOnPlateau verbose must be"),
    (-1, ValueError, r"ReduceOnPlateau verbose must be an integer in \[0, 1\], got -1"),
    (2, ValueError, r"ReduceOnPlateau verbose must be"),
])
def test_reduce_on_plateau_checks_verbose(verbose, error, message):
    """ReduceOnPlateau(verbose=) took any object (a string, None) and kept it in its config."""
    with pytest.raises(error, match=message):
        fnn.training.ReduceOnPlateau(verbose=verbose)
    for ok, kept in ((0, 0), (1, 1), (True, 1), (np.bool_(False), 0), (np.int64(1), 1)):
        plateau = fnn.training.ReduceOnPlateau(verbose=ok)
        assert plateau.verbose == kept and type(plateau.verbose) is int and plateau.get_config()["verbose"] == kept
