"""fastnn inspect of a model file: the optimizer steps the file records (fnn.save stores model.step_count)."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn as fnn
from fastnn.cli import main
from fastnn.formats import ModelFileError, read_safetensors, write_safetensors
from fastnn.layers import Dense
from fastnn.training import ModelCheckpoint


@pytest.fixture
def trained(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 4)).astype(np.float32), rng.integers(0, 3, 100)
    model = fnn.Sequential([Dense(8, activation="relu"), Dense(3)], input_dim=4, seed=0)
    with fnn.threads(1):
        model.fit(X, y, epochs=3, batch_size=32, verbose=0)
    path = tmp_path / "m.safetensors"
    fnn.save(model, path)
    return model, path


def training_line(capsys, path) -> str:
    assert main(["inspect", str(path)]) == 0
    return next(line.strip() for line in capsys.readouterr().out.splitlines() if "training:" in line)


def rewritten(path, **changes) -> None:
    """The model file at ``path`` with its metadata changed (a value None: the key removed)."""
    arrays, meta = read_safetensors(path)
    meta.update(changes)
    write_safetensors(path, arrays, {k: v for k, v in meta.items() if v is not None})


def test_inspect_reports_the_steps_a_model_was_trained(trained, capsys):
    """A model file never stored its step count: inspect printed "0 optimizer steps" for every model file."""
    model, path = trained
    assert model.step_count == 12  # 3 epochs of 4 batches
    assert training_line(capsys, path).startswith("training: 12 optimizer steps")
    assert read_safetensors(path)[1]["step_count"] == "12"


def test_the_step_count_is_a_record_that_load_does_not_restore(trained, tmp_path):
    model, path = trained
    loaded = fnn.load(path)
    assert loaded.step_count == 0  # no training state in a model file: fit of a loaded model starts afresh
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    fnn.save(loaded, tmp_path / "again.safetensors")
    assert read_safetensors(tmp_path / "again.safetensors")[1]["step_count"] == "0"


def test_a_file_without_a_step_count_loads_and_says_so(trained, capsys):
    _, path = trained
    rewritten(path, step_count=None)  # as every file written before fastnn recorded it
    fnn.load(path)
    assert training_line(capsys, path) == "training: not recorded (the file holds no optimizer step count)"


@pytest.mark.parametrize("bad", ["-1", "1e3", "12.0", " 12", "x", "\u00b2", "", str(2**64), "9" * 400])
def test_a_malformed_step_count_is_refused(trained, capsys, bad):
    _, path = trained
    rewritten(path, step_count=bad)
    with pytest.raises(ModelFileError, match="step_count must be a count of optimizer steps"):
        fnn.load(path)
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert "step_count must be a count" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5])
def test_save_refuses_a_bad_step_count_before_writing(trained, bad):
    model, path = trained
    before = path.read_bytes()
    model.training_state.step_count = bad
    with pytest.raises((ValueError, TypeError), match="model.step_count"):
        fnn.save(model, path)
    assert path.read_bytes() == before


def test_a_model_checkpoint_file_records_the_steps_at_its_epoch(tmp_path, capsys):
    """ModelCheckpoint wrote its files without the step count, so inspect said "not recorded" for them."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 4)).astype(np.float32), rng.integers(0, 3, 64)
    model = fnn.Sequential([Dense(3)], input_dim=4, seed=0)
    pattern = str(tmp_path / "epoch{epoch}.safetensors")
    model.fit(X, y, epochs=2, batch_size=32, verbose=0, callbacks=[ModelCheckpoint(pattern)])
    assert training_line(capsys, tmp_path / "epoch1.safetensors").startswith("training: 2 optimizer steps")
    assert training_line(capsys, tmp_path / "epoch2.safetensors").startswith("training: 4 optimizer steps")


def test_inspect_of_a_file_that_fails_to_load_prints_no_description(tmp_path, capsys):
    """inspect printed "g.onnx: ONNX graph" (or "fastnn model file" and its format line) on stdout before it read
    the file, then failed: a script reading stdout saw a description of a file that is not one."""
    pytest.importorskip("onnx")
    (tmp_path / "g.onnx").write_bytes(b"\x08\x07garbage that is not a protobuf of a model" * 3)
    assert main(["inspect", str(tmp_path / "g.onnx")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "not a readable ONNX model" in captured.err
