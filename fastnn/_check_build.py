"""Turn the bare ImportError of unbuilt extensions into a message that says what is wrong and how to fix it
(in the spirit of scikit-learn's ``sklearn/__check_build``).

The usual cause: python was started in fastnn's source tree (for instance the repository root), so
``import fastnn`` found the source directory, whose ``fastnn/_ext`` holds only the Cython sources.
"""
from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES

_EXT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext")


def raise_build_error(exc: ImportError) -> None:
    """Re-raise ``exc`` (the failed import of fastnn._ext) with the diagnosis and the fix. Under
    ``python -m fastnn`` (a command, not an import) the diagnosis alone is printed and the process exits 1."""
    message = _diagnosis()
    if _running_as_command():
        print(f"fastnn: error: {message}", file=sys.stderr)
        raise SystemExit(1)
    rule = "_" * 75
    raise ImportError(f"{exc}\n{rule}\n{message}\n{rule}") from exc


def _diagnosis() -> str:
    """What is wrong with the extensions (not built, or built for another Python) and how to build them."""
    try:
        names = sorted(os.listdir(_EXT_DIR))
    except OSError:
        names = []
    built = [n for n in names if n.endswith(tuple(EXTENSION_SUFFIXES))]
    if built:
        problem = (f"fastnn's compiled extensions in {_EXT_DIR} ({', '.join(built)}) could not be loaded; they may "
                   f"have been built for another Python or numpy than this one (Python {sys.version.split()[0]}, "
                   f"extension suffix {EXTENSION_SUFFIXES[0]}). Rebuild them:")
    else:
        problem = (f"fastnn's compiled extensions are not built: {_EXT_DIR} has no {EXTENSION_SUFFIXES[0]} files. "
                   "If you started python inside fastnn's source tree (e.g. the repository root), that "
                   "directory's unbuilt fastnn/ was imported. Either:")
    return f"""{problem}

    pip install .                              # install fastnn, then run python outside the source tree
    python setup.py build_ext --inplace        # or build the extensions in place, for development

(a C compiler, Cython and numpy are needed to build; see README.md, "Quick start")."""


def _running_as_command() -> bool:
    """Whether python was started as ``python -m fastnn`` (or ``-m fastnn.cli``, ``-m fastnn.gallery``): then the
    user ran a command, and the import's traceback (25 lines, chained) would only bury the diagnosis. Python's own
    options before ``-m`` are skipped; any doubt (an option taking a value) keeps the traceback."""
    for i, arg in enumerate(sys.orig_argv[1:-1], 1):
        if arg == "-m":
            module = sys.orig_argv[i + 1]
            return module == "fastnn" or module.startswith("fastnn.")
        if not arg.startswith("-") or arg == "-c":
            return False
    return False
