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