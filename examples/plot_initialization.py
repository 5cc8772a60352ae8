"""
Initialization: symmetry, and variance through 10 layers
========================================================

**Claim.** A constant (e.g. zero) initialization keeps every hidden unit identical through training; He keeps
a ReLU network's activation variance steady over depth while N(0, 0.01) makes it vanish and N(0, 1) explode;
Xavier keeps a tanh network's activation variance steady (the chapter's aim of variance scaling), and not a
ReLU network's.

**Setup.** Symmetry: digits, 64-16-10 tanh network with every weight 0.05 (and zeros), SGD 3 epochs; the
spread across hidden columns of W1. Variance: 10 layers of width 256 (quick 128) drawn by fastnn.init, 2 x
width standard-normal inputs; per layer the variance of the activations (forward) and of the gradients
(backward from a standard-normal output gradient). Xavier is Glorot's (gain 1), He is fan-in with gain
sqrt(2), orthogonal takes the activation's gain (fastnn.init.calculate_gain). 'Steady': the activation
variance at layer 10 over that at layer 1 within 0.5..2 (mean over the seeds: one draw per layer moves the
10-layer product by about x1.5 either way); 'vanish': below 1e-6 and 'explode': above 1e6, in every seed.

The computation lives in ``fastnn.gallery.initialization``;
``fastnn gallery initialization`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import initialization as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
