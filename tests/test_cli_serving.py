"""The serving commands: fastnn predict / export / inspect on model, plan and ONNX files."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import child_env

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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_csv_predictions_read_back_to_the_same_floats(tmp_path, rng, dtype):
    """The CSV holds as many digits as its dtype needs to round-trip (%.9g cut float64 to 4e-9)."""
    model = fnn.Sequential([fnn.layers.Dense(3)], input_dim=4, dtype=dtype, loss="mse", seed=1)
    X = rng.standard_normal((20, 4)).astype(dtype)
    fnn.save(model, tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", X)
    for out in ("p.csv", "p.npy"):
        assert main(["predict", str(tmp_path / "m.safetensors"), str(tmp_path / "X.npy"), "-o",
                     str(tmp_path / out)]) == 0
    got = np.loadtxt(tmp_path / "p.csv", delimiter=",", dtype=dtype, ndmin=2)
    np.testing.assert_array_equal(got, np.load(tmp_path / "p.npy"))


def test_export_then_predict_and_inspect_onnx(files, capsys):
    pytest.importorskip("onnx")
    d, model, X = files
    assert main(["export", str(d / "m.safetensors"), str(d / "m.onnx")]) == 0
    assert main(["predict", str(d / "m.onnx"), str(d / "X.npy"), "-o", str(d / "q.npy")]) == 0
    np.testing.assert_allclose(np.load(d / "q.npy"), model.predict(X), rtol=1e-5, atol=1e-6)
    assert main(["inspect", str(d / "m.onnx")]) == 0
    assert "ONNX graph" in capsys.readouterr().out


def test_labels_of_an_onnx_graph_without_an_output_map_are_its_argmax(files):
    pytest.importorskip("onnx")
    import fastnn.onnx

    d, model, X = files
    fastnn.onnx.export(model, d / "logits.onnx", output_map=False)
    assert main(["predict", str(d / "logits.onnx"), str(d / "X.npy"), "-o", str(d / "l.npy"), "--output",
                 "labels"]) == 0
    np.testing.assert_array_equal(np.load(d / "l.npy"), model.predict_classes(X)[:, None])


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
    assert main(["predict", str(d / "m.safetensors"), str(d / "X.npy"), "-o", str(d / "p.txt")]) == 2  # usage
    assert main(["predict", str(d / "X.npy"), str(d / "X.npy"), "-o", str(d / "p.npy")]) == 1
    np.save(d / "bad.npy", np.ones((3, 5), np.float32))
    assert main(["predict", str(d / "m.plan"), str(d / "bad.npy"), "-o", str(d / "p.npy")]) == 1
    err = capsys.readouterr().err
    assert ".npy or .csv" in err and "4 features" in err


def test_predict_refuses_to_write_over_its_input(files, capsys):
    """-o naming DATA (or a link to it) truncated the memory-mapped input while it was read: a bus error, or
    predictions of zeros, and the user's data gone. Run in a child: the old code killed the interpreter."""
    d, _, X = files
    before = (d / "X.npy").read_bytes()
    os.link(d / "X.npy", d / "hard.npy")
    (d / "link.npy").symlink_to(d / "X.npy")
    for out, status, message in (("X.npy", 1, "is the input DATA file"), ("hard.npy", 1, "is the input DATA file"),
                                 ("link.npy", 2, "symbolic link")):
        child = subprocess.run([sys.executable, "-m", "fastnn.cli", "predict", str(d / "m.plan"), str(d / "X.npy"),
                                "-o", str(d / out)], cwd=d, env=child_env(), capture_output=True, text=True,
                               timeout=120)
        assert child.returncode == status and message in child.stderr, (out, child.returncode, child.stderr)
    assert (d / "X.npy").read_bytes() == before


def test_predict_checks_every_row_first_and_names_it(files, capsys):
    """A NaN in a later block was reported at its row within the block (250 -> 'row 50' with 100-row blocks),
    and the rows before it were already written: a half-written -o file was left behind."""
    d, _, X = files
    X = X.copy()
    X[250, 2] = np.nan
    np.save(d / "nan.npy", X)
    np.save(d / "old.npy", np.arange(3))
    assert main(["predict", str(d / "m.plan"), str(d / "nan.npy"), "-o", str(d / "old.npy"), "--batch-size",
                 "100"]) == 1
    assert "row 250, column 2" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(d / "old.npy"), np.arange(3))  # the old file, whole
    assert main(["predict", str(d / "m.plan"), str(d / "nan.npy"), "-o", str(d / "new.csv")]) == 1
    assert not (d / "new.csv").exists()


def test_predict_writes_blocks_exactly(files):
    d, model, X = files
    for out, kind in (("p.npy", "predict"), ("l.npy", "labels"), ("p.csv", "logits")):
        assert main(["predict", str(d / "m.safetensors"), str(d / "X.npy"), "-o", str(d / out), "--batch-size", "7",
                     "--output", kind]) == 0
    np.testing.assert_allclose(np.load(d / "p.npy"), model.predict(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.load(d / "l.npy"), model.predict(X).argmax(1).reshape(-1, 1))
    assert np.load(d / "l.npy").dtype == np.int64
    logits = np.loadtxt(d / "p.csv", delimiter=",", ndmin=2)
    np.testing.assert_allclose(logits, model.compile_inference().predict_logits(X), rtol=1e-6, atol=1e-6)
    np.save(d / "empty.npy", np.zeros((0, 4), np.float32))
    assert main(["predict", str(d / "m.plan"), str(d / "empty.npy"), "-o", str(d / "e.npy")]) == 0
    assert np.load(d / "e.npy").shape == (0, 3)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_predict_refuses_fifos_and_bad_csvs_clearly(files, capsys):
    """A FIFO as DATA blocked np.load / np.loadtxt forever; a header line without --skip-header gave numpy's
    'could not convert string'; an empty .csv a warning and '(0, 1)'; a directory as -o a raw IsADirectoryError."""
    d, _, _ = files
    os.mkfifo(d / "rows.npy")
    os.mkfifo(d / "rows.csv")
    for name in ("rows.npy", "rows.csv"):
        child = subprocess.run([sys.executable, "-m", "fastnn.cli", "predict", str(d / "m.plan"), str(d / name),
                                "-o", str(d / "p.npy")], cwd=d, env=child_env(), capture_output=True, text=True,
                               timeout=30)
        assert child.returncode == 1 and "FIFO" in child.stderr, child.stderr
    assert main(["predict", str(d / "m.plan"), str(d / "X.csv"), "-o", str(d / "p.csv")]) == 1
    assert "--skip-header" in capsys.readouterr().err
    # pandas' DataFrame.to_csv writes unnamed columns' numbers as line 1: it was predicted as a row of its own
    (d / "pandas.csv").write_text("0,1,2,3\n" + (d / "X.csv").read_text().split("\n", 1)[1])
    assert main(["predict", str(d / "m.plan"), str(d / "pandas.csv"), "-o", str(d / "p.csv")]) == 1
    assert "line 1 reads 0,1,2,...: the column numbers pandas writes" in capsys.readouterr().err
    assert not (d / "p.csv").exists()
    assert main(["predict", str(d / "m.plan"), str(d / "pandas.csv"), "-o", str(d / "p.csv"), "--skip-header"]) == 0
    assert len(np.loadtxt(d / "p.csv", delimiter=",", ndmin=2)) == 7
    # a header naming a column nan or inf, or a data row with a typo? (review 12: taken for a header)
    (d / "nan_names.csv").write_text("nan,inf,c,d\n" + (d / "X.csv").read_text().split("\n", 1)[1])
    assert main(["predict", str(d / "m.plan"), str(d / "nan_names.csv"), "-o", str(d / "p.csv")]) == 1
    assert f"DATA {d / 'nan_names.csv'} line 1 reads nan,inf,c,...: a header naming a column nan" in (
        capsys.readouterr().err)
    (d / "empty.csv").write_text("")
    assert main(["predict", str(d / "m.plan"), str(d / "empty.csv"), "-o", str(d / "p.csv")]) == 1
    assert "no data rows" in capsys.readouterr().err
    (d / "dir.npy").mkdir()
    assert main(["predict", str(d / "m.plan"), str(d / "X.npy"), "-o", str(d / "dir.npy")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_predict_names_a_npy_that_is_not_an_array(files, capsys):
    """A zip named .npy (an .npz renamed) made np.load return an NpzFile: 'internal error (a bug...)':
    AttributeError: 'NpzFile' object has no attribute 'ndim'; a truncated .npy gave numpy's bare 'EOF: reading
    array header' without the file's name. Both now take the check of train --data and augment-preview."""
    d, _, X = files
    np.savez(d / "rows.npz", X=X)
    os.replace(d / "rows.npz", d / "zip.npy")
    (d / "cut.npy").write_bytes((d / "X.npy").read_bytes()[:90])
    for name, problem in (("zip.npy", "not a .npy array"), ("cut.npy", "not a readable .npy array")):
        assert main(["predict", str(d / "m.plan"), str(d / name), "-o", str(d / "p.npy")]) == 1
        err = capsys.readouterr().err
        assert f"DATA {d / name}: {problem}" in err and "internal error" not in err, err
    assert not (d / "p.npy").exists()


def test_csv_files_with_a_byte_order_mark_read(files, capsys):
    """Spreadsheets save UTF-8 .csv files with a byte order mark first: '\\ufeff1' was not a number."""
    d, model, X = files
    rows = np.c_[X[:40], np.arange(40) % 3]
    (d / "bom.csv").write_text("\n".join(",".join(map(repr, r.tolist())) for r in rows), encoding="utf-8-sig")
    assert main(["train", "-q", "--data", str(d / "bom.csv"), "--epochs", "1", "--hidden", "4", "-o",
                 str(d / "t.safetensors")]) == 0
    assert main(["predict", str(d / "m.plan"), str(d / "bom.csv"), "-o", str(d / "p.npy")]) == 1  # 5 columns
    (d / "bom4.csv").write_text("\n".join(",".join(map(repr, r.tolist())) for r in X[:5]), encoding="utf-8-sig")
    assert main(["predict", str(d / "m.plan"), str(d / "bom4.csv"), "-o", str(d / "p.npy")]) == 0
    np.testing.assert_allclose(np.load(d / "p.npy"), model.predict(X[:5]), rtol=1e-6, atol=1e-6)


def test_predict_labels_are_the_models_predict_labels(tmp_path, rng, capsys):
    X = rng.standard_normal((80, 4))
    np.save(tmp_path / "X.npy", X)
    names = np.array(["cat", "dog, grey", "eel"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    layers = [fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(3)]
    named = fnn.Sequential(layers, input_dim=4, seed=0)
    named.fit(X, names, epochs=20, verbose=0)  # classes_: the strings
    binary = fnn.Sequential([fnn.layers.Dense(8, activation="relu"), fnn.layers.Dense(1)], input_dim=4, seed=0,
                            loss="binary_cross_entropy")
    binary.fit(X, (X[:, 0] > 0).astype(float), epochs=20, verbose=0)
    regression = fnn.Sequential([fnn.layers.Dense(2)], input_dim=4, seed=0, loss="mse")
    regression.fit(X, X[:, :2], epochs=1, verbose=0)
    for name, model in (("named", named), ("binary", binary), ("regression", regression)):
        fnn.save(model, tmp_path / f"{name}.safetensors")

    def labels(model, out):
        return main(["predict", str(tmp_path / f"{model}.safetensors"), str(tmp_path / "X.npy"), "--output", "labels",
                     "-o", str(tmp_path / out)])
    for name, model in (("named", named), ("binary", binary)):
        expected = model.predict_labels(X).reshape(-1, 1)
        assert len(np.unique(expected)) > 1  # a constant column would hide the old argmax of one output (all 0)
        assert labels(name, f"{name}.npy") == labels(name, f"{name}.csv") == 0
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), expected)
        with open(tmp_path / f"{name}.csv", newline="") as f:
            assert [row for row in csv.reader(f)] == expected.astype(str).tolist()  # "dog, grey" quoted
    # a regression has no labels: the argmax of its outputs was written
    assert labels("regression", "r.npy") == 1
    assert "--output labels needs a classifier" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "named.safetensors")]) == 0
    assert 'classes: ["cat", "dog, grey", "eel"]' in capsys.readouterr().out
    # a plan file keeps the labels (it wrote class indices)
    named.compile_inference().save(tmp_path / "named.plan")
    assert main(["predict", str(tmp_path / "named.plan"), str(tmp_path / "X.npy"), "--output", "labels",
                 "-o", str(tmp_path / "plan.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "plan.npy"), named.predict_labels(X).reshape(-1, 1))
    assert main(["inspect", str(tmp_path / "named.plan")]) == 0
    assert 'classes: ["cat", "dog, grey", "eel"]' in capsys.readouterr().out


def test_labels_of_mixed_types_go_to_a_csv_and_a_npy_is_refused_before_writing(tmp_path, rng, capsys):
    # the .npy held raw object pointers of the predicting process (exit 0; np.load(allow_pickle=True) failed)
    X = rng.standard_normal((40, 2))
    np.save(tmp_path / "X.npy", X)
    model = fnn.Sequential([fnn.layers.Dense(2)], input_dim=2, seed=0)
    model.fit(X, np.array([1, "other"], dtype=object)[(X[:, 0] > 0).astype(int)], epochs=5, verbose=0)
    fnn.save(model, tmp_path / "m.safetensors")
    model.compile_inference().save(tmp_path / "m.plan")
    (tmp_path / "old.npy").write_bytes(b"kept")
    for source in ("m.safetensors", "m.plan"):
        capsys.readouterr()
        assert main(["predict", str(tmp_path / source), str(tmp_path / "X.npy"), "--output", "labels",
                     "-o", str(tmp_path / "old.npy")]) == 2
        err = capsys.readouterr().err.strip().splitlines()  # the usage (wrapped), then one error line
        assert err[0].startswith("usage: fastnn predict") and [line for line in err if "error:" in line] == err[-1:]
        assert "labels mix types (classes_ [1, 'other'])" in err[-1] and "write them to a .csv" in err[-1]
        assert (tmp_path / "old.npy").read_bytes() == b"kept"
        assert main(["predict", str(tmp_path / source), str(tmp_path / "X.npy"), "--output", "labels",
                     "-o", str(tmp_path / "l.csv")]) == 0
        with open(tmp_path / "l.csv", newline="") as f:
            assert [row[0] for row in csv.reader(f)] == [str(v) for v in model.predict_labels(X)]


def test_output_paths_are_usage_errors_before_any_work(files, capsys):
    """predict -o z.txt and plot -o cm.jpgx were runtime errors (status 1) after the model was read (and, for plot,
    10,000 rows predicted); the README promises the output path is checked up front, status 2."""
    d, _, _ = files
    assert main(["predict", str(d / "m.safetensors"), str(d / "X.npy"), "-o", str(d / "z.txt")]) == 2
    assert "must name a .npy or .csv file" in capsys.readouterr().err
    pytest.importorskip("matplotlib")
    np.savez(d / "data.npz", X=np.zeros((3, 4)), y=np.zeros(3, np.int64))
    assert main(["plot", "--confusion", str(d / "m.safetensors"), str(d / "data.npz"), "-o", str(d / "cm.jpgx")]) == 2
    assert "cannot tell the image format from .jpgx" in capsys.readouterr().err
    assert not (d / "cm.jpgx").exists()


def test_evaluate_reads_an_onnx_file_like_the_model_it_came_from(files, capsys):
    """An .onnx MODEL was read as a model file: 'header length 8391157621537769480 exceeds the limit'."""
    pytest.importorskip("onnx")
    d, model, X = files
    assert main(["export", str(d / "m.safetensors"), str(d / "m.onnx")]) == 0
    np.savez(d / "data.npz", X=X, y=np.arange(300) % 3)
    results = []
    for name in ("m.safetensors", "m.onnx"):
        capsys.readouterr()
        assert main(["evaluate", str(d / name), str(d / "data.npz"), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[1]["accuracy"] == results[0]["accuracy"]
    assert results[1]["loss"] == pytest.approx(results[0]["loss"], rel=1e-5)


@pytest.mark.parametrize("skip_header", [False, True])
def test_predict_names_a_bad_csv_cell_by_the_files_line_and_column(files, capsys, skip_header):
    """numpy's message counts rows from 0 past the header: a bad cell on line 2 was 'row 1'."""
    d, _, X = files
    lines = [",".join(map(str, row)) for row in X[:3]]
    lines[1] = lines[1].replace(",", ",x,", 1).split(",x,")[0] + ",x," + ",".join(lines[1].split(",")[2:])
    (d / "bad.csv").write_text(("a,b,c,d\n" if skip_header else "") + "\n".join(lines) + "\n")
    args = ["predict", str(d / "m.safetensors"), str(d / "bad.csv"), "-o", str(d / "p.npy")]
    assert main(args + (["--skip-header"] if skip_header else [])) == 1
    line = 3 if skip_header else 2
    assert f"bad.csv line {line}, column 2: 'x' is not a number" in capsys.readouterr().err


def test_export_refuses_to_write_over_its_model_or_to_a_file_not_onnx(files, capsys):
    """export m.plan m.plan replaced the plan file with an ONNX graph and said "wrote m.plan" (the model gone, and
    the file then read as a corrupt safetensors: "header length ... exceeds"); export m.safetensors out.txt wrote an
    ONNX graph that predict and inspect, which tell ONNX by its suffix, could not read."""
    d, _, _ = files
    before = (d / "m.plan").read_bytes()
    assert main(["export", str(d / "m.plan"), str(d / "m.plan")]) == 2
    assert "must name a .onnx file" in capsys.readouterr().err
    assert main(["export", str(d / "m.safetensors"), str(d / "out.txt")]) == 2
    assert not (d / "out.txt").exists()
    (d / "copy.onnx").write_bytes(before)  # the input itself, whatever its name
    assert main(["export", str(d / "copy.onnx"), str(d / "copy.onnx")]) == 1
    assert "is the input MODEL file" in capsys.readouterr().err
    assert (d / "copy.onnx").read_bytes() == before and (d / "m.plan").read_bytes() == before


def test_predict_names_a_non_finite_csv_value_by_the_files_line_and_column(files, capsys):
    """A NaN in a .csv was named by its 0-based index among the data rows ('row 0, column 2'), not by the file's
    line: past a header, a blank line and a comment, the value at line 5, column 3 was reported as row 0."""
    d, _, _ = files
    (d / "nan.csv").write_text("a,b,c,d\n\n# note\n0.5,0.25,nan,1\n")
    assert main(["predict", str(d / "m.plan"), str(d / "nan.csv"), "-o", str(d / "p.csv"), "--skip-header"]) == 1
    assert "DATA " + str(d / "nan.csv") + " line 4, column 3: nan is not finite" in capsys.readouterr().err
    (d / "big.csv").write_text("0.5,0.25,0.75,1\n0.5,0.25,0.75,1e300\n")
    assert main(["predict", str(d / "m.plan"), str(d / "big.csv"), "-o", str(d / "p.csv")]) == 1
    assert "big.csv line 2, column 4: 1e+300 overflows the model's dtype float32" in capsys.readouterr().err
    assert not (d / "p.csv").exists()
