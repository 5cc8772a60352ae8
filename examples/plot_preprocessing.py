"""
Preprocessing: scaling and whitening speed up training
======================================================

**Claim.** Unscaled features slow gradient descent down; min-max scaling helps, standardization and PCA/ZCA
whitening help more.

**Setup.** Digits (1000 rows), each pixel column multiplied by its own factor 10^u, u uniform in [-1.5, 1.5]
(features on scales 30x apart either way); a 64-32-10 ReLU network, SGD, batch 32, the training loss after 3
epochs at the best lr of a grid (0.001, 0.003, ..., 3; quick 0.001, 0.01, 0.1, 1) for each method and seed:
the same lr for all would only measure which method suits that lr. 'Helps': a lower loss than unscaled
(min-max), than min-max ('helps more'), in most seeds. Beside it, reported and not asserted: the same protocol
on the plain pixel counts (one scale, 0..16), unscaled and standardized.

The computation lives in ``fastnn.gallery.preprocessing``;
``fastnn gallery preprocessing`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import preprocessing as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
