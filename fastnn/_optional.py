"""Optional dependencies: import one where a feature needs it, or say which extra installs it."""
from __future__ import annotations

import importlib
from types import ModuleType


def optional_import(module: str, feature: str, install: str) -> ModuleType:
    """``importlib.import_module(module)``, or an ImportError naming ``feature``, the missing package and how to
    install it (``install``: an extra such as "fastnn[onnx]", or a package), when ``module``'s package is not
    installed. Any other import failure (a broken installation) propagates as it is."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise not_installed(exc, module, feature, install) from None


def not_installed(exc: ModuleNotFoundError, module: str, feature: str, install: str) -> ImportError:
    """The error for ``exc``, an import of ``module`` (or of a name in it) that failed: a clear ImportError when
    ``module``'s package is missing (see optional_import); ``exc`` itself when something else is."""
    package = module.split(".")[0]
    if exc.name is None or exc.name.split(".")[0] != package:
        return exc
    return ImportError(f"{feature} needs {package}, which is not installed: pip install '{install}'")
