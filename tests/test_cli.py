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
    result = subprocess.run([sys.executable, "-m", "fastnn.cli", "--help"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0 and "train" in result.stdout
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
    assert main(["train", "--data", "nope.parquet", "-q"]) == 1
    assert "unknown dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--batch-size", "0"])


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
    assert main(base + ["--rotation", "5"]) == 1
    assert "--image-shape" in capsys.readouterr().err
    assert main(base + ["--rotation", "5", "--image-shape", "5,5"]) == 1
    assert "do not match image_shape (5, 5)" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(base + ["--rotation", "5", "--image-shape", "3,4"]) == 0
    assert main(base + ["--noise", "0.1"]) == 0  # noise alone needs no image shape


def test_every_command_is_registered_and_listed(capsys):
    """Commands are imported directly (a broken one fails at import instead of vanishing from the help)."""
    from fastnn import cli

    assert list(cli.COMMANDS) == ["train", "config", "schedule", "augment-preview", "predict", "export", "inspect"]
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in cli.COMMANDS)
    assert main(["config"]) == 0 and "OpenMP" in capsys.readouterr().out
