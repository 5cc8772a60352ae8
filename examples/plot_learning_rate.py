"""
Learning rate: too small, right, too large
==========================================

**Claim.** Too small a learning rate converges slowly, too large a one does not converge (the chapter's words:
the run diverges or stalls); and larger batches tolerate larger learning rates.

**Setup.** Digits (600 training rows), 64-64-10 ReLU network, plain SGD, batch 32: lr 0.001 / 0.1 / 10 for 10
(quick 4) epochs. 'Converges slowly': the loss falls from the first epoch to the last and ends above the right
lr's; 'does not converge': the loss becomes inf (diverges) or ends at or above the chance loss ln 10 = 2.30
(stalls). Then the largest lr of a x3 grid that trains, i.e. whose run ends below half the chance loss ln 10
(the same absolute rule for every batch size, as in the normalization experiment), for batch 4 and batch 256,
each after the same number of steps (100, quick; 300).

The computation lives in ``fastnn.gallery.learning_rate``;
``fastnn gallery learning_rate`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import learning_rate as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
