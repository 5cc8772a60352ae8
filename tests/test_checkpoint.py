"""Checkpoints and exact resume (fit(checkpoint=...), fastnn.resume).

The acceptance test kills a training process (tests/checkpoint_run.py: Adam + OneCycle + Dropout + BatchNorm +
augmentation + shuffling + callbacks) with SIGKILL at random moments, several times in a row, then resumes, and
requires everything to be bitwise what the uninterrupted run gives: weights and buffers, optimizer state, step
count, history (timings aside), the CSV log. The child stretches its checkpoint writes, so many kills land
inside one (counted through the temp files they leave). FASTNN_SOAK=1 runs many more trials.
"""
from __future__ import annotations

import csv
import glob
import json
import math
import os
import signal
import subprocess
import sys
import time
from unittest.mock import ANY

import numpy as np
import pytest

import fastnn as fnn
from fastnn.formats import ModelFileError
from fastnn.training.checkpoint import fingerprint, read_checkpoint

sys.path.insert(0, os.path.dirname(__file__))
import checkpoint_run as spec  # noqa: E402
from conftest import child_env

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


def _history(model):
    h = model.history
    epochs = {k: v for k, v in h.history.items() if k != "samples_per_s"}
    return epochs, h.steps, h.epoch


def _csv_rows(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    drop = rows[0].index("samples_per_s")
    return [[v for i, v in enumerate(row) if i != drop] for row in rows]


def _assert_same_run(a, b, csv_a, csv_b):
    assert a.step_count == b.step_count
    sa, sb = a.state_arrays(), b.state_arrays()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype, k
    oa, ob = a.optimizer.state_dict(), b.optimizer.state_dict()
    for k in ("step_count", "skipped_steps", "lr_scale", "config"):
        assert oa[k] == ob[k], k
    for k in oa["state"]:
        assert np.array_equal(oa["state"][k], ob["state"][k]), k
    assert _history(a) == _history(b)
    assert _csv_rows(csv_a) == _csv_rows(csv_b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run (it writes checkpoints too: writing them must not change the run)."""
    d = tmp_path_factory.mktemp("reference")
    with fnn.threads(1):
        model = spec.run(str(d / "run.ckpt"), str(d / "log.csv"))
    return model, str(d / "log.csv")


def _child(ckpt, csv_path):
    return subprocess.Popen([sys.executable, os.path.join(TESTS, "checkpoint_run.py"), ckpt, csv_path],
                            stdout=subprocess.PIPE, env=child_env(TESTS), cwd=os.path.dirname(ckpt), text=True)


def _kill_and_resume(tmp_path, rng, kills):
    """Run the job, SIGKILL it after a random delay, ``kills`` times (each restart resumes the last valid
    checkpoint, or starts afresh when none was written yet), then finish it here. Returns (model, csv path,
    kills that left a checkpoint write unfinished)."""
    ckpt, csv_path = str(tmp_path / "run.ckpt"), str(tmp_path / "log.csv")
    in_write = 0
    for _ in range(kills):
        proc = _child(ckpt, csv_path)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        leftovers = glob.glob(str(tmp_path / ".run.ckpt.*.tmp"))
        in_write += bool(leftovers)
        for leftover in leftovers:
            os.unlink(leftover)
    with fnn.threads(1):
        model = spec.run(ckpt, csv_path)
    return model, csv_path, in_write


def _trials(reference, tmp_path, seeds, kills):
    ref_model, ref_csv = reference
    in_write = 0
    for seed in seeds:
        d = tmp_path / f"trial{seed}"
        d.mkdir()
        model, csv_path, w = _kill_and_resume(d, np.random.default_rng(seed), kills)
        _assert_same_run(ref_model, model, ref_csv, csv_path)
        in_write += w
    return in_write


def test_resume_after_sigkill_at_random_moments_is_bitwise_the_uninterrupted_run(reference, tmp_path):
    in_write = _trials(reference, tmp_path, seeds=range(4), kills=2)
    assert in_write >= 1, "no kill landed inside a checkpoint write: the test did not test that case"


@pytest.mark.skipif(not os.environ.get("FASTNN_SOAK"), reason="soak test: set FASTNN_SOAK=1")
def test_soak_resume_after_many_kills(reference, tmp_path):
    in_write = _trials(reference, tmp_path, seeds=range(100, 130), kills=4)
    assert in_write >= 10


# ---- in-process: resume points, continuing, refusals ----------------------------------------------------------
def _stopped_at(tmp_path, stop_step):
    """Run the spec in-process but stop it (as a crash would) right after optimizer step ``stop_step``."""

    class Crash(Exception):
        pass

    class CrashAt(fnn.training.Callback):
        def on_batch_end(self, batch, logs, model):
            if logs["step"] == stop_step:
                raise Crash

    X, y, val = spec.data()
    ckpt, csv_path = str(tmp_path / "run.ckpt"), str(tmp_path / "log.csv")
    args = spec.fit_args(ckpt, csv_path)
    args["callbacks"] = args["callbacks"] + [CrashAt()]
    with fnn.threads(1), pytest.raises(Crash):
        spec.model().fit(X, y, validation_data=val, **args)
    return ckpt, csv_path


@pytest.mark.parametrize("stop_step", [2, 5, 8, 9, 17, 44])
def test_resume_from_every_kind_of_position(reference, tmp_path, stop_step):
    """Mid-epoch (steps 5, 8, 17: a step checkpoint), at an epoch end (step 8 is the last of epoch 0), and
    before the first checkpoint was written (step 2: none to resume)."""
    ckpt, csv_path = _stopped_at(tmp_path, stop_step)
    if stop_step < spec.EVERY_STEPS:  # crashed before the first checkpoint write
        assert not os.path.exists(ckpt)
        return
    X, y, val = spec.data()
    callbacks = spec.callbacks(csv_path)[:-1] + [fnn.training.CSVLogger(csv_path)]
    with fnn.threads(1):
        model = fnn.resume(ckpt, X, y, validation_data=val, verbose=0, callbacks=callbacks)
    _assert_same_run(reference[0], model, reference[1], csv_path)


STEP_DTYPES = {"lr": np.float64, "grad_norm": np.float64, "clipped": bool, "skipped": bool}


def test_a_checkpoint_with_list_era_step_records_resumes_like_the_uninterrupted_run(reference, tmp_path):
    """History kept its per-step records as Python lists and wrote ``np.array(list, dtype)`` into checkpoints;
    it now keeps numpy arrays. The arrays written are the same, and a checkpoint holding the list-era arrays
    (built here from the uninterrupted run's records as Python lists) resumes bitwise to that run."""
    from fastnn.formats import read_safetensors, write_safetensors

    ckpt, csv_path = _stopped_at(tmp_path, 17)
    arrays, meta = read_safetensors(ckpt)
    recorded = reference[0].history.steps
    for key, dtype in STEP_DTYPES.items():
        name = f"history.steps.{key}"
        list_era = np.array(list(recorded[key])[:len(arrays[name])], dtype)
        assert arrays[name].dtype == list_era.dtype and arrays[name].tobytes() == list_era.tobytes(), key
        arrays[name] = list_era
    assert len(arrays["history.steps.lr"]) == read_checkpoint(ckpt).step_count == 15
    write_safetensors(ckpt, arrays, meta)
    X, y, val = spec.data()
    callbacks = spec.callbacks(csv_path)[:-1] + [fnn.training.CSVLogger(csv_path)]
    with fnn.threads(1):
        model = fnn.resume(ckpt, X, y, validation_data=val, verbose=0, callbacks=callbacks)
    _assert_same_run(reference[0], model, reference[1], csv_path)
    assert model.history.steps["lr"] == list(recorded["lr"]) and len(recorded["lr"]) == model.step_count


def test_a_mid_epoch_checkpoint_records_the_position(tmp_path):
    ckpt, _ = _stopped_at(tmp_path, 14)  # step 14 done: the checkpoint after step 12 (a multiple of 3)
    c = read_checkpoint(ckpt)
    steps_per_epoch = -(-140 // spec.BATCH)
    assert c.step_count == 12 and c.position.epoch == 12 // steps_per_epoch
    assert c.position.batch == 12 - steps_per_epoch and c.position.epoch_first_step == steps_per_epoch
    assert c.position.logs is not None and c.position.logs["seen"] == c.position.batch * spec.BATCH


def test_resume_refuses_fewer_epochs_than_a_mid_epoch_checkpoint_has_started(tmp_path):
    """A checkpoint inside epoch 2 (1 epoch and 3 batches done) resumed with epochs=1 trained nothing and returned
    the 1.3-epoch model as the 1-epoch run; the check counted only the completed epochs."""
    ckpt, csv_path = _stopped_at(tmp_path, 14)  # the checkpoint after step 12: epoch 1 (0-based), batch 3
    X, y, val = spec.data()
    written = open(ckpt, "rb").read()
    for epochs in (0, 1):
        with pytest.raises(ValueError, match=f"epochs={epochs}: the checkpointed run has already completed 1 epochs "
                                             r"and 3 batches of epoch 2 \(a mid-epoch checkpoint\); epochs must be "
                                             ">= 2"):
            fnn.resume(ckpt, X, y, validation_data=val, epochs=epochs, verbose=0,
                       callbacks=spec.callbacks(csv_path))
    assert open(ckpt, "rb").read() == written
    with fnn.threads(1):
        resumed = fnn.resume(ckpt, X, y, validation_data=val, epochs=2, verbose=0, callbacks=spec.callbacks(csv_path))
    assert resumed.history.epoch == [0, 1] and resumed.step_count == 2 * -(-140 // spec.BATCH)


def test_resume_continues_an_ended_run_like_a_longer_run(tmp_path):
    X, y, val = spec.data()
    with fnn.threads(1):
        short = spec.model()
        args = spec.fit_args(str(tmp_path / "a.ckpt"), str(tmp_path / "a.csv"))
        args["epochs"] = 2
        short.fit(X, y, validation_data=val, **args)
        resumed = fnn.resume(tmp_path / "a.ckpt", X, y, validation_data=val, epochs=spec.EPOCHS, verbose=0)
        straight = spec.model()
        straight.fit(X, y, validation_data=val, **spec.fit_args(str(tmp_path / "b.ckpt"), str(tmp_path / "b.csv")))
        again = fnn.resume(tmp_path / "b.ckpt", X, y, validation_data=val, verbose=0)  # ended: nothing to do
    _assert_same_run(straight, resumed, tmp_path / "b.csv", tmp_path / "a.csv")
    _assert_same_run(straight, again, tmp_path / "b.csv", tmp_path / "b.csv")
    with pytest.raises(ValueError, match="already completed 5 epochs"):
        fnn.resume(tmp_path / "b.ckpt", X, y, validation_data=val, epochs=3)


def test_fit_again_continues_the_data_order_and_schedule():
    X, y, _ = spec.data()
    opt = lambda: fnn.optim.Adam(lr=fnn.schedules.OneCycle(max_lr=0.02, total_steps=60))  # noqa: E731
    with fnn.threads(1):
        twice = spec.model()
        twice.fit(X, y, optimizer=opt(), epochs=2, batch_size=16, seed=5, verbose=0)
        twice.fit(X, y, epochs=2, batch_size=16, seed=5, verbose=0)
        once = spec.model()
        once.fit(X, y, optimizer=opt(), epochs=4, batch_size=16, seed=5, verbose=0)
        other_seed = spec.model()
        other_seed.fit(X, y, optimizer=opt(), epochs=2, batch_size=16, seed=5, verbose=0)
        other_seed.fit(X, y, epochs=2, batch_size=16, seed=6, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(twice.get_weights(), once.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(other_seed.get_weights(), once.get_weights()))


def test_resume_refuses_other_data(reference, tmp_path):
    X, y, val = spec.data()
    ckpt = str(tmp_path / "run.ckpt")
    _stopped_at(tmp_path, 10)
    cases = [
        ((X[:-1], y[:-1], val), "X shape"),
        ((X.astype(np.float64), y, val), "X dtype"),
        ((X, (y + 1) % 10, val), "other values"),
        ((X[::-1].copy(), y, val), "other values"),
        ((X, y, None), "had validation_data"),
        ((X, y, (val[0][:-1], val[1][:-1])), "validation_data differs"),
    ]
    for (Xr, yr, vr), message in cases:
        with pytest.raises(ValueError, match=message):
            fnn.resume(ckpt, Xr, yr, validation_data=vr, verbose=0, callbacks=spec.callbacks(tmp_path / "x.csv"))
    with pytest.raises(ModelFileError, match="not a fastnn checkpoint"):
        fnn.save(spec.model(), tmp_path / "model.fnn")
        fnn.resume(tmp_path / "model.fnn", X, y)
    with pytest.raises(ValueError, match="has no get_config"):
        class Mine(fnn.training.Callback):
            def on_epoch_end(self, epoch, logs, model):
                pass
        m = spec.model()
        m.fit(X, y, epochs=1, verbose=0, callbacks=[Mine()], checkpoint=tmp_path / "mine.ckpt")
        fnn.resume(tmp_path / "mine.ckpt", X, y)


def test_fingerprint_sees_a_changed_sampled_row_and_all_of_y():
    X = np.arange(2000 * 3, dtype=np.float32).reshape(2000, 3)
    y = np.arange(2000) % 7
    base = fingerprint(X, y)["digest"]
    X2 = X.copy()
    X2[0, 0] += 1  # the first row is always sampled
    y2 = y.copy()
    y2[1234] += 1
    assert fingerprint(X2, y)["digest"] != base and fingerprint(X, y2)["digest"] != base
    assert fingerprint(X, y.astype(str))["digest"] != base


def test_checkpoint_arguments_are_checked_before_training(tmp_path):
    X, y, _ = spec.data()
    m = spec.model()
    before = m.get_weights()
    with pytest.raises(ValueError, match="existing directory"):
        m.fit(X, y, epochs=1, verbose=0, checkpoint=tmp_path / "missing" / "run.ckpt")
    with pytest.raises(ValueError, match="checkpoint_every_steps"):
        m.fit(X, y, epochs=1, verbose=0, checkpoint=tmp_path / "run.ckpt", checkpoint_every_steps=0)
    with pytest.raises(TypeError, match="cannot save the optimizer"):
        m.fit(X, y, epochs=1, verbose=0, checkpoint=tmp_path / "run.ckpt", optimizer=fnn.optim.SGD(lr=lambda t: 0.1))
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    assert not os.path.exists(tmp_path / "run.ckpt")



def test_class_weight_keyed_by_numpy_labels_is_checkpointed_and_resumed(tmp_path):
    """dict(zip(np.unique(y), weights)) has numpy integer keys: a checkpointed run takes them as the integers they
    are (it refused them as not int) and the resumed run weighs the classes alike."""
    X, y, _ = spec.data()
    labels = np.unique(y)
    class_weight = dict(zip(labels, np.linspace(0.5, 2.0, len(labels))))
    args = dict(epochs=2, batch_size=spec.BATCH, seed=1, verbose=0, class_weight=class_weight)
    with fnn.threads(1):
        straight = spec.model()
        straight.fit(X, y, **args)
        first = spec.model()
        first.fit(X, y, checkpoint=tmp_path / "run.ckpt", **{**args, "epochs": 1})
        resumed = fnn.resume(tmp_path / "run.ckpt", X, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(straight.get_weights(), resumed.get_weights()))

def test_a_mid_epoch_resume_continues_the_epochs_metrics_exactly(tmp_path):
    """The epoch's running sums (loss, and the counts behind every metric) travel in a mid-epoch checkpoint, so
    the resumed epoch logs what the uninterrupted one logs."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((90, 6))
    y = rng.integers(0, 3, 90)

    def model():
        return fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(3)], input_dim=6, seed=1)

    args = dict(epochs=2, batch_size=20, metrics=["accuracy", "f1", "top_k_accuracy"], verbose=0)
    with fnn.threads(1):
        straight = model()
        straight.fit(X, y, **args)

        class StopMidEpoch(fnn.training.Callback):
            def on_batch_end(self, batch, logs, m):
                if logs["step"] == 6:  # epoch 2, batch 2: after the checkpoint of step 6
                    raise KeyboardInterrupt

        ckpt = tmp_path / "run.ckpt"
        with pytest.raises(KeyboardInterrupt):
            model().fit(X, y, checkpoint=ckpt, checkpoint_every_steps=6, callbacks=[StopMidEpoch()], **args)
        resumed = fnn.resume(ckpt, X, y, callbacks=[], verbose=0)
    assert read_checkpoint(ckpt).position.epoch == 2  # the last write: the end of the run
    for key in ("loss", "accuracy", "f1", "top_5_accuracy"):
        if key in straight.history.history:
            assert resumed.history[key] == straight.history[key], key
    assert np.array_equal(resumed.params, straight.params)


def test_resume_keeps_each_groups_lr_scale(tmp_path):
    """ReduceOnPlateau scales each parameter group on its own (the bias group reaches min_lr first): the
    checkpoint carries every group's scale and the resumed run is the uninterrupted one."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 5))
    y = rng.integers(0, 3, 60)

    class StopAtStep(fnn.training.Callback):
        def on_batch_end(self, batch, logs, m):
            if logs["step"] == 7:  # epoch 2, batch 1: after the checkpoint of epoch 2
                raise KeyboardInterrupt

    def plateau():  # every epoch is "bad" (a 50% threshold): a reduction after each one from the second on
        return fnn.training.ReduceOnPlateau(monitor="loss", factor=0.5, patience=0, threshold=0.5, min_lr=2e-4)

    def run(*extra, **kw):
        m = fnn.Sequential([fnn.layers.Dense(6, activation="relu"), fnn.layers.Dense(3)], input_dim=5, seed=2)
        opt = fnn.optim.SGD(lr=1e-3, param_groups=[{"kinds": "bias", "lr": 3e-4}])
        m.fit(X, y, optimizer=opt, epochs=4, batch_size=20, verbose=0, callbacks=[plateau(), *extra], **kw)
        return m

    ckpt = tmp_path / "run.ckpt"
    with fnn.threads(1):
        straight = run()
        with pytest.raises(KeyboardInterrupt):
            run(StopAtStep(), checkpoint=ckpt)
        assert read_checkpoint(ckpt).optimizer_state["lr_scale"] == [0.5, 2e-4 / 3e-4]
        resumed = fnn.resume(ckpt, X, y, verbose=0, callbacks=[plateau()])
    assert straight.optimizer.lr_scales == resumed.optimizer.lr_scales == [2e-4 / 1e-3, 2e-4 / 3e-4]  # at min_lr
    assert np.array_equal(straight.params, resumed.params)


def _set(tree, dotted, value):
    *path, last = (int(key) if key.isdigit() else key for key in dotted.split("."))  # a digit indexes a list
    for key in path:
        tree = tree[key]
    tree[last] = value


def _edit_arrays(name, edit):
    def apply(arrays, run):
        arrays[name] = edit(arrays[name])
    return apply


def _edit_run(**fields):
    def apply(arrays, run):
        for dotted, value in fields.items():
            _set(run, dotted.replace("__", "."), value)
    return apply


EDITED_RUN_STATE = [
    (_edit_run(optimizer__lr_scale=-1.0), r"run.optimizer: lr_scale must be a finite real number >= 0.0, got -1.0"),
    (_edit_run(optimizer__step_count=2.5), r"run.optimizer: step_count must be an integer"),
    (_edit_arrays("optimizer.exp_avg_sq", lambda a: -np.abs(a) - 1), r"run.optimizer: state buffer 'exp_avg_sq'"),
    (_edit_arrays("optimizer.exp_avg", lambda a: a * np.nan), r"run.optimizer: state buffer 'exp_avg'"),
    (_edit_run(position__epoch=-1), r"run.position.epoch must be an integer in \[0, "),
    (_edit_run(position__batch=-2), r"run.position.batch must be an integer in \[0, "),
    (_edit_run(step_count=-3), r"run.step_count must be an integer in \[0, "),
    (_edit_run(step_count=9), r"run.step_count 9 is not run.position.epoch_first_step 8 \+ run.position.batch 0"),
    (_edit_run(position__batch=99, step_count=107), r"run.position.batch is 99, but an epoch of this run has 4 "),
    (_edit_run(stop_training="no"), r"run.stop_training must be a bool"),
    (_edit_run(position__batch=1, step_count=9, position__logs=[0.0]), r"run.position.logs must be the epoch's"),
    (_edit_run(position__batch=1, step_count=9,
               position__logs={"loss_total": 1.0, "weight_total": 16.0, "seen": 16, "metrics": {}}),
     r"run.position.logs: 'rows'"),
    (_edit_run(loader__rng__state__state=-1), r"loader state: rng is not a state of numpy's PCG64 generator"),
    (_edit_run(loader__rng={"bit_generator": "MT19937"}), r"loader state: rng is not a state of numpy's PCG64"),
    # fit's arguments came out of fit as the caller's bad argument (ValueError, TypeError), or as a bare KeyError
    (_edit_run(fit__batch_size=-1), r"run.fit: batch_size must be an integer >= 1, got -1"),
    (_edit_run(fit__shuffle="yes"), r"run.fit: shuffle must be a bool"),
    (_edit_run(fit__seed=-5), r"run.fit: seed must be an integer in \[0, "),
    (_edit_run(fit__validation_split=2.0), r"run.fit: validation_split must be a finite real number in \[0.0, 1.0\)"),
    (_edit_run(fit__metrics=["nope"]), r"run.fit: unknown metric 'nope'"),
    (_edit_run(fit__epochs="x"), r"run.fit: epochs must be an integer"),
    (_edit_run(fit__augment={"class": "Nope"}), r"run.fit.augment: 'transforms'"),
    (_edit_run(fit__clip=5), r"run.fit.clip: a clip rule config must be a dict"),
    (_edit_run(fit__class_weight=[[0]]), r"run.fit: class_weight must be null, a string or a list of \[class, "),
    (_edit_run(fit__class_weight=[[0, "a"]]), r"run.fit: class_weight must be null, a string or a list of \[class, "),
    (_edit_run(fit__class_weight=3), r"run.fit: class_weight must be null, a string .*, got 3"),  # was dropped
    (_edit_run(fit__class_weight=[[7, 2.0]]), r"run.fit.class_weight: class_weight has the key 7"),
    (_edit_run(callbacks=[{"class": "EarlyStopping", "config": {"class": "EarlyStopping", "patience": -2}}],
               callback_states=[None]),
     r"run.callbacks\[0\]: EarlyStopping patience must be an integer >= 0"),
    (_edit_run(callbacks=5), r"run.callbacks must be a list of \{'class': ..., 'config': ...\} entries, got 5"),
    (_edit_run(callback_states=[None]), r"run.callback_states must be a list of one state \(or null\) per callback"),
    (_edit_run(data=None), r"run.data must hold the fingerprints of the training and validation data, got None"),
    (_edit_run(data__train={"X_shape": [64, 5]}), r"run.data.train has no 'X_dtype'"),
    # review 12: a damaged fingerprint was reported as the caller's other data ("X dtype <f4 instead of 4f4")
    (_edit_run(data__train__X_dtype="4f4"), r"run.data.train.X_dtype must be a numpy dtype string such as '<f4'"),
    (_edit_run(data__train__y_dtype=7), r"run.data.train.y_dtype must be a numpy dtype string"),
    (_edit_run(data__train__y_dtype="NoSuchDType()"), r"run.data.train.y_dtype must be a numpy dtype string"),
    (_edit_run(data__train__y_dtype="StringDType"), r"run.data.train.y_dtype must be a numpy dtype string"),
    (_edit_run(data__train__X_shape=[64, "5"]), r"run.data.train.X_shape must be a list of counts"),
    (_edit_run(data__train__y_shape=-64), r"run.data.train.y_shape must be a list of counts"),
    (_edit_run(data__train__digest=5), r"run.data.train.digest must be 32 hexadecimal digits"),
]


@pytest.mark.parametrize("edit, message", EDITED_RUN_STATE, ids=[f"edit{i}" for i in range(len(EDITED_RUN_STATE))])
def test_resume_refuses_a_run_state_no_fit_writes(tmp_path, edit, message):
    """The run state was taken as given: lr_scale=-1 trained by gradient ascent, position.epoch=-1 trained 7 epochs
    of 4, position.batch=99 logged a loss of 0.0 for an epoch it skipped, batch=-2 trained on rows from the end of
    the order, negative Adam second moments wrote NaN weights (blamed on the lr), a bad generator state escaped as
    a bare OverflowError. Each is now a ModelFileError naming the file and the field, before any training (the
    checkpoint stays as it was)."""
    from fastnn.formats import read_safetensors, write_safetensors

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    ckpt = tmp_path / "run.ckpt"
    model = fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(3)], input_dim=5, seed=0)
    model.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.optim.Adam(lr=0.01), verbose=0, checkpoint=ckpt)
    arrays, meta = read_safetensors(ckpt)
    run = json.loads(meta["run"])
    edit(arrays, run)
    write_safetensors(ckpt, arrays, dict(meta, run=json.dumps(run)))
    written = ckpt.read_bytes()
    with pytest.raises(ModelFileError, match=message) as refused:
        fnn.resume(ckpt, X, y, epochs=4, verbose=0)
    assert str(ckpt) in str(refused.value) and ckpt.read_bytes() == written


@pytest.mark.skipif(not hasattr(np, "dtypes") or not hasattr(np.dtypes, "StringDType"), reason="numpy < 2")
def test_resume_takes_the_checkpoint_of_labels_in_numpy_string_dtype(tmp_path):
    """Review 12: fit checkpointed labels in numpy 2's StringDType, whose dtype.str ('StringDType()') np.dtype does
    not parse back, and resume refused its own checkpoint as a damaged fingerprint."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = np.array(["neg", "pos"], dtype=np.dtypes.StringDType())[(X[:, 0] > 0).astype(int)]
    model = fnn.Sequential([fnn.layers.Dense(4), fnn.layers.Dense(2)], input_dim=3, seed=0)
    model.fit(X, y, epochs=2, verbose=0, checkpoint=tmp_path / "run.ckpt")
    resumed = fnn.resume(tmp_path / "run.ckpt", X, y, epochs=3, verbose=0)
    assert len(resumed.history["loss"]) == 3


def test_resume_continues_a_csv_log_whose_logs_an_earlier_callback_trimmed(tmp_path):
    """Review 12: resume refused a CSVLogger state whose header lacked a logged metric, but a callback before the
    logger may drop a key from the logs (the timing column, for a deterministic file): fit's own checkpoint was
    refused."""

    class DropTiming(fnn.training.Callback):
        def on_epoch_end(self, epoch, logs, model):
            logs.pop("samples_per_s", None)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    log = tmp_path / "log.csv"
    model = fnn.Sequential([fnn.layers.Dense(4), fnn.layers.Dense(2)], input_dim=3, seed=0)
    model.fit(X, y, epochs=2, verbose=0, callbacks=[DropTiming(), fnn.training.CSVLogger(log)],
              checkpoint=tmp_path / "run.ckpt")
    fnn.resume(tmp_path / "run.ckpt", X, y, epochs=3, verbose=0,
               callbacks=[DropTiming(), fnn.training.CSVLogger(log)])
    assert [row[:2] for row in csv.reader(log.open())] == [["epoch", "loss"], ["0", ANY], ["1", ANY], ["2", ANY]]


def _drop(key, index):
    def apply(arrays, run):
        del run["callback_states"][index][key]
    return apply


def _flip_array_key(arrays, run):  # a bit flip in the metadata: the reference no longer decodes as an array
    run["callback_states"][0]["best_params"][0] = {"__arraz__": "callbacks.0.best_params.0"}


def _four_callback_run(tmp_path, epochs=2):
    """A run of ``epochs`` epochs with callbacks 0-3: EarlyStopping, ReduceOnPlateau, ModelCheckpoint, CSVLogger
    (each keeps a state); returns (X, y, the checkpoint, the CSV log)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    ckpt, log = tmp_path / "run.ckpt", tmp_path / "log.csv"
    callbacks = [fnn.training.EarlyStopping(monitor="loss", patience=100),
                 fnn.training.ReduceOnPlateau(monitor="loss"),
                 fnn.training.ModelCheckpoint(tmp_path / "best.fnn", monitor="loss", save_best_only=True),
                 fnn.training.CSVLogger(log)]
    model = fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(3)], input_dim=5, seed=0)
    model.fit(X, y, epochs=epochs, batch_size=16, optimizer=fnn.optim.Adam(lr=0.01), verbose=0, checkpoint=ckpt,
              callbacks=callbacks)
    return X, y, ckpt, log


def _damage(ckpt, edit):
    """Rewrite the checkpoint with ``edit(arrays, run)`` applied (an _edit_run / _edit_arrays edit)."""
    from fastnn.formats import read_safetensors, write_safetensors

    arrays, meta = read_safetensors(ckpt)
    run = json.loads(meta["run"])
    edit(arrays, run)
    write_safetensors(ckpt, arrays, dict(meta, run=json.dumps(run)))


EDITED_CALLBACK_STATE = [  # callbacks 0-3 of the test below: EarlyStopping, ReduceOnPlateau, ModelCheckpoint, CSVLogger
    (_edit_arrays("callbacks.0.best_params.0", lambda a: a * np.nan),
     r"run.callback_states\[0\]: EarlyStopping best_params: layer 0 \(Dense\) W: contains NaN or infinite values"),
    (_edit_arrays("callbacks.0.best_params.2", lambda a: a[:1]),
     r"run.callback_states\[0\]: EarlyStopping best_params: layer 1 \(Dense\) W: expected shape \(8, 3\)"),
    (_flip_array_key, r"run.callback_states\[0\]: EarlyStopping best_params must be a list of arrays of real"),
    (_edit_run(callback_states__0__best_params=[]), r"EarlyStopping best_params got 0 arrays, the model has 4"),
    (_edit_run(callback_states__0__wait=-1), r"run.callback_states\[0\]: EarlyStopping wait must be an integer >= 0"),
    (_edit_run(callback_states__0__best="low"), r"EarlyStopping best must be a real number"),
    (_edit_run(callback_states__0__best_epoch=0.5), r"EarlyStopping best_epoch must be an integer >= 0"),
    (_drop("stopped_epoch", 0), r"run.callback_states\[0\]: EarlyStopping state has no 'stopped_epoch'"),
    (_edit_run(callback_states__1__num_bad_epochs=-1), r"run.callback_states\[1\]: ReduceOnPlateau num_bad_epochs "),
    (_edit_run(callback_states__1__cooldown_counter=None), r"ReduceOnPlateau cooldown_counter must be an integer"),
    (_edit_run(callback_states__1__reductions=1.5), r"ReduceOnPlateau reductions must be an integer"),
    (_edit_run(callback_states__1__best={"__float__": "nan"}), r"ReduceOnPlateau best must be a real number"),
    (_edit_run(callback_states__2__saved="model.fnn"), r"run.callback_states\[2\]: ModelCheckpoint saved must be a "
                                                       r"list of strings"),
    (_edit_run(callback_states__2__best=[1.0]), r"ModelCheckpoint best must be a real number"),
    (_edit_run(callback_states__3__lines=-1), r"run.callback_states\[3\]: CSVLogger lines must be an integer >= 0"),
    (_edit_run(callback_states__3__keys="loss"), r"CSVLogger keys must be a list of strings"),
    (_edit_run(callback_states=[5, None, None, None]), r"run.callback_states\[0\]: EarlyStopping state must be a "
                                                       r"dict"),
    (_edit_run(history__steps=5), r"run.history: History steps must be a dict, got 5"),
    (_edit_run(history__epoch=[-1]), r"run.history: History epoch\[0\] must be an integer >= 0, got -1"),
    (_edit_run(history__history={"loss": 0.5}), r"run.history: History history\['loss'\] must be a list, got 0.5"),
]


@pytest.mark.parametrize("edit, message", EDITED_CALLBACK_STATE,
                         ids=[f"edit{i}" for i in range(len(EDITED_CALLBACK_STATE))])
def test_resume_refuses_a_callback_state_no_fit_writes(tmp_path, edit, message):
    """review 12: the callbacks' states were taken as given: NaN best weights in EarlyStopping's state trained the
    whole rest of the run, then failed in on_train_end with a ValueError that named no file (the checkpoints written
    on the way kept the damage); a CSVLogger line count of -1 wrote a log without its header row. Each is now a
    ModelFileError naming the file and the callback's state, before any training."""
    X, y, ckpt, log = _four_callback_run(tmp_path)
    _damage(ckpt, edit)
    written, logged = ckpt.read_bytes(), log.read_bytes()
    with pytest.raises(ModelFileError, match=message) as refused:
        fnn.resume(ckpt, X, y, epochs=4, verbose=0)
    assert str(ckpt) in str(refused.value) and ckpt.read_bytes() == written and log.read_bytes() == logged


# ---- review 13: states whose every field is valid but which the run rules out, configs the run rules out ----------
def _refused_resume(monkeypatch, ckpt, X, y, error, message, **resume):
    """fastnn.resume(ckpt, X, y, **resume) raises ``error`` matching ``message``, and changes nothing: the files
    beside the checkpoint (the checkpoint, the CSV log, ModelCheckpoint's file) keep their bytes, and the model and
    optimizer resume built from the checkpoint keep its weights and optimizer state (no step was trained, no
    on_train_end put back best weights). Returns the error."""
    from fastnn import runs
    from fastnn.formats import read_safetensors

    arrays, meta = read_safetensors(ckpt)
    run = json.loads(meta["run"])
    files = {path: path.read_bytes() for path in ckpt.parent.iterdir()}
    built = {}
    model_from_parts, optimizer_from_config = runs.model_from_parts, runs.optimizer_from_config
    monkeypatch.setattr(runs, "model_from_parts", lambda *a: built.setdefault("model", model_from_parts(*a)))
    monkeypatch.setattr(runs, "optimizer_from_config",
                        lambda config: built.setdefault("optimizer", optimizer_from_config(config)))
    with pytest.raises(error, match=message) as refused:
        fnn.resume(ckpt, X, y, verbose=0, **resume)
    assert {path: path.read_bytes() for path in ckpt.parent.iterdir()} == files
    model, optimizer = built["model"], built["optimizer"]  # both built: the refusal came from the run's state
    weights = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    now = model.state_arrays()
    assert now.keys() == weights.keys() and all(np.array_equal(now[k], weights[k]) for k in weights)
    assert model.step_count == run["step_count"]
    state = optimizer.state_dict()
    for key in ("step_count", "skipped_steps", "lr_scale"):
        assert state[key] == run["optimizer"][key], key
    assert state["state"] and all(np.array_equal(v, arrays[f"optimizer.{k}"]) for k, v in state["state"].items())
    return refused.value


RULED_OUT_BY_THE_RUN = [  # the run below has completed 2 epochs (run.position.epoch 2); callbacks as _four_callback_run
    # History: epochs other than the 2 run (too many, one not yet run, one twice), a record of another length, a
    # value that is not a number, more step records than steps
    (_edit_run(history__epoch=[0, 1, 2]), r"run.history: History epoch is \[0, 1, 2\], not the 2 epochs the run "
                                          r"has completed \(run.position.epoch\) numbered from 0"),
    (_edit_run(history__epoch=[0, 2]), r"run.history: History epoch is \[0, 2\], not the 2 epochs"),
    (_edit_run(history__epoch=[1, 1]), r"run.history: History epoch is \[1, 1\], not the 2 epochs"),
    (_edit_run(history__history__loss=[0.5, 0.4, 0.3]), r"run.history: History history\['loss'\] has 3 values, not "
                                                        r"one for each of the 2 epochs"),
    (_edit_run(history__history__loss=[0.5]), r"run.history: History history\['loss'\] has 1 values, not one"),
    (_edit_arrays("history.steps.skipped", lambda a: np.zeros(10_000, bool)),
     r"run.history: History steps\['skipped'\] has 10000 entries, more than the 8 steps the model has taken"),
    (_edit_run(history__history__accuracy__1="0.5"), r"run.history: History history\['accuracy'\]\[1\] must be a "
                                                     r"real number, got '0.5'"),
    (_edit_run(history__history__loss__0=[0.5]), r"run.history: History history\['loss'\]\[0\] must be a real "
                                                 r"number, got \[0.5\]"),
    (_edit_run(history__history__loss__0=None), r"History history\['loss'\]\[0\] must be a real number, got None"),
    (_edit_run(history__history__samples_per_s__1=True), r"History history\['samples_per_s'\]\[1\] must be a real "),
    (_edit_run(history__history__lr__0="0.01"), r"History history\['lr'\]\[0\] must be a real number or None"),
    # EarlyStopping: boolean best weights, a best (or stop) epoch not yet run, a wait longer than the run
    (_edit_arrays("callbacks.0.best_params.0", lambda a: a > 0),
     r"run.callback_states\[0\]: EarlyStopping best_params\[0\] has dtype bool, expected real numbers"),
    (_edit_run(callback_states__0__best_epoch=2), r"run.callback_states\[0\]: EarlyStopping best_epoch is 2, an epoch "
                                                  r"the run has not completed \(it has completed 2"),
    (_edit_run(callback_states__0__stopped_epoch=7), r"run.callback_states\[0\]: EarlyStopping stopped_epoch is 7, "),
    (_edit_run(callback_states__0__wait=3), r"run.callback_states\[0\]: EarlyStopping wait is 3, more than the 2 "
                                            r"epochs the run has completed"),
    # ModelCheckpoint: more files saved by this run than it has run epochs (one at most per epoch)
    (_edit_run(callback_states__2__saved=["a.fnn", "b.fnn", "c.fnn"]),
     r"run.callback_states\[2\]: ModelCheckpoint saved lists 3 files, more than 2 epochs \(run.position.epoch\) "
     r"give at one every 1 epochs"),
    # a callback config that rebuilds but that the run refuses: the checkpoint's entry, not the caller's argument
    (_edit_run(callbacks__0__config__monitor="losS"),
     r"run.callbacks\[0\]: EarlyStopping monitors 'losS', which is not among the logged metrics"),
    (_edit_run(callbacks__0__config__monitor="val_loss"), r"run.callbacks\[0\]: EarlyStopping monitors 'val_loss'"),
    (_edit_run(callbacks__2__config__filepath="best-{nope}.fnn"),
     r"run.callbacks\[2\]: ModelCheckpoint filepath 'best-\{nope\}.fnn' does not format"),
    # a min_lr per parameter group for groups the run's optimizer does not have (checked in on_train_begin, it came
    # out as the caller's ValueError, no file named)
    (_edit_run(callbacks__1__config__min_lr=[0.0, 0.001]),
     r"run.callbacks\[1\]: ReduceOnPlateau min_lr has 2 values, but the optimizer has 1 parameter groups"),
]


@pytest.mark.parametrize("edit, message", RULED_OUT_BY_THE_RUN,
                         ids=[f"edit{i}" for i in range(len(RULED_OUT_BY_THE_RUN))])
def test_resume_refuses_a_state_or_callback_config_the_run_rules_out(tmp_path, monkeypatch, edit, message):
    """review 13: each field was checked alone, and these went through: a History with a third epoch's loss for a
    2-epoch run (the resumed History then had 4 losses for 3 epochs), a metric value '0.5' (a string) or [0.5],
    EarlyStopping best weights of dtype bool (put back at the end as 0/1 weights), a best epoch or wait beyond the
    epochs run; and a damaged callback config that still rebuilt (EarlyStopping monitoring 'losS') was refused as
    if it were the caller's own argument (a bare ValueError, no file named). Each is now a ModelFileError naming the
    file and the field, before any training."""
    X, y, ckpt, _ = _four_callback_run(tmp_path)
    _damage(ckpt, edit)
    refused = _refused_resume(monkeypatch, ckpt, X, y, ModelFileError, message, epochs=4)
    assert str(ckpt) in str(refused)


def test_resume_blames_the_callers_own_callback_not_the_checkpoint(tmp_path, monkeypatch):
    """The same refusal for a callback the caller passed is the caller's argument (a ValueError, no file)."""
    X, y, ckpt, _ = _four_callback_run(tmp_path)
    refused = _refused_resume(monkeypatch, ckpt, X, y, ValueError, r"^EarlyStopping monitors 'losS'",
                              callbacks=[fnn.training.EarlyStopping(monitor="losS")])
    assert not isinstance(refused, ModelFileError)


@pytest.mark.parametrize("edit", [
    _edit_run(callback_states__0__wait=3),  # EarlyStopping's check_position refuses it
    _edit_arrays("callbacks.0.best_params.0", lambda a: a * np.nan),  # EarlyStopping's check_state refuses it
    _edit_run(callback_states__3__lines=-1),  # CSVLogger's set_state, after callbacks 0-2 took their states
], ids=["check_position", "check_state", "a_later_set_state"])
def test_a_refused_resume_leaves_the_callers_callbacks_as_they_were(tmp_path, monkeypatch, edit):
    """The states were checked after set_state had put them into the caller's callbacks: a refused resume left an
    EarlyStopping with the checkpoint's wait of 3 or its NaN best weights, and the callbacks before a refused one
    with the checkpoint's states (a ReduceOnPlateau's counters carried into the caller's next fit). The refusal now
    leaves every callback passed with callbacks= as it was, as it leaves the model and the optimizer."""
    X, y, ckpt, log = _four_callback_run(tmp_path)
    _damage(ckpt, edit)
    plateau = fnn.training.ReduceOnPlateau(monitor="loss")
    plateau.set_state({"best": 0.25, "num_bad_epochs": 1, "cooldown_counter": 0, "reductions": 2})  # its own past
    callbacks = [fnn.training.EarlyStopping(monitor="loss", patience=100), plateau,
                 fnn.training.ModelCheckpoint(tmp_path / "best.fnn", monitor="loss", save_best_only=True),
                 fnn.training.CSVLogger(log)]

    def attributes():  # set_run stores the run it was given: not a state
        return [{k: v for k, v in vars(cb).items() if k != "run"} for cb in callbacks]

    before = attributes()
    refused = _refused_resume(monkeypatch, ckpt, X, y, ModelFileError, r"run.callback_states\[", epochs=4,
                              callbacks=callbacks)
    assert str(ckpt) in str(refused)
    assert attributes() == before


def test_resume_does_not_blame_the_checkpoint_for_a_log_file_it_cannot_read(tmp_path):
    """Review 14: the rebuilt callbacks' on_train_begin ran as the checkpoint's entry, so a CSV log with a byte
    that is not UTF-8 (edited by hand: only the log changed) was reported as damage to run.callbacks[3]. It is the
    log's decoding error, as when the caller passes the callbacks."""
    X, y, ckpt, log = _four_callback_run(tmp_path)
    _damage(ckpt, _edit_run(callbacks__3__config__append=True))  # an appending log reads the file at the start
    with open(log, "ab") as f:
        f.write("# r\xe9sum\xe9\n".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        fnn.resume(ckpt, X, y, epochs=3, verbose=0)


def test_the_position_checks_accept_what_fit_writes_after_any_fit():
    """check_position takes the epochs and steps of the position explicitly: after fits of a model (the step count
    carries over, the History and EarlyStopping start afresh with each fit) the state fit produced passes, and
    one epoch fewer than it recorded does not."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(48, 4)).astype(np.float32), rng.integers(0, 2, 48)
    model = fnn.Sequential([fnn.layers.Dense(3)], input_dim=4, seed=0)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    stop = fnn.training.EarlyStopping(monitor="loss", patience=100)
    history = model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[stop])
    assert model.step_count == 15 and history.epoch == [0, 1, 2]
    history.check_position(3, model.step_count)
    stop.check_position(3, model.step_count)
    with pytest.raises(ValueError, match="History epoch is"):
        history.check_position(2, model.step_count)
    with pytest.raises(ValueError, match="EarlyStopping best_epoch is 2"):
        stop.check_position(2, model.step_count)


def test_resume_takes_the_states_fit_writes_at_any_position(tmp_path):
    """What fit writes still resumes: an lr of None (an optimizer without one), a run EarlyStopping ended (its
    wait is the epochs since the best one, its stop epoch the last run), resumed to train on and resumed again,
    and a mid-epoch checkpoint (one epoch fewer in the History than the epoch it is in)."""
    X, y, ckpt, _ = _four_callback_run(tmp_path)
    _damage(ckpt, _edit_run(history__history__lr=[None, None]))
    assert fnn.resume(ckpt, X, y, epochs=3, verbose=0).history["lr"][:2] == [None, None]

    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    ckpt = tmp_path / "stopped.ckpt"
    stop = fnn.training.EarlyStopping(monitor="loss", patience=2, min_delta=1e9)  # no epoch after the first improves
    model = fnn.Sequential([fnn.layers.Dense(4), fnn.layers.Dense(2)], input_dim=3, seed=0)
    model.fit(X, y, epochs=10, batch_size=16, verbose=0, callbacks=[stop], checkpoint=ckpt)
    c = read_checkpoint(ckpt)
    assert c.stop_training and c.position.epoch == 3 and model.history.epoch == [0, 1, 2]
    assert {k: c.callback_states[0][k] for k in ("wait", "best_epoch", "stopped_epoch")} == {
        "wait": 2, "best_epoch": 0, "stopped_epoch": 2}
    assert fnn.resume(ckpt, X, y, verbose=0).history.epoch == [0, 1, 2]  # ended: nothing more to train
    assert fnn.resume(ckpt, X, y, epochs=5, verbose=0).history.epoch == [0, 1, 2, 3]  # stops again at once
    c = read_checkpoint(ckpt)
    assert c.position.epoch == 4 and c.callback_states[0]["wait"] == 3
    assert fnn.resume(ckpt, X, y, epochs=6, verbose=0).history.epoch == [0, 1, 2, 3, 4]

    def stop():
        return fnn.training.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)  # stops after epoch 1

    with fnn.threads(1):
        _, X, y = _tiny_run(tmp_path, [stop(), _Crash(10)], "mid", epochs=5)  # 7 steps an epoch: crash in epoch 1
        c = read_checkpoint(tmp_path / "mid.ckpt")
        assert (c.position.epoch, c.position.batch) == (1, 2) and c.history_state["epoch"] == [0]  # after step 9
        assert fnn.resume(tmp_path / "mid.ckpt", X, y, callbacks=[stop()], verbose=0).history.epoch == [0, 1]


def test_a_run_that_ignores_nonfinite_losses_resumes_from_its_mid_epoch_checkpoint(tmp_path):
    """on_nonfinite_loss="ignore" with a clip that skips non-finite steps sums a NaN batch loss into the epoch's
    running total; resume refused that checkpoint, which fit had written itself."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    X[5], X[6] = 3e38, -3e38  # logits overflow in float32: inf - inf, a NaN loss, and the step is skipped
    ckpt = tmp_path / "run.ckpt"

    def run(callbacks=(), **kw):
        model = fnn.Sequential([fnn.layers.Dense(16, activation="relu"), fnn.layers.Dense(2)], input_dim=3, seed=0)
        model.fit(X, y, optimizer=fnn.optim.SGD(lr=0.1), epochs=2, batch_size=8, shuffle=False, verbose=0,
                  on_nonfinite_loss="ignore", clip=fnn.optim.clip.ByGlobalNorm(1.0, error_if_nonfinite=False),
                  callbacks=list(callbacks), **kw)
        return model

    class CrashAt13(fnn.training.Callback):
        def on_batch_end(self, step, logs, model):
            if logs["step"] == 13:
                raise RuntimeError("crash")

    straight = run()
    with pytest.raises(RuntimeError, match="crash"):
        run([CrashAt13()], checkpoint=ckpt, checkpoint_every=None, checkpoint_every_steps=3)
    assert math.isnan(read_checkpoint(ckpt).position.logs["loss_total"])
    resumed = fnn.resume(ckpt, X, y, verbose=0, callbacks=[fnn.training.Callback()])  # in CrashAt13's place
    assert np.array_equal(straight.params, resumed.params) and straight.optimizer.skipped_steps == 2


# ---- a diverged run: the write is refused, the last good checkpoint stays and resumes ---------------------------
def _diverging_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _small_model():
    return fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(2)], input_dim=3, seed=0)


class _OverflowAtEpoch2(fnn.training.Callback):
    """A weight overflows to inf as the second epoch begins (what a too large step does), for a run that
    ignores non-finite losses: it trains on, on NaN weights."""

    def on_epoch_begin(self, epoch, logs, model):
        if epoch == 1:
            model.layers[0].params["W"][0, 0] = np.inf


def test_a_diverged_run_is_refused_at_the_write_and_writes_nothing(tmp_path):
    """fit(on_nonfinite_loss="ignore") wrote the NaN weights of a diverged run into a checkpoint that
    fastnn.resume then refused; the write is now refused, naming the tensors, and leaves no file."""
    X, y = _diverging_data()
    with pytest.raises(ValueError, match=r"checkpoint '.*run.ckpt' not written \(the previous one, if any, is kept\): "
                                         r"refusing to save a model that could not be loaded: '0.W' contains NaN"):
        _small_model().fit(X, y, optimizer=fnn.optim.SGD(lr=1e30), epochs=2, batch_size=16, verbose=0,
                           on_nonfinite_loss="ignore", checkpoint=tmp_path / "run.ckpt")
    assert os.listdir(tmp_path) == []


def test_a_diverged_epoch_keeps_the_last_good_checkpoint_which_resumes(tmp_path):
    X, y = _diverging_data()
    ckpt = tmp_path / "run.ckpt"
    args = dict(epochs=3, batch_size=16, verbose=0, on_nonfinite_loss="ignore")
    with pytest.raises(ValueError, match=r"'0.W' contains NaN or infinite values"):
        _small_model().fit(X, y, optimizer=fnn.optim.SGD(lr=0.1, momentum=0.9), checkpoint=ckpt,
                           callbacks=[_OverflowAtEpoch2()], **args)
    assert read_checkpoint(ckpt).position.epoch == 1 and _temporaries(tmp_path) == []
    resumed = fnn.resume(ckpt, X, y, verbose=0, callbacks=[fnn.training.Callback()])  # in the overflow's place
    straight = _small_model()
    straight.fit(X, y, optimizer=fnn.optim.SGD(lr=0.1, momentum=0.9), **args)
    assert np.array_equal(resumed.params, straight.params) and np.isfinite(resumed.params).all()


class _NaNMomentAtEpoch1End(fnn.training.Callback):
    def on_epoch_end(self, epoch, logs, model):
        model.optimizer.state["exp_avg"][0] = np.nan


def test_nan_optimizer_moments_are_refused_at_the_write(tmp_path):
    """Finite weights with a NaN Adam moment: written, then refused by resume (load_state_dict)."""
    X, y = _diverging_data()
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(ValueError, match=r"not written .*: state buffer 'exp_avg' holds NaN or infinite values"):
        _small_model().fit(X, y, optimizer=fnn.optim.Adam(lr=0.01), epochs=1, batch_size=16, verbose=0,
                           checkpoint=ckpt, callbacks=[_NaNMomentAtEpoch1End()])
    assert not ckpt.exists()


def _temporaries(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def _tiny_run(tmp_path, callbacks, name, **fit):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(2)], input_dim=5, seed=1)
    args = dict(optimizer=fnn.optim.SGD(lr=0.1), epochs=3, batch_size=32, verbose=0, seed=5,
                checkpoint=str(tmp_path / f"{name}.ckpt"), checkpoint_every_steps=3)
    args.update(fit)
    try:
        model.fit(X, y, callbacks=callbacks, **args)
    except RuntimeError as exc:
        assert "crash" in str(exc)
    return model, X, y


class _Crash(fnn.training.Callback):
    """Raises after the optimizer step ``step`` (a process killed there: its checkpoints stay)."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, batch, logs, model):
        if logs["step"] == self.step:
            raise RuntimeError("crash")


class _HalveEachEpoch(fnn.training.Callback):
    """A per-epoch lr decay in on_epoch_begin, Keras's LearningRateScheduler idiom."""

    def on_epoch_begin(self, epoch, logs, model):
        model.optimizer.lr_scale = model.optimizer.lr_scale * 0.5


def test_a_mid_epoch_resume_does_not_run_the_epochs_begin_hooks_again(tmp_path):
    """review 11: the killed process had begun the epoch, and its hooks' effects (here the optimizer's lr_scale)
    are in the checkpoint; resuming in the middle of that epoch ran them again, halving the lr twice."""
    with fnn.threads(1):
        straight, X, y = _tiny_run(tmp_path, [_HalveEachEpoch()], "a")
        _tiny_run(tmp_path, [_HalveEachEpoch(), _Crash(10)], "b")  # 7 steps an epoch: epoch 1, checkpoint at 9
        assert read_checkpoint(tmp_path / "b.ckpt").position.batch > 0
        resumed = fnn.resume(tmp_path / "b.ckpt", X, y, callbacks=[_HalveEachEpoch()], verbose=0)
    assert resumed.optimizer.lr_scale == straight.optimizer.lr_scale == 0.125
    assert resumed.history["lr"] == straight.history["lr"]
    assert all(np.array_equal(a, b) for a, b in zip(straight.get_weights(), resumed.get_weights()))


def test_a_fit_after_resuming_an_ended_run_continues_its_data_order(tmp_path):
    """review 11: resuming a run that had ended takes no step, and it left no data order for a later fit, which
    restarted the seed's order while the optimizer carried on: not the fit of the original model."""
    with fnn.threads(1):
        original, X, y = _tiny_run(tmp_path, [], "a", epochs=2, checkpoint_every_steps=None,
                                   optimizer=fnn.optim.Adam(lr=0.01))
        resumed = fnn.resume(tmp_path / "a.ckpt", X, y, verbose=0)
        for model in (original, resumed):
            model.fit(X, y, epochs=2, batch_size=32, verbose=0, seed=5)
        once, _, _ = _tiny_run(tmp_path, [], "c", epochs=4, checkpoint_every_steps=None,
                               optimizer=fnn.optim.Adam(lr=0.01))
    for model in (original, resumed):
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), once.get_weights()))


@pytest.mark.parametrize("append", [False, True])
def test_a_csv_log_resumed_from_a_checkpoint_before_its_first_row_has_no_row_twice(tmp_path, append):
    """review 11: a checkpoint taken before the log's first row stored 0 lines, so a resume kept the killed
    process's rows written after it, and an appending log wrote them again."""
    log = tmp_path / "log.csv"
    with fnn.threads(1):
        _tiny_run(tmp_path, [fnn.training.CSVLogger(log)], "header", epochs=1)
    earlier = log.read_text()  # an earlier run's header and row

    def logged(name, crash):
        log.write_text(earlier)
        callbacks = [fnn.training.CSVLogger(log, append=append)] + ([_Crash(crash)] if crash else [])
        model, X, y = _tiny_run(tmp_path, callbacks, name, checkpoint_every=None)
        return X, y

    with fnn.threads(1):
        logged("a", None)
        straight = _csv_rows(log)
        X, y = logged("b", 8)  # the first row is written at step 7, the last checkpoint before it is at step 6
        assert read_checkpoint(tmp_path / "b.ckpt").position.epoch == 0
        fnn.resume(tmp_path / "b.ckpt", X, y, callbacks=[fnn.training.CSVLogger(log, append=append)], verbose=0)
    assert _csv_rows(log) == straight
    assert len(straight) == 4 + (1 if append else 0)  # a header and 3 rows, or the earlier 2 lines and 3 rows


def test_a_resumed_csv_log_whose_file_went_missing_starts_again_with_its_header(tmp_path):
    """review 11: resumed on another machine (or after the log was deleted), the log got the resumed rows with
    no header line; it now warns and writes the header before them."""
    log = tmp_path / "log.csv"
    with fnn.threads(1):
        _tiny_run(tmp_path, [fnn.training.CSVLogger(log)], "a", checkpoint_every_steps=None)
        straight = _csv_rows(log)
        model, X, y = _tiny_run(tmp_path, [fnn.training.CSVLogger(log), _Crash(16)], "b",
                                checkpoint_every_steps=None)  # killed in epoch 2, after its epoch-1 checkpoint
        log.unlink()
        with pytest.warns(RuntimeWarning, match="holds 0 of the 3 lines"):
            fnn.resume(tmp_path / "b.ckpt", X, y, callbacks=[fnn.training.CSVLogger(log)], verbose=0)
    assert _csv_rows(log) == [straight[0], straight[3]]
