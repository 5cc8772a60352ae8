"""fastnn.tune's model tuning: mlp_space / build_mlp, tune_model (Hyperband with exact continuation), the Optuna
pruning callback and ``fastnn tune``. Small data, few epochs: seconds in all."""
from __future__ import annotations

import functools
import json
import os

import numpy as np
import pytest

import fastnn as fnn
from fastnn.layers import BatchNorm, Dense, Dropout, LayerNorm, Tanh
from fastnn.tune import Space, build_mlp, mlp_space, tune_model
from fastnn.tune.model import TrialTrainer, build_digest


@pytest.fixture(scope="module")
def digits():
    X, y, Xv, yv = fnn.datasets.load_digits()
    return X[:600], y[:600], Xv[:200], yv[:200]


SMALL = dict(depth=(1, 2), width=(8, 32), batch_size=[32, 64])


# ------------------------------------------------------------------------------------------------ mlp_space


def test_mlp_space_has_the_chapters_hyperparameters_with_conditions():
    space = mlp_space(depth=(1, 3))
    assert {"depth", "width_1", "width_2", "width_3", "activation", "norm", "dropout", "optimizer", "momentum",
            "lr", "l2", "batch_size"} <= set(space)
    assert not space["width_1"].when
    assert space["width_3"].when == {"depth": (3,)}
    assert space["width_2"].when == {"depth": (2, 3)}
    assert space["momentum"].when == {"optimizer": ("sgd",)}
    assert space["lr"].log and space["l2"].log


def test_mlp_space_samples_are_valid_models(digits):
    X, y, _, _ = digits
    space = Space(mlp_space(depth=(0, 3), schedule=["constant", "cosine"]))
    rng = np.random.default_rng(0)
    seen_depths, seen_norms = set(), set()
    for _ in range(40):
        params = space.sample(rng)
        depth = params["depth"]
        assert [f"width_{k}" in params for k in (1, 2, 3)] == [k <= depth for k in (1, 2, 3)]
        assert ("momentum" in params) == (params["optimizer"] == "sgd")
        model, fit_kwargs = build_mlp(params, X.shape[1], 10, max_epochs=2, n_train=64)
        dense = [layer for layer in model.layers if isinstance(layer, Dense)]
        assert [d.units for d in dense] == [params[f"width_{k}"] for k in range(1, depth + 1)] + [10]
        seen_depths.add(depth)
        seen_norms.add(params["norm"])
    assert seen_depths == {0, 1, 2, 3} and seen_norms == {"none", "batch", "layer"}
    model.fit(X[:64], y[:64], epochs=1, verbose=0, **fit_kwargs)  # the last one trains
    assert np.isfinite(model.history["loss"][-1])


def test_mlp_space_fixed_values_and_single_choices_are_constants():
    space = mlp_space(depth=2, optimizer="adam", norm="layer", dropout=0.0, batch_size=[128])
    assert space["depth"] == 2 and space["optimizer"] == "adam" and space["batch_size"] == 128
    assert "momentum" not in space and not space["width_2"].when
    assert mlp_space(optimizer="sgd")["momentum"].when == {}


def test_mlp_space_fixed_values_keep_their_conditions():
    """A fixed width or momentum became a constant without its condition: every point of depth (1, 3) held
    width_2 and width_3 at depth 1, and momentum for Adam. Each is a one-value Choice under its condition now, and
    every method makes only active parameters of it: the grid no extra point, the GP no extra feature."""
    space = mlp_space(momentum=0.5, width=64, depth=(1, 3))
    assert space["width_1"] == 64 and space["width_3"].values == [64] and space["width_3"].when == {"depth": (3,)}
    assert space["momentum"].values == [0.5] and space["momentum"].when == {"optimizer": ("sgd",)}
    assert mlp_space(optimizer="sgd", momentum=0.5)["momentum"] == 0.5  # no condition: a constant still
    small = mlp_space(depth=(1, 2), width=64, momentum=0.5, optimizer=["sgd", "adam"], activation="relu",
                      norm="none", dropout=0.0, lr=0.01, l2=0.0, batch_size=32)
    # depth 1, optimizer's one-hot 2, width_2's and momentum's activity 1 each: no value feature for one value
    assert Space(small).n_features == 5 and Space(small).n_dims == 2
    runs = [(space, "random", {}), (space, "bayes", {"n_initial": 3}), (space, "hyperband", {}),
            (small, "grid", {}), (small, "bayes", {"n_initial": 3}), (small, "bohb", {})]
    for sp, method, options in runs:
        seen: list[dict] = []
        fnn.tune.search(lambda p, budget=None, seen=seen: seen.append(p) or 0.0, sp, method=method, n_trials=6,
                        seed=1, **options)
        for p in seen:
            assert [f"width_{k}" in p for k in (1, 2, 3)] == [k <= p["depth"] for k in (1, 2, 3)], (method, p)
            assert ("momentum" in p) == (p["optimizer"] == "sgd") and p.get("momentum", 0.5) == 0.5, (method, p)
            assert all(p[f"width_{k}"] == 64 for k in range(1, p["depth"] + 1))
        if method == "grid":  # depth x optimizer: nothing else varies
            assert len(seen) == 4


def test_mlp_space_searches_momentum_for_sgd_in_any_case():
    """optimizer=["SGD", "Adam"] (accepted by fastnn.optim.get and build_mlp) dropped the momentum domain: every
    SGD trial trained with momentum 0."""
    space = mlp_space(optimizer=["SGD", "Adam"], momentum=(0.5, 0.99))
    assert space["optimizer"].values == ["sgd", "adam"]
    assert space["momentum"].when == {"optimizer": ("sgd",)} and space["momentum"].low == 0.5
    assert mlp_space(optimizer="SGD", momentum=0.9)["momentum"] == 0.9
    with pytest.raises(ValueError, match="'sgd' is there twice"):
        mlp_space(optimizer=["sgd", "SGD"])


def test_mlp_space_refuses_a_continuous_depth():
    with pytest.raises(TypeError, match="depth"):
        mlp_space(depth=fnn.tune.Uniform(1, 3))


def test_build_mlp_layers_optimizer_and_fit_arguments():
    params = {"depth": 2, "width_1": 12, "width_2": 7, "activation": "tanh", "norm": "batch", "dropout": 0.25,
              "optimizer": "sgd", "momentum": 0.8, "lr": 0.05, "l2": 1e-4, "batch_size": 16, "schedule": "cosine"}
    model, fit_kwargs = build_mlp(params, 5, 3, seed=7, max_epochs=4, n_train=50)
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Dense, BatchNorm, Tanh, Dropout, Dense, BatchNorm, Tanh, Dropout, Dense]
    assert all(layer.l2 == 1e-4 for layer in model.layers if isinstance(layer, Dense))
    opt = fit_kwargs["optimizer"]
    assert isinstance(opt, fnn.optim.SGD) and opt.get_config()["momentum"] == 0.8
    assert fit_kwargs["batch_size"] == 16 and fit_kwargs["seed"] == 7 and fit_kwargs["drop_last"] is True
    # cosine over the trial's maximum budget, in the steps fit takes (drop_last)
    assert opt.get_config()["lr"]["schedule"]["total_steps"] == 4 * (50 // 16)
    model, _ = build_mlp({**params, "norm": "layer", "dropout": 0.0, "schedule": "constant"}, 5, 3)
    assert [type(layer) for layer in model.layers][:2] == [Dense, LayerNorm]


@pytest.mark.parametrize("bad, match", [({"norm": "group"}, "norm"), ({"activation": "swish"}, "activation"),
                                        ({"dropout": 1.0}, "dropout"), ({"depth": 2, "width_1": 4}, "width_2"),
                                        ({"schedule": "cosine"}, "max_epochs")])
def test_build_mlp_refuses_bad_params(bad, match):
    with pytest.raises(ValueError, match=match):
        build_mlp(bad, 4, 2)


# ------------------------------------------------------------------------------------------------ tune_model


PARAMS = {"depth": 2, "width_1": 24, "width_2": 16, "activation": "relu", "norm": "batch", "dropout": 0.1,
          "optimizer": "adam", "lr": 3e-3, "l2": 1e-5, "batch_size": 32, "schedule": "cosine"}


def _trainer(digits, directory) -> TrialTrainer:
    X, y, Xv, yv = digits
    kwargs = {"input_dim": X.shape[1], "n_outputs": 10, "loss": "cross_entropy", "dtype": "float32", "seed": 3,
              "max_epochs": 9, "n_train": len(X)}
    return TrialTrainer(X, y, (Xv, yv), build_mlp, 9, "val_accuracy", str(directory), 3, kwargs)


def _records(directory):
    return sorted((json.load(open(os.path.join(directory, n))) for n in os.listdir(directory)
                   if n.endswith(".json")), key=lambda r: r["budget"])


def test_continuing_3_to_9_epochs_is_bitwise_training_9_straight(digits, tmp_path):
    with fnn.threads(1):
        continued = _trainer(digits, tmp_path / "a")
        score3 = continued(PARAMS, 3)
        model = continued.train(PARAMS, 9)
        straight = _trainer(digits, tmp_path / "b").train(PARAMS, 9)
    assert [(r["start"], r["epochs_trained"]) for r in _records(tmp_path / "a")] == [(0, 3), (3, 6)]
    assert [(r["start"], r["epochs_trained"]) for r in _records(tmp_path / "b")] == [(0, 9)]
    for a, b in zip(model.get_weights(), straight.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
    assert model.history["val_accuracy"] == straight.history["val_accuracy"]
    assert model.history["val_accuracy"][2] == score3
    assert sorted(os.listdir(tmp_path / "a"))[-1].endswith("-e9.ckpt")  # one checkpoint per configuration
    assert sum(n.endswith(".ckpt") for n in os.listdir(tmp_path / "a")) == 1


def _small_data():
    """150 rows whose validation labels are noise: val_loss rises after a few epochs, so EarlyStopping stops."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5)).astype(np.float32)
    Xv = rng.standard_normal((40, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int), Xv, rng.integers(0, 2, 40)


SMALL_PARAMS = {"lr": 0.1, "optimizer": "adam", "restore": False}


def _small_trainer(data, directory, build, max_epochs=9) -> TrialTrainer:
    X, y, Xv, yv = data
    kwargs = {"input_dim": 5, "n_outputs": 2, "loss": "cross_entropy", "dtype": "float32", "seed": 0,
              "max_epochs": max_epochs, "n_train": len(X)}
    return TrialTrainer(X, y, (Xv, yv), build, max_epochs, "val_loss", str(directory), 0, kwargs)


def _plain_fit(data, build, params, epochs=9):
    X, y, Xv, yv = data
    model, fit_kwargs = build(params, input_dim=5, n_outputs=2, loss="cross_entropy", dtype="float32", seed=0,
                              max_epochs=epochs, n_train=len(X))
    with fnn.threads(1):
        model.fit(X, y, validation_data=(Xv, yv), epochs=epochs, verbose=0, **fit_kwargs)
    return model


def build_early_stopping(params, **kwargs):
    model, fit_kwargs = build_mlp(params, **kwargs)
    fit_kwargs["callbacks"] = [fnn.training.callbacks.EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=params["restore"])]
    return model, fit_kwargs


class CountEpochs(fnn.training.callbacks.Callback):  # no get_config: resume cannot rebuild it from a checkpoint
    def on_epoch_end(self, epoch, logs, model):
        pass


def build_counting(params, **kwargs):
    model, fit_kwargs = build_mlp(params, **kwargs)
    fit_kwargs["callbacks"] = [CountEpochs()]
    return model, fit_kwargs


def build_weighted(params, **kwargs):
    model, fit_kwargs = build_mlp(params, **kwargs)
    fit_kwargs["sample_weight"] = np.linspace(0.5, 1.5, kwargs["n_train"])
    return model, fit_kwargs


def _same_bits(a, b):
    return all(x.tobytes() == y.tobytes() for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


@pytest.mark.parametrize("restore", [False, True])
def test_a_run_early_stopping_ended_is_not_trained_on_by_a_larger_budget(tmp_path, restore):
    """A 3-epoch trial that EarlyStopping ended was continued to 9 epochs from where it stopped (5 epochs, another
    score), though a run to 9 epochs in one go stops at the same epoch; the refit of a random search trained its
    stopped best configuration one epoch more. Every budget now gives the uninterrupted run's bits and epochs."""
    data = _small_data()
    params = {**SMALL_PARAMS, "restore": restore}
    straight = _plain_fit(data, build_early_stopping, params)
    stopped_at = len(straight.history["val_loss"])
    assert stopped_at == 3  # the premise: EarlyStopping ends the run within the first budget
    with fnn.threads(1):
        trainer = _small_trainer(data, tmp_path / "a", build_early_stopping)
        assert trainer(params, 3) == straight.history["val_loss"][-1]
        continued = trainer.train(params, 9)
        refit = trainer.train(params, 9)  # a checkpoint of the full budget, continued again (tune_model's refit)
        scratch = _small_trainer(data, tmp_path / "b", build_early_stopping).train(params, 9)
    for model in (continued, refit, scratch):
        assert model.history["val_loss"] == straight.history["val_loss"] and _same_bits(model, straight)
    # the records count the epochs actually trained: the stopped run's 3, then none
    assert sorted(r["epochs_trained"] for r in _records(tmp_path / "a")) == [0, 0, 3]
    assert [r["epochs_trained"] for r in _records(tmp_path / "b")] == [3]


@pytest.mark.parametrize("build", [build_counting, build_weighted])
def test_a_promotion_continues_with_the_builds_callbacks_and_sample_weight(tmp_path, build):
    """A build whose fit_kwargs hold a callback without get_config, or sample_weight: every promotion and the refit
    failed (resume could not rebuild the callback; the data without the weights 'differs from the checkpointed
    run's'), though training to the larger budget in one go works."""
    data = _small_data()
    with fnn.threads(1):
        trainer = _small_trainer(data, tmp_path, build)
        trainer(SMALL_PARAMS, 3)
        continued = trainer.train(SMALL_PARAMS, 9)
    assert [(r["start"], r["epochs_trained"]) for r in _records(tmp_path)] == [(0, 3), (3, 6)]
    assert _same_bits(continued, _plain_fit(data, build, SMALL_PARAMS))
    X, y, Xv, yv = data
    with fnn.threads(1):
        result = tune_model({"lr": fnn.tune.LogUniform(0.01, 0.1), "optimizer": "adam"}, X, y, (Xv, yv),
                            method="successive_halving", n_trials=3, max_epochs=9, build=build)
    assert all(t.status == "ok" for t in result.trials) and result.refit_error is None


def build_of_width(params, width, **kwargs):
    return build_mlp({**params, "width_1": width}, **kwargs)


def build_narrow(params, **kwargs):
    return build_of_width(params, 2, **kwargs)


SMALL_SPACE = {"lr": fnn.tune.LogUniform(0.01, 0.1), "optimizer": "adam"}


class StopAfter(fnn.training.Callback):  # no get_config
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs, model):
        model.stop_training = model.stop_training or epoch >= self.epoch


def test_build_digest_tells_apart_callbacks_without_a_config_by_their_attributes():
    """Review 12: a callback without get_config was described by its class alone, so a build edited from
    StopAfter(4) to StopAfter(0) continued the other's checkpoints. Its attributes now count (sets sorted, so
    the digest is the same in every process; an object met inside itself does not recurse)."""
    kwargs = dict(input_dim=5, n_outputs=2, loss="cross_entropy", dtype="float32", seed=0, max_epochs=6, n_train=150)

    def digest(*callbacks):
        model, fit_kwargs = build_mlp({"lr": 0.05, "optimizer": "adam"}, **kwargs)
        return build_digest(model, {**fit_kwargs, "callbacks": list(callbacks)})

    assert digest(StopAfter(4)) != digest(StopAfter(0))
    assert digest(StopAfter(4)) == digest(StopAfter(4))
    looped = StopAfter({"a", "b", "c"})
    looped.me = looped
    assert digest(looped) == digest(looped)


def test_a_kept_checkpoint_dir_never_continues_a_model_another_build_made(tmp_path):
    """The build was known by its __qualname__ alone: a functools.partial of other keywords, or a build function
    edited between two calls, continued the checkpoints of the first (a (5, 2) hidden layer from a width-64 build)."""
    X, y, Xv, yv = _small_data()
    kwargs = dict(method="random", n_trials=2, max_epochs=3)

    def tune(build, directory):
        with fnn.threads(1):
            return tune_model(SMALL_SPACE, X, y, (Xv, yv), build=build, checkpoint_dir=tmp_path / directory, **kwargs)

    tune(functools.partial(build_of_width, width=2), "partial")
    wide = tune(functools.partial(build_of_width, width=64), "partial")
    assert wide.model.get_weights()[0].shape == (5, 64) and wide.epochs_trained == 6
    assert tune(functools.partial(build_of_width, width=64), "partial").epochs_trained == 0  # the same build's
    tune(build_narrow, "edited")
    edited = functools.wraps(build_narrow)(lambda params, **kw: build_of_width(params, 64, **kw))  # same name
    wide = tune(edited, "edited")
    assert wide.model.get_weights()[0].shape == (5, 64) and wide.epochs_trained == 6


class WidthBuilder:
    def __init__(self, width):
        self.width = width

    def build(self, params, **kwargs):
        return build_of_width(params, self.width, **kwargs)


class Options:  # object's repr: an address, another in every process
    def __init__(self, width):
        self.width = width


def build_with_options(params, options, **kwargs):
    return build_of_width(params, options.width, **kwargs)


def build_from_table(params, table, **kwargs):
    return build_of_width(params, int(table[500]), **kwargs)


def test_a_journal_is_refused_for_another_build_whatever_its_name(tmp_path):
    """Two builds sharing a journal: the second replayed the first's scores when the names agreed (partials of
    other keywords; review 12: methods of two instances, partials of arrays that differ inside repr's '...'), and a
    build nothing named (a lambda) was refused outright. Each record now holds the digest of what the build made
    of its params, and a journal is refused, before any trial, when the build now makes something else."""
    X, y, Xv, yv = _small_data()
    table, other_table = np.full(2000, 2), np.full(2000, 2)
    other_table[500] = 64
    pairs = [(functools.partial(build_of_width, width=2), functools.partial(build_of_width, width=64)),
             (WidthBuilder(2).build, WidthBuilder(64).build),
             (functools.partial(build_from_table, table=table),
              functools.partial(build_from_table, table=other_table)),
             (lambda params, **kw: build_of_width(params, 2, **kw),
              lambda params, **kw: build_of_width(params, 64, **kw))]
    for i, (build, other) in enumerate(pairs):
        kwargs = dict(method="random", n_trials=2, max_epochs=3, refit=False, journal=tmp_path / f"journal{i}.jsonl")
        ran = []
        with fnn.threads(1):
            tune_model(SMALL_SPACE, X, y, (Xv, yv), build=build, **kwargs)
            with pytest.raises(ValueError, match="was run by another build"):
                tune_model(SMALL_SPACE, X, y, (Xv, yv), build=other, callback=ran.append, **kwargs)
            assert ran == []
            assert tune_model(SMALL_SPACE, X, y, (Xv, yv), build=build, **kwargs).epochs_trained == 0  # replayed


def test_a_build_of_an_object_with_the_default_repr_keeps_its_journal_and_checkpoints(tmp_path):
    """Review 12: a partial of an object with object's repr put its address into the build's name, the journal's
    identity and the checkpoint keys, so a rerun's journal was refused as another search's, and a pool worker's
    checkpoints were never found by the refit in the main process (a set argument: its order followed
    PYTHONHASHSEED). The name is now a label without argument values, and the checkpoint key holds none."""
    X, y, Xv, yv = _small_data()
    kwargs = dict(method="random", n_trials=2, max_epochs=3, journal=tmp_path / "journal.jsonl",
                  checkpoint_dir=tmp_path / "checkpoints")
    with fnn.threads(1):
        first = tune_model(SMALL_SPACE, X, y, (Xv, yv), build=functools.partial(build_with_options,
                                                                                  options=Options(4)), **kwargs)
        again = tune_model(SMALL_SPACE, X, y, (Xv, yv), build=functools.partial(build_with_options,
                                                                                  options=Options(4)), **kwargs)
    assert first.epochs_trained == 6 and again.epochs_trained == 0
    assert [t.score for t in again.trials] == [t.score for t in first.trials]
    assert again.model.get_weights()[0].shape == (5, 4)
    # the refit continued the first call's checkpoint: one per configuration, none keyed by an address
    assert len([name for name in os.listdir(tmp_path / "checkpoints") if name.endswith(".ckpt")]) == 2


@pytest.mark.parametrize("method, options", [("hyperband", {}), ("bohb", {"min_points": 4, "n_candidates": 200,
                                                                         "local_rounds": 1, "restarts": 0})])
def test_tune_model_hyperband_on_digits(digits, method, options):
    X, y, Xv, yv = digits
    with fnn.threads(1):
        result = tune_model(mlp_space(**SMALL), X, y, validation_data=(Xv, yv), method=method, max_epochs=9,
                            n_trials=12, seed=0, **options)
    budgets = [t.budget for t in result.trials]
    assert set(budgets) == {1, 3, 9} and all(t.status == "ok" for t in result.trials)
    # promoted trials continue: each trial trains only the epochs its configuration still lacks
    reached: dict = {}
    missing = 0
    for t in result.trials:
        missing += t.budget - reached.get(t.config, 0)
        reached[t.config] = t.budget
    assert result.epochs_trained == missing < sum(budgets)
    assert result.best_score == max(t.score for t in result.trials if t.budget == 9)
    assert result.model.evaluate(Xv, yv)["accuracy"] == result.best_score  # the refit is the best trial's model
    assert result.best_score > 0.8


def test_tune_model_random_trains_every_trial_to_max_epochs(digits):
    X, y, Xv, yv = digits
    with fnn.threads(1):
        result = tune_model(mlp_space(**SMALL), X, y, validation_data=(Xv, yv), method="random", max_epochs=2,
                            n_trials=3, metric="val_loss", refit=False)
    assert [t.budget for t in result.trials] == [None] * 3 and result.epochs_trained == 6
    assert result.best_score == min(t.score for t in result.trials) and result.model is None


def test_tune_model_maps_string_labels_like_fit(digits):
    """String labels (which fit takes) are mapped to class indices over y and y_val together; the refit model
    keeps them as classes_ (tune_model raised a numpy UFuncTypeError). The same search on the indices scores
    the same."""
    X, y, Xv, yv = digits
    names = np.array([f"digit-{d}" for d in range(10)])
    kwargs = dict(method="random", max_epochs=1, n_trials=2)
    with fnn.threads(1):
        named = tune_model(mlp_space(**SMALL), X, names[y], validation_data=(Xv, names[yv]), **kwargs)
        plain = tune_model(mlp_space(**SMALL), X, y, validation_data=(Xv, yv), refit=False, **kwargs)
    assert named.best_score == plain.best_score
    np.testing.assert_array_equal(named.model.classes_, np.sort(names))
    assert set(named.model.predict_labels(Xv).tolist()) <= set(names.tolist())


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", {"class": "CrossEntropy"},
                                  fnn.losses.CrossEntropy(label_smoothing=0.1), "an (n, 1) column"],
                         ids=["keras alias", "config", "label smoothing", "column"])
def test_tune_model_takes_every_spelling_of_cross_entropy_that_fit_takes(digits, loss):
    """A loss is read by its kind, not its name: the Keras alias, a config, a Loss with label smoothing (and an
    (n, 1) column of labels) were refused before the first trial: 'cross_entropy needs at least 2 outputs'."""
    X, y, Xv, yv = digits
    names = np.array([f"digit-{d}" for d in range(10)])
    kwargs = dict(method="random", max_epochs=1, n_trials=1)
    column = loss == "an (n, 1) column"
    loss = "cross_entropy" if column else loss
    with fnn.threads(1):
        plain = tune_model(mlp_space(**SMALL), X, y, validation_data=(Xv, yv), refit=False, **kwargs)
        labels = [(y[:, None], yv[:, None])] if column else [(y, yv), (names[y], names[yv])]
        results = [tune_model(mlp_space(**SMALL), X, a, validation_data=(Xv, b), loss=loss, **kwargs)
                   for a, b in labels]
    for result in results:
        assert result.model.output_dim == 10
        if not isinstance(loss, fnn.losses.Loss):  # the same loss under another name: the same search
            assert result.best_score == plain.best_score
    if not column:
        np.testing.assert_array_equal(results[1].model.classes_, np.sort(names))


def test_tune_model_maps_binary_string_labels_like_fit(digits):
    """binary_cross_entropy with one output takes two labels of any type in fit; tune_model refused strings
    ('targets must be numeric'). Mapped over y and y_val together, as for cross_entropy."""
    X, y, Xv, yv = digits
    names = np.array(["even", "odd"])
    kwargs = dict(method="random", max_epochs=1, n_trials=1, loss="binary_crossentropy")
    with fnn.threads(1):
        named = tune_model(mlp_space(**SMALL), X, names[y % 2], validation_data=(Xv, names[yv % 2]), **kwargs)
        plain = tune_model(mlp_space(**SMALL), X, y % 2, validation_data=(Xv, yv % 2), refit=False, **kwargs)
    assert named.best_score == plain.best_score and named.model.output_dim == 1
    np.testing.assert_array_equal(named.model.classes_, names)
    np.testing.assert_array_equal(named.model.predict_labels(Xv), names[named.model.predict_classes(Xv)])


@pytest.mark.parametrize("loss, y, match", [
    ("binary_cross_entropy", np.array(["a", "b", "c"]), "distinct labels of y and the validation y has 3 labels but "
                                                         "the model's loss has 2 classes"),
    ("mse", np.array(["a", "b"]), "y holds class labels, but the model's loss takes numeric targets"),
    ("cross_entropy", np.array(["a", None], dtype=object), "y has a missing label \\(None\\) at row 1"),
], ids=["three binary labels", "labels for mse", "a missing label"])
def test_tune_model_refuses_labels_fit_refuses_before_any_trial(digits, loss, y, match):
    X, _, Xv, yv = digits
    ran = []
    with pytest.raises(ValueError, match=match):
        tune_model(mlp_space(**SMALL), X, y[np.arange(len(X)) % len(y)], validation_data=(Xv, y[:1].repeat(len(Xv))),
                   method="random", n_trials=1, max_epochs=1, loss=loss, metric="val_loss", callback=ran.append)
    assert ran == []


def test_tune_model_refuses_negative_class_indices(digits):
    X, y, Xv, yv = digits
    with pytest.raises(ValueError, match="class indices 0..K-1, got -1"):
        tune_model(mlp_space(**SMALL), X, y - 1, validation_data=(Xv, yv), method="random", n_trials=1)


@pytest.mark.parametrize("bad, match", [
    (np.nan, r"y: label nan at row 3 is not a class index"),  # ValueError: cannot convert float NaN to integer
    (np.inf, r"y: label inf at row 3 is not a class index"),  # OverflowError
    (2.5, r"y: label 2.5 at row 3 is not a class index"),
    (1e10, r"y: label 10000000000.0 at row 3 asks for 10000000001 classes"),  # every trial: MemoryError
])
def test_tune_model_refuses_float_labels_that_are_not_class_indices(digits, bad, match):
    X, y, Xv, yv = digits
    y = y.astype(float)
    y[3] = bad
    ran = []
    with pytest.raises(ValueError, match=match):
        tune_model(mlp_space(**SMALL), X, y, validation_data=(Xv, yv), method="random", n_trials=1, max_epochs=1,
                   callback=ran.append)
    assert ran == []


def test_tune_model_counts_only_its_own_epochs_in_a_kept_checkpoint_dir(digits, tmp_path):
    X, y, Xv, yv = digits
    kwargs = dict(validation_data=(Xv, yv), method="random", max_epochs=2, n_trials=2, checkpoint_dir=tmp_path)
    with fnn.threads(1):
        first = tune_model(mlp_space(**SMALL), X, y, **kwargs)
        again = tune_model(mlp_space(**SMALL), X, y, **kwargs)  # every trial finds its 2-epoch checkpoint
    assert first.epochs_trained == 4 and again.epochs_trained == 0
    assert again.best_score == first.best_score
    with fnn.threads(1):  # another dtype is another model: it must not continue the float32 checkpoints
        wider = tune_model(mlp_space(**SMALL), X, y, dtype="float64", **kwargs)
    assert wider.epochs_trained == 4 and wider.model.get_weights()[0].dtype == np.float64


def test_tune_model_journal_rerun_skips_finished_trials_and_refits_the_same_model(digits, tmp_path):
    X, y, Xv, yv = digits
    kwargs = dict(validation_data=(Xv, yv), method="hyperband", max_epochs=3, n_trials=5, seed=1,
                  journal=tmp_path / "search.jsonl")
    with fnn.threads(1):
        first = tune_model(mlp_space(**SMALL), X, y, **kwargs)
        again = tune_model(mlp_space(**SMALL), X, y, **kwargs)  # every trial is in the journal: none trains
    assert first.epochs_trained > 0 and again.epochs_trained == 0
    for other in ({"metric": "val_f1"}, {"dtype": "float64"}):  # another objective: refused, never replayed
        with pytest.raises(ValueError, match="belongs to another search"):
            tune_model(mlp_space(**SMALL), X, y, **kwargs, **other)
    with pytest.raises(ValueError, match="belongs to another search"):
        tune_model(mlp_space(**SMALL), X[:300], y[:300], **kwargs)
    assert [(t.params, t.score) for t in again.trials] == [(t.params, t.score) for t in first.trials]
    assert again.best_params == first.best_params
    for a, b in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()  # refit from scratch = the first run's continued model


def test_tune_model_refuses_bad_input(digits):
    X, y, Xv, yv = digits
    with pytest.raises(ValueError, match="max_epochs"):
        tune_model(mlp_space(), X, y, validation_data=(Xv, yv), max_epochs=0)
    with pytest.raises(ValueError, match="validation_data"):
        tune_model(mlp_space(), X, y, validation_data=None)
    with pytest.raises(ValueError, match="metric='val_f2': unknown metric 'f2'"):
        tune_model(mlp_space(), X, y, validation_data=(Xv, yv), metric="val_f2")


def test_tune_model_refuses_bad_data_and_arguments_before_any_trial(digits):
    """Each of these made every trial fail inside fit or build, then ended in RuntimeError("all N trials failed")."""
    X, y, Xv, yv = digits
    X_nan = X.copy()
    X_nan[3, 5] = np.nan
    space = mlp_space(**SMALL)
    for data, kwargs, error, match in [
        ((X, y, (Xv[:, :10], yv)), {}, ValueError, "validation X has 10 features, but the model expects 64"),
        ((X, y[:50], (Xv, yv)), {}, ValueError, "y has 50 rows but X has 600"),
        ((X, y, (Xv, yv[:50])), {}, ValueError, "validation y has 50 rows"),
        ((X_nan, y, (Xv, yv)), {}, ValueError, "X contains nan at row 3"),
        ((X, y, (Xv, yv)), {"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ((X, y, (Xv, yv)), {"build": "x"}, TypeError, "build must be a function"),
        ((X, np.c_[y, y], (Xv, yv)), {"loss": "mse", "metric": "val_loss"}, ValueError, "validation y: "),
        # tune_model set min_budget / max_budget from min_epochs / max_epochs over the caller's, silently
        ((X, y, (Xv, yv)), {"min_budget": 5}, TypeError, "takes min_epochs, not min_budget"),
        ((X, y, (Xv, yv)), {"max_budget": 5}, TypeError, "takes max_epochs, not max_budget"),
    ]:
        ran = []
        with pytest.raises(error, match=match):
            tune_model(space, *data[:2], validation_data=data[2], method="random", n_trials=2, max_epochs=1,
                       callback=ran.append, **kwargs)
        assert ran == []


def test_a_diverged_trial_fails_and_the_refit_takes_the_best_finite_one(digits):
    """lr=1e39 leaves inf weights after the one step of a one-batch epoch (every training loss fit saw was finite):
    the trial was ok, scoring chance accuracy, and as the best (mode="min" here) its refit could not read its own
    checkpoint back: ModelFileError after the whole search (fit now refuses to write that checkpoint, naming the
    weights). lr=1e36 keeps the weights finite, but val_loss is NaN: an ok trial too."""
    X, y, Xv, yv = digits
    for diverging, problem in ((1e39, "not written (the previous one, if any, is kept): refusing to save a model "
                                      "that could not be loaded: '0.W' contains NaN or infinite values"),
                               (1e36, "training diverged: after 1 epoch(s), val_loss nan ")):
        space = {"depth": 1, "width_1": 8, "optimizer": "sgd", "lr": fnn.tune.Choice([diverging, 0.05]),
                 "batch_size": len(X)}
        with fnn.threads(1):
            result = tune_model(space, X, y, validation_data=(Xv, yv), method="grid", max_epochs=1, mode="min")
        diverged, fine = result.trials
        assert diverged.status == "failed" and problem in diverged.error
        assert fine.status == "ok" and result.best_params == fine.params
        assert result.model.history["val_accuracy"][-1] == result.best_score


def test_a_refit_that_fails_leaves_the_search_result_with_the_reason():
    """Every configuration that hyperband promoted to max_epochs diverged there, so the best was scored at one
    epoch, and its refit to max_epochs diverged too: NonFiniteLossError escaped after the whole search."""
    rng = np.random.default_rng(0)
    X, Xv = rng.standard_normal((120, 4)), rng.standard_normal((40, 4))
    space = mlp_space(depth=1, width=8, optimizer="sgd", lr=(10.0, 1e4), batch_size=16)  # lrs that diverge
    with fnn.threads(1), pytest.warns(RuntimeWarning, match="refitting the best configuration for 3 epochs failed"):
        result = tune_model(space, X, X[:, :1] * 1e3, validation_data=(Xv, Xv[:, :1] * 1e3), loss="mse",
                            metric="val_loss", method="hyperband", n_trials=4, max_epochs=3, seed=0)
    assert result.model is None and result.refit_error.startswith("NonFiniteLossError")
    assert any(t.status == "ok" for t in result.trials) and result.best_params is not None


def test_tune_model_scores_by_a_metric_fit_does_not_log_by_default(digits):
    X, y, Xv, yv = digits
    with fnn.threads(1):
        result = tune_model(mlp_space(**SMALL), X, y, validation_data=(Xv, yv), method="random", max_epochs=1,
                            n_trials=3, metric="val_f1", refit=True)
    assert result.model.history["val_f1"][-1] == result.best_score
    scores = [t.score for t in result.trials]
    assert len(set(scores)) > 1 and result.best_score == max(scores)  # "auto": a higher F1 is better


@pytest.mark.parametrize("metric, mode", [("val_f1", "max"), ("f1_score", "max"), ("val_r2", "max"),
                                          ("val_precision", "max"), ("recall", "max"), ("val_top_3_accuracy", "max"),
                                          ("val_acc", "max"), ("val_loss", "min"), ("val_mse", "min"), ("mae", "min")])
def test_mode_auto_follows_the_metrics_direction(metric, mode):
    from fastnn.training.callbacks import monitor_mode

    assert monitor_mode("auto", metric) == mode
    assert fnn.training.EarlyStopping(monitor=metric).mode == mode


# ------------------------------------------------------------------------------------------------ Optuna


def test_optuna_pruning_callback_prunes_with_a_median_pruner(digits):
    optuna = pytest.importorskip("optuna")
    from fastnn.tune import OptunaPruningCallback

    X, y, Xv, yv = digits
    epochs_run = []

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 0.5, log=True)
        model, fit_kwargs = build_mlp({"depth": 1, "width_1": 16, "optimizer": "sgd", "lr": lr}, X.shape[1], 10)
        callback = OptunaPruningCallback(trial, monitor="val_accuracy")
        try:
            model.fit(X, y, validation_data=(Xv, yv), epochs=6, verbose=0, callbacks=[callback], **fit_kwargs)
        finally:
            epochs_run.append(len(model.history["val_accuracy"]))
        return model.history["val_accuracy"][-1]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    with fnn.threads(1):
        study.optimize(objective, n_trials=12)
    states = [t.state for t in study.trials]
    pruned = [i for i, s in enumerate(states) if s == optuna.trial.TrialState.PRUNED]
    assert pruned and states.count(optuna.trial.TrialState.COMPLETE) >= 3
    for i, trial in enumerate(study.trials):
        assert sorted(trial.intermediate_values) == list(range(epochs_run[i]))  # one report per epoch
        assert (epochs_run[i] < 6) == (i in pruned)  # a pruned run stopped early; the others ran to the end


def test_optuna_pruning_callback_refuses_a_metric_the_run_does_not_log(digits):
    optuna = pytest.importorskip("optuna")
    from fastnn.tune import OptunaPruningCallback

    X, y, _, _ = digits
    trial = optuna.create_study().ask()
    model, fit_kwargs = build_mlp({}, X.shape[1], 10)
    with pytest.raises(ValueError, match="val_accuracy"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[OptunaPruningCallback(trial)], **fit_kwargs)
    with pytest.raises(TypeError, match="optuna trial"):
        OptunaPruningCallback("trial")


# ------------------------------------------------------------------------------------------------ fastnn tune

TINY = """
[data]
subset = 400
validation_fraction = 0.3

[search]
method = "{method}"
n_trials = {n_trials}
max_epochs = {max_epochs}
{extra}
[space]
depth = {{low = 1, high = 2}}
width = {{low = 8, high = 24}}
batch_size = [32, 64]
"""


@pytest.mark.parametrize("method, figure", [("hyperband", "rungs.png"), ("random", "pairs.png")])
def test_cli_tune_end_to_end(tmp_path, capsys, method, figure):
    pytest.importorskip("matplotlib")
    from fastnn.cli import main

    config = tmp_path / "tune.toml"
    config.write_text(TINY.format(method=method, n_trials=6 if method == "hyperband" else 3,
                                  max_epochs=3 if method == "hyperband" else 2, extra=""))
    out = tmp_path / "out"
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "--plot"]) == 0
    printed = capsys.readouterr().out
    best = json.loads((out / "best.json").read_text())
    rows = (out / "trials.csv").read_text().splitlines()
    assert printed.count("\ntrial ") == len(rows) - 1 == best["trials"]  # a progress line per finished trial
    assert sorted(os.listdir(out)) == sorted(["best.json", "model.safetensors", "score_vs_trial.png", figure,
                                              "trials.csv"])
    model = fnn.load(out / "model.safetensors")
    n_hidden = sum(isinstance(layer, Dense) for layer in model.layers) - 1
    assert n_hidden == best["params"]["depth"] and 0 <= best["score"] <= 1 and best["test"]["accuracy"] > 0


def test_cli_tune_progress_follows_the_configured_mode(tmp_path, capsys):
    from fastnn.cli import main

    config = tmp_path / "tune.toml"
    config.write_text(TINY.format(method="random", n_trials=4, max_epochs=1, extra='mode = "min"\n'))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(tmp_path / "out")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial ")]
    scores = [float(line.split("val_accuracy ")[1].split()[0]) for line in lines]
    assert len(set(scores)) > 1 and f"best {min(scores):.4f}" in lines[-1]  # the running best of mode "min"
    assert json.loads((tmp_path / "out" / "best.json").read_text())["score"] == pytest.approx(min(scores), abs=1e-4)


@pytest.mark.parametrize("text, message", [("[serach]\n", "unknown section"), ("[data]\nsorce = 1\n", "sorce"),
                                           ("[space]\nwidth = {low = 8}\n", "range"),
                                           ("[search]\nmethod = \"anneal\"\n", "method"),
                                           ("[executor]\nkind = \"mpi\"\n", "kind"),
                                           # accepted and ignored before: no budgets in a random search, no
                                           # workers in process
                                           ("[search]\nmethod = \"random\"\neta = 2\n", "[search] eta: only for"),
                                           ("[executor]\nn_workers = 4\n", "[executor] n_workers: only for kind"),
                                           ("[executor]\nkind = \"processes\"\naddress = \"tcp://h:1\"\n",
                                            "[executor] address: only for kind = \"dask\""),
                                           # a float subset spun forever; the others named the wrong key or none
                                           ("[data]\nsubset = 300.5\n", "[data] subset must be an integer"),
                                           ("[data]\nsubset = -5\n", "[data] subset must be an integer >= 0"),
                                           ("[data]\nvalidation_fraction = 1.5\n", "[data] validation_fraction"),
                                           ("[search]\nseed = \"x\"\n", "[search] seed must be an integer"),
                                           # read the data, then failed in tune_model (exit status 1)
                                           ("[search]\nseed = 99999999999999999999999\n",
                                            "[search] seed must be an integer in [0, 18446744073709551615]"),
                                           # a value every trial that draws it would fail on: before any trial
                                           ("[space]\nbatch_size = [0, 32]\n", "mlp_space batch_size=0"),
                                           ("[space]\ndropout = 1.5\n", "mlp_space dropout=1.5"),
                                           ("[space]\noptimizer = [\"adamw9\"]\n", "mlp_space optimizer='adamw9'"),
                                           # tune_model's own keywords: duplicate keywords or failed trials, after
                                           # the data were loaded
                                           ("[search]\nbuild = \"x\"\n", "[search] build is not a search option"),
                                           ("[search]\ndtype = \"float16\"\n", "use [data] dtype"),
                                           ("[search]\nexecutor = \"processes\"\n", "use [executor] kind"),
                                           ("[search]\nrefit = 1\n", "[search] refit must be a bool")])
def test_cli_tune_bad_config_is_one_error_line(tmp_path, capsys, text, message):
    from fastnn.cli import main

    config = tmp_path / "tune.toml"
    config.write_text(text)
    assert main(["tune", "--config", str(config), "-o", str(tmp_path / "out")]) == 2  # a config error: usage error
    usage, err = capsys.readouterr().err.splitlines()
    assert usage.startswith("usage: fastnn tune") and err.startswith("fastnn tune: error:") and message in err


def test_cli_tune_all_trials_failing_is_an_error_and_refit_false_writes_no_model(tmp_path, capsys):
    """Both ended as "internal error (a bug: please report it)": search's RuntimeError was not a runtime error
    of the command line, and refit = false reached tune_model, whose model None was then evaluated and saved."""
    from fastnn.cli import main

    config = tmp_path / "tune.toml"
    config.write_text(TINY.format(method="random", n_trials=2, max_epochs=2, extra="")
                      + 'lr = 1e30\noptimizer = "sgd"\nmomentum = 0.9\n')
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn tune: error: all 2 trials failed; the first error: ") and len(err.splitlines()) == 1
    config.write_text(TINY.format(method="random", n_trials=2, max_epochs=1, extra="refit = false\n"))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["best.json", "trials.csv"]
    assert json.loads((tmp_path / "out" / "best.json").read_text())["test"] is None


def test_cli_tune_a_failed_refit_is_an_error_and_leaves_no_earlier_model(tmp_path, capsys, monkeypatch):
    """A refit that failed printed a note and exited 0, and an earlier run's model.safetensors stayed beside this
    run's best.json as if it were its retrained model."""
    from fastnn.cli import main
    from fastnn.tune import model as tune_model_module

    config = tmp_path / "tune.toml"
    config.write_text(TINY.format(method="random", n_trials=2, max_epochs=1, extra=""))
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"an earlier run's model")
    monkeypatch.setattr(tune_model_module, "_refit", lambda *args: (None, "NonFiniteLossError: diverged"))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 1
    assert "retraining the best configuration failed (NonFiniteLossError: diverged)" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["best.json", "trials.csv"]
    assert json.loads((out / "best.json").read_text())["refit_error"] == "NonFiniteLossError: diverged"


def test_a_failed_trial_record_write_leaves_no_temporary_in_the_checkpoint_dir(tmp_path, monkeypatch):
    """The trial record's writer left '<key>-e<N>-<id>.json.<hex>.tmp' behind when the rename failed (disk full);
    every other fastnn writer removes its temporary."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 6)).astype(np.float32), rng.integers(0, 3, 60)
    real_replace = os.replace

    def disk_full_for_records(src, dst, *args, **kwargs):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", disk_full_for_records)
    with fnn.threads(1), pytest.raises(Exception, match="No space left on device"):
        tune_model({"depth": 1, "width_1": 4, "lr": fnn.tune.Choice([0.01])}, X, y, validation_data=(X[:20], y[:20]),
                   max_epochs=1, n_trials=1, method="random", checkpoint_dir=tmp_path, refit=False)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_cli_tune_pairs_figure_skips_parameters_that_never_meet(tmp_path, capsys):
    """momentum (SGD trials only) and width_2 (depth-2 trials only) were never in one trial: min([]) raised
    after the whole search and the refit, and the command exited 1 without its figures."""
    pytest.importorskip("matplotlib")
    from fastnn.cli.tune import _pyplot, write_figures
    from fastnn.tune import SearchResult, Trial

    params = [{"depth": 1, "width_1": 8, "momentum": 0.5, "lr": 0.1}, {"depth": 2, "width_1": 16, "width_2": 8,
                                                                        "lr": 0.01},
              {"depth": 1, "width_1": 32, "momentum": 0.9, "lr": 0.03}, {"depth": 2, "width_1": 12, "width_2": 4,
                                                                          "lr": 0.2}]
    trials = [Trial(i, p, 0.1 * (i + 1)) for i, p in enumerate(params)]
    result = SearchResult(params[3], 0.4, trials, "random", "max", 3)
    assert write_figures(_pyplot(), result, tmp_path, "val_accuracy", "random") == ["score_vs_trial.png", "pairs.png"]
    assert "pairs.png leaves out momentum with width_2: no trial has both" in capsys.readouterr().out
    assert (tmp_path / "pairs.png").stat().st_size > 0


def test_cli_tune_subset_keeps_exactly_that_many_rows():
    from fastnn.cli.tune import _data

    y_all = fnn.datasets.load_embedded()[1]
    for subset in (500, 400, 123, 1000, len(y_all) - 1):  # 500 of 1347 kept 499: 1 - 500/1347 rounds up a row
        X, y, Xv, yv, _, _ = _data({"subset": subset, "validation_fraction": 0.2}, 0)
        assert len(y) + len(yv) == subset
