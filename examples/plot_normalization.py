"""
BatchNorm and LayerNorm: the largest trainable learning rate
============================================================

**Claim.** Normalizing each layer's inputs, by BatchNorm or by LayerNorm, lets a network train at learning
rates where the plain network fails; in training BatchNorm's output for a row depends on the rest of its
batch, in evaluation it does not.

**Setup.** Digits (1000 rows), a 64-64-64-64-10 ReLU network with no normalization, BatchNorm or LayerNorm
before each ReLU; SGD, batch 64, 3 epochs (quick 2), lr on a x3 grid 0.01..30. Trainable: finite and ending
below half the chance loss ln 10; a normalization trains where the plain network fails when its largest
trainable lr is at least one grid step (x3) above the plain network's, in most seeds. BatchNorm's train vs
eval: the outputs for one row inside two different batches of 64, after training at lr 0.1.

The computation lives in ``fastnn.gallery.normalization``;
``fastnn gallery normalization`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import normalization as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
