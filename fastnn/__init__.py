"""fastnn: train and serve feedforward neural networks fast on CPUs.

    import fastnn as fnn
    model = fnn.Sequential([fnn.layers.Dense(256, activation="relu"), fnn.layers.Dense(10)], input_dim=784)
    model.fit(X, y, loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), epochs=10)
"""
from ._config import load_extensions as _load_extensions
from ._version import __version__

try:
    _load_extensions()
except ImportError as _exc:
    from ._check_build import raise_build_error

    raise_build_error(_exc)

# Submodules are imported eagerly: together they add about 30 ms to `import fastnn` (measured, see the commit
# that removed the lazy module __getattr__), and every training program needs optim and training anyway;
# eager imports keep dir(), static analysis and mypy working and let a broken module fail at import.
from . import (  # noqa: E402
    augment,
    clip,
    datasets,
    init,
    io,
    layers,
    losses,
    metrics,
    optim,
    plot,
    preprocessing,
    schedules,
    training,
)
from ._config import get_num_threads, set_num_threads, show_config, threads  # noqa: E402
from .io import load, save  # noqa: E402
from .models import Sequential, model_from_config  # noqa: E402
from .runs import resume  # noqa: E402

__all__ = ["__version__", "Sequential", "model_from_config", "layers", "losses", "optim", "schedules", "clip",
           "init", "datasets", "preprocessing", "metrics", "plot", "augment", "training", "io", "set_num_threads",
           "get_num_threads", "threads", "show_config", "save", "load", "resume"]
