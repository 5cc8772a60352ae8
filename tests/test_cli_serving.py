"""The serving commands: fastnn predict / export / inspect on model, plan and ONNX files."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.cli import main


@pytest.fixture
def files(tmp_path, rng):
    model = fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.BatchNorm(), fnn.layers.Dense(3)],
                           input_dim=4, preprocess=[fnn.preprocessing.StandardScaler()])
    X = rng.standard_normal((300, 4)).astype(np.float32)
    model.fit(X, np.arange(300) % 3, epochs=1, verbose=0)
    fnn.save(model, tmp_path / "m.safetensors")
    model.compile_inference().save(tmp_path / "m.plan")
    np.save(tmp_path / "X.npy", X)
    np.savetxt(tmp_path / "X.csv", X[:7], delimiter=",", header="a,b,c,d", comments="")
    return tmp_path, model, X


def test_predict_from_model_and_plan_files(files, capsys):
    d, model, X = files
    assert main(["predict", str(d / "m.safetensors"), str(d / "X.npy"), "-o", str(d / "p.npy"),
                 "--batch-size", "64", "--progress-rows", "100"]) == 0
    np.testing.assert_allclose(np.load(d / "p.npy"), model.predict(X), rtol=1e-6, atol=1e-6)
    assert "300/300 rows" in capsys.readouterr().err
    assert main(["predict", str(d / "m.plan"), str(d / "X.csv"), "-o", str(d / "l.csv"), "--output", "labels",
                 "--skip-header"]) == 0
    np.testing.assert_array_equal(np.loadtxt(d / "l.csv", dtype=int), model.predict(X[:7]).argmax(1))


def test_export_then_predict_and_inspect_onnx(files, capsys):
    pytest.importorskip("onnx")
    d, model, X = files
    assert main(["export", str(d / "m.safetensors"), str(d / "m.onnx")]) == 0
    assert main(["predict", str(d / "m.onnx"), str(d / "X.npy"), "-o", str(d / "q.npy")]) == 0
    np.testing.assert_allclose(np.load(d / "q.npy"), model.predict(X), rtol=1e-5, atol=1e-6)
    assert main(["inspect", str(d / "m.onnx")]) == 0
    assert "ONNX graph" in capsys.readouterr().out


def test_inspect_model_and_plan(files, capsys):
    d, _, _ = files
    assert main(["inspect", str(d / "m.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "fastnn model file" in out and "StandardScaler" in out and "Trainable params: 83" in out
    assert main(["inspect", str(d / "m.plan")]) == 0
    out = capsys.readouterr().out
    assert "fastnn plan file" in out and "dense + relu  4 -> 8" in out and "cross_entropy" in out


def test_errors_are_one_line(files, capsys):
    d, _, _ = files
    assert main(["predict", str(d / "m.safetensors"), str(d / "X.npy"), "-o", str(d / "p.txt")]) == 1
    assert main(["predict", str(d / "X.npy"), str(d / "X.npy"), "-o", str(d / "p.npy")]) == 1
    np.save(d / "bad.npy", np.ones((3, 5), np.float32))
    assert main(["predict", str(d / "m.plan"), str(d / "bad.npy"), "-o", str(d / "p.npy")]) == 1
    err = capsys.readouterr().err
    assert ".npy or .csv" in err and "4 features" in err
