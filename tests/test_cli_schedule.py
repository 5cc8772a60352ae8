"""`fastnn schedule`: every schedule the command lists prints and plots with no other argument, and the
arguments given are used."""
import numpy as np
import pytest

from fastnn.cli import main

# the names `fastnn schedule --help` lists
LISTED = ("constant", "step", "multistep", "exponential", "inverse-time", "cosine", "polynomial", "warmup", "cyclic",
          "cosine-warm-restarts", "sgdr", "onecycle")


def _values(text):
    lines = text.splitlines()
    start = lines.index("step\tlr") + 1
    return np.array([float(line.split("\t")[1]) for line in lines[start:] if not line.startswith("#")])


def test_the_help_lists_the_tested_names(capsys):
    assert main(["schedule", "--help"]) == 0
    assert ",".join(LISTED) in "".join(capsys.readouterr().out.split())  # help wraps at hyphens too


@pytest.mark.parametrize("name", LISTED)
def test_every_listed_schedule_prints_and_plots_with_defaults(name, tmp_path, capsys):
    plot = tmp_path / f"{name}.png"
    assert main(["schedule", name, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    values = _values(out)
    assert len(values) >= 20 and np.isfinite(values).all() and (values >= 0).all() and values.max() > 0
    assert "# defaults for the arguments not given:" in out
    assert plot.stat().st_size > 1000


def test_warmup_takes_lr_and_start_factor(capsys):
    assert main(["schedule", "warmup", "--lr", "0.5", "--warmup-steps", "4", "--start-factor", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "defaults" not in out
    np.testing.assert_allclose(_values(out)[:6], [0.25, 0.3125, 0.375, 0.4375, 0.5, 0.5])


def test_given_arguments_are_used_and_unused_ones_refused(capsys):
    assert main(["schedule", "cosine", "--lr", "1", "--total-steps", "4", "--warmup-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "defaults" not in out and len(_values(out)) == 5
    assert main(["schedule", "cosine", "--gamma", "0.5"]) == 2
    assert "Cosine does not take --gamma" in capsys.readouterr().err
