"""What the safetensors and npz containers share: the error type, strict JSON, guards on sizes read from a
file, atomic writes and the finite-values check. Format only: nothing here knows of layers or models."""
from __future__ import annotations

import json
import math
import os
import tempfile

import numpy as np

MAX_NDIM = 32  # as safetensors' rank limit; npz members are held to it too


class ModelFileError(ValueError):
    """A model or weights file is damaged, hostile, or not what was expected."""

    def __init__(self, path, problem: str):
        self.path = os.fspath(path) if path is not None else "<file>"
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def strict_json(text: str):
    """json.loads that refuses duplicate keys and the non-JSON constants NaN/Infinity."""

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def constant(name):
        raise ValueError(f"{name} is not valid JSON")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def shape_too_big(shape, itemsize: int) -> bool:
    """True if numpy could not even describe this shape (dims beyond intp, even alongside a zero dim)."""
    return math.prod(max(int(d), 1) for d in shape) * itemsize >= 1 << 62


def utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")  # lone surrogates from "\ud800" escapes cannot be encoded
        return True
    except UnicodeEncodeError:
        return False


def _umask() -> int:
    """The process umask, read without changing it (os.umask is a racy get-and-set)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def atomic_write(path, write) -> None:
    """Call ``write(f)`` on a temp file in the target's directory, fsync, then rename it over ``path``.

    A crash or error at any point leaves either the old file or the complete new one, never a mix, and
    reading a file's arrays and writing them back to the same path is safe.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere, and not an error if not
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass



def finite_check(path, arrays: dict) -> None:
    for name, a in arrays.items():
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ModelFileError(path, f"tensor {name!r} contains NaN or infinite values")

