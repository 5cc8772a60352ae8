"""fastnn.metrics against scikit-learn: each metric accumulated over uneven batches equals sklearn's value on all
rows, in evaluate and in fit's per-epoch training and validation logs."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn import losses
from fastnn.layers import Dense
from fastnn.metrics import MetricAccumulator, check_metrics

skm = pytest.importorskip("sklearn.metrics")

SPLITS = [0, 7, 8, 50, 51, 120]  # uneven batches, one of a single row


def _accumulate(names, loss, out, targets):
    acc = MetricAccumulator(check_metrics(names, loss), loss, out.shape[1])
    for lo, hi in zip(SPLITS, SPLITS[1:]):
        acc.update(out[lo:hi], targets[lo:hi])
    return acc.result()


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((120, 6))
    out[:5, :2] = 0.0  # ties, ranked as sklearn ranks them
    y = rng.integers(0, 5, 120)  # class 5 never a label: the macro average covers the predicted classes too
    y[:5] = rng.integers(0, 2, 5)
    loss = losses.get("cross_entropy")
    got = _accumulate(["accuracy", "top_k_accuracy", "top_2_accuracy", "precision", "recall", "f1"], loss, out,
                      loss.prepare_targets(y, 120, 6, np.float64))
    pred = out.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-15)
    assert got["top_k_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, out, k=5, labels=range(6)), abs=1e-15)
    assert got["top_2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, out, k=2, labels=range(6)), abs=1e-15)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0), abs=1e-12), name


def test_top_k_accuracy_ranks_nan_scores_as_sklearns_argsort_does():
    """A NaN label score was compared with > and ==, so nothing outranked it: a model of NaN outputs scored
    top_2_accuracy 1.0. Ranked by scikit-learn's own rule (reversed stable argsort; sklearn refuses NaN), NaN is
    above every number and ties with NaN."""
    rng = np.random.default_rng(0)
    out = rng.standard_normal((60, 5))
    out[:10] = np.nan  # a diverged model's rows
    out[10:30, rng.integers(0, 5, 20)] = np.nan  # a NaN among numbers
    y = rng.integers(0, 5, 60)
    loss = losses.get("cross_entropy")
    got = _accumulate(["top_2_accuracy", "top_k_accuracy"], loss, out, loss.prepare_targets(y, 60, 5, np.float64))
    order = np.argsort(out, axis=1, kind="mergesort")[:, ::-1]  # sklearn's top_k_accuracy_score ranking
    for k, name in ((2, "top_2_accuracy"), (5, "top_k_accuracy")):
        assert got[name] == pytest.approx((order[:, :k] == y[:, None]).any(axis=1).mean(), abs=1e-15)
    nan_rows = _accumulate(["top_2_accuracy"], loss, out[:10], loss.prepare_targets(y[:10], 10, 5, np.float64))
    assert nan_rows["top_2_accuracy"] == np.mean(y[:10] >= 3)  # as ties: the two highest classes


def test_one_hot_targets_give_the_label_metrics():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((120, 4))
    y = rng.integers(0, 4, 120)
    loss = losses.get("cross_entropy")
    names = ["accuracy", "f1", "top_2_accuracy"]
    sparse = _accumulate(names, loss, out, loss.prepare_targets(y, 120, 4, np.float64))
    onehot = _accumulate(names, loss, out, loss.prepare_targets(np.eye(4)[y], 120, 4, np.float64))
    assert sparse == onehot


@pytest.mark.parametrize("outputs", [1, 3])
def test_binary_and_multilabel_metrics_match_sklearn(outputs):
    rng = np.random.default_rng(outputs)
    out = rng.standard_normal((120, outputs))
    t = (rng.random((120, outputs)) < 0.3).astype(np.float64)
    t[:, -1] = 0.0 if outputs > 1 else t[:, -1]  # a multilabel column with no positive label
    loss = losses.get("binary_cross_entropy")
    got = _accumulate(["accuracy", "precision", "recall", "f1"], loss, out, loss.prepare_targets(t, 120, outputs,
                                                                                                np.float64))
    pred = (out > 0).astype(int)
    true = t.astype(int)
    if outputs == 1:
        true, pred = true[:, 0], pred[:, 0]
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(true, pred))
    else:  # Keras's element-wise binary accuracy
        assert got["accuracy"] == pytest.approx((true == pred).mean())
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[name] == pytest.approx(fn(true, pred, average="macro", zero_division=0), abs=1e-12), name


@pytest.mark.parametrize("seed", range(3))
def test_regression_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((120, 3)) * [1.0, 5.0, 0.0] + [100.0, -3.0, 2.0]  # an offset and a constant column
    out = t + rng.standard_normal((120, 3)) * 0.5
    loss = losses.get("mse")
    got = _accumulate(["mse", "mae", "r2"], loss, out, t)
    assert got["mse"] == pytest.approx(skm.mean_squared_error(t, out), rel=1e-12)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(t, out), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(t, out), rel=1e-10)


def test_r2_of_one_row_is_nan_as_in_sklearn():
    """One target has no spread to explain: r2 was 0 (1 if exact), a score EarlyStopping could act on."""
    import warnings

    loss = losses.get("mse")
    t = np.array([[2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's UndefinedMetricWarning
        assert np.isnan(skm.r2_score(t, t + 1.0))
    for out in (t + 1.0, t.copy()):
        acc = MetricAccumulator(check_metrics(["r2"], loss), loss, 1)
        acc.update(out, t)
        assert np.isnan(acc.result()["r2"])


@pytest.mark.parametrize("constant", [0.1, 0.3, 1 / 3, 7.7, 1e5 + 0.1])
def test_r2_of_a_constant_target_column_is_1_if_exact_else_0(constant):
    """Merging the batches' means leaves M2 ~ 1e-30 for a constant column that float64 cannot hold exactly:
    that is no spread (r2 was about -1e26), so the documented rule applies."""
    t = np.full((120, 1), constant)
    loss = losses.get("mse")
    assert _accumulate(["r2"], loss, t + 1e-3, t)["r2"] == 0.0
    assert _accumulate(["r2"], loss, t.copy(), t)["r2"] == 1.0


def test_evaluate_scores_a_float32_model_against_the_targets_as_given():
    """Targets of 1.7e9 +- 100 round to multiples of 128 in float32: the metrics compare the predictions with
    the float64 targets (they reported mse 0, r2 1), the loss with the model-dtype targets, as training does."""
    rng = np.random.default_rng(0)
    y = 1.7e9 + rng.uniform(-100, 100, (300, 1))
    model = fnn.Sequential([Dense(1, use_bias=False)], input_dim=1, loss="mse")
    model.set_weights([np.ones((1, 1))])  # the identity
    got = model.evaluate(y, y, metrics=["mse", "mae", "r2"])
    pred = model.predict(y).astype(np.float64)
    assert got["mse"] == pytest.approx(skm.mean_squared_error(y, pred), rel=1e-12) and got["mse"] > 100
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-8) and got["r2"] < 0.99
    assert got["loss"] == 0.0  # float32 predictions equal the float32 targets exactly


def test_metric_names_are_checked_against_the_loss():
    ce, mse = losses.get("cross_entropy"), losses.get("mse")
    assert check_metrics(["acc", "accuracy", "f1_score"], ce) == ("accuracy", "f1")
    assert check_metrics(None, ce) == ("accuracy",) and check_metrics(None, mse) == ()
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        check_metrics(["auc"], ce)
    with pytest.raises(ValueError, match="needs a regression loss"):
        check_metrics(["r2"], ce)
    with pytest.raises(ValueError, match="needs a classification loss"):
        check_metrics(["f1"], mse)
    with pytest.raises(TypeError, match="list of metric names"):
        check_metrics("accuracy", ce)


def _classifier(seed=0):
    return fnn.Sequential([Dense(16, activation="relu"), fnn.layers.Dropout(0.3), Dense(3)], input_dim=5,
                          dtype="float64", seed=seed)


def test_fit_logs_every_metric_per_epoch_for_training_and_validation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    names = ["accuracy", "precision", "recall", "f1", "top_2_accuracy"]
    model = _classifier()
    seen = []  # the training outputs of every batch, from the same observation point fit uses

    class Spy(fnn.training.callbacks.Callback):
        def on_epoch_end(self, epoch, logs, model):
            seen.append(dict(logs))

    h = model.fit(X[:100], y[:100], epochs=3, batch_size=32, optimizer="adam", metrics=names, verbose=0,
                  validation_data=(X[100:], y[100:]), callbacks=[Spy()])
    for name in names:
        assert len(h[name]) == 3 and len(h["val_" + name]) == 3
    val = model.evaluate(X[100:], y[100:], metrics=names)
    for name in names:
        assert h["val_" + name][-1] == val[name]
    pred = model.predict_classes(X[100:])
    assert val["f1"] == pytest.approx(skm.f1_score(y[100:], pred, average="macro", zero_division=0))


def test_training_metrics_come_from_the_epochs_batches_not_a_mean_of_batch_values():
    """With dropout off and lr=0 the training outputs are the evaluation outputs: the epoch's training f1 must
    equal sklearn's f1 over all rows, which a mean of per-batch f1 values does not give."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 5))
    y = rng.integers(0, 3, 100)
    model = fnn.Sequential([Dense(16, activation="relu"), Dense(3)], input_dim=5, dtype="float64", seed=3)
    h = model.fit(X, y, epochs=1, batch_size=7, optimizer=fnn.optim.SGD(lr=0.0), metrics=["f1", "recall"],
                  verbose=0)
    pred = model.predict_classes(X)
    assert h["f1"][0] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-12)
    assert h["recall"][0] == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0), abs=1e-12)
    batch_mean = np.mean([skm.f1_score(y[i:i + 7], pred[i:i + 7], average="macro", zero_division=0)
                          for i in range(0, 100, 7)])
    assert abs(batch_mean - h["f1"][0]) > 1e-3


def test_regression_fit_and_evaluate_metrics():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 4))
    t = X @ rng.standard_normal((4, 2))
    model = fnn.Sequential([Dense(8, activation="tanh"), Dense(2)], input_dim=4, dtype="float64", loss="mse")
    h = model.fit(X, t, epochs=2, batch_size=16, optimizer="adam", metrics=["mse", "mae", "r2"], verbose=0,
                  validation_split=0.25)
    assert set(h.history) >= {"mse", "mae", "r2", "val_mse", "val_mae", "val_r2"}
    got = model.evaluate(X, t, metrics=["mse", "mae", "r2"])
    pred = model.predict(X)
    assert got["r2"] == pytest.approx(skm.r2_score(t, pred), rel=1e-10)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(t, pred), rel=1e-10)
    assert got["mse"] == pytest.approx(got["loss"], rel=1e-12)  # no penalty: the loss is the mse


def test_confusion_matrix_matches_sklearn_and_refuses_out_of_range_classes():
    from fastnn.metrics import confusion_matrix
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    np.testing.assert_array_equal(confusion_matrix(true, pred, 4), skm.confusion_matrix(true, pred, labels=range(4)))
    # a predicted class 2 of a 2-class problem was counted as (true 1, predicted 0)
    with pytest.raises(ValueError, match=r"pred holds class 2, outside \[0, 2\)"):
        confusion_matrix(np.array([0, 1]), np.array([2, 0]), 2)
    with pytest.raises(ValueError, match="true holds class -1"):
        confusion_matrix(np.array([-1, 1]), np.array([0, 0]), 2)
    with pytest.raises(ValueError, match="true has 3 rows, pred 2"):
        confusion_matrix(np.array([0, 1, 1]), np.array([0, 1]), 2)
    with pytest.raises(TypeError, match="integer class indices"):
        confusion_matrix(np.array([0.0, 1.0]), np.array([0, 1]), 2)


@pytest.mark.parametrize("loss, targets", [
    ("cross_entropy", np.full((6, 3), 1 / 3) + [0.0, 0.0, 1e-9]),  # float32: a three-way tie, argmax 0
    ("binary_cross_entropy", np.full((6, 1), 0.5 + 1e-9)),           # float32: 0.5, not above it
])
def test_accuracy_does_not_depend_on_the_other_metrics(loss, targets):
    """A float32 model's evaluate gave accuracy 1.0 with metrics=["accuracy"] (the loss kernel's count, on the
    float32 targets) but 0.0 with ["accuracy", "f1"] (the classes of the float64 targets). Every route now reads
    a row's class from the targets the loss trains on, as fit's epoch metrics do."""
    X = np.ones((6, 2), np.float32)
    model = fnn.Sequential([fnn.layers.Dense(targets.shape[1])], input_dim=2, dtype="float32", seed=0)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])  # all-zero logits: every class tied
    alone = model.evaluate(X, targets, loss=loss, metrics=["accuracy"])
    both = model.evaluate(X, targets, loss=loss, metrics=["accuracy", "f1"])
    assert alone["accuracy"] == both["accuracy"] == 1.0 and both["f1"] == 1.0
    for metrics in (["accuracy"], ["accuracy", "f1"]):
        history = model.fit(X, targets, loss=loss, optimizer=fnn.optim.SGD(lr=0.0), epochs=1, verbose=0,
                            metrics=metrics, validation_data=(X, targets))
        assert history.history["accuracy"] == history.history["val_accuracy"] == [1.0]
