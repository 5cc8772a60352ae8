"""fastnn tune: the help's example config, config errors before any work, and how a run replaces its files."""
from __future__ import annotations

import errno
import json
import os
import re

import pytest

import fastnn as fnn
from fastnn.cli import build_parser, main

TINY = """
[data]
subset = 300
[search]
method = "random"
n_trials = 2
max_epochs = 1
{extra}
[space]
depth = 1
width = 8
"""


def help_example() -> str:
    """The config example printed by ``fastnn tune --help``, as a user would copy it."""
    text = build_parser()._subparsers._group_actions[0].choices["tune"].format_help()
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("[data]"))
    end = next(i for i in range(start, len(lines)) if lines[i] and not lines[i].startswith("    "))
    return "\n".join(line[4:] for line in lines[start:end]) + "\n"


def shrunk(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each line-start key's value replaced; fails if the example no longer has the key."""
    for key, value in replacements.items():
        text, n = re.subn(rf"^{key} = \S+", f"{key} = {value}", text, flags=re.M)
        assert n == 1, f"the help's example has no {key!r} line"
    return text


def test_the_help_example_config_runs_as_printed(tmp_path, monkeypatch, capsys):
    """The example set method = "hyperband" with grid_points = 3, an option of grid only: exit 1, after the data
    were read and the output directory made. It runs here as printed, on fewer rows, trials and epochs."""
    monkeypatch.chdir(tmp_path)  # its checkpoint_dir is relative
    (tmp_path / "tune.toml").write_text(shrunk(help_example(), {"subset": "300", "n_trials": "6", "max_epochs": "3"}))
    with fnn.threads(1):
        assert main(["tune", "--config", "tune.toml", "-o", "out", "-q"]) == 0, capsys.readouterr().err
    assert sorted(os.listdir("out")) == ["best.json", "model.safetensors", "trials.csv"]
    assert json.loads((tmp_path / "out" / "best.json").read_text())["method"] == "hyperband"


def refused(tmp_path, capsys, monkeypatch, config: str) -> str:
    """Run ``fastnn tune`` on ``config`` expecting a config error: status 2, the usage line and one error line,
    no data read, no output directory made; returns the error line."""
    from fastnn.cli import tune

    def no_data(*args):
        raise AssertionError("the data were read before the config was checked")

    monkeypatch.setattr(tune, "_data", no_data)
    (tmp_path / "tune.toml").write_text(config)
    assert main(["tune", "--config", str(tmp_path / "tune.toml"), "-o", str(tmp_path / "out")]) == 2
    usage, error = capsys.readouterr().err.splitlines()
    assert usage.startswith("usage: fastnn tune --config") and error.startswith("fastnn tune: error: ")
    assert not (tmp_path / "out").exists()
    return error


@pytest.mark.parametrize("method, extra, message", [
    ("hyperband", "grid_points = 3", "[search] grid_points: method 'hyperband' does not take it (its options: eta;"),
    ("random", "top_k = 2", "[search] top_k: method 'random' does not take it (its options: none;"),
    ("hyperband", "asynchronous = true", "[search] asynchronous: method 'hyperband' does not take it"),
    ("grid", "grid_pionts = 3", "[search] grid_pionts: method 'grid' does not take it (its options: allow_large, "
                                "grid_limit, grid_points;"),
    # tune_model overwrote them silently with min_epochs / max_epochs; search's objective is tune_model's own
    ("hyperband", "min_budget = 3", "[search] min_budget is not a search option; use [search] min_epochs"),
    ("random", "objective = 1", "[search] objective is not a search option (fastnn tune sets it itself)"),
    # "search() got multiple values for keyword argument 'journal_digest'" after the data were read, status 1
    ("random", 'journal_digest = "x"', "[search] journal_digest is not a search option (fastnn tune sets it itself)"),
    # status 1 and no usage line; mode and max_epochs were refused only after the data were read
    ("random", "eta = 2", "[search] eta: only for the budgeted methods"),
    ("random", 'mode = "maximize"', "[search] mode must be 'auto', 'min' or 'max'"),
    ("random", "max_epochs = 0", "[search] max_epochs must be an integer >= 1"),
])
def test_a_bad_search_key_is_a_usage_error_before_any_data_are_read(tmp_path, capsys, monkeypatch, method, extra,
                                                                     message):
    config = TINY.format(extra=extra).replace('method = "random"', f'method = "{method}"')
    config = config.replace("max_epochs = 1\nmax_epochs = 0", "max_epochs = 0")
    assert message in refused(tmp_path, capsys, monkeypatch, config)


@pytest.mark.parametrize("extra", ["grid_points = 2", "grid_limit = 100", "lag = 0", 'mode = "max"', "n_trials = 3",
                                   'loss = "cross_entropy"'])
def test_the_search_keys_tune_model_takes_pass(tmp_path, monkeypatch, extra):
    """A method's options and tune_model's and search's own keywords reach the data (not refused)."""
    from fastnn.cli import tune

    def data_reached(*args):
        raise OSError("data reached")

    monkeypatch.setattr(tune, "_data", data_reached)
    (tmp_path / "tune.toml").write_text(TINY.format(extra=extra).replace('"random"', '"grid"').replace(
        "n_trials = 2\n", ""))
    assert main(["tune", "--config", str(tmp_path / "tune.toml"), "-o", str(tmp_path / "out")]) == 1


def test_the_other_config_errors_are_usage_errors_too(tmp_path, capsys, monkeypatch):
    assert "unknown section [serach]" in refused(tmp_path, capsys, monkeypatch, "[serach]\n")
    assert "[data] subset must be an integer" in refused(tmp_path, capsys, monkeypatch, "[data]\nsubset = 1.5\n")
    assert "[executor] kind must be" in refused(tmp_path, capsys, monkeypatch, '[executor]\nkind = "mpi"\n')
    # an internal error (status 1) before: metric.startswith and source.lower on a number
    assert "[search] metric must be a metric name" in refused(tmp_path, capsys, monkeypatch, "[search]\nmetric = 5\n")
    assert "[data] source must be" in refused(tmp_path, capsys, monkeypatch, "[data]\nsource = 5\n")


@pytest.mark.parametrize("config, message", [
    # "expected str, bytes or os.PathLike object, not int" after the data were read, status 1
    ("[search]\njournal = 5\n", "[search] journal must be a file's path, got 5"),
    ("[executor]\ncheckpoint_dir = 5\n", "[executor] checkpoint_dir must be a directory's path, got 5"),
    # numpy's "Cannot interpret '3' as a data type", after the reading started
    ("[data]\ndtype = 3\n", "[data] dtype must be one of ['float32', 'float64'], got 3"),
    # a bare "[Errno 2] No such file or directory" without the word journal, after the data were read
    ('[search]\njournal = "{missing}/j.jsonl"\n', "[search] journal '{missing}/j.jsonl': its directory {missing} "
                                                  "does not exist"),
    ('[search]\njournal = "{tmp}"\n', "[search] journal '{tmp}' is a directory"),
    ('[executor]\ncheckpoint_dir = "{tmp}/tune.toml"\n', "[executor] checkpoint_dir '{tmp}/tune.toml' exists and is "
                                                          "not a directory"),
], ids=["journal-int", "checkpoint_dir-int", "dtype-int", "journal-missing-dir", "journal-dir", "checkpoint_dir-file"])
def test_paths_and_dtype_of_a_wrong_type_or_place_are_refused_naming_the_key(tmp_path, capsys, monkeypatch, config,
                                                                            message):
    where = {"missing": (tmp_path / "no" / "dir").as_posix(), "tmp": tmp_path.as_posix()}
    assert message.format(**where) in refused(tmp_path, capsys, monkeypatch, config.format(**where))


@pytest.mark.parametrize("data, message", [
    # "y: label 6 at row 3 asks for 7 classes from 5 labels; class indices are 0..K-1"
    ("subset = 5", "[data] subset = 5 keeps rows of only 5 of the data's 10 classes: a model trained on it could "
                   "not predict the others; give a subset of at least one row per class (>= 10"),
    # "X is empty: it has 0 samples"
    ("subset = 300\nvalidation_fraction = 0.999", "[data] validation_fraction = 0.999 leaves no training rows: it "
                                                  "takes all the 300 rows of subset = 300"),
], ids=["subset-below-classes", "no-training-rows"])
def test_a_subset_or_split_that_cannot_train_is_refused_naming_the_key(tmp_path, capsys, monkeypatch, data, message):
    """Known only once the data are read (status 1), but before any trial, naming the key at fault."""
    def no_search(*args, **kwargs):
        raise AssertionError("a trial ran")

    monkeypatch.setattr("fastnn.tune.tune_model", no_search)  # run() imports it from there when it runs
    (tmp_path / "tune.toml").write_text(TINY.replace("subset = 300", data).format(extra=""))
    assert main(["tune", "--config", str(tmp_path / "tune.toml"), "-o", str(tmp_path / "out")]) == 1
    assert f"fastnn tune: error: {message}" in capsys.readouterr().err


def latin1_config(directory):
    (directory / "latin1.toml").write_bytes(b"[data]\n# caf\xe9\n")
    return directory / "latin1.toml"


@pytest.mark.parametrize("config, message", [
    (lambda directory: directory / "missing.toml", "cannot read it (FileNotFoundError: "),
    (lambda directory: directory, "cannot read it: it is a directory"),
    (latin1_config, "cannot read it (UnicodeDecodeError: "),
], ids=["missing", "directory", "not-utf-8"])
def test_a_config_that_cannot_be_read_is_a_usage_error_naming_it(tmp_path, capsys, config, message):
    """A missing file or a directory gave the bare OSError text, status 1; a file not in UTF-8 the bare
    UnicodeDecodeError text. Each names --config and the path now, as fastnn train does, status 2."""
    path = config(tmp_path)
    assert main(["tune", "--config", str(path), "-o", str(tmp_path / "out")]) == 2
    usage, error = capsys.readouterr().err.splitlines()
    assert error.startswith(f"fastnn tune: error: --config {path}: {message}"), error
    assert not (tmp_path / "out").exists()


def test_a_journal_in_an_output_directory_not_made_yet(tmp_path):
    """The output directory was made only after the search, so a journal kept in it failed (status 1)."""
    config, out = tmp_path / "tune.toml", tmp_path / "out"
    config.write_text(TINY.format(extra=f'journal = "{(out / "journal.jsonl").as_posix()}"'))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 0
    assert {"journal.jsonl", "trials.csv", "best.json"} <= set(os.listdir(out))


def test_a_replaced_file_keeps_its_permission_bits(tmp_path):
    """The files renamed into place were new ones: a results file made private became readable by everyone."""
    config, out = tmp_path / "tune.toml", tmp_path / "out"
    config.write_text(TINY.format(extra=""))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 0
        for name in ("trials.csv", "best.json", "model.safetensors"):
            os.chmod(out / name, 0o600)
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 0
    assert {name: oct(os.stat(out / name).st_mode & 0o777) for name in ("trials.csv", "best.json",
            "model.safetensors")} == dict.fromkeys(("trials.csv", "best.json", "model.safetensors"), "0o600")


def test_an_output_file_that_is_a_link_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "best.json").symlink_to(tmp_path / "elsewhere.json")
    from fastnn.cli import tune

    monkeypatch.setattr(tune, "_data", lambda *args: pytest.fail("the data were read"))
    (tmp_path / "tune.toml").write_text(TINY.format(extra=""))
    assert main(["tune", "--config", str(tmp_path / "tune.toml"), "-o", str(tmp_path / "out")]) == 2
    assert "best.json is a symbolic link" in capsys.readouterr().err


def fail_fsync_of(name: str, monkeypatch) -> None:
    """A full disk for the file ``name`` only: its atomic write's fsync raises ENOSPC (Linux: /proc/self/fd)."""
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{name}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def snapshot(directory) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds the file being written through /proc")
@pytest.mark.parametrize("failing", ["trials.csv", "best.json", "model.safetensors"])
def test_a_failed_write_leaves_the_previous_runs_files_and_names_the_file(tmp_path, capsys, monkeypatch, failing):
    """trials.csv was truncated and rewritten in place (a full disk left half of it) and best.json too; the error
    named no file; and a run failing after its first file left a mix of two runs' files."""
    config, out = tmp_path / "tune.toml", tmp_path / "out"
    config.write_text(TINY.format(extra=""))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 0
    before = snapshot(out)
    config.write_text(TINY.format(extra="seed = 1").replace("n_trials = 2", "n_trials = 3"))
    fail_fsync_of(failing, monkeypatch)
    capsys.readouterr()
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert err == f"fastnn tune: error: [Errno 28] No space left on device: '{out / failing}'\n"
    assert snapshot(out) == before  # no hidden staging directory left either


def test_a_run_replaces_the_whole_set_of_files(tmp_path):
    """Figures of an earlier --plot run stayed beside a later run's results, passing for its figures."""
    pytest.importorskip("matplotlib")
    config, out = tmp_path / "tune.toml", tmp_path / "out"
    config.write_text(TINY.format(extra=""))
    with fnn.threads(1):
        assert main(["tune", "--config", str(config), "-o", str(out), "-q", "--plot"]) == 0
        assert {"score_vs_trial.png", "pairs.png"} <= set(os.listdir(out))
        assert main(["tune", "--config", str(config), "-o", str(out), "-q"]) == 0
    assert sorted(os.listdir(out)) == ["best.json", "model.safetensors", "trials.csv"]


def test_search_result_to_csv_is_atomic(tmp_path, monkeypatch):
    """to_csv opened the file "w" and wrote row by row: a failure left a truncated file."""
    from fastnn.tune import SearchResult, Trial

    path = tmp_path / "trials.csv"
    path.write_text("the previous trials\n")
    result = SearchResult({"lr": 0.1}, 0.5, [Trial(0, {"lr": 0.1}, 0.5)])
    fail_fsync_of("trials.csv", monkeypatch)
    with pytest.raises(OSError, match="trials.csv"):
        result.to_csv(path)
    assert path.read_text() == "the previous trials\n" and os.listdir(tmp_path) == ["trials.csv"]
    monkeypatch.undo()
    result.to_csv(path)
    header, row = path.read_text().splitlines()
    assert header == "number,config,status,score,budget,seconds,error,lr" and row == "0,,ok,0.5,,0.0,,0.1"


def test_a_fixed_space_value_keeps_its_condition():
    """[space] momentum = 0.5 put momentum in every trial's params, Adam's too, and width = 64 put width_3 in
    trials of depth 1 (mlp_space made a fixed value a constant without its condition)."""
    from fastnn.cli.tune import space_of

    space = space_of({"momentum": 0.5, "width": 64, "depth": {"low": 1, "high": 3}})
    assert space["momentum"].when == {"optimizer": ("sgd",)} and space["momentum"].values == [0.5]
    assert space["width_2"].when == {"depth": (2, 3)} and space["width_1"] == 64
