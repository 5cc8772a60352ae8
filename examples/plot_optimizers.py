"""
Optimizers on 2-d surfaces, and AdaGrad's shrinking learning rate
=================================================================

**Claim.** Momentum (plain or Nesterov) crosses an ill-conditioned valley faster than plain SGD, and so do
RMSprop and Adam (the chapter: 'RMSProp and Adam do better'); AdaGrad's effective learning rate lr/sqrt(sum
g^2) only shrinks.

**Setup.** f(x, y) = (x^2 + 25 y^2)/2 (condition number 25), the saddle x^2 - y^2 and Rosenbrock, each
optimizer for 100 (quick 60) steps from a start jittered by the seed. 'Faster': a lower f on the quadratic
after those steps than SGD's, in most seeds. AdaGrad and AdaDelta, which the chapter does not rank against
SGD, run beside them: their f is reported, not asserted. Shown, not asserted: the training loss of a
784-128-10 ReLU network on 2000 Fashion-MNIST images (digits if missing) over 10 epochs, batch 64, SGD at its
best lr of 0.01, 0.03, 0.1, 0.3, the others at their usual defaults (full mode only).

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
