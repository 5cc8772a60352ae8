"""
Batch size: same mean gradient, variance tr(C)(N-K)/((N-1)K)
============================================================

**Claim.** The batch size K does not change the expected gradient; its variance falls as tr(C)(N-K)/((N-1)K).
(The loss against epochs and wall time is shown, not asserted: times on a shared machine are noisy.)

**Setup.** Digits, a 64-32-10 ReLU network at its initial weights. Every gradient is fastnn's own, the one a
training step applies (Sequential.loss_and_grad on the rows of the batch): on each of N training rows alone
(their covariance C), on all N rows (the full gradient) and on each of 400 (quick 150) random mini-batches of
K rows per K (their mean and variance), so a batch gradient that is not the mean of its rows' gradients fails
the claim. Then SGD with batch 1 (lr 0.01), 32 (lr 0.1) and N (lr 0.5), loss against epochs and time.

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
