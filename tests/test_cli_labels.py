"""evaluate and plot --confusion read a data file's labels through the model's classes_, as model.evaluate does:
strings in a .csv (what predict --output labels writes) and in an .npz (a unicode or bytes y, never unpickled),
labels of mixed types in a .csv, and a label the model does not know refused naming it and the file's row."""
import json

import numpy as np
import pytest

import fastnn as fnn
from fastnn.cli import main
from fastnn.layers import Dense

NAMES = np.array(["cat", "dog", "a,b", 'x"y', "é#1"])  # quoted, with a quote, non-ASCII with a '#'


def _fit(tmp_path, labels):
    """A model trained in Python on ``labels`` (so it has classes_), saved; (its file, X, the labels)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = labels[np.arange(60) % len(labels)]
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(len(labels))], input_dim=4, seed=0)
    if labels.dtype.kind in "biu":  # integers (bools) are class indices unless the model is given them as classes
        model.classes_ = labels
    model.fit(X, y, epochs=3, verbose=0)
    fnn.save(model, tmp_path / "m.safetensors")
    return str(tmp_path / "m.safetensors"), model, X, y


def _evaluate(capsys, model_file, data):
    assert main(["evaluate", model_file, str(data), "--json"]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    result.pop("samples")
    return result


def _csv_of(path, X, label_lines):
    """A .csv of the features X, then the label fields as written (one line each), as a user pastes them."""
    path.write_text("".join(",".join(map(repr, row.tolist())) + "," + label
                            for row, label in zip(X, label_lines, strict=True)), encoding="utf-8")


def test_labels_predict_writes_to_a_csv_are_scored_back_by_evaluate(tmp_path, capsys):
    model_file, model, X, _ = _fit(tmp_path, NAMES)
    np.save(tmp_path / "X.npy", X)
    assert main(["predict", model_file, str(tmp_path / "X.npy"), "-o", str(tmp_path / "p.csv"),
                 "--output", "labels"]) == 0
    capsys.readouterr()
    predicted = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    _csv_of(tmp_path / "d.csv", X, predicted)
    result = _evaluate(capsys, model_file, tmp_path / "d.csv")
    assert result == pytest.approx(model.evaluate(X, model.predict_labels(X)), rel=1e-6)
    assert result["accuracy"] == 1.0  # every label read back as the class it was predicted as


def test_a_unicode_or_bytes_y_in_an_npz_is_read_through_classes(tmp_path, capsys):
    model_file, model, X, y = _fit(tmp_path, np.array(["cat", "dog", "émeu"]))
    expected = model.evaluate(X, y)
    np.savez(tmp_path / "u.npz", X=X, y=y)  # y: '<U4'
    assert _evaluate(capsys, model_file, tmp_path / "u.npz") == pytest.approx(expected, rel=1e-6)
    np.savez(tmp_path / "s.npz", X=X, y=np.char.encode(y, "utf-8"))  # y: '|S5', UTF-8 bytes
    assert _evaluate(capsys, model_file, tmp_path / "s.npz") == pytest.approx(expected, rel=1e-6)


def test_labels_of_mixed_types_are_read_from_a_csv(tmp_path, capsys):
    """classes_ [1, 'other', 2.5, False]: a field is a string class when it spells one, else the number (or
    True/False) it spells."""
    labels = np.array([1, "other", 2.5, False], dtype=object)
    model_file, model, X, y = _fit(tmp_path, labels)
    _csv_of(tmp_path / "d.csv", X, [f"{v}\n" for v in y.tolist()])
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_strings_that_look_like_numbers_stay_the_strings_the_model_knows(tmp_path, capsys):
    model_file, model, X, y = _fit(tmp_path, np.array(["01", "2", "3.0"]))
    _csv_of(tmp_path / "d.csv", X, [f"{v}\n" for v in y.tolist()])
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_integer_classes_that_are_not_indices_are_read_through_classes(tmp_path, capsys):
    """classes_ [3, 7, 9]: the CLI refused the label 3.5 with 'not a class index' yet passed 3, 7, 9 on;
    now the file's numbers are read through classes_, and one the model does not know is named by its line."""
    model_file, model, X, y = _fit(tmp_path, np.array([3, 7, 9]))
    _csv_of(tmp_path / "d.csv", X, [f"{v}\n" for v in y.tolist()])
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)
    np.savez(tmp_path / "bad.npz", X=X, y=np.where(np.arange(60) == 4, 5, y))
    assert main(["evaluate", model_file, str(tmp_path / "bad.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"DATA {tmp_path / 'bad.npz'}: y[4]: label 5 is not one of the model's classes" in err[0]


def test_a_csv_of_numbers_reads_as_numbers_for_a_model_of_numeric_classes(tmp_path, capsys):
    """A model of numeric classes_ (what the scikit-learn wrapper's model_ has) read a plain numeric .csv with
    the text-label reader, which refused '1#relabelled' (numpy.loadtxt, and fastnn before, read it as 1)."""
    model_file, model, X, y = _fit(tmp_path, np.array([0, 1, 2]))
    lines = [f"{v}#relabelled\n" if i == 4 else f"{v}  # checked\n" if i == 5 else f"{v}\n"
             for i, v in enumerate(y.tolist())]
    _csv_of(tmp_path / "d.csv", X, lines)
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)


@pytest.mark.parametrize("classes, spell", [
    (np.array([2**53, 2**53 + 1]), str),  # numpy's reader of numbers rounds 2**53 + 1 to the other class
    (np.array([False, True]), str),  # True / False, as pandas writes a bool column
])
def test_classes_a_float_cannot_spell_are_read_as_text(classes, spell, tmp_path, capsys):
    model_file, model, X, y = _fit(tmp_path, classes)
    _csv_of(tmp_path / "d.csv", X, [f"{spell(v)}\n" for v in y.tolist()])
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)


@pytest.mark.parametrize("command", ["evaluate", "plot"])
def test_a_label_the_model_does_not_know_is_named_with_its_line(command, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model_file, _, X, y = _fit(tmp_path, np.array(["cat", "dog"]))
    fields = [f"{v}\n" for v in y.tolist()]
    fields[6] = "bird\n"
    _csv_of(tmp_path / "d.csv", X, fields)
    (tmp_path / "d.csv").write_text("# a comment line\n" + (tmp_path / "d.csv").read_text())
    argv = (["evaluate", model_file, str(tmp_path / "d.csv")] if command == "evaluate" else
            ["plot", "--confusion", model_file, str(tmp_path / "d.csv"), "-o", str(tmp_path / "cm.png")])
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert (f"DATA {tmp_path / 'd.csv'} line 8, last column (the label): label 'bird' is not one of the model's "
            "classes ['cat', 'dog']") in err[0]
    assert not (tmp_path / "cm.png").exists()


def test_plot_confusion_reads_string_labels(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model_file, _, X, y = _fit(tmp_path, np.array(["cat", "dog"]))
    np.savez(tmp_path / "u.npz", X=X, y=y)
    assert main(["plot", "--confusion", model_file, str(tmp_path / "u.npz"), "-o", str(tmp_path / "cm.png")]) == 0
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_csv_rows_of_string_labels_are_checked_as_the_user_counts_them(tmp_path, capsys):
    model_file, _, X, y = _fit(tmp_path, np.array(["cat", "dog"]))
    d = tmp_path / "d.csv"
    d.write_text("f1,f2,f3,f4,label\n1,2,3,4,cat\n\n1,2,x,4,dog\n")
    assert main(["evaluate", model_file, str(d)]) == 1
    assert f"DATA {d} line 4, column 3: 'x' is not a number" in capsys.readouterr().err
    d.write_text('1,2,3,4,cat\n1,2,3,4,"a,b",5\n')
    assert main(["evaluate", model_file, str(d)]) == 1
    assert f"DATA {d} line 2: 6 values, but line 1 has 5" in capsys.readouterr().err
    d.write_text('1,2,3,4,cat\n1,1e300,3,4,dog\n')
    assert main(["evaluate", model_file, str(d)]) == 1
    assert f"DATA {d} line 2, column 2: 1e+300 overflows float32" in capsys.readouterr().err


def test_text_labels_for_a_model_without_classes_are_refused_with_a_hint(tmp_path, capsys):
    model = fnn.Sequential([Dense(2)], input_dim=4, seed=0)
    model.fit(np.eye(4), np.arange(4) % 2, epochs=1, verbose=0)
    fnn.save(model, tmp_path / "m.safetensors")
    np.savez(tmp_path / "u.npz", X=np.eye(4), y=np.array(["a", "b", "a", "b"]))
    assert main(["evaluate", str(tmp_path / "m.safetensors"), str(tmp_path / "u.npz")]) == 1
    err = capsys.readouterr().err
    assert "labels must be class indices (integers), got dtype <U1" in err and "classes_" in err, err


def test_a_unicode_array_of_code_points_that_are_not_characters_is_refused(tmp_path):
    """A crafted '<U' member: numpy itself fails (SystemError) on a code point above U+10FFFF."""
    import io
    import zipfile

    from fastnn.formats import ModelFileError, read_npz

    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<U2", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        zf.writestr("y.npy", member.getvalue() + "a".encode("utf-32-le") + b"\xff\xff\xff\x7f")
    with pytest.raises(ModelFileError, match="not a Unicode character"):
        read_npz(tmp_path / "bad.npz", text=True)
    np.savez(tmp_path / "u.npz", y=np.array(["ab"]))
    assert read_npz(tmp_path / "u.npz", text=True)["y"].tolist() == ["ab"]
    with pytest.raises(ModelFileError, match="not a plain numeric type"):
        read_npz(tmp_path / "u.npz")  # weights stay numbers


def test_a_comment_after_a_label_is_cut_off_as_in_a_csv_of_numbers(tmp_path, capsys):
    """A '#' outside quotes starts a comment, as numpy.loadtxt reads a .csv of numbers (and train reads the same
    file): `0.1,0.2,0.3,5  # checked` was refused as the label '5  # checked' for a model with classes_ [1, 5, 7].
    A quoted label may hold a '#'."""
    model_file, model, X, y = _fit(tmp_path, np.array([1, 5, 7]))
    _csv_of(tmp_path / "d.csv", X, [f"{v}  # checked\n" for v in y.tolist()])
    (tmp_path / "d.csv").write_text("# my data\n" + (tmp_path / "d.csv").read_text())
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)

    model_file, model, X, y = _fit(tmp_path, np.array(["#1", "a#b", "c"]))
    _csv_of(tmp_path / "d.csv", X, [f'"{v}"#, "not" a label\n' for v in y.tolist()])
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_a_csv_of_text_labels_is_read_in_a_few_times_its_size(tmp_path):
    """Only the label field is kept as text: every field of every line held as a str took 23 times the file's
    size (a 28 MB .csv peaked at 656 MB)."""
    import tracemalloc

    from fastnn.cli._data import read_csv

    rng = np.random.default_rng(0)
    d = tmp_path / "d.csv"
    np.savetxt(d, np.c_[rng.integers(0, 256, (2000, 300)), rng.integers(0, 3, 2000)], delimiter=",", fmt="%d")
    size = d.stat().st_size  # 2.1 MB; the features as float64: 4.8 MB
    tracemalloc.start()
    try:
        rows = read_csv(str(d), text_labels=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows.X.shape == (2000, 300) and rows.y[:3].tolist() == ["0", "2", "1"]
    assert peak < 5 * size, peak / size


def _csv_module_rows(path, X, y, quoting=None, header=None):
    """The rows written by Python's csv module (as pandas' to_csv writes them): a field is quoted only when it
    holds a ',', a quote or a line break, unless ``quoting`` says otherwise."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f) if quoting is None else csv.writer(f, quoting=quoting)
        writer.writerows(([header] if header else []) + [[*row, label] for row, label in zip(X.tolist(), y)])


def test_a_hash_inside_an_unquoted_label_is_part_of_it(tmp_path, capsys):
    """`C#` and `F#`, unquoted as pandas and the csv module write them, were cut to the class `C` (every C# row
    scored against C: accuracy 0.956 -> 0.667) or to `F`, 'not one of the model's classes'. A '#' that begins the
    label field after the comma is part of it too."""
    model_file, model, X, y = _fit(tmp_path, np.array(["C", "C#", "F", "F#", "#1"]))
    _csv_module_rows(tmp_path / "d.csv", X, y.tolist())
    written = (tmp_path / "d.csv").read_text()
    assert ",C#\n" in written and ",F#\n" in written and ",#1\n" in written
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_a_comment_cut_from_a_label_never_silently_changes_a_class(tmp_path, capsys):
    """A '#' after a space starts a comment (`cat  # note` is cat), unless only the whole field is a class
    (`Item #3`); when both readings are classes, or no label is left before the '#', the line is refused."""
    model_file, model, X, y = _fit(tmp_path, np.array(["Item #3", "Item #4", "cat"]))
    fields = [f"{v}\n" if v != "cat" else "cat  # note\n" for v in y.tolist()]
    _csv_of(tmp_path / "d.csv", X, fields)
    assert _evaluate(capsys, model_file, tmp_path / "d.csv") == pytest.approx(model.evaluate(X, y), rel=1e-6)

    model_file, _, X, y = _fit(tmp_path, np.array(["Item", "Item #3"]))
    d = tmp_path / "d.csv"
    _csv_of(d, X, [f"{v}\n" for v in y.tolist()])
    assert main(["evaluate", model_file, str(d)]) == 1
    assert (f"DATA {d} line 2, last column (the label): 'Item #3' reads as the class 'Item #3', or as the class "
            "'Item' followed by a comment") in capsys.readouterr().err

    _csv_of(d, X, [f"{v}\n" if i else " # no label\n" for i, v in enumerate(y.tolist())])
    assert main(["evaluate", model_file, str(d)]) == 1
    assert f"DATA {d} line 1, last column (the label): no label before the comment '# no label'" in (
        capsys.readouterr().err)


def test_a_csv_with_every_field_quoted_keeps_its_first_row(tmp_path, capsys):
    """csv.writer(quoting=QUOTE_ALL), no header: '"0.34"' was not a number, so line 1 was taken for a header and
    its row dropped."""
    import csv

    model_file, model, X, y = _fit(tmp_path, np.array(["cat", "dog"]))
    _csv_module_rows(tmp_path / "d.csv", X, y.tolist(), quoting=csv.QUOTE_ALL)
    assert main(["evaluate", model_file, str(tmp_path / "d.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == len(X)
    _csv_module_rows(tmp_path / "h.csv", X, y.tolist(), quoting=csv.QUOTE_ALL, header=["a", "b", "c", "d", "label"])
    assert main(["evaluate", model_file, str(tmp_path / "h.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result.pop("samples") == len(X)
    assert result == pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_csv_errors_name_the_line_and_column_at_fault(tmp_path):
    """Text labels: `1,#2,cat` blamed the good line 2, and a blank feature of a one-feature row (`,dog`), which
    numpy's reader skips, left the labels one row longer than the features, naming no line. Numbers: a line of
    more than 131072 characters (10k space-separated features) said 'field larger than field limit'."""
    from fastnn.cli._data import read_csv

    d = tmp_path / "d.csv"
    d.write_text("1,#2,cat\n3,4,dog\n")
    with pytest.raises(ValueError, match=r"d.csv line 1, column 2: '#2' is not a number"):
        read_csv(str(d), text_labels=True)
    d.write_text("1,cat\n,dog\n3,eel\n")
    with pytest.raises(ValueError, match=r"d.csv line 2, column 1: '' is not a number"):
        read_csv(str(d), text_labels=True)
    d.write_text("f,label\n" + " ".join(["0.123456789"] * 15000) + ",1\n")
    with pytest.raises(ValueError, match="line 2, column 1: .* the values are separated by spaces: a .csv must be"):
        read_csv(str(d))
