"""
Learning-rate schedules: decay, warmup, cyclic, SGDR, one-cycle
===============================================================

**Claim.** Decaying the learning rate after a large start lets SGD settle lower than a constant large rate.
NOT tested here, only run and shown: the chapter's claims that warmup steadies the start of training at a
large rate, and that cyclic rates and SGDR help escape saddle points and local minima.

**Setup.** Digits (1000 training rows), 64-64-10 ReLU network, SGD with momentum 0.9, batch 32, peak lr 0.3,
12 epochs (quick 4): the training loss with each schedule against the constant rate, lower in most seeds.
Beside it, reported and not asserted: the constant rate against cosine decay at the smaller peak 0.1.

The computation lives in ``fastnn.gallery.schedules``;
``fastnn gallery schedules`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import schedules as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
