"""What the safetensors and npz containers share: the error type, strict JSON, guards on sizes read from a
file, atomic writes and the finite-values check. Format only: nothing here knows of layers or models."""
from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

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


# -- reading: regular files only -----------------------------------------------------------------------------

def open_regular(path, error: Callable[[Any, str], Exception] = ModelFileError) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file; raise ``error(path, problem)`` otherwise.

    A FIFO would block ``open`` (and every read) forever, and a device or directory is never a model or data
    file, so the type is checked before opening (``os.stat``: opening some devices has side effects) and again
    on the opened descriptor (``fstat``: the name may have been swapped in between). The open itself is
    non-blocking, so even a FIFO swapped in at that moment cannot hang it; the flag is cleared afterwards.
    Missing files raise ``FileNotFoundError`` as ``open`` would.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise error(path, _not_regular(mode))
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_BINARY)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(path, _not_regular(mode))
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs to block on
_O_BINARY = getattr(os, "O_BINARY", 0)      # Windows only


def _not_regular(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"is {kind}; only regular files are read"


# -- writing: atomic replace, no temporaries left behind ----------------------------------------------------

STALE_TEMP_SECONDS = 3600  # without file locks (Windows), a temporary this old is taken for a dead writer's


def _temp_pattern(basename: str) -> re.Pattern[str]:
    """Names of the temporaries ``atomic_write`` makes for ``basename``: ``.{basename}.{8 mkstemp chars}.tmp``."""
    return re.compile(re.escape(f".{basename}.") + r"[A-Za-z0-9_]{8}" + re.escape(".tmp"))


def _lock(fd: int, blocking: bool) -> bool:
    """Exclusive advisory lock on an open file (held until it is closed, released by the kernel when the
    process dies, even by SIGKILL): True if taken. Without fcntl (Windows) nothing is locked."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


def _remove_stale_temporaries(directory: str, basename: str) -> None:
    """Delete the temporaries a killed ``atomic_write`` to the same target left behind.

    Only names of our pattern for this target are considered, and only those no live writer holds: a writer
    keeps its temporary locked from creation until the rename, so a temporary we can lock belongs to a
    dead process (where locks do not exist, one older than STALE_TEMP_SECONDS). A concurrent save to the
    same target is therefore never disturbed. Best effort: errors are ignored.
    """
    pattern = _temp_pattern(basename)
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return
    for name in names:
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, os.O_RDONLY | _O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if fcntl is not None:
                if not _lock(fd, blocking=False):
                    continue  # a live writer
            elif time.time() - st.st_mtime < STALE_TEMP_SECONDS:
                continue
            if os.stat(full, follow_symlinks=False).st_ino == st.st_ino:  # still the file we locked
                os.unlink(full)
        except OSError:
            pass
        finally:
            os.close(fd)


def _locked_temp(directory: str, basename: str) -> tuple[int, str]:
    """A new temporary for ``basename`` in ``directory``, created and locked.

    Between ``mkstemp`` and the lock another writer's cleanup could take the unlocked file for a dead one and
    delete it; the name is then checked to still lead to our file, and a new one is made if not."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{basename}.", suffix=".tmp", dir=directory)
        _lock(fd, blocking=True)
        try:
            if os.stat(tmp, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)


def _target(path: str) -> tuple[int | None, str]:
    """(permission bits of the existing file or None, path): refuses a symbolic link or a non-regular file.

    Saving through a symbolic link is refused rather than guessed: replacing the link by a regular file
    would silently cut it, writing to the file it points to would follow a link someone else may have
    planted (in a shared directory) and change a file elsewhere.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, path
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(f"{path} is a symbolic link (to {os.readlink(path)!r}); fastnn does not write through "
                         f"links: save to {os.path.realpath(path)!r} itself, or remove the link first")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} {_not_regular(st.st_mode)}; cannot replace it with a file")
    return stat.S_IMODE(st.st_mode) & 0o777, path


def atomic_write_bytes(path, data: bytes) -> None:
    """``atomic_write`` of a whole file's bytes."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write(path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(f)`` on a temp file in the target's directory, fsync, then rename it over ``path``.

    A crash or error at any point leaves either the old file or the complete new one, never a mix, and
    reading a file's arrays and writing them back to the same path is safe. The new file keeps the
    permission bits of the file it replaces (a new file gets 0666 minus the umask). A symbolic link or a
    non-regular file at ``path`` is refused (ValueError) before anything is written. Temporaries
    (``.NAME.XXXXXXXX.tmp``) left by a writer killed mid-save are removed by the next save to the same
    target; a concurrent save to it is never disturbed (each writer holds a lock on its temporary). An OSError
    of the write (a full disk, a file size limit) names ``path``.
    """
    path = os.fspath(path)
    mode, path = _target(path)
    directory = os.path.dirname(os.path.abspath(path))
    basename = os.path.basename(path)
    _remove_stale_temporaries(directory, basename)
    fd, tmp = _locked_temp(directory, basename)
    try:
        with os.fdopen(fd, "wb") as f:  # closing it releases the lock: only after the rename
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())  # mkstemp creates 0600
            os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            exc.filename = path  # "[Errno 28] No space left on device: 'cm.png'": the error says which file
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere, and not an error if not
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


PICKLE_REFUSED = (
    "pickled files (torch.save checkpoints: .pt, .pth, .bin, .ckpt; .pkl) are never loaded, by design: "
    "unpickling can run arbitrary code. Convert the weights once, with PyTorch, where the file is trusted: "
    "`from safetensors.torch import save_file; save_file(model.state_dict(), \"net.safetensors\")`, "
    "then load net.safetensors")


# How many of a file's first bytes is_pickle reads: a safetensors file's header length and the "{" after it.
SNIFF_BYTES = 9


def is_pickle(head: bytes, file_size: int) -> bool:
    """The file (``head``: its first SNIFF_BYTES bytes, ``file_size`` bytes in all) is a pickle of protocol 2 or
    later (what torch.save's legacy format writes), the one test every reader uses.

    A pickle starts with 0x80 and its protocol, 2 to 5; so does a safetensors file whose little-endian header
    length is 640, 896, 1152 or 1408 (mod 65536), multiples of 8 usual for model headers. Such a file is a
    pickle only where it cannot be safetensors: the length leaves no room in the file, or no JSON object
    follows it (a safetensors header starts with "{"; a pickle's byte 8 is inside its first opcodes)."""
    if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        return False
    n = int.from_bytes(head[:8], "little")
    could_be_safetensors = len(head) >= SNIFF_BYTES and head[8:9] == b"{" and 0 < n <= file_size - 8
    return not could_be_safetensors


def is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def finite_check(path, arrays: dict) -> None:
    for name, a in arrays.items():
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ModelFileError(path, f"tensor {name!r} contains NaN or infinite values")

