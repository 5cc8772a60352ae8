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
    """Re-raise ``exc`` (the failed import of fastnn._ext) with the diagnosis and the fix."""
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
    raise ImportError(f"""{exc}
___________________________________________________________________________
{problem}

    pip install .                              # install fastnn, then run python outside the source tree
    python setup.py build_ext --inplace        # or build the extensions in place, for development

(a C compiler, Cython and numpy are needed to build; see README.md, "Quick start").
___________________________________________________________________________""") from exc
