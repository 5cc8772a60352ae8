"""fastnn: train and serve feedforward neural networks fast on CPUs.

    import fastnn as fnn
    model = fnn.Sequential([fnn.layers.Dense(256, activation="relu"), fnn.layers.Dense(10)], input_dim=784)
    model.fit(X, y, loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), epochs=10)
"""
from typing import TYPE_CHECKING

from ._config import load_extensions as _load_extensions
from ._version import __version__

try:
    _load_extensions()
except ImportError as _exc:
    from ._check_build import raise_build_error

    raise_build_error(_exc)

from ._config import get_num_threads, set_num_threads, show_config, threads  # noqa: E402

# Submodules load on first attribute access (PEP 562), so that a serving process running
# `import fastnn.inference` loads the kernels and the inference package only, not the training code (issue 14;
# tests/test_structure.py checks it). `fnn.training`, `fnn.Sequential` and the rest work as before; dir() lists
# them and type checkers see the imports below.
_SUBMODULES = ("augment", "clip", "datasets", "inference", "init", "io", "layers", "losses", "metrics", "optim",
               "plot", "preprocessing", "schedules", "training", "tune")
_NAMES = {"Sequential": "models", "model_from_config": "models", "save": "io", "load": "io", "resume": "runs"}

if TYPE_CHECKING:
    from . import (  # noqa: F401
        augment,
        clip,
        datasets,
        inference,
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
    from .io import load, save
    from .models import Sequential, model_from_config
    from .runs import resume


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES) | set(_NAMES))


__all__ = ["__version__", "Sequential", "model_from_config", "layers", "losses", "optim", "schedules", "clip",
           "init", "datasets", "preprocessing", "metrics", "plot", "augment", "training", "io", "inference",
           "set_num_threads", "get_num_threads", "threads", "show_config", "save", "load", "resume"]
