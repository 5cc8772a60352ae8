"""
Batch size: same mean gradient, variance tr(C)(N-K)/((N-1)K)
============================================================

**Claim.** The batch size K does not change the expected gradient; its variance falls as tr(C)(N-K)/((N-1)K).
(The loss against epochs and wall time is shown, not asserted: times on a shared machine are noisy.)

**Setup.** Digits, a 64-32-10 ReLU network at its initial weights: the exact per-sample gradients of N
training rows give the full gradient and C; 400 (quick 150) random mini-batches per K give the measured mean
and variance. Then SGD with batch 1 (lr 0.01), 32 (lr 0.1) and N (lr 0.5), loss against epochs and time.

The computation lives in ``fastnn.gallery.batch_size``;
``fastnn gallery batch_size`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import batch_size as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
