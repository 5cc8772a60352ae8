"""The search journal: one JSON line per finished trial, appended durably (write, flush, fsync) as it ends.

The first line identifies the search (method, space, seed, mode, n_trials, options); running the same call
again reads the finished trials back and ``search`` skips them, so a search killed at any moment resumes
and ends with the result of an uninterrupted run (its trials are deterministic given the seed). A last line
cut short by the crash is dropped. A journal written by a different search is refused.

A record is replayed only for the trial it was written for: the same number, params, budget and configuration,
and, when the objective can tell (``digest_of``: tune_model's digest of the model and fit arguments its build
makes of the params), the same objective: a journal written by another build is refused before any trial runs,
whatever the build's name. Records without a digest (written before records had one) are replayed on the
search's identity alone.
Asynchronous successive halving numbers its trials in the order results arrive, so there a record is found by
its (configuration, budget) instead -- a configuration's params and its result at a budget do not depend on
that order -- and a resumed search ends as an uninterrupted run on the resuming executor does.

The file is read as untrusted input: a line that is not a record ``search`` writes (bad JSON, a missing or
unexpected key, a wrong type, an ok trial without a finite score, a trial recorded twice) is refused with a
ValueError naming the journal and the line, before any trial runs.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable

import numpy as np

from ..formats.common import open_regular
from .space import Choice, Space

FORMAT = "fastnn.tune.journal/1"
FIELDS = ("number", "params", "score", "budget", "seconds", "status", "error", "config")  # search's Trial
DIGEST = "digest"  # a record's optional field: what the objective made of its params (Journal's digest_of)


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


def check_writable(space: Space) -> None:
    """Refuse, before any trial, a space whose values a record could not hold: every constant and every Choice
    value is written as JSON in the params of the trials that draw it (ranges give numbers)."""
    for name, value in space.constants.items():
        _check_writable(name, value)
    for name, domain in space.domains.items():
        for value in domain.values if isinstance(domain, Choice) else ():
            _check_writable(name, value)


def _check_writable(name: str, value) -> None:
    try:
        json.dumps(_plain(value), allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"journal: the space's {name}={value!r} cannot be written as JSON ({exc}); use plain "
                        f"values (str, numbers, bool, None, lists, dicts) in a journaled space") from None


def _real(value) -> bool:
    """A JSON number that converts to a finite float (not a bool, not an int beyond float's range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _problem(record) -> str | None:
    """What makes ``record`` differ from every record ``search`` writes (None: nothing)."""
    if not isinstance(record, dict):
        return f"a record is a JSON object, got {type(record).__name__}"
    if set(record) - {DIGEST} != set(FIELDS):
        missing, unexpected = sorted(set(FIELDS) - set(record)), sorted(set(record) - {*FIELDS, DIGEST})
        return f"a record has the keys {list(FIELDS)}; missing {missing}, unexpected {unexpected}"
    number, params, score, status, error = (record[k] for k in ("number", "params", "score", "status", "error"))
    if not _count(number):
        return f"number must be an integer >= 0, got {number!r}"
    if not isinstance(params, dict):
        return f"params must be a JSON object, got {params!r}"
    if status == "ok":
        if not _real(score):  # run_trial makes a NaN, an infinity or a non-number a failed trial
            return f"an ok trial's score must be a finite number, got {score!r}"
        if error is not None:
            return f"an ok trial has no error, got {error!r}"
    elif status == "failed":
        if score is not None or not isinstance(error, str):
            return f"a failed trial has score null and an error message, got score {score!r}, error {error!r}"
    else:
        return f"status must be 'ok' or 'failed', got {status!r}"
    if not _real(record["seconds"]) or record["seconds"] < 0:
        return f"seconds must be a finite number >= 0, got {record['seconds']!r}"
    if record["budget"] is not None and not (_real(record["budget"]) and record["budget"] > 0):
        return f"budget must be null or a finite number > 0, got {record['budget']!r}"
    if record["config"] is not None and not _count(record["config"]):
        return f"config must be null or an integer >= 0, got {record['config']!r}"
    if not isinstance(record.get(DIGEST, ""), (str, type(None))):
        return f"digest must be a string or null, got {record[DIGEST]!r}"
    return None


class Journal:
    """The journal at ``path`` of the search ``identity``. ``by_config``: records are found by (configuration,
    budget) instead of trial number (asynchronous successive halving, whose numbers follow the results' order).
    ``digest_of(params)``: what the objective makes of params (a string, None when it cannot tell), written in
    every record and checked against every record read."""

    def __init__(self, path: str | os.PathLike, identity: dict, by_config: bool = False,
                 digest_of: Callable[[dict], str | None] | None = None):
        self.path = os.fspath(path)
        self.identity = json.loads(dumps(identity))
        self.by_config = by_config
        self.digest_of = digest_of
        self.records: dict = {}  # key (see _key) -> (record, its params as canonical JSON)
        data = self._existing()
        if data:
            self._read(data)
            self._check_digests()
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
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; nested too deeply
            header = None
        if not isinstance(header, dict) or header.get("journal") != FORMAT:
            raise ValueError(f"journal {self.path!r} is not a fastnn.tune journal")
        if header.get("search") != self.identity:
            raise ValueError(f"journal {self.path!r} belongs to another search ({header.get('search')}); this one "
                             f"is {self.identity}: pass another path or delete the file")
        lines_of: dict = {}
        for i, line in enumerate(complete[1:], start=2):
            try:
                record = json.loads(line)
                problem = _problem(record)
                params = dumps(record["params"]) if problem is None else ""
            except (ValueError, RecursionError) as exc:
                problem = f"not a JSON record ({'nested too deeply' if isinstance(exc, RecursionError) else exc})"
            if problem is None:
                key = self._key(record["number"], record["config"], record["budget"])
                if key in lines_of:
                    problem = f"this trial is recorded on line {lines_of[key]} already"
            if problem is not None:
                raise ValueError(f"journal {self.path!r} line {i}: {problem}; this file was not written by "
                                 f"fastnn.tune.search as it is: repair or delete it")
            lines_of[key] = i
            self.records[key] = (record, params)
        if torn:  # only now: a file refused above is left as it was
            self._truncate(len(data) - len(torn))

    def _check_digests(self) -> None:
        """Refuse the journal when a record's params make another objective now than when it ran (the build was
        edited, or another build of the same name runs); each configuration is built once."""
        if self.digest_of is None:
            return
        now: dict = {}
        for record, params in self.records.values():
            if DIGEST not in record:
                continue
            if params not in now:
                now[params] = self.digest_of(record["params"])
            if now[params] != record[DIGEST]:
                raise ValueError(f"journal {self.path!r}: trial {record['number']} (params {record['params']}) was "
                                 f"run by another build: its model and fit arguments had digest {record[DIGEST]}, "
                                 f"this build makes {now[params]}; pass another path or delete the file")

    def _key(self, number: int, config: int | None, budget) -> object:
        return (config, dumps(budget)) if self.by_config else number

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as f:
            f.truncate(size)

    def get(self, number: int, params: dict, budget=None, config: int | None = None) -> dict | None:
        """The finished record of this trial (found by number, or by (config, budget)), checked to be of the same
        params, budget and configuration."""
        found = self.records.get(self._key(number, config, budget))
        if found is None:
            return None
        record, recorded_params = found
        if (recorded_params, dumps(record["budget"]), record["config"]) != (dumps(params), dumps(budget), config):
            raise ValueError(f"journal {self.path!r}: trial {record['number']} ran with params {record['params']}, "
                             f"budget {record['budget']!r}, config {record['config']!r}, but this search proposes "
                             f"params {params}, budget {budget!r}, config {config!r} for it; was the space or the "
                             f"searcher changed?")
        return record

    def append(self, record: dict) -> None:
        if self.digest_of is not None:
            record = {**record, DIGEST: self.digest_of(record["params"])}
        self._append(record)

    def _append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
