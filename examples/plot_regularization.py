"""
Regularization on a small training set
======================================

**Claim.** On a small training set, L1 (sparse weights), L2, early stopping, dropout and data augmentation
shrink the train-test gap and can raise the test accuracy; dropout's thinned networks, sampled at inference
(Monte Carlo dropout), say how sure each prediction is.

**Setup.** 1000 Fashion-MNIST training images (digits' 300 in quick mode or when Fashion-MNIST is missing), a
784-256-10 (64-256-10) ReLU network, SGD lr 0.05 momentum 0.9, batch 32, 60 epochs (quick 30); L1 1e-4 on the
hidden layer's weights, by its subgradient (Dense(l1=)) and by a proximal step (the optimizer's prox_l1), L2
1e-3, dropout 0.5 (Monte Carlo dropout with 50 passes, quick 20), early stopping on the last 20% of the
training rows as validation (patience 5; it trains on the other 80%, and its train accuracy is measured on
those), random shifts of 1 pixel. 10 seeds (quick 8), each its own data subset and initialization, shared by
every variant. Each regularizer is compared with no regularization seed by seed: it shrinks the gap (raises
the test accuracy) when the mean of the paired differences exceeds twice their standard error (std /
sqrt(seeds)); each regularizer is its own clause.

The computation lives in ``fastnn.gallery.regularization``;
``fastnn gallery regularization`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import regularization as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
