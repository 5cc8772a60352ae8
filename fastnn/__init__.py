"""fastnn: train and serve feedforward neural networks fast on CPUs.

    import fastnn as fnn
    model = fnn.Sequential([fnn.layers.Dense(256, activation="relu"), fnn.layers.Dense(10)], input_dim=784)
    model.fit(X, y, loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), epochs=10)
"""
from ._config import load_extensions as _load_extensions
from ._version import __version__

_load_extensions()

from . import layers, losses  # noqa: E402
from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402
from .models import Sequential, model_from_config  # noqa: E402


def __getattr__(name):
    # Submodules owned by other parts of the package, imported on first use so a missing optional piece
    # never breaks `import fastnn`.
    import importlib

    if name in ("optim", "schedules", "clip", "datasets", "io", "init", "preprocessing", "augment", "training"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):
        return getattr(importlib.import_module(".io", __name__), name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


__all__ = ["__version__", "Sequential", "model_from_config", "layers", "losses", "set_num_threads",
           "get_num_threads", "show_config", "save", "load"]
