"""Which OpenMP runtime fastnn's kernels are bound to: its file, its version, and whether it is the wheel's own copy.

A repaired wheel carries its runtime under a mangled name, loaded through the extensions' rpath whatever else is
in the process: ``site-packages/fastnn.libs/libgomp-<hash>.so.1.0.0`` (auditwheel, Linux), ``fastnn/.dylibs``
(delocate, macOS). A plain build (``pip install .``, ``build_ext --inplace``) needs ``libgomp.so.1`` by soname,
so the dynamic loader hands it any ``libgomp.so.1`` already loaded: PyTorch's ``torch/lib/libgomp.so.1``, for
one, which then keeps the settings it read when *it* loaded.

On Linux the runtime is found exactly: ``dlsym`` on an extension's handle resolves ``omp_get_max_threads``
through that extension's own dependencies, and ``/proc/self/maps`` names the file mapped at that address.
Elsewhere it is the first OpenMP library threadpoolctl finds in our bundle directory, if any.
"""
from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
# auditwheel and delvewheel put a wheel's libraries beside the package, delocate inside it
BUNDLE_DIRS = (_PACKAGE_DIR.parent / "fastnn.libs", _PACKAGE_DIR / ".dylibs")
_RUNTIME_PREFIXES = ("libgomp", "libomp", "libiomp")


def _mapped_files() -> list[tuple[int, int, str]]:
    """(start, end, path) of every file mapping of this process; [] where /proc/self/maps does not exist."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            start, end = fields[0].split("-")
            found.append((int(start, 16), int(end, 16), fields[5]))
    return found


def loaded_runtimes() -> set[str]:
    """Paths of the OpenMP runtimes (libgomp, libomp, libiomp, whatever their mangled names) loaded now."""
    return {path for _, _, path in _mapped_files() if os.path.basename(path).startswith(_RUNTIME_PREFIXES)}


def runtime_of(extension_file: str) -> str | None:
    """Path of the OpenMP runtime the compiled extension ``extension_file`` (already imported) is bound to.

    None for a serial build (no OpenMP symbol), or where the lookup is not possible (no /proc/self/maps).
    """
    mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_NOW", 0)  # never load anything new
    try:
        address = ctypes.cast(ctypes.CDLL(extension_file, mode=mode).omp_get_max_threads, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    return next((path for start, end, path in _mapped_files() if start <= (address or 0) < end), None)


def is_bundled(path: str) -> bool:
    """True when ``path`` is a runtime the fastnn wheel carries (see the module docstring)."""
    parent = Path(path).resolve().parent
    return any(parent == d.resolve() for d in BUNDLE_DIRS)


def runtime_version(path: str) -> str | None:
    """libgomp: the newest ABI version node it defines (``GOMP_5.1`` is GCC 12's), else None.

    libgomp has no version call; the symbol versions in its dynamic string table say which GCC release built it
    (GOMP_4.5 GCC 6-8, GOMP_5.0 GCC 9-10, GOMP_5.0.1 GCC 11, GOMP_5.1 GCC 12, GOMP_5.1.1 GCC 13, ...).
    """
    if not os.path.basename(path).startswith("libgomp"):
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    nodes = {tuple(int(p) for p in m.split(b".")) for m in re.findall(rb"\0GOMP_(\d+(?:\.\d+)+)\0", data)}
    return "GOMP_" + ".".join(map(str, max(nodes))) if nodes else None


def describe(extension_file: str) -> dict[str, Any] | None:
    """{"path", "version", "bundled"} of the runtime ``extension_file`` uses, or None if it is not known."""
    path = runtime_of(extension_file)
    if path is None:
        path = _bundled_runtime_from_threadpoolctl()
    if path is None:
        return None
    return {"path": path, "version": runtime_version(path), "bundled": is_bundled(path)}


def _bundled_runtime_from_threadpoolctl() -> str | None:
    """Where /proc/self/maps is missing (macOS, Windows): the OpenMP library threadpoolctl sees in our bundle."""
    from threadpoolctl import threadpool_info

    paths = [d["filepath"] for d in threadpool_info() if d.get("user_api") == "openmp"]
    return next((p for p in paths if is_bundled(p)), None)
