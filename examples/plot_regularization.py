"""
Regularization on a small training set
======================================

**Claim.** On a small training set, L1 (sparse weights), L2, early stopping, dropout and data augmentation
shrink the train-test gap and can raise the test accuracy; dropout's thinned networks, sampled at inference
(Monte Carlo dropout), say how sure each prediction is.

**Setup.** 1000 Fashion-MNIST training images (digits' 300 in quick mode or when Fashion-MNIST is missing), a
784-256-10 (64-256-10) ReLU network, SGD lr 0.05 momentum 0.9, batch 32, 60 epochs (quick 30); L1 1e-4 on the
hidden layer's weights, by its subgradient (Dense(l1=)) and by a proximal step (the optimizer's prox_l1), L2
1e-3, dropout 0.5 (Monte Carlo dropout with 50 passes, quick 20), early stopping on a 20% validation split
(patience 5), random shifts of 1 pixel.

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
