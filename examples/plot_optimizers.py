"""
Optimizers on 2-d surfaces, and AdaGrad's shrinking learning rate
=================================================================

**Claim.** Momentum (plain or Nesterov) crosses an ill-conditioned valley faster than plain SGD, and so do
RMSprop and Adam (the chapter: 'RMSProp and Adam do better'). Shown beside it, a property of the update rather
than a finding: AdaGrad's effective learning rate lr/sqrt(sum g^2) only shrinks.

**Setup.** f(x, y) = (x^2 + 25 y^2)/2 (condition number 25, axis-aligned: a per-coordinate step size, as
AdaGrad's, RMSprop's and Adam's, sees it as well conditioned), the saddle x^2 - y^2 and Rosenbrock, each
optimizer for 100 (quick 60) steps from a start jittered by the seed. Every optimizer runs at its best lr of
one grid, 0.001 to 10 in 33 steps (8 per decade): the lr whose median f after those steps, over the tuning
seeds 100, 101, 102 (none of them reported), is lowest; tuned on the quadratic and on Rosenbrock each, the
saddle run at the quadratic's. Momentum and Nesterov at the usual coefficient 0.9, and again with the
coefficient tuned with the lr (from 0.5, 0.7, 0.9): the chapter's claim is about momentum as such, and 0.9 is
what users run. Adam (0.9, 0.999), RMSprop (alpha 0.99), AdaGrad and AdaDelta (rho 0.9) at their defaults
otherwise. 'Faster': a lower f on the quadratic after those steps than SGD's, in most seeds. AdaGrad and
AdaDelta, which the chapter does not rank against SGD, run beside them: their f is reported, not asserted.
Shown, not asserted: the training loss of a 784-128-10 ReLU network on 2000 Fashion-MNIST images (digits if
missing) over 10 epochs, batch 64, each optimizer at its best lr of 1e-4 to 3.2 in half decades (the lowest
mean final loss over the tuning seeds 100 and 101; full mode only).

The computation lives in ``fastnn.gallery.optimizers``;
``fastnn gallery optimizers`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import optimizers as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
