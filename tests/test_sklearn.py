"""fastnn.sklearn: scikit-learn's estimator checks, its MLP's objective and stopping rule, and the workflow a
scikit-learn user relies on (Pipeline, GridSearchCV, clone, pickle, partial_fit, warm_start, determinism)."""
import ast
import copy
import pathlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_blobs, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Short runs stop at max_iter on purpose; the warning is scikit-learn's and is tested once, below.
pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning")]

SMALL = dict(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01, random_state=0)


@parametrize_with_checks([
    MLPClassifier(**SMALL),
    MLPRegressor(**SMALL),
    MLPClassifier(hidden_layer_sizes=(8, 8), activation="tanh", solver="sgd", learning_rate_init=0.1, batch_size=16,
                  max_iter=40, random_state=1),
    MLPRegressor(hidden_layer_sizes=(12,), activation="logistic", solver="rmsprop", dtype="float32", max_iter=40,
                 learning_rate_init=0.01, random_state=2),
])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# ---- the objective, in scikit-learn's units ---------------------------------------------------------------------
def _problem(kind, rng):
    X = rng.standard_normal((40, 5))
    if kind == "regression":
        return X, X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(40)
    if kind == "binary":
        return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    if kind == "multiclass":
        return X, np.digitize(X[:, 0], [-0.5, 0.5])
    return X, (X[:, :3] > 0).astype(int)  # multilabel, 3 labels


def _sklearn_objective_and_gradient(est, W, b, X, Y):
    """scikit-learn's per-batch objective and gradient (one relu hidden layer, full batch) written out in numpy:
    data loss + alpha / (2 n) * sum ||W||^2, gradient (X^T delta + alpha W) / n."""
    n = X.shape[0]
    h = np.maximum(X @ W[0] + b[0], 0)
    z = h @ W[1] + b[1]
    if est.out_activation_ == "identity":
        data, p = 0.5 * np.mean((z - Y) ** 2), z
    elif est.out_activation_ == "softmax":
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        data = -np.mean(np.log(p[np.arange(n), Y.argmax(1)]))
    else:
        p = 1 / (1 + np.exp(-z))
        data = -np.sum(Y * np.log(p) + (1 - Y) * np.log(1 - p)) / n
    objective = data + est.alpha / (2 * n) * sum(np.sum(w * w) for w in W)
    delta = p - Y
    dh = (delta @ W[1].T) * (h > 0)
    grads = [(X.T @ dh + est.alpha * W[0]) / n, (h.T @ delta + est.alpha * W[1]) / n]
    return objective, grads, [dh.sum(0) / n, delta.sum(0) / n]


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_one_step_follows_scikit_learns_objective_and_update(kind, solver, rng):
    """A full-batch partial_fit from the initial weights: loss_curve_ is scikit-learn's objective there and the
    update is scikit-learn's (SGD: -lr * gradient; Adam's first step: -lr * g / (|g| + epsilon), with epsilon large
    enough to matter) -- whatever factor c fastnn's own loss differs by."""
    X, y = _problem(kind, rng)
    est = MLPClassifier if kind != "regression" else MLPRegressor
    est = est(hidden_layer_sizes=(7,), solver=solver, alpha=0.3, batch_size=X.shape[0], shuffle=False,
              learning_rate_init=0.05, momentum=0.0, epsilon=0.05, random_state=0, dtype="float64")
    kwargs = {"classes": np.unique(y)} if kind != "regression" else {}
    est.partial_fit(X, y, **kwargs)
    # the initial weights: the model rebuilt from its config (same seed) before any step
    initial = fastnn.model_from_config(est.model_.get_config()).get_weights()
    W_start, b_start = initial[0::2], initial[1::2]
    assert not any(b.any() for b in b_start)  # fastnn starts the biases at zero
    Y = y.reshape(-1, 1) if kind == "regression" else est._label_binarizer.transform(y).astype(float)
    objective, gW, gb = _sklearn_objective_and_gradient(est, W_start, b_start, X, Y)
    np.testing.assert_allclose(est.loss_curve_, [objective], rtol=1e-10)
    for new, old, g in zip(est.coefs_ + est.intercepts_, W_start + b_start, gW + gb):
        want = -0.05 * g if solver == "sgd" else -0.05 * g / (np.abs(g) + 0.05)
        np.testing.assert_allclose(new - old, want, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("n_outputs", [1, 2, 4])
def test_regression_trains_and_reports_as_scikit_learns_mlp_for_any_number_of_outputs(n_outputs):
    # with k outputs SGD took 1/k of scikit-learn's steps: fastnn's mse averages the squared errors over the
    # outputs, scikit-learn's gradient sums them (while its reported loss averages them)
    X = np.random.default_rng(0).standard_normal((80, 5))
    Y = np.tanh(X @ np.random.default_rng(1).standard_normal((5, n_outputs)))
    y = Y.ravel() if n_outputs == 1 else Y
    params = dict(hidden_layer_sizes=(7,), activation="tanh", solver="sgd", alpha=0.01, batch_size=20,
                  learning_rate_init=0.02, momentum=0.9, shuffle=False, tol=0.0, max_iter=15, random_state=0)
    ours = MLPRegressor(**params, dtype="float64").fit(X, y)
    initial = fastnn.model_from_config(ours.model_.get_config()).get_weights()
    # scikit-learn's MLP built by a first fit, then started again from fastnn's initial weights
    theirs = SkMLPRegressor(**{**params, "max_iter": 1}, warm_start=True).fit(X, y)
    theirs.coefs_, theirs.intercepts_ = initial[0::2], initial[1::2]
    theirs.n_iter_, theirs.t_, theirs.loss_curve_, theirs.best_loss_, theirs._no_improvement_count = 0, 0, [], np.inf, 0
    theirs.set_params(max_iter=15).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


# ---- the stopping rule, compared with scikit-learn's own MLP ---------------------------------------------------
@pytest.mark.parametrize("params", [
    dict(tol=1e3, n_iter_no_change=3),                                            # stops at n_iter_no_change + 2
    dict(tol=1e3, n_iter_no_change=2, solver="sgd", learning_rate="adaptive",     # lr / 5 until <= 1e-6
         learning_rate_init=0.01),
    dict(tol=0.0, max_iter=7),                                                    # max_iter, with a warning
])
def test_the_number_of_epochs_is_scikit_learns(params, rng):
    X, y = _problem("multiclass", rng)
    ours = MLPClassifier(hidden_layer_sizes=(4,), random_state=0, **params)
    theirs = SkMLPClassifier(hidden_layer_sizes=(4,), random_state=0, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ and len(ours.loss_curve_) == ours.n_iter_ and ours.t_ == theirs.t_
    converged = ours.n_iter_ < ours.max_iter
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught) is not converged
    assert ours.best_loss_ == min(ours.loss_curve_)


def test_invscaling_sets_scikit_learns_lr_after_each_epoch(rng):
    X, y = _problem("regression", rng)
    est = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate="invscaling", power_t=0.25,
                       learning_rate_init=0.02, max_iter=3, batch_size=10, random_state=0)
    est.fit(X, y)
    assert est.t_ == 3 * 40
    assert est._optimizer.lr_scale == pytest.approx(1 / (est.t_ + 1) ** 0.25)


def test_early_stopping_keeps_the_best_epochs_weights(rng):
    X, y = make_blobs(n_samples=120, centers=3, cluster_std=3.0, random_state=0)
    est = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.25, n_iter_no_change=4,
                        learning_rate_init=0.05, max_iter=200, random_state=0).fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ < 200 and est.best_loss_ is None
    assert est.best_validation_score_ == max(scores)
    # the same split as the estimator's: its random_state drew the model's seed first, then split
    rs = check_random_state(0)
    rs.randint(np.iinfo(np.int32).max)
    _, val = train_test_split(np.arange(len(X)), random_state=rs, test_size=0.25)
    assert est.score(X[val], y[val]) == est.best_validation_score_
    assert not hasattr(est, "partial_fit")  # as scikit-learn refuses partial_fit with early stopping


# ---- the workflow ---------------------------------------------------------------------------------------------
def test_pipeline_and_grid_search():
    X, y = make_blobs(n_samples=90, centers=3, random_state=1)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=50, learning_rate_init=0.01, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3)
    grid.fit(X, y)
    assert grid.best_score_ > 0.9
    assert grid.predict(X).shape == (90,) and set(grid.classes_) == {0, 1, 2}


def _fitted_classifier(**params):
    X, y = make_blobs(n_samples=60, centers=3, random_state=2)
    return MLPClassifier(**{**SMALL, "max_iter": 5, **params}).fit(X, y), X, y


@pytest.mark.parametrize("extras", [{}, {"batch_norm": True, "dropout": 0.2}])
def test_pickle_and_deepcopy_continue_training_identically(extras):
    est, X, y = _fitted_classifier(**extras)
    for twin in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
        twin.partial_fit(X, y)
    est.partial_fit(X, y)
    np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))


def test_a_model_loaded_read_only_by_joblib_predicts_and_trains(tmp_path):
    """joblib's mmap_mode="r" hands back read-only arrays; the kernels write BatchNorm's and the optimizer's."""
    joblib = pytest.importorskip("joblib")
    est, X, y = _fitted_classifier(batch_norm=True)
    joblib.dump(est, tmp_path / "est.joblib")
    twin = joblib.load(tmp_path / "est.joblib", mmap_mode="r")
    np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
    twin.partial_fit(X, y)
    est.partial_fit(X, y)
    np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))


def test_clone_is_unfitted_with_the_same_parameters():
    est, X, _ = _fitted_classifier(batch_norm=True)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "model_")
    assert not hasattr(twin, "coefs_") and not hasattr(twin, "intercepts_")


def test_the_same_random_state_gives_the_same_model_bitwise():
    a, X, _ = _fitted_classifier(random_state=5, dropout=0.1)
    b, _, _ = _fitted_classifier(random_state=5, dropout=0.1)
    c, _, _ = _fitted_classifier(random_state=6, dropout=0.1)
    np.testing.assert_array_equal(a.model_.params, b.model_.params)
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.model_.params, c.model_.params)


def test_labels_of_any_hashable_type_come_back():
    X, y = make_blobs(n_samples=60, centers=3, random_state=3)
    labels = np.array(["cat", "dog", "emu"], dtype=object)[y]
    est = MLPClassifier(**SMALL).fit(X, labels)
    assert list(est.classes_) == ["cat", "dog", "emu"] and est.out_activation_ == "softmax"
    assert set(est.predict(X)) <= {"cat", "dog", "emu"} and est.score(X, labels) > 0.9
    proba = est.predict_proba(X)
    np.testing.assert_array_equal(est.classes_[proba.argmax(1)], est.predict(X))
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba))


def test_binary_uses_one_logistic_output_and_multilabel_one_per_label(rng):
    X, y = _problem("binary", rng)
    est = MLPClassifier(**SMALL).fit(X, y)
    assert est.n_outputs_ == 1 and est.out_activation_ == "logistic" and est.coefs_[-1].shape == (16, 1)
    proba = est.predict_proba(X)
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(1), 1)
    X, Y = make_multilabel_classification(n_samples=50, n_classes=4, random_state=0)
    est = MLPClassifier(**SMALL).fit(X, Y)
    assert est.n_outputs_ == 4 and est.predict(X).shape == Y.shape and est.predict_proba(X).shape == Y.shape


# ---- model_ serves the estimator's labels ---------------------------------------------------------------------
_CLASSES = {"integers not 0..C-1": np.array([3, 7, 9]), "strings": np.array(["cat", "dog", "emu"]),
            "binary strings (one output)": np.array(["no", "yes"]), "binary integers": np.array([-1, 4])}


def _serves_the_estimators_labels(est, X, y, tmp_path):
    """model_ on its own -- its predict_labels, evaluate, a saved copy and its plan -- gives what est gives."""
    np.testing.assert_array_equal(est.model_.classes_, est.classes_)
    expected = est.predict(X)
    np.testing.assert_array_equal(est.model_.predict_labels(X), expected)
    assert est.model_.evaluate(X, y)["accuracy"] == pytest.approx(est.score(X, y))
    fastnn.save(est.model_, tmp_path / "m.safetensors")
    loaded = fastnn.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.predict_labels(X), expected)
    np.testing.assert_array_equal(loaded.compile_inference().predict_labels(X), expected)


@pytest.mark.parametrize("classes", _CLASSES.values(), ids=_CLASSES)
def test_model_serves_the_estimators_labels(classes, tmp_path):
    # model_.classes_ was None: model_.predict_labels, a saved model_ and its plan gave 0..C-1, and
    # model_.evaluate(X, y) refused label 7 as out of range
    X, y = make_blobs(n_samples=90, centers=len(classes), random_state=4)
    labels = classes[y]
    est = MLPClassifier(**SMALL).fit(X, labels)
    _serves_the_estimators_labels(est, X, labels, tmp_path)


def test_model_keeps_the_classes_through_continued_fits_pickle_and_clone(tmp_path):
    X, y = make_blobs(n_samples=90, centers=3, random_state=4)
    labels = np.array([3, 7, 9])[y]
    est = MLPClassifier(**SMALL)
    est.partial_fit(X[labels != 9], labels[labels != 9], classes=[3, 7, 9, 11])  # 9 and 11 not in this batch
    est.partial_fit(X, labels)
    assert list(est.model_.classes_) == [3, 7, 9, 11]
    _serves_the_estimators_labels(est, X, labels, tmp_path)
    twin = pickle.loads(pickle.dumps(est))
    _serves_the_estimators_labels(twin, X, labels, tmp_path)
    warm = MLPClassifier(**SMALL, warm_start=True).fit(X, labels).fit(X, labels)
    _serves_the_estimators_labels(warm, X, labels, tmp_path)
    assert not hasattr(clone(warm), "model_")


def test_a_model_fitted_without_classes_gets_them_from_a_continued_fit(tmp_path):
    # an estimator pickled before model_ carried its classes: a continued fit gives them, the same training
    X, y = make_blobs(n_samples=90, centers=3, random_state=4)
    labels = np.array(["cat", "dog", "emu"])[y]
    est = MLPClassifier(**SMALL).fit(X, labels)
    old = pickle.loads(pickle.dumps(est))
    old.model_.classes_ = None
    old.partial_fit(X, labels)
    est.partial_fit(X, labels)
    np.testing.assert_array_equal(old.model_.params, est.model_.params)
    _serves_the_estimators_labels(old, X, labels, tmp_path)


@pytest.mark.parametrize("kind, bias", [("binary", [1e-8]), ("multiclass", [0, 1e-8, 0]),
                                        ("multilabel", [1e-8, -1e-8, 1e-8])])
def test_predict_reads_the_logits_as_model_predict_labels_does(kind, bias):
    # review 12: predict thresholded / argmaxed float32 probabilities, which round a logit 1e-8 to 0.5 and
    # logits (0, 1e-8, 0) to a tie, so est.predict gave 'neg' where model_.predict_labels gave 'pos'
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = {"binary": np.array(["neg", "pos"])[np.arange(40) % 2], "multilabel": rng.integers(0, 2, (40, 3)),
         "multiclass": np.array(["a", "b", "c"])[np.arange(40) % 3]}[kind]
    est = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    out = est.model_.layers[-1]
    out.params["W"][...] = 0
    out.params["b"][...] = bias
    expected = {"binary": ["pos"] * 3, "multiclass": ["b"] * 3, "multilabel": [[1, 0, 1]] * 3}[kind]
    np.testing.assert_array_equal(est.predict(X[:3]), expected)
    np.testing.assert_array_equal(est.model_.predict_labels(X[:3]), expected)


def test_a_multilabel_model_has_no_classes_and_gives_the_indicator_matrix(rng):
    # fastnn's classes_ names the classes of one label per row; a multilabel model's classes are its columns
    X, Y = _problem("multilabel", rng)
    est = MLPClassifier(**SMALL).fit(X, Y)
    assert est.model_.classes_ is None
    np.testing.assert_array_equal(est.model_.predict_labels(X), est.predict(X))


def test_partial_fit_needs_classes_first_and_refuses_unknown_labels():
    X, y = make_blobs(n_samples=30, centers=2, random_state=0)
    est = MLPClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[:10], y[:10], classes=[0, 1, 2])  # a class may be missing from a batch
    assert list(est.classes_) == [0, 1, 2] and est.n_iter_ == 1 and est.t_ == 10
    est.partial_fit(X, y)
    assert est.t_ == 40 and len(est.loss_curve_) == 2
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="not the same as on the first call"):
        est.partial_fit(X, y, classes=[0, 1])


def test_warm_start_continues_and_a_cold_fit_restarts(rng):
    X, y = _problem("regression", rng)
    est = MLPRegressor(**{**SMALL, "max_iter": 5}, warm_start=True)
    est.fit(X, y)
    first = est.model_
    est.fit(X, y)
    assert est.model_ is first and len(est.loss_curve_) == 10 and est.t_ == 400 and est.n_iter_ == 5
    est.set_params(warm_start=False).fit(X, y)
    assert est.model_ is not first and len(est.loss_curve_) == 5


def test_regression_outputs_keep_the_shape_of_y(rng):
    X, Y = make_regression(n_samples=60, n_features=4, n_targets=3, random_state=0)
    Y /= Y.std(0)
    est = MLPRegressor(**{**SMALL, "max_iter": 200}).fit(X, Y)
    assert est.predict(X).shape == (60, 3) and est.n_outputs_ == 3 and est.score(X, Y) > 0.9
    assert est.fit(X, Y[:, 0]).predict(X).shape == (60,)


def test_dtype_follows_the_data_unless_given(rng):
    X, y = _problem("regression", rng)
    assert MLPRegressor(**SMALL).fit(X.astype(np.float32), y).model_.dtype == np.float32
    assert MLPRegressor(**SMALL).fit(X, y).model_.dtype == np.float64
    est = MLPRegressor(**SMALL, dtype="float32").fit(X, y)
    assert est.model_.dtype == np.float32
    assert est.predict(X).dtype == np.float64 and est.predict(X.astype(np.float32)).dtype == np.float32


def test_predict_gives_a_regressors_values_in_X_dtype_and_a_classifiers_classes_of_its_own_logits(rng):
    """A regressor's predictions are its outputs cast to X's float dtype; a classifier's are the classes of the
    logits as its model computed them, whatever X's dtype: float64 logits (1, 1 + 1e-12, 1) are a tie in a float32
    X's dtype, and class 1 in the model's."""
    X, y = _problem("regression", rng)
    est = MLPRegressor(**SMALL, dtype="float32").fit(X, y)
    for x in (X, X.astype(np.float32)):
        assert est.predict(x).dtype == x.dtype
        np.testing.assert_array_equal(est.predict(x), est.model_.predict_logits(x).ravel().astype(x.dtype))
    clf = MLPClassifier((4,), max_iter=2, random_state=0, dtype="float64").fit(X, np.arange(len(X)) % 3)
    out = clf.model_.layers[-1]
    out.params["W"][...] = 0
    out.params["b"][...] = [1, 1 + 1e-12, 1]
    np.testing.assert_array_equal(clf.predict(X[:3].astype(np.float32)), [1, 1, 1])


def test_extras_build_the_layers_they_name():
    est, _, _ = _fitted_classifier(hidden_layer_sizes=(6, 5), batch_norm=True, dropout=0.25, activation="tanh")
    names = [type(layer).__name__ for layer in est.model_.layers]
    assert names == ["Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "BatchNorm", "Tanh", "Dropout", "Dense"]
    assert est.n_layers_ == 4 and [w.shape for w in est.coefs_] == [(2, 6), (6, 5), (5, 3)]


def test_n_threads_runs_fit_and_predict_in_a_thread_context(rng):
    X, y = _problem("multiclass", rng)
    before = fastnn.get_num_threads()
    one = MLPClassifier(**SMALL, n_threads=1).fit(X, y)
    assert fastnn.get_num_threads() == before
    np.testing.assert_array_equal(one.predict_proba(X), clone(one).set_params(n_threads=1).fit(X, y).predict_proba(X))


def test_verbose_prints_scikit_learns_lines(rng, capsys):
    X, y = _problem("multiclass", rng)
    MLPClassifier(**{**SMALL, "max_iter": 2}, verbose=True).fit(X, y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


@pytest.mark.parametrize("param, value, error", [
    ("activation", "softmax", ValueError), ("solver", "lbfgs", ValueError), ("alpha", -1.0, ValueError),
    ("hidden_layer_sizes", (4, 0), ValueError), ("hidden_layer_sizes", "4", TypeError),
    ("batch_size", 0, ValueError), ("learning_rate", "cosine", ValueError), ("max_iter", 0, ValueError),
    ("momentum", 1.5, ValueError), ("beta_2", 1.0, ValueError), ("epsilon", 0.0, ValueError),
    ("n_iter_no_change", 0, ValueError), ("dtype", "float16", ValueError), ("dropout", 1.0, ValueError),
    ("n_threads", 0, ValueError), ("shuffle", "yes", TypeError), ("validation_fraction", 1.0, ValueError),
    ("loss", "poisson", ValueError),
])
def test_a_bad_parameter_is_named_before_anything_is_fitted(param, value, error, rng):
    X, y = _problem("multiclass", rng)
    est = (MLPRegressor if param == "loss" else MLPClassifier)(**SMALL).set_params(**{param: value})
    with pytest.raises(error, match=param):
        est.fit(X, y)
    assert not hasattr(est, "model_") and not hasattr(est, "n_features_in_")


# ---- a refused call changes nothing ------------------------------------------------------------------------------
_X = np.random.default_rng(0).standard_normal((60, 3))
_TINY = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)


def _frame(X, columns):
    return pytest.importorskip("pandas").DataFrame(X, columns=list(columns))


# the fitted estimator and the X it predicts on; the refused call; its error
REFUSALS = {
    "y of one class, X of another width": (
        lambda: (MLPClassifier(**_TINY).fit(_X, _X[:, 0] > 0), _X),
        lambda est: est.fit(np.ones((60, 5)), np.zeros(60)), ValueError, "at least 2 classes"),
    "NaN in a DataFrame with other columns": (
        lambda: (MLPClassifier(**_TINY).fit(_frame(_X, "abc"), _X[:, 0] > 0), _frame(_X, "abc")),
        lambda est: est.fit(_frame(np.where(_X > 2, np.nan, _X), "xyz"), _X[:, 0] > 0), ValueError, "NaN"),
    "inf in an array after a DataFrame": (
        lambda: (MLPClassifier(**_TINY).fit(_frame(_X, "abc"), _X[:, 0] > 0), _frame(_X, "abc")),
        lambda est: est.fit(np.where(_X > 2, np.inf, _X), _X[:, 0] > 0), ValueError, "infinity"),
    "a validation set too small": (
        lambda: (MLPRegressor(**_TINY, early_stopping=True).fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X[:10], _X[:10, 0]), ValueError, "validation set is too small"),
    "BatchNorm on one row": (
        lambda: (MLPRegressor(**_TINY, batch_norm=True).fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X[:1], _X[:1, 0]), ValueError, "batch of 1"),
    "partial_fit, BatchNorm on one row": (
        lambda: (MLPRegressor(**_TINY, batch_norm=True).fit(_X, _X[:, 0]), _X),
        lambda est: est.partial_fit(_X[:1], _X[:1, 0]), ValueError, "batch of 1"),
    "warm_start, BatchNorm on one row": (
        lambda: (MLPRegressor(**_TINY, batch_norm=True, warm_start=True).fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X[:1], _X[:1, 0]), ValueError, "batch of 1"),
    "targets of strings": (
        lambda: (MLPRegressor(**_TINY).fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X, _X[:, 0].astype(str)), TypeError, "must be numeric"),
    "targets that overflow float32": (
        lambda: (MLPRegressor(**_TINY, dtype="float32").fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X, _X[:, 0] * 1e39), ValueError, "overflows the model's dtype float32"),
    "a non-finite loss at the first step": (
        lambda: (MLPRegressor(**_TINY).fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X * 1e200, _X[:, 0]), fastnn.training.NonFiniteLossError, "step 0 "),
    "warm_start, a non-finite loss at the first step": (
        lambda: (MLPRegressor(**_TINY, warm_start=True).fit(_X, _X[:, 0]), _X),
        lambda est: est.fit(_X * 1e200, _X[:, 0]), fastnn.training.NonFiniteLossError, "step 5 "),
    "partial_fit, a non-finite loss at the first step": (
        lambda: (MLPRegressor(**_TINY).fit(_X, _X[:, 0]), _X),
        lambda est: est.partial_fit(_X * 1e200, _X[:, 0]), fastnn.training.NonFiniteLossError, "step 5 "),
}


def _everything(est, X):
    """What a refused call must leave as it was: the parameters, the attributes (the same objects: a first pass
    assigns new ones), the bookkeeping's values, the network's penalties and training state, and the arrays: the
    weights (BatchNorm statistics too), the optimizer's state and the predictions."""
    model, optimizer = est.model_, est._optimizer
    return {"params": est.get_params(), "attributes": dict(vars(est)),
            "bookkeeping": copy.deepcopy([est.loss_curve_, est.validation_scores_, est.n_iter_, est.t_,
                                          est.best_loss_, est.best_validation_score_, est._no_improvement_count]),
            "network": [[layer.l2 for layer in model.layers if hasattr(layer, "l2")], model.step_count,
                        model.optimizer, model.history, model.stop_training, optimizer.step_count],
            "arrays": model.get_weights() + [a.copy() for a in optimizer.state.values()] + [est.predict(X)]}


def _assert_same(before, after):
    assert after["params"] == before["params"]
    assert after["attributes"].keys() == before["attributes"].keys()
    assert all(after["attributes"][name] is value for name, value in before["attributes"].items())
    assert after["bookkeeping"] == before["bookkeeping"] and after["network"] == before["network"]
    assert all(np.array_equal(a, b) for a, b in zip(before["arrays"], after["arrays"], strict=True))


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_call_leaves_a_fitted_estimator_as_it_was(case):
    # it left the estimator half-updated: the new n_features_in_ / feature_names_in_ with the old network, or
    # model_ replaced by an untrained network, the bookkeeping reset (n_iter_ 0, loss_curve_ [])
    fitted, call, error, match = REFUSALS[case]
    est, X = fitted()
    before = _everything(est, X)
    with pytest.raises(error, match=match):
        call(est)
    _assert_same(before, _everything(est, X))


def test_an_error_after_a_step_keeps_the_training_done():
    # as fastnn's fit: a loss that turns non-finite after some steps stops there, those steps stay applied
    est = MLPRegressor(**_TINY, solver="sgd", learning_rate_init=10.0, momentum=0.0, batch_size=10)
    with pytest.raises(fastnn.training.NonFiniteLossError, match="epoch 2") as error:
        est.fit(_X, _X[:, 0])
    assert est.model_.step_count == error.value.step > 0 and est.n_iter_ == len(est.loss_curve_) == 1


def test_a_refused_first_fit_leaves_nothing_behind():
    # n_features_in_ stayed: check_is_fitted passed and predict raised AttributeError('model_')
    est = MLPClassifier(**_TINY)
    with pytest.raises(ValueError, match="at least 2 classes"):
        est.fit(_X, np.zeros(60))
    assert not [name for name in vars(est) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(_X)


def test_a_refused_continued_fit_leaves_the_models_classes_as_they_were():
    # a model without classes_ (pickled before model_ carried them) is given them before fastnn's fit refuses
    est = MLPClassifier(**_TINY, batch_norm=True).fit(_X, _X[:, 0] > 0)
    est.model_.classes_ = None
    with pytest.raises(ValueError, match="batch of 1"):
        est.partial_fit(_X[:1], [True])
    assert est.model_.classes_ is None


def test_a_dataframe_gives_feature_names_in():
    pd = pytest.importorskip("pandas")
    X, y = make_blobs(n_samples=40, centers=2, n_features=3, random_state=0)
    est = MLPClassifier(**SMALL).fit(pd.DataFrame(X, columns=["a", "b", "c"]), y)
    assert list(est.feature_names_in_) == ["a", "b", "c"]


def test_close_to_scikit_learns_own_mlp():
    """Not the same model (other initial biases and random streams), but the same problem solved as well."""
    X, y = make_blobs(n_samples=200, centers=4, cluster_std=2.0, random_state=4)
    X_test, y_test = X[150:], y[150:]
    ours = [MLPClassifier(max_iter=60, random_state=s).fit(X[:150], y[:150]).score(X_test, y_test) for s in range(3)]
    theirs = [SkMLPClassifier(max_iter=60, random_state=s).fit(X[:150], y[:150]).score(X_test, y_test)
              for s in range(3)]
    assert np.mean(ours) >= np.mean(theirs) - 0.05


# ---- packaging --------------------------------------------------------------------------------------------------
def test_only_fastnn_sklearn_imports_scikit_learn():
    package = pathlib.Path(fastnn.__file__).parent
    importers = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(name == "sklearn" or name.startswith("sklearn.") for name in names):
                importers.add(path.relative_to(package).as_posix())
    assert importers == {"sklearn.py"}
    code = "import sys, fastnn; import fastnn.models; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=package.parent)


@pytest.mark.parametrize("change", [dict(hidden_layer_sizes=(8,)), dict(hidden_layer_sizes=(16, 16)),
                                    dict(activation="tanh"), dict(batch_norm=True), dict(dropout=0.25),
                                    dict(dtype="float32")])
def test_a_continued_fit_refuses_a_changed_network(change, rng):
    # warm_start and partial_fit continue model_: a changed architecture parameter was silently ignored
    X, y = _problem("regression", rng)
    for continued in ("warm_start", "partial_fit"):
        est = MLPRegressor(**{**SMALL, "max_iter": 2}, warm_start=continued == "warm_start").fit(X, y)
        before = [w.copy() for w in est.model_.get_weights()]
        est.set_params(**change)
        with pytest.raises(ValueError, match=f"^{next(iter(change))}=.*differs from the fitted network"):
            est.fit(X, y) if continued == "warm_start" else est.partial_fit(X, y)
        assert all(np.array_equal(a, b) for a, b in zip(before, est.model_.get_weights()))
        est.set_params(warm_start=False).fit(X, y)  # a new network is built from the new parameters
        assert est.predict(X).shape == y.shape


def test_a_continued_fit_takes_an_unchanged_network_in_any_spelling(rng):
    X, y = _problem("regression", rng)
    est = MLPRegressor(**{**SMALL, "hidden_layer_sizes": 16, "max_iter": 2}, warm_start=True, dtype="float64")
    est.fit(X, y).set_params(hidden_layer_sizes=[16], dropout=0).fit(X, y)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 4


@pytest.mark.parametrize("early_stopping, continued", [(True, "warm_start"), (True, "partial_fit"),
                                                       (False, "warm_start")])
def test_a_continued_fit_after_switching_early_stopping_follows_the_new_rule(early_stopping, continued, rng):
    # it trained an epoch, then failed with a bare AssertionError: the other rule's bookkeeping was missing
    X, y = _problem("multiclass", rng)
    est = MLPClassifier(**{**SMALL, "max_iter": 4}, early_stopping=early_stopping, warm_start=True).fit(X, y)
    model, epochs = est.model_, len(est.loss_curve_)
    est.set_params(early_stopping=not early_stopping)
    est.fit(X, y) if continued == "warm_start" else est.partial_fit(X, y)
    assert est.model_ is model and len(est.loss_curve_) == epochs + est.n_iter_  # continued, not restarted
    if early_stopping:  # now stopping on the training loss of the epochs since the switch
        assert est.validation_scores_ is None and est.best_loss_ == min(est.loss_curve_[epochs:])
    else:
        assert est.best_loss_ is None and est.best_validation_score_ == max(est.validation_scores_)
        assert len(est.validation_scores_) == est.n_iter_


def test_batch_norm_trains_when_an_epoch_would_end_in_one_row(rng):
    # 201 rows at batch 200 left a last batch of one row: BatchNorm raised mid-fit (a NaN score in GridSearchCV)
    X = rng.standard_normal((201, 4))
    y = (X[:, 0] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(8,), batch_norm=True, max_iter=3, random_state=0).fit(X, y)
    assert est.n_iter_ == 3 and est.t_ == 3 * 201 and np.isfinite(est.loss_curve_).all()
    est.partial_fit(X, y)
    assert est.n_iter_ == 1


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # scikit-learn scoring the diverged epoch
def test_a_fit_that_ends_in_an_error_keeps_the_best_validation_weights():
    """review 11: with early_stopping, a fit that diverged (NonFiniteLossError) or was interrupted left model_ at
    its last epoch's weights (r2 -inf) while best_validation_score_ described the best epoch's; scikit-learn's MLP
    always puts the best weights back."""
    from fastnn.training import NonFiniteLossError

    rng = np.random.RandomState(12)
    X = rng.randn(200, 5)
    y = X @ rng.randn(5) * 10
    est = MLPRegressor(hidden_layer_sizes=(32,), solver="sgd", learning_rate_init=0.1, max_iter=30, random_state=0,
                       early_stopping=True, n_iter_no_change=100)
    with pytest.raises(NonFiniteLossError):
        est.fit(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(est.model_.get_weights(), est._best_weights))
    assert np.isfinite(est.predict(X)).all()


def test_a_float32_classifier_on_float64_data_gives_rows_that_sum_to_one_in_float64():
    """review 11: the float32 softmax, upcast, summed to 1 only to 3e-8, and scikit-learn's log_loss (every
    neg_log_loss scoring) warned that the probabilities do not sum to one."""
    from sklearn.metrics import log_loss

    X, y = make_blobs(n_samples=150, centers=3, n_features=4, random_state=0)
    est = MLPClassifier(hidden_layer_sizes=(16,), dtype="float32", max_iter=20, random_state=0).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.dtype == np.float64
    assert np.abs(proba.sum(axis=1) - 1).max() <= 4 * np.finfo(np.float64).eps
    np.testing.assert_allclose(proba, est.model_.predict(X.astype(np.float32)), rtol=1e-6)
    assert (est.predict(X) == est.classes_[proba.argmax(axis=1)]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_loss(y, proba)
