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


@pytest.mark.parametrize("args, steps", [
    # the help said "total_steps, or one full cycle, or 100": cyclic listed three cycles + 1, sgdr two periods + 1
    (["cosine", "--total-steps", "50"], 51), (["polynomial", "--total-steps", "30", "--warmup-steps", "5"], 31),
    (["onecycle", "--total-steps", "50"], 50), (["cyclic", "--step-size-up", "20"], 3 * 40 + 1),
    (["cyclic", "--step-size-up", "5", "--step-size-down", "15"], 3 * 20 + 1), (["sgdr", "--T-0", "20"], 2 * 20 + 1),
    (["sgdr", "--T-0", "10", "--T-mult", "2"], 10 + 20 + 40 + 1), (["warmup", "--warmup-steps", "10"], 2 * 10 + 1),
    (["exponential"], 100), (["step", "--warmup-steps", "10"], 100)])
def test_the_default_steps_are_those_the_help_states(args, steps, capsys):
    from fastnn.cli.schedule import DEFAULT_STEPS

    assert main(["schedule", "--help"]) == 0
    assert f"(default: {DEFAULT_STEPS})" in " ".join(capsys.readouterr().out.split())
    assert main(["schedule", *args]) == 0
    assert f"\n# {steps} steps, " in capsys.readouterr().out
