"""The command line: `fastnn train` with no arguments, its flags, data files and errors."""
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn.cli import main


def accuracy(text):
    return float(re.search(r"test accuracy: ([0-9.]+)", text).group(1))


def test_train_with_no_arguments_reaches_96_percent(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 0
    out = capsys.readouterr()
    assert accuracy(out.out) >= 0.96
    assert "samples/s" in out.err  # the progress bar
    model = fnn.load(tmp_path / "fastnn_model.safetensors")
    X_train, y_train, X_test, y_test = fnn.datasets.load_embedded()
    assert model.evaluate(X_test, y_test)["accuracy"] == pytest.approx(accuracy(out.out), abs=1e-4)


def test_console_script_help(tmp_path):
    # run outside the source tree, so the installed package is the one imported
    for module in ("fastnn.cli", "fastnn"):  # python -m fastnn is the command too
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                                cwd=tmp_path)
        assert result.returncode == 0 and "train" in result.stdout, module
    result = subprocess.run([sys.executable, "-m", "fastnn.cli", "train", "--help"], capture_output=True, text=True,
                            cwd=tmp_path)
    for flag in ("--data", "--hidden", "--epochs", "--batch-size", "--lr", "--momentum", "--seed", "--threads",
                 "--output"):
        assert flag in result.stdout


def test_train_on_npz_and_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 5)) * 4
    y = rng.integers(0, 3, 300)
    X = centers[y] + rng.standard_normal((300, 5))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--hidden", "16", "--epochs", "5", "-q",
                 "--output", str(out), "--threads", "1"]) == 0
    assert accuracy(capsys.readouterr().out) > 0.9 and out.exists()
    table = np.column_stack([X, y])
    np.savetxt(tmp_path / "d.csv", table, delimiter=",", header="a,b,c,d,e,label", comments="")
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--hidden", "16", "--epochs", "5", "-q",
                 "--output", str(out)]) == 0
    assert accuracy(capsys.readouterr().out) > 0.9


def test_train_reports_bad_data_clearly(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", A=np.zeros(3))
    assert main(["train", "--data", str(tmp_path / "bad.npz"), "-q"]) == 1
    assert "expected arrays X_train, y_train" in capsys.readouterr().err
    # usage errors (status 2), found while parsing: main returns the status instead of raising SystemExit
    assert main(["train", "--data", "nope.parquet", "-q"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["train", "--batch-size", "0"]) == 2


def test_train_with_augmentation_flags(tmp_path, capsys):
    plain, augmented = tmp_path / "plain.safetensors", tmp_path / "aug.safetensors"
    assert main(["train", "--epochs", "3", "-q", "-o", str(plain)]) == 0
    assert "augmentation:" not in capsys.readouterr().out  # off unless asked for
    assert main(["train", "--epochs", "3", "-q", "-o", str(augmented), "--rotation", "10", "--shift", "1",
                 "--noise", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "RandomRotation(degrees=[-10.0, 10.0])" in out and "image_shape=(8, 8)" in out and "GaussianNoise" in out
    # Still learns (chance is 0.1): over seeds 0-4 three augmented epochs reach 0.83-0.95 on the 8x8 digits,
    # where a one-pixel shift moves an eighth of the image; the bound leaves room for the seed-to-seed spread.
    assert accuracy(out) > 0.75
    assert not np.array_equal(fnn.load(plain).params, fnn.load(augmented).params)  # fit saw other images


def test_train_augmentation_needs_the_image_shape_of_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.random((60, 12)), y=rng.integers(0, 2, 60))
    base = ["train", "--data", str(tmp_path / "d.npz"), "--epochs", "1", "-q", "-o", str(tmp_path / "m")]
    assert main(base + ["--rotation", "5"]) == 2  # a usage error, found before the data are read
    assert "--image-shape" in capsys.readouterr().err
    assert main(base + ["--rotation", "5", "--image-shape", "5,5"]) == 1
    assert "augment.image_shape (--image-shape): images of shape (1, 12) do not match image_shape (5, 5)" in (
        capsys.readouterr().err)
    # the shape of a config file: the error named only --image-shape, a flag the command line did not hold
    (tmp_path / "c.toml").write_text("[augment]\nimage_shape = [5, 5]\n"
                                     "transforms = [{class = 'RandomRotation', degrees = 5}]\n")
    assert main(base + ["--config", str(tmp_path / "c.toml")]) == 1
    assert "error: augment.image_shape (--image-shape): images of shape (1, 12)" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(base + ["--rotation", "5", "--image-shape", "3,4"]) == 0
    assert main(base + ["--noise", "0.1"]) == 0  # noise alone needs no image shape


def test_every_command_is_registered_and_listed(capsys):
    """Commands are imported directly (a broken one fails at import instead of vanishing from the help)."""
    from fastnn import cli

    assert list(cli.COMMANDS) == ["train", "config", "schedule", "augment-preview", "evaluate", "predict", "export",
                                  "inspect", "plot", "tune", "gallery"]
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in cli.COMMANDS)
    assert main(["config"]) == 0 and "OpenMP" in capsys.readouterr().out


def test_version(capsys):
    from fastnn._version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastnn {__version__}"


def test_test_fraction_zero_trains_on_every_row(tmp_path, capsys):
    """--test-fraction 0 (the help says [0, 1)) trains on all rows and skips the test evaluation."""
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 4)), np.arange(30) % 2
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",")
    out = tmp_path / "m.safetensors"
    for data in (str(tmp_path / "d.csv"), "embedded"):
        assert main(["train", "--data", data, "--test-fraction", "0", "--epochs", "1", "-q", "-o", str(out)]) == 0
        text = capsys.readouterr().out
        assert "test accuracy: not measured" in text and out.exists()
        out.unlink()
    assert "train (30, 4)" in text.replace("train (1797, 64)", "train (30, 4)")


def test_data_rows_are_checked_before_the_split(tmp_path, capsys):
    """The error names the row as the file counts it (line 7 of the .csv: header + 5 rows before it), whatever
    the seed: it is found before the rows are shuffled into the split."""
    rows = [f"{i},{i % 2}" for i in range(20)]
    rows[5] = "nan,1"
    (tmp_path / "d.csv").write_text("x,label\n" + "\n".join(rows) + "\n")
    for seed in ("0", "1", "2"):
        assert main(["train", "--data", str(tmp_path / "d.csv"), "--seed", seed, "-q",
                     "-o", str(tmp_path / "m")]) == 1
        assert "d.csv line 7, column 1: nan is not finite" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_an_unexpected_exception_is_one_line(monkeypatch, capsys):
    from fastnn.cli import config

    def broken(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(config, "run", broken)
    monkeypatch.delenv("FASTNN_TRACEBACK", raising=False)
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "RuntimeError: something broke" in err
    monkeypatch.setenv("FASTNN_TRACEBACK", "1")
    with pytest.raises(RuntimeError):
        main(["config"])


def test_augment_preview_reads_npz_with_the_hardened_reader(tmp_path, capsys):
    images = np.random.default_rng(0).random((5, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "imgs.npz", images=images)
    out = tmp_path / "g.png"
    assert main(["augment-preview", "--data", str(tmp_path / "imgs.npz"), "-n", "2", "-o", str(out)]) == 0
    assert out.exists() and "2 " in capsys.readouterr().out
