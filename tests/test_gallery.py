"""The chapter's claims (fastnn.gallery), asserted on the numbers each experiment's quick mode measures over
three seeds (0, 1, 2: always all of them, never picked). Every claim's quick mode runs in the default suite (the
slower ones take about 6 s together); ``pytest -m gallery tests/test_gallery.py`` selects those alone."""
import math

import numpy as np
import pytest

from fastnn import gallery
from fastnn.cli import main

SEEDS = (0, 1, 2)


def slower(test):
    return pytest.mark.gallery(test)


def quick(name):
    module = gallery.get(name)
    return module, module.run(quick=True, seeds=SEEDS)


def test_zero_and_constant_init_keep_hidden_units_identical_and_he_keeps_relu_variance():
    module, r = quick("initialization")
    for value, spreads in r["symmetry"].items():
        assert max(spreads) == 0.0, value  # every hidden column equal to the first, bit for bit, after training
    he, small = module.growth(r, "relu", "He"), module.growth(r, "relu", "N(0, 0.01)")
    assert 0.5 < he.mean() < 2  # over 10 layers
    assert np.all(small < 1e-6)  # collapses
    assert np.all(module.growth(r, "relu", "N(0, 1)") > 1e6)  # explodes
    assert module.verdict(r)[0]


def test_minibatch_gradient_is_unbiased_and_its_variance_follows_the_formula():
    module, r = quick("batch_size")
    ratio = module.ratios(r)
    assert np.all(np.abs(ratio.mean(0) - 1) < 0.15), ratio
    assert np.median([v["bias_se"] for v in r["variance"]]) < 2.0
    assert module.verdict(r)[0]


def test_clipping_keeps_finite_a_run_that_diverges_without_it():
    module, r = quick("clipping")
    final = {k: np.array([run[-1] for run in v]) for k, v in r["loss"].items()}
    assert not np.isfinite(final["none"]).any()
    for name in ("by value 1", "by global norm 1"):
        assert np.all(final[name] < r["baseline"]), name
    assert module.verdict(r)[0]


def test_momentum_nesterov_and_adam_beat_sgd_on_the_valley_and_adagrads_lr_only_shrinks():
    module, r = quick("optimizers")
    quad = r["runs"]["ill-conditioned quadratic"]
    sgd = np.array([run["values"][-1] for run in quad["SGD"]])
    for name in ("momentum", "Nesterov", "Adam"):
        assert np.all(np.array([run["values"][-1] for run in quad[name]]) < sgd), name
    for run in quad["AdaGrad"]:
        assert np.all(np.diff(np.array(run["effective_lr"]), axis=0) <= 0)


@slower
def test_batchnorm_trains_at_3x_the_largest_lr_of_the_plain_network():
    module, r = quick("normalization")
    assert np.all(module.largest(r, "BatchNorm") >= 3 * module.largest(r, "none"))
    assert min(r["train_mode"]) > 1e-3 and max(r["eval_mode"]) == 0.0  # batch statistics only in training


@slower
def test_too_small_lr_is_slow_too_large_fails_and_larger_batches_tolerate_larger_lr():
    module, r = quick("learning_rate")
    small, right, large = (np.array([c[-1] for c in runs]) for runs in r["curves"].values())
    assert np.all(small > right)
    assert np.all(~np.isfinite(large) | (large >= math.log(10)))
    assert np.mean(np.array(r["largest"][256]) > np.array(r["largest"][4])) > 0.5


@slower
def test_regularizers_shrink_the_train_test_gap():
    module, r = quick("regularization")
    gap = {v: np.mean([x["train"] - x["test"] for x in r["runs"][v]]) for v in module.VARIANTS}
    assert sum(gap[v] < gap["none"] for v in module.VARIANTS[1:]) >= 3, gap
    l1_small = np.mean([x["small"] for x in r["runs"]["L1"]])
    assert l1_small > 3 * np.mean([x["small"] for x in r["runs"]["none"]])
    # exact zeros come from the proximal step only (every seed), and MC dropout is less sure where it is wrong
    assert all(x["zero"] == 0 for x in r["runs"]["L1"]) and all(x["zero"] > 0 for x in r["runs"]["L1 proximal"])
    assert all(x["mc spread wrong"] > 2 * x["mc spread right"] for x in r["runs"]["dropout"])


@slower
def test_decay_schedules_settle_below_a_large_constant_rate():
    module, r = quick("schedules")
    final = {k: np.array([run[-1] for run in v]) for k, v in r["loss"].items()}
    for name in ("step", "exponential", "cosine", "one-cycle"):
        assert np.all(final[name] < final["constant"]), name


@slower
def test_scaling_and_whitening_train_faster_than_unscaled_features():
    module, r = quick("preprocessing")
    final = {k: np.array([run[-1] for run in v]) for k, v in r["loss"].items()}
    for name in ("standardization", "PCA whitening", "ZCA whitening"):
        assert np.all(final[name] < 0.5 * final["unscaled"]), name


def test_random_beats_grid_and_refinement_and_bayes_beat_random_at_equal_trials():
    """The searches alone (Branin and the one-important-parameter function: no training, a few seconds)."""
    module = gallery.get("search")
    r = {"grid_random": [[module.grid_vs_random(s, i) for i in range(module.INSTANCES)] for s in SEEDS],
         "branin": [module.sample_efficiency(s) for s in SEEDS]}
    grid, rand = module.grid_and_random(r)
    assert np.all(np.mean(rand < grid, axis=1) > 0.5)  # in every seed, on most of its optima
    final = {m: np.median(module.regrets(r, m)[:, -1]) for m in module.METHODS}
    assert final["random+refine"] < final["random"] and final["bayes"] < final["random"], final
    early, late = module.choices_distance(r, "bayes")
    assert np.all(late < early)  # Bayesian optimization's later trials sit closer to a minimum


@slower
def test_hyperband_trains_fewer_epochs_for_as_good_a_model():
    module, r = quick("search")
    s = module.summaries(r)
    assert np.all(s["hb_epochs"] < 0.5 * s["full_epochs"])
    se = np.array([module.accuracy_se(a) for a in s["full_best"]])
    assert np.all(s["hb_best"] >= s["full_best"] - se)  # within one standard error of the full-length search
    assert module.verdict(r)[0]


def test_cli_lists_and_rejects_unknown_names(capsys):
    assert main(["gallery", "--list"]) == 0
    assert "initialization:" in capsys.readouterr().out
    assert main(["gallery", "nonesuch"]) == 2


def test_cli_writes_the_figure_and_the_page(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["gallery", "optimizers", "--quick", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "optimizers.md").read_text()
    assert "Verdict: reproduced" in page and "±" in page
    assert (tmp_path / "optimizers.png").read_bytes()[:4] == b"\x89PNG"


def test_the_examples_are_generated_from_the_modules():
    """examples/plot_*.py repeat each module's title, claim and setup (sphinx-gallery reads them as text):
    regenerate with tools/gallery_examples.py after editing a module."""
    import importlib.util
    from pathlib import Path

    tool = Path(__file__).resolve().parent.parent / "tools" / "gallery_examples.py"
    spec = importlib.util.spec_from_file_location("gallery_examples", tool)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for name in gallery.NAMES:
        committed = (generator.EXAMPLES / f"plot_{name}.py").read_text(encoding="utf-8")
        assert committed == generator.source(name), f"examples/plot_{name}.py is stale: run tools/gallery_examples.py"


def test_verdict_texts_follow_the_numbers():
    """The verdicts' words are computed, not written in: a per-layer factor is the 9th root of the layer-10 /
    layer-1 ratio, and Monte Carlo dropout is called less sure where it errs only when its numbers say so."""
    module, r = quick("initialization")
    ok, text = module.verdict(r)
    tanh_xavier = module.growth(r, "tanh", "Xavier").mean()
    assert f"x{tanh_xavier ** (1 / 9):.2f} per layer" in text, text  # 9 layer-to-layer factors from 1 to 10
    module, r = quick("regularization")
    ok, text = module.verdict(r)
    assert ok and "less sure where it errs" in text and "NOT less sure" not in text
    for run in r["runs"]["dropout"]:  # the full mode's finding (Fashion-MNIST): wrong predictions spread less
        run["mc spread wrong"], run["mc spread right"] = 0.5 * run["mc spread right"], run["mc spread wrong"]
    ok, text = module.verdict(r)
    assert not ok and "NOT less sure where it errs" in text, text
