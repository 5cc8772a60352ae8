"""
Hyperparameter search: grid, random, refinement, Bayesian optimization, Hyperband
=================================================================================

**Claim.** With one important and one unimportant parameter, random search finds a better value than a grid of
as many trials (it tries a new value of the important parameter every time); refining around the best random
trials, or Bayesian optimization, reaches a lower loss than random search in the same number of trials;
Hyperband finds as good a model as the full-length search of the same configurations. (That it stops most
configurations after a few epochs and so trains a fraction of the full-length search's epochs is how Hyperband
is built: shown, not counted as a finding.)

**Setup.** Grid vs random: f(x, y) = 1 - exp(-(x - x*)^2 / (2 0.1^2)) + 0.02 (y - y*)^2 on [0, 1]^2 with the
optimum (x*, y*) drawn at random, 10 optima per seed; fastnn.tune.search's 3 x 3 grid (0, 0.5, 1 per axis)
against 9 random trials; regret = the best f found (the minimum is 0). Refinement and Bayesian optimization:
Branin on [-5, 10] x [0, 15] (3 global minima, 0.397887), 30 trials of random, random+refine (15 random, then
around the best 3) and bayes (GP + expected improvement after a 5-point Latin hypercube), default options;
regret of the best so far after each trial. Hyperband: fastnn.tune.tune_model on the digits (1347 training
rows, the 450 held-out rows as validation), an MLP space (1-2 ReLU layers of 16-128 units, SGD with momentum
or Adam, lr 1e-4..1, L2 1e-6..1e-2, batch 32 or 128), one Hyperband iteration with eta 3 and 1..27 epochs
(quick: 1..9), promoted configurations continuing from their checkpoints; the same configurations trained to
the full budget (fastnn.tune's random search draws them in the same order) give the full-length search and,
cut to Hyperband's epochs, a random search of equal budget.

The computation lives in ``fastnn.gallery.search``;
``fastnn gallery search`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import search as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
