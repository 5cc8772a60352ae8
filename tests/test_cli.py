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
