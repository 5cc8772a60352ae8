"""The one config convention: an object that can be saved describes itself as ``{"class": ClassName, **args}``
(``get_config()``), and a ``Registry`` of its family turns that dict back into an object (``from_config``).

Layers, the model, augmentations, preprocessors, optimizers, schedules and clipping rules all use the key
``"class"``. Optimizers, schedules and clipping rules wrote ``"name"`` in fastnn 0.1; a registry built with
``legacy_key="name"`` still reads such configs.
"""
from __future__ import annotations

from typing import Any, TypeVar

ClassT = TypeVar("ClassT", bound=type)


class Registry(dict[str, type]):
    """``{class name: class}`` of one family (``kind``, e.g. "optimizer"), filled by ``register``.

    ``error`` is the exception raised for a config that names no registered class (a ValueError subclass).
    """

    def __init__(self, kind: str, classes: tuple[type, ...] = (), *, legacy_key: str | None = None,
                 error: type[Exception] = ValueError) -> None:
        super().__init__()
        self.kind, self.legacy_key, self.error = kind, legacy_key, error
        for cls in classes:
            self.register(cls)

    def register(self, cls: ClassT) -> ClassT:
        """Add ``cls`` under its ``__name__`` (usable as a class decorator)."""
        self[cls.__name__] = cls
        return cls

    def split(self, config: object) -> tuple[type, dict[str, Any]]:
        """``(class, constructor arguments)`` of a config dict; raises ``self.error`` naming what is known."""
        if not isinstance(config, dict):
            raise self.error(f"a {self.kind} config must be a dict with a 'class' key, got {config!r}")
        key = "class" if "class" in config or self.legacy_key not in config else self.legacy_key
        name = config.get(key)
        cls = self.get(name) if isinstance(name, str) else None
        if cls is None:
            raise self.error(f"unknown {self.kind} config {config!r}: 'class' must be one of {sorted(self)}")
        return cls, {k: v for k, v in config.items() if k != key}

    def from_config(self, config: object) -> Any:
        """Build the object ``config`` describes (``cls(**args)``)."""
        cls, args = self.split(config)
        return cls(**args)


def class_config(obj: object, **args: Any) -> dict[str, Any]:
    """``{"class": type(obj).__name__, **args}``: the head of every ``get_config()``."""
    return {"class": type(obj).__name__, **args}
