"""fastnn.plot on the Agg backend: the axes hold the History's numbers, not just a picture."""
import csv
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from conftest import child_env  # noqa: E402

import fastnn as fnn  # noqa: E402
from fastnn.layers import Dense  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _trained(clip=True):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(3)], input_dim=4, dtype="float64")
    h = model.fit(X, y, epochs=3, batch_size=32, verbose=0, validation_split=0.25, metrics=["accuracy", "f1"],
                  optimizer=fnn.optim.SGD(lr=0.5), clip=fnn.clip.ByGlobalNorm(0.5) if clip else None)
    return model, X, y, h


def _axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}


def test_history_plots_every_curve_with_its_values():
    _, _, _, h = _trained()
    axes = _axes_by_title(fnn.plot.history(h))
    assert set(axes) == {"loss", "accuracy", "f1", "lr per step", "gradient norm per step", "clip rate"}
    for name in ("loss", "accuracy", "f1"):
        lines = {line.get_label(): line for line in axes[name].get_lines()}
        assert list(lines["train"].get_xdata()) == [1, 2, 3]
        np.testing.assert_array_equal(lines["train"].get_ydata(), h[name])
        np.testing.assert_array_equal(lines["validation"].get_ydata(), h["val_" + name])
    (lr,) = axes["lr per step"].get_lines()
    np.testing.assert_array_equal(lr.get_ydata(), h.steps["lr"])
    assert len(h.steps["lr"]) == 3 * 3
    (norm,) = axes["gradient norm per step"].get_lines()
    np.testing.assert_array_equal(norm.get_ydata(), h.steps["grad_norm"])
    (rate,) = axes["clip rate"].get_lines()
    clipped = np.array(h.steps["clipped"], float).reshape(3, 3)
    np.testing.assert_allclose(rate.get_ydata(), clipped.mean(axis=1))


def test_history_without_clipping_has_no_gradient_panels():
    _, _, _, h = _trained(clip=False)
    assert "gradient norm per step" not in _axes_by_title(fnn.plot.history(h))


def test_history_from_csv_reads_a_csv_logger_file(tmp_path):
    _, _, _, h = _trained()
    path = tmp_path / "history.csv"
    keys = list(h.history)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch"] + keys)
        for epoch in range(3):
            writer.writerow([epoch] + [h[k][epoch] for k in keys])
    axes = _axes_by_title(fnn.plot.history_from_csv(path))
    assert {"loss", "accuracy", "f1", "lr"} <= set(axes)
    train, val = axes["loss"].get_lines()
    assert list(train.get_xdata()) == [1, 2, 3]
    np.testing.assert_allclose(train.get_ydata(), h["loss"], rtol=1e-15)
    np.testing.assert_allclose(val.get_ydata(), h["val_loss"], rtol=1e-15)
    (lr,) = axes["lr"].get_lines()
    np.testing.assert_allclose(lr.get_ydata(), h["lr"])
    (tmp_path / "empty.csv").write_text("epoch,loss\n")
    with pytest.raises(ValueError, match="holds no epochs"):
        fnn.plot.history_from_csv(tmp_path / "empty.csv")


def test_confusion_matrix_shows_sklearn_counts_and_class_names():
    skm = pytest.importorskip("sklearn.metrics")
    model, X, y, _ = _trained()
    fig = fnn.plot.confusion_matrix(model, X, y)
    ax = fig.axes[0]
    expected = skm.confusion_matrix(y, model.predict_classes(X), labels=[0, 1, 2])
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in expected.ravel()]
    names = np.array(["lo", "mid", "hi"])
    model.classes_ = names  # labels through classes_: the ticks are named by them
    ax = fnn.plot.confusion_matrix(model, X, names[y], normalize=True).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lo", "mid", "hi"]
    np.testing.assert_allclose(ax.images[0].get_array(), expected / expected.sum(axis=1, keepdims=True))


def test_matplotlib_is_imported_only_by_the_plot_functions(tmp_path):
    import subprocess

    code = "import fastnn, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=child_env(), cwd=tmp_path)


@pytest.mark.parametrize("classes", [100, 1000])
def test_confusion_matrix_of_many_classes_stays_a_bounded_figure(classes):
    model = fnn.Sequential([Dense(classes)], input_dim=3, seed=0)
    model.build(3)
    X = np.random.default_rng(0).standard_normal((50, 3))
    fig = fnn.plot.confusion_matrix(model, X, np.arange(50) % classes)
    ax = fig.axes[0]
    assert max(fig.get_size_inches()) <= fnn.plot.MAX_FIGURE_INCHES
    assert len(ax.texts) == 0  # no per-cell numbers above ANNOTATED_CLASSES
    assert len(ax.get_xticks()) <= fnn.plot.LABELLED_TICKS and len(ax.get_yticks()) <= fnn.plot.LABELLED_TICKS
    assert ax.get_images()[0].get_array().shape == (classes, classes)


def test_confusion_matrix_refuses_more_classes_than_a_figure_shows():
    model = fnn.Sequential([Dense(fnn.plot.MAX_CLASSES_SHOWN + 1)], input_dim=3, seed=0)
    model.build(3)
    with pytest.raises(ValueError, match=r"has 2001 classes; a confusion matrix figure shows at most 2000"):
        fnn.plot.confusion_matrix(model, np.zeros((2, 3)), [0, 1])
