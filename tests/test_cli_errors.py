"""Bad command lines: each one ends with exit status 2 (usage) or 1 (runtime), one ``error:`` line on stderr
that names the option or file at fault, no traceback, and no output file written."""
import io
import os
import re
import zipfile

import numpy as np
import pytest

from fastnn.cli import main

OUT = "out"  # the directory every case writes its output into (it must stay empty)


def _npy_bytes(header: dict, payload: bytes = b"") -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, header)
    return b.getvalue() + payload


def make_files(d):
    """The data files the cases refer to, in directory ``d``."""
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 12)), np.arange(40) % 3
    np.savez(d / "d.npz", X=X, y=y)
    np.savez(d / "neg_label.npz", X=X[:6], y=np.array([0, 1, 0, -1, 1, 0]))
    np.savez(d / "complex.npz", X=X.astype(complex), y=y)
    np.savez(d / "X3d.npz", X=X.reshape(40, 3, 4), y=y)
    np.savez(d / "one_class.npz", X=X, y=np.zeros(40, int))
    np.savez(d / "no_arrays.npz", A=np.zeros(3))
    X_test = X[:5].copy()
    X_test[2, 7] = np.inf
    np.savez(d / "bad_test.npz", X_train=X, y_train=y, X_test=X_test, y_test=y[:5])
    bomb = _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1 << 33,)}, b"\0" * 64)  # 64 GiB declared
    with zipfile.ZipFile(d / "bomb.npz", "w") as z:
        z.writestr("X.npy", bomb)
        z.writestr("y.npy", _npy_bytes({"descr": "<i8", "fortran_order": False, "shape": (1,)}, b"\0" * 8))
    (d / "bomb.npy").write_bytes(bomb)
    np.save(d / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(d / "empty_images.npy", np.zeros((0, 8, 8)))
    (d / "text.txt").write_text("hello\n")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b,label\n")
    (d / "ragged.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,1\n6,7,0\n")      # line 4 has 2 values
    (d / "words.csv").write_text("a,b,label\n1,2,0\n3,abc,1\n")                 # line 3, column 2
    (d / "nan.csv").write_text("a,b,label\n1,2,0\n\n3,nan,1\n4,5,0\n")          # line 4 (after a blank line)
    (d / "frac_label.csv").write_text("1,2,0\n3,4,0.5\n5,6,1\n")               # no header: line 2
    (d / "huge_label.csv").write_text("1,2,0\n3,4,1e9\n5,6,1\n")
    (d / "overflow.csv").write_text("a,b,label\n1,2,0\n3,1e300,1\n5,6,0\n")     # inf as float32: line 3
    (d / "binary.csv").write_bytes(b"\xff\xfe\x00garbage\n")
    (d / "small.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    (d / "one_column.csv").write_text("label\n0\n1\n")
    # pandas' DataFrame.to_csv of unnamed columns writes their numbers as line 1: it was read as a data row
    (d / "pandas.csv").write_text("0,1,2\n" + "".join(f"{i}.5,{i},{i % 2}\n" for i in range(8)))
    (d / "pandas1.csv").write_text("1,2,3\n" + "".join(f"{i}.5,{i},{i % 2}\n" for i in range(8)))
    # line 1 of these has no number in it, so it passed for a header and the error named line 2 alone
    (d / "quoted.csv").write_text('"1","2","0"\n"3","4","1"\n')
    (d / "tabs.csv").write_text("1\t2\t0\n3\t4\t1\n")
    # fields Python's float() reads but numpy's reader does not: numpy's message leaked, counting its own rows
    (d / "underscore.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,1_0,1\n")          # line 4, column 2
    (d / "digits.csv").write_text("a,b,label\n1,2,0\n3,\u0664,1\n")                  # an Arabic-Indic 4
    (d / "spaces_line.csv").write_text("a,b,label\n1,2,0\n  \n3,4,1\n")           # not blank to numpy
    (d / "commas_line.csv").write_text("1,2,0\n3,4,1\n,,\n")                       # empty fields, not white space
    # line 1 of nan and inf alone passed for a header (no field a finite number) and was dropped without a word
    (d / "nan_first.csv").write_text("nan,inf,nan\n1,2,0\n3,4,1\n")
    (d / "nan_names.csv").write_text("nan,inf,label\n1,2,0\n3,4,1\n")            # a header, or a typo in data?
    (d / "link.safetensors").symlink_to(d / "d.npz")  # an output path that is a link: refused before training
    (d / "dir.toml").mkdir()
    (d / "self.toml").write_text(f'[checkpoint]\npath = "{d}/self.toml"\n')  # the checkpoint would replace it


def cases(d, cores):
    """(command line, exit status, text the error line must contain)."""
    o = f"{OUT}/m.safetensors"
    T = ["train", "-q", "--epochs", "1", "-o", o]
    S = ["schedule"]
    A = ["augment-preview", "--data", "embedded", "-o", f"{OUT}/g.png"]
    return [
        # train: each option alone, refused while parsing
        (T + ["--test-fraction", "1"], 2, "--test-fraction"),
        (T + ["--test-fraction", "-0.5"], 2, "--test-fraction"),
        (T + ["--test-fraction", "nan"], 2, "--test-fraction"),
        (T + ["--hidden", ""], 2, "--hidden"),
        (T + ["--hidden", "16,,8"], 2, "--hidden"),
        (T + ["--hidden", "0"], 2, "--hidden"),
        (T + ["--momentum", "1.5"], 2, "--momentum"),
        (T + ["--momentum", "1"], 2, "--momentum"),
        (T + ["--momentum", "-0.1"], 2, "--momentum"),
        (T + ["--threads", str(cores + 1)], 2, "--threads"),
        (T + ["--lr", "-1"], 2, "--lr"),
        (T + ["--lr", "nan"], 2, "--lr"),
        (T + ["--lr", "inf"], 2, "--lr"),
        (T + ["--zoom", "2"], 2, "--zoom"),
        (T + ["--flip-p", "3"], 2, "--flip-p"),
        (T + ["--noise", "-1"], 2, "--noise"),
        (T + ["--rotation", "nan"], 2, "--rotation"),
        (T + ["--shift", "-1"], 2, "--shift"),
        (T + ["--fill-value", "nan"], 2, "--fill-value"),
        (T + ["--image-shape", "0,5"], 2, "--image-shape"),
        (T + ["--epochs", "0"], 2, "--epochs"),
        (T + ["--epochs", "1.5"], 2, "--epochs"),
        (T + ["--batch-size", "-3"], 2, "--batch-size"),
        (T + ["--seed", "-1"], 2, "--seed"),
        (T + ["--dtype", "float16"], 2, "--dtype"),
        (T + ["--activation", "foo"], 2, "--activation"),
        (T + ["--momentun", "0.9"], 2, "--momentun"),
        (T + ["--data", "nope.parquet"], 2, "--data"),
        (["train", "-q", "-o", "/nonexistent/dir/m.safetensors"], 2, "--output"),
        (["train", "-q", "-o", OUT], 2, "--output"),
        (["train", "-q", "--data", f"{d}/missing.npz", "-o", "/nonexistent/m.safetensors"], 2, "--output"),
        (["train", "extra_positional"], 2, "extra_positional"),
        (T + ["-o", f"{d}/link.safetensors"], 2, "symbolic link"),
        (T + ["--checkpoint", f"{d}/link.safetensors"], 2, "symbolic link"),
        (["train", "--config", f"{d}/dir.toml"], 2, "dir.toml: not a regular file"),
        # train: options that do not go together, refused before any data are read
        (T + ["--nesterov", "--momentum", "0"], 2, "--nesterov"),
        # the momentum decision holds whichever way the momentum is set (--set or a config file too)
        (T + ["--set", "optimizer.momentum=1"], 2, "optimizer.momentum: must lie in [0, 1)"),
        (T + ["--optimizer", "rmsprop", "--set", "optimizer.momentum=1.5"], 2, "optimizer.momentum: must lie in"),
        (["train", "-q", "--resume", f"{d}/dir.toml"], 1, "dir.toml: not a regular file"),
        (T + ["--data", f"{d}/d.npz", "--rotation", "5"], 2, "--image-shape"),
        (["train", "-q", "--data", f"{d}/d.npz", "-o", f"{d}/d.npz"], 2, "--output"),
        # train: a file the run writes that it reads, or writes twice: the data, the config, the model file and the
        # checkpoint (then --resume cannot continue it) were overwritten, exit 0
        (T + ["--data", f"{d}/d.npz", "--checkpoint", f"{d}/d.npz"], 2,
         f"checkpoint.path (--checkpoint) {d}/d.npz is the file of data.train (--data): the run would overwrite it"),
        (T + ["--config", f"{d}/self.toml"], 2, "self.toml is the file of --config: the run would overwrite it"),
        (T + ["--checkpoint", o], 2, f"checkpoint.path (--checkpoint) {o} is the file of output (--output): one "
         "would replace the other"),
        (T + ["--checkpoint", f"{OUT}/run.ckpt", "-o", f"{OUT}/run.ckpt.config.json"], 2, "checkpoint.path's config "
         "record"),
        (T + ["--set", f'callbacks=[{{"class": "CSVLogger", "filename": "{o}"}}]'], 2,
         "callbacks[0].filename out/m.safetensors is the file of output (--output)"),
        (T + ["--data", f"{d}/d.npz", "--set", f'callbacks=[{{"class": "ModelCheckpoint", "filepath": '
                                                f'"{d}/{{epoch}}.npz"}}]'], 2, "callbacks[0].filepath"),
        (["train", "-q", "--resume", f"{OUT}/run.ckpt", "-o", f"{OUT}/run.ckpt"], 2, "is the file of output"),
        (["train", "-q", "--resume", f"{OUT}/run.ckpt", "-o", f"{OUT}/run.ckpt.config.json"], 2,
         "--resume's config record"),
        # train: bad data files, refused before a model is built, naming the file's own row / line
        (T + ["--data", f"{d}/missing.npz"], 1, "missing.npz"),
        (T + ["--data", f"{d}/bomb.npz"], 1, "bomb.npz"),
        (T + ["--data", f"{d}/no_arrays.npz"], 1, "X_train"),
        (T + ["--data", f"{d}/neg_label.npz"], 1, "y[3]"),
        (T + ["--data", f"{d}/bad_test.npz"], 1, "X_test[2, 7]: inf is not finite"),
        (T + ["--data", f"{d}/complex.npz"], 1, "complex"),
        (T + ["--data", f"{d}/X3d.npz"], 1, "--image-shape 3,4"),
        (T + ["--data", f"{d}/one_class.npz"], 1, "single class"),
        (T + ["--data", f"{d}/d.npz", "--image-shape", "5,5", "--rotation", "5"], 1, "--image-shape"),
        (T + ["--data", f"{d}/empty.csv"], 1, "empty.csv: no data rows"),
        (T + ["--data", f"{d}/header_only.csv"], 1, "no data rows after the header"),
        (T + ["--data", f"{d}/ragged.csv"], 1, "ragged.csv line 4: 2 values"),
        (T + ["--data", f"{d}/words.csv"], 1, "words.csv line 3, column 2: 'abc'"),
        (T + ["--data", f"{d}/nan.csv"], 1, "nan.csv line 4, column 2"),
        (T + ["--data", f"{d}/frac_label.csv"], 1, "frac_label.csv line 2"),
        (T + ["--data", f"{d}/huge_label.csv"], 1, "huge_label.csv line 2"),
        (T + ["--data", f"{d}/overflow.csv"], 1, "overflow.csv line 3, column 2: 1e+300 overflows float32"),
        (T + ["--data", f"{d}/binary.csv"], 1, "UTF-8"),
        (T + ["--data", f"{d}/one_column.csv"], 1, "one_column.csv"),
        (T + ["--data", f"{d}/pandas.csv"], 1, "pandas.csv line 1 reads 0,1,2,...: the column numbers pandas"),
        (T + ["--data", f"{d}/pandas1.csv"], 1, "pandas1.csv line 1 reads 1,2,3,...: the column numbers"),
        (T + ["--data", f"{d}/quoted.csv"], 1, "quoted.csv line 2, column 1: '\"3\"' is not a number; the fields "
         "are quoted"),
        (T + ["--data", f"{d}/tabs.csv"], 1, "the values are separated by tabs: a .csv must be comma-separated"),
        (T + ["--data", f"{d}/underscore.csv"], 1, "underscore.csv line 4, column 2: '1_0' is not a number"),
        (T + ["--data", f"{d}/digits.csv"], 1, "digits.csv line 3, column 2: '\u0664' is not a number"),
        (T + ["--data", f"{d}/spaces_line.csv"], 1, "spaces_line.csv line 3: only white space"),
        (T + ["--data", f"{d}/commas_line.csv"], 1, "commas_line.csv line 3, column 1: '' is not a number"),
        (T + ["--data", f"{d}/nan_first.csv"], 1, "nan_first.csv line 1, column 1: nan is not finite"),
        (T + ["--data", f"{d}/nan_names.csv"], 1, "nan_names.csv line 1 reads nan,inf,label: a header naming a "
         "column nan or inf, or a data row of values that are not finite? fastnn does not guess"),
        (T + ["--data", f"{d}/small.csv", "--test-fraction", "0.95"], 1, "--test-fraction"),
        # schedule
        (S + ["nosuch"], 2, "nosuch"),
        (S + ["cosine", "--total-steps", "0"], 2, "--total-steps"),
        (S + ["cosine", "--steps", "0"], 2, "--steps"),
        (S + ["cosine", "--steps", "1000000000000"], 2, "--steps"),
        (S + ["cosine", "--every", "0"], 2, "--every"),
        (S + ["step", "--gamma", "-1"], 2, "--gamma"),
        (S + ["cyclic", "--mode", "foo"], 2, "--mode"),
        (S + ["cosine", "--gamma", "0.5"], 2, "--gamma"),
        (S + ["cosine", "--lr", "-1"], 2, "--lr"),
        (S + ["cosine", "--start-factor", "0.5"], 2, "--start-factor"),
        (S + ["warmup", "--warmup-steps", "0"], 2, "--warmup-steps"),
        (S + ["multistep", "--milestones", "3,x"], 2, "--milestones"),
        (S + ["cosine", "--lr", "0.1", "--min-lr", "0.2"], 2, "--min-lr"),
        (S + ["cosine", "--plot", "/nonexistent/d/x.png"], 2, "--plot"),
        (S + ["cosine", "--plot", f"{OUT}/x.unknownformat"], 2, "--plot"),
        # augment-preview
        (A + ["--data", f"{d}/bomb.npz"], 1, "bomb.npz"),
        (A + ["--data", f"{d}/bomb.npy"], 1, "bomb.npy"),
        (A + ["--data", f"{d}/obj.npy"], 1, "obj.npy"),
        (A + ["--data", f"{d}/empty_images.npy"], 1, "no images"),
        (A + ["--data", f"{d}/missing.npy"], 1, "missing.npy"),
        (A + ["--data", f"{d}/text.txt"], 2, "--data"),
        (A + ["--zoom", "2"], 2, "--zoom"),
        (A + ["--flip-p", "3"], 2, "--flip-p"),
        (A + ["-n", "0"], 2, "-n"),
        (A + ["--scale", "0"], 2, "--scale"),
        (["augment-preview", "-o", "/nonexistent/x.png"], 2, "--output"),
        # the top level
        (["--bogus"], 2, "--bogus"),
        (["nosuch"], 2, "nosuch"),
    ]


def run_case(argv, capsys):
    """(exit status or 'traceback', stderr) of one command line; SystemExit is tolerated (the old main raised it)."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    except Exception as exc:  # noqa: BLE001  (what the user would see as a traceback)
        return "traceback", f"Traceback: {type(exc).__name__}: {exc}"
    return status, capsys.readouterr().err


def problems(argv, status, err, expected_status, fragment, out_dir):
    """What is wrong with the outcome of one bad command line (empty: refused cleanly)."""
    found = []
    if status != expected_status:
        found.append(f"exit status {status}, expected {expected_status}")
    if "Traceback" in err:
        found.append("traceback")
    error_lines = [line for line in err.splitlines() if "error:" in line]
    if len(error_lines) != 1:
        found.append(f"{len(error_lines)} error lines")
    elif fragment not in error_lines[0]:
        found.append(f"error line does not name {fragment!r}: {error_lines[0]!r}")
    other = [line for line in err.splitlines() if "error:" not in line]
    if status == 2 and not (len(other) == 1 and other[0].startswith("usage: fastnn " + (
            argv[0] if argv[0] in ("train", "schedule", "augment-preview") else ""))):
        found.append(f"usage errors show the command's one-line usage, got {other!r}")
    if status == 1 and other:
        found.append(f"runtime errors are one line, got also {other!r}")
    if os.listdir(out_dir):
        found.append(f"wrote {os.listdir(out_dir)}")
    return found


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    make_files(data)
    monkeypatch.chdir(tmp_path)
    (tmp_path / OUT).mkdir()
    return data


def test_every_bad_command_line_is_refused_cleanly(workspace, capsys):
    from fastnn.cli._types import available_cores

    table = cases(workspace, available_cores())
    assert len(table) >= 25
    failures = {}
    for argv, expected_status, fragment in table:
        before = set(os.listdir("."))
        status, err = run_case(argv, capsys)
        found = problems(argv, status, err, expected_status, fragment, OUT)
        if set(os.listdir(".")) != before:
            found.append(f"wrote {set(os.listdir('.')) - before} in the working directory")
        if found:
            failures[" ".join(argv)] = found
    assert not failures, f"{len(failures)} of {len(table)} bad command lines not refused cleanly:\n" + "\n".join(
        f"  fastnn {k}: {'; '.join(v)}" for k, v in failures.items())


def test_a_first_row_of_two_small_integers_is_data(tmp_path):
    """Two columns of small integers start with 0,1 often (one file in four with 0/1 values): refusing them as a
    possible pandas header refused ordinary data; from 3 columns 0,1,2,... is refused (above)."""
    from fastnn.cli._data import load

    (tmp_path / "zero_one.csv").write_text("0,1\n1,0\n1,1\n0,0\n" * 3)
    X, y, _, _ = load(str(tmp_path / "zero_one.csv"), 0.0, 0, "float64")
    rows = sorted(zip(X[:, 0].tolist(), y.tolist()))
    assert rows == sorted([(0.0, 1), (1.0, 0), (1.0, 1), (0.0, 0)] * 3)  # line 1, (0, 1), among them


def test_a_field_is_a_number_exactly_when_numpys_reader_reads_one():
    """The checks that word a .csv error read a field as numpy's reader does: float() also reads 1_0 and digits of
    other scripts, so the error was numpy's own, counting rows its own way (review 12)."""
    from fastnn.cli._data import _is_number

    rng = np.random.default_rng(0)
    alphabet = list("0123456789.eE+-_ nafiINFty\t\x1c") + ["\u00a0", "\u0664", "\uff11", "x"]
    fields = ["".join(rng.choice(alphabet, rng.integers(1, 6))) for _ in range(3000)] + ["1_0", "nan", "-Infinity"]
    for field in fields:
        try:
            np.loadtxt(io.StringIO(f"{field},0\n"), delimiter=",", ndmin=2, comments=None)
            numpy_reads = True
        except ValueError:
            numpy_reads = False
        assert _is_number(field) == numpy_reads, repr(field)


@pytest.mark.parametrize("text, text_labels", [("nan,inf,nan\n1,2,0.5\n3,4,1.5\n", False),
                                               ("nan,cat\n1,dog\n2,cat\n", True)])
def test_a_first_row_of_nan_or_inf_is_data(tmp_path, text, text_labels):
    """A line 1 of which no field is a finite number passed for a header and was dropped without a word: a
    regression row of nan and inf, a row of nan features and a text label (review 12). nan and inf are numbers."""
    from fastnn.cli._data import checked, read_csv

    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'd.csv'} line 1, column 1: nan is not finite")):
        checked(read_csv(str(tmp_path / "d.csv"), text_labels), "float32", text_labels, np.array(["cat", "dog"]))


@pytest.mark.parametrize("text, where", [
    ("a,b,label\n1,2,0\n\n# note\n3,4,1\n5,6,x\n", "line 6, column 3: could not convert string 'x' to float64"),
    ("1,2,0\n# note\n3,4\n", "line 3: the number of columns changed from 3 to 2; use `usecols`"),
])
def test_numpys_own_message_names_the_files_line(tmp_path, monkeypatch, text, where):
    """A line fastnn's checks pass but numpy's reader refuses keeps numpy's message, its row (data rows, counted
    from 0 or 1 by the message) given as the file's line."""
    from fastnn.cli import _data

    monkeypatch.setattr(_data, "_first_bad_record", lambda *args, **kwargs: None)  # checks that find nothing
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"--data {tmp_path / 'd.csv'} {where}")):
        _data.load(str(tmp_path / "d.csv"), 0.0, 0, "float64")
