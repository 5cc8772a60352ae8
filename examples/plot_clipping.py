"""
Gradient clipping stops an exploding run
========================================

**Claim.** Clipping the gradient by value or by its global norm keeps finite a run that explodes without it.

**Setup.** A badly scaled regression: the digit's value (0..9) from the raw pixel counts (0..16, not 0..1)
with the mean squared error, a 64-64-64-1 ReLU network, SGD lr 0.003 with momentum 0.9, batch 32, 6 epochs
(quick 3): no clipping, ByValue(1), ByGlobalNorm(1). 'Trains' means finite and below var(y), the loss of
predicting the mean.

The computation lives in ``fastnn.gallery.clipping``;
``fastnn gallery clipping`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import clipping as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
