"""The search journal: one JSON line per finished trial, appended durably (write, flush, fsync) as it ends.

The first line identifies the search (method, space, seed, mode, n_trials, options); running the same call
again reads the finished trials back and ``search`` skips them, so a search killed at any moment resumes
and ends with the result of an uninterrupted run (its trials are deterministic given the seed). A last line
cut short by the crash is dropped. A journal written by a different search is refused.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..formats.common import open_regular

FORMAT = "fastnn.tune.journal/1"


def _plain(value):
    """JSON-able copy (numpy scalars -> Python, tuples -> lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dumps(value) -> str:
    try:
        return json.dumps(_plain(value), sort_keys=True, allow_nan=True)
    except TypeError as exc:
        raise TypeError(f"journal: cannot write {value!r} as JSON ({exc}); use plain values in the space") from None


class Journal:
    def __init__(self, path: str | os.PathLike, identity: dict):
        self.path = os.fspath(path)
        self.identity = json.loads(dumps(identity))
        self.records: dict[int, dict] = {}
        data = self._existing()
        if data:
            self._read(data)
        else:
            self._append(self._header())

    def _header(self) -> dict:
        return {"journal": FORMAT, "search": self.identity}

    def _existing(self) -> bytes:
        """The journal's bytes (empty when there is no file yet). A FIFO, a directory or a device is refused
        before it is opened: appending to a FIFO would wait for a reader forever."""
        try:
            with open_regular(self.path, lambda path, problem: ValueError(f"journal {path!r} {problem}")) as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def _read(self, data: bytes) -> None:
        """Check the header, then drop a last line torn by a crash and read the records. Nothing is cut from a
        file that is not this search's journal."""
        lines = data.split(b"\n")
        complete, torn = lines[:-1], lines[-1]  # a crash can leave the last line without its newline
        if not complete:  # no whole line: this search's header cut short by a crash starts again
            if not (dumps(self._header()) + "\n").encode().startswith(torn):
                raise ValueError(f"journal {self.path!r} is not a fastnn.tune journal")
            self._truncate(0)
            self._append(self._header())
            return
        try:
            header = json.loads(complete[0])
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("journal") != FORMAT:
            raise ValueError(f"journal {self.path!r} is not a fastnn.tune journal")
        if header["search"] != self.identity:
            raise ValueError(f"journal {self.path!r} belongs to another search ({header['search']}); this one is "
                             f"{self.identity}: pass another path or delete the file")
        if torn:
            self._truncate(len(data) - len(torn))
        for line in complete[1:]:
            record = json.loads(line)
            self.records[record["number"]] = record

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as f:
            f.truncate(size)

    def get(self, number: int, params: dict) -> dict | None:
        """The finished record of trial ``number``, checked to be the same configuration."""
        record = self.records.get(number)
        if record is not None and dumps(record["params"]) != dumps(params):
            raise ValueError(f"journal {self.path!r}: trial {number} ran with {record['params']}, but this "
                             f"search proposes {params}; was the space or the searcher changed?")
        return record

    def append(self, record: dict) -> None:
        self._append(record)

    def _append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
