"""The data stage of training: the loader that turns (X, targets) into an epoch's mini-batches (shuffled
gather, cast to the model dtype, augmentation in chunks); see :mod:`fastnn.data.loader`."""
