"""What the plot, schedule, augment-preview, gallery and evaluate commands write and read: images and pages
replaced atomically, the gallery's --out checked up front, regression models evaluated, JSON that is JSON, and
error lines that name the commands' own arguments."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from fastnn import gallery
from fastnn.cli import main
from fastnn.layers import Dense

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OLD = b"the previous, good file"


@contextlib.contextmanager
def file_size_limit(nbytes):
    """Writes that would make a file larger than ``nbytes`` fail with EFBIG, as on a full disk (Python ignores
    SIGXFSZ, so the write raises instead of killing the process)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def fake_experiment():
    """A gallery experiment that runs in no time (what run_example writes is under test, not the experiment)."""
    def plot(results):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(np.random.default_rng(0).standard_normal(500))
        return fig

    verdict = gallery.Verdict({"the claim": True}, "numbers")
    return types.SimpleNamespace(TITLE="t", CLAIM="c", SETUP="s", run=lambda quick, seeds: {},
                                 verdict=lambda results: verdict, numbers=lambda results: {"x": "1"}, plot=plot)


@pytest.fixture
def history_csv(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.5,0.7\n2,0.3,0.6\n")
    return path


@pytest.mark.parametrize("command", ["plot", "schedule", "augment-preview", "gallery"])
def test_a_failed_write_keeps_the_old_file_and_names_it(command, tmp_path, history_csv, monkeypatch, capsys):
    target = tmp_path / ("clipping.png" if command == "gallery" else "out.png")
    argv = {"plot": ["plot", str(history_csv), "-o", str(target)],
            "schedule": ["schedule", "cosine", "--plot", str(target)],
            "augment-preview": ["augment-preview", "--data", "embedded", "-o", str(target)],
            "gallery": ["gallery", "clipping", "--quick", "--out", str(tmp_path)]}[command]
    monkeypatch.setattr(gallery, "get", lambda name: fake_experiment())
    target.write_bytes(OLD)
    before = sorted(os.listdir(tmp_path))
    with file_size_limit(1024):  # every one of these images is larger
        status = main(argv)
    assert target.read_bytes() == OLD
    assert sorted(os.listdir(tmp_path)) == before  # no temporary left behind
    err = capsys.readouterr().err
    assert status == 1 and "File too large" in err and str(target) in err, err
    assert main(argv) == 0 and target.read_bytes()[:4] == b"\x89PNG"  # without the limit: the new image


def test_gallery_out_is_checked_before_any_experiment_runs(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(gallery, "run_example", lambda name, **kw: ran.append(name))
    (tmp_path / "afile").write_text("x")
    afile = tmp_path / "afile"
    for out, problem in ((afile, f"{afile}: it exists and is not a directory"),
                         (afile / "sub", f"{afile / 'sub'}: {afile} is not a directory")):
        assert main(["gallery", "clipping", "--quick", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "argument --out: cannot write into" in err and problem in err, err
    assert ran == []


def test_gallery_creates_its_directory_before_the_first_experiment(tmp_path, monkeypatch, capsys):
    out = tmp_path / "new" / "dir"
    seen = []

    def run_example(name, quick, out):
        seen.append(Path(out).is_dir())
        return {}, gallery.Verdict({"the claim": True}, "numbers")
    monkeypatch.setattr(gallery, "run_example", run_example)
    assert main(["gallery", "clipping", "--quick", "--out", str(out)]) == 0
    assert seen == [True]


@pytest.fixture
def regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = np.column_stack([X @ [1.0, 2, 3, 4], X[:, 0] - X[:, 1]])
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(2)], input_dim=4, loss="mse", seed=0)
    model.fit(X, Y, epochs=2, verbose=0)
    fnn.save(model, tmp_path / "reg.safetensors")
    np.savez(tmp_path / "reg.npz", X=X, y=Y)
    return tmp_path, model, X, Y


def test_evaluate_a_regression_model(regression, capsys):
    d, model, X, Y = regression
    assert main(["evaluate", str(d / "reg.safetensors"), str(d / "reg.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = model.evaluate(X, Y, metrics=["mae", "r2"])
    assert result.pop("samples") == 200 and result == pytest.approx(expected, rel=1e-6)
    assert main(["evaluate", str(d / "reg.safetensors"), str(d / "reg.npz"), "--metrics", "mse,r2"]) == 0
    assert "mse: " in capsys.readouterr().out


def test_evaluate_a_binary_cross_entropy_model(tmp_path, capsys):
    """A one-output binary_cross_entropy model is a classifier (its loss names 2 classes): it was taken for a
    regression model (defaults mae, r2, refused for its loss; labels read as real targets), exit 2."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(1)], input_dim=4, loss="binary_cross_entropy",
                           seed=0)
    model.fit(X, y, epochs=2, verbose=0)
    fnn.save(model, tmp_path / "bce.safetensors")
    np.savez(tmp_path / "bce.npz", X=X, y=y)
    assert main(["evaluate", str(tmp_path / "bce.safetensors"), str(tmp_path / "bce.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result.pop("samples") == 120 and result == pytest.approx(model.evaluate(X, y), rel=1e-6)
    assert "accuracy" in result


def test_evaluate_checks_metrics_against_the_models_own_loss(regression, capsys):
    d, *_ = regression
    assert main(["evaluate", str(d / "reg.safetensors"), str(d / "reg.npz"), "--metrics", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert "--metrics: metric 'accuracy' needs a classification loss" in err and "the loss is 'mse'" in err, err
    assert main(["evaluate", str(d / "reg.safetensors"), str(d / "reg.npz"), "--test-fraction", "0.2"]) == 2
    assert "--test-fraction: a regression model is evaluated on every row" in capsys.readouterr().err


def test_evaluate_names_a_regression_target_that_is_not_finite(regression, capsys):
    d, _, X, Y = regression
    Y[7, 1] = np.nan
    np.savez(d / "nan.npz", X=X, y=Y)
    assert main(["evaluate", str(d / "reg.safetensors"), str(d / "nan.npz")]) == 1
    assert f"DATA {d / 'nan.npz'}: y[7]: the target is not finite" in capsys.readouterr().err


@pytest.fixture
def classifier(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    model = fnn.Sequential([Dense(3)], input_dim=4, seed=0)
    model.fit(X, np.arange(60) % 3, epochs=1, verbose=0)
    fnn.save(model, tmp_path / "m.safetensors")
    return tmp_path, X


def test_evaluate_json_writes_a_loss_that_overflowed_as_null(tmp_path, capsys):
    model = fnn.Sequential([Dense(3)], input_dim=4, seed=0)
    model.fit(np.eye(4), np.arange(4) % 3, epochs=1, verbose=0)
    model.params[:] = 1.0  # every logit the sum of the inputs
    fnn.save(model, tmp_path / "m.safetensors")
    np.savez(tmp_path / "huge.npz", X=np.full((4, 4), 3e38), y=np.array([0, 1, 0, 1]))  # finite in float32
    assert main(["evaluate", str(tmp_path / "m.safetensors"), str(tmp_path / "huge.npz"), "--json"]) == 0

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    result = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert result["loss"] is None and result["samples"] == 4


def test_plot_confusion_takes_the_data_evaluate_takes(classifier, capsys):
    d, X = classifier
    np.savez(d / "one.npz", X=X[:20], y=np.zeros(20, int))  # a single class: data to evaluate, not to train on
    assert main(["evaluate", str(d / "m.safetensors"), str(d / "one.npz")]) == 0
    assert main(["plot", "--confusion", str(d / "m.safetensors"), str(d / "one.npz"), "-o", str(d / "cm.png")]) == 0
    assert (d / "cm.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["evaluate", "plot"])
def test_data_errors_name_the_commands_own_arguments(command, classifier, capsys):
    d, _ = classifier
    row = ",".join(["1e300", "0", "0", "0", "1"])
    (d / "big.csv").write_text(row + "\n" + row.replace("1e300", "0") + "\n")

    def argv(data):
        if command == "evaluate":
            return ["evaluate", str(d / "m.safetensors"), str(d / data)]
        return ["plot", "--confusion", str(d / "m.safetensors"), str(d / data), "-o", str(d / "cm.png")]
    assert main(argv("missing.npz")) == 1
    assert f"error: DATA {d / 'missing.npz'}: no such file" in capsys.readouterr().err
    assert main(argv("big.csv")) == 1
    err = capsys.readouterr().err
    assert f"DATA {d / 'big.csv'} line 1, column 1: 1e+300 overflows float32; remove" in err, err
    assert "--data" not in err and "--dtype" not in err


def test_python_m_fastnn_in_an_unbuilt_tree_prints_the_diagnosis_not_a_traceback(tmp_path):
    source = Path(fnn.__file__).parent
    shutil.copytree(source, tmp_path / "fastnn", ignore=shutil.ignore_patterns(
        "*.so", "*.pyd", "*.c", "__pycache__", "data"))  # the Python sources of a checkout, nothing built
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "fastnn", "--version"], capture_output=True, text=True,
                            cwd=tmp_path, env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("fastnn: error: fastnn's compiled extensions are not built")
    assert "Traceback" not in result.stderr and "pip install ." in result.stderr
    result = subprocess.run([sys.executable, "-c", "import fastnn"], capture_output=True, text=True,
                            cwd=tmp_path, env=env)  # an import, not the command: the ImportError as before
    assert "ImportError" in result.stderr and "are not built" in result.stderr


def test_augment_preview_writes_only_a_png_never_over_its_data(tmp_path, capsys):
    """augment-preview --data imgs.npy -o imgs.npy replaced the images with a PNG and printed "wrote imgs.npy" (the
    data gone), and -o g.jpg wrote PNG bytes under a .jpg name: -o must name a .png, a usage error before any work."""
    images = tmp_path / "imgs.npy"
    np.save(images, np.random.default_rng(0).random((3, 6, 6)).astype(np.float32))
    before = images.read_bytes()
    for out in (images, tmp_path / "g.jpg"):
        assert main(["augment-preview", "--data", str(images), "-o", str(out)]) == 2
        assert "must name a .png file" in capsys.readouterr().err
    assert images.read_bytes() == before and not (tmp_path / "g.jpg").exists()


def test_plot_names_the_line_of_a_bad_history_and_refuses_a_fifo(tmp_path, capsys):
    """A history row of more fields than the header failed with "float() argument must be a string or a real
    number, not 'list'" (no file, no line), and a FIFO as HISTORY.csv blocked the command forever."""
    bad = tmp_path / "h.csv"
    bad.write_text("epoch,loss\n0,1.0\n1,0.5,7\n")
    assert main(["plot", str(bad), "-o", str(tmp_path / "h.png")]) == 1
    err = capsys.readouterr().err
    assert "h.csv' line 3: 3 fields, but the header names 2" in err, err
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    assert main(["plot", str(fifo), "-o", str(tmp_path / "h.png")]) == 1  # the old code never returned
    assert "FIFO" in capsys.readouterr().err
    assert not (tmp_path / "h.png").exists()
