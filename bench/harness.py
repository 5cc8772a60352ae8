"""One benchmark harness: declared parameter grids, every contender timed alone in a fresh process.

Why a fresh process per measurement: after its last call numpy's OpenBLAS keeps its worker threads spinning,
and libgomp pools do the same after a parallel region, so whatever runs next in the same process competes
with them for the cores. Timing PyTorch right after fastnn in one process understated PyTorch by up to 2.5x
(bench/RESULTS.md, "How these figures are measured"). So the runner

* starts a new interpreter (``sys.executable``, the caller's environment, ``PYTHONPATH`` kept) for every
  (grid point, round, contender), which builds its contender, warms it up, times it and reports one JSON line;
* alternates the contenders round by round, rotating their order (A B C, B C A, C A B, ...) so that slow
  drifts of a shared machine hit every contender alike and none always runs first; ratios are taken per round
  (paired) and their median and range reported: to the baseline, and for every fastnn contender to the best
  contender of each peer family (torch eager / fused / foreach / compile are one family);
* sets the thread count explicitly: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` in the
  child's environment, then ``fastnn.set_num_threads`` / ``torch.set_num_threads`` for whichever of them the
  contender imported; a factory with a ``threads`` parameter sets the rest itself (JAX through the CPU
  affinity, ONNX Runtime through its session options) and records how. fastnn children get
  ``FASTNN_ADAPTIVE_THREADS=0`` (fastnn would otherwise treat the count as a ceiling and adapt it to the load)
  unless the benchmark measures that adaptation on purpose (``fastnn_adaptive_threads``);
* removes ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` from the children's environment (``--keep-openblas-env``
  keeps them): a machine may set them for old OpenBLAS builds, and they pin a current OpenBLAS to slower
  kernels than the CPU has, which would slow every numpy/scipy/sklearn peer. Each child reports the OpenBLAS
  kernel it ran (threadpoolctl's ``architecture``), and the table header names it per contender;
* records the date, the machine (CPU model, cores), the versions each child loaded, the ``OMP_*``,
  ``GOMP_*``, ``OPENBLAS_*``, ``MKL_*``, ``FASTNN_*``, ``XLA_*`` variables, the load average and the CPU share
  other processes took during the run; reports median, best and spread per contender, as a markdown table for
  RESULTS.md and as JSON.

A contender is a *factory*, ``"module:function"`` importable from bench/, called with the grid point's
parameters (and ``threads``, if it has such a parameter). It returns a callable that runs one unit of work
and, for throughputs, returns the number of items it processed (samples, images; ``None`` counts as 1). The
callable may carry an ``extra()`` method whose dict is recorded once, in round 0 (accuracy against a
reference, bytes moved, ...). A factory raises :class:`Unsupported` when it has no implementation for the
grid point (shown as n/a). Suites import heavy libraries inside factories, so a child loads only what its
contender needs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib
import inspect
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
RECORDED_ENV_PREFIXES = ("OMP_", "GOMP_", "OPENBLAS_", "MKL_", "FASTNN_", "XLA_")
# set on some machines for old OpenBLAS builds; they pin a current one to slower kernels (removed by default)
OPENBLAS_KERNEL_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
VERSIONED_MODULES = ("numpy", "fastnn", "torch", "sklearn", "scipy", "threadpoolctl", "onnxruntime", "onnx",
                     "jax", "jaxlib", "optax")


class Unsupported(Exception):
    """Raised by a factory that has no implementation for this grid point (the table shows n/a)."""


@dataclasses.dataclass(frozen=True)
class Contender:
    """One implementation under test.

    ``params`` are fixed keyword arguments added to the grid point's (``threads`` among them overrides the
    run's thread count for this contender); ``env`` is added to the child's environment; ``preload`` modules
    are imported before the peak-RSS baseline is taken (import cost is not the work's memory); ``when``
    decides per grid point whether the contender takes part; ``fastnn`` marks the contenders that
    ``--compare-trees`` duplicates, one per fastnn tree (by default: the name starts with "fastnn"). Peers of
    one ``family`` (default: their own name) are implementations of one library: fastnn is quoted against the
    best of each family at every grid point.
    """

    name: str
    factory: str
    params: dict = dataclasses.field(default_factory=dict)
    env: dict = dataclasses.field(default_factory=dict)
    preload: tuple[str, ...] = ()
    when: Callable[[dict], bool] | None = None
    fastnn: bool | None = None
    tree: str | None = None  # a fastnn source tree put first on sys.path (set by --compare-trees)
    family: str | None = None

    @property
    def uses_fastnn(self) -> bool:
        return self.name.startswith("fastnn") if self.fastnn is None else self.fastnn

    @property
    def peer_family(self) -> str:
        return self.family or self.name


@dataclasses.dataclass
class Benchmark:
    """A measured quantity over a parameter grid.

    ``unit`` is ``"s"`` (seconds per call, lower is better) or ``"items/s"`` (items returned per second,
    higher is better; ``items`` names them). ``grid`` maps a parameter to its values (the cartesian product
    is measured); ``quick_grid`` overrides some of them under ``--quick``. ``fixed`` parameters go to every
    factory unchanged. Each child runs ``warmup`` calls, then calls until both ``min_calls`` and ``min_time``
    seconds are reached, and reports the mean over that window. ``around`` is a context manager factory the
    runner enters for the whole benchmark (for example a process that keeps one core busy; its CPU time counts
    as another process's). ``fastnn_adaptive_threads`` leaves fastnn's load-adaptive thread count on in its
    children (for a benchmark that measures it); otherwise they run exactly the threads the run sets.
    """

    name: str
    title: str
    contenders: list[Contender]
    baseline: str
    grid: dict[str, list] = dataclasses.field(default_factory=dict)
    quick_grid: dict[str, list] = dataclasses.field(default_factory=dict)
    fixed: dict = dataclasses.field(default_factory=dict)
    quick_fixed: dict = dataclasses.field(default_factory=dict)
    unit: str = "s"
    items: str = "items"
    warmup: int = 1
    min_calls: int = 3
    min_time: float = 0.5
    rounds: int = 3
    default: bool = True  # run when the suite runs without --bench
    report_memory: bool = False  # a table column with each contender's peak-RSS growth (always in the JSON)
    around: Callable[[], Any] | None = None
    fastnn_adaptive_threads: bool = False
    notes: str = ""

    def __post_init__(self):
        if self.unit not in ("s", "items/s"):
            raise ValueError(f"unit must be 's' or 'items/s', not {self.unit!r}")
        if self.baseline not in {c.name for c in self.contenders}:
            raise ValueError(f"baseline {self.baseline!r} is not a contender of {self.name}")

    @property
    def higher_is_better(self) -> bool:
        return self.unit == "items/s"


@dataclasses.dataclass
class RunConfig:
    """What the command line chose for one run."""

    rounds: int | None = None
    threads: int = 2
    quick: bool = False
    min_time: float | None = None
    grid: dict[str, list] = dataclasses.field(default_factory=dict)
    contenders: list[str] | None = None
    baseline: str | None = None
    fastnn_path: str | None = None
    compare_trees: list[str] = dataclasses.field(default_factory=list)
    timeout: float = 900.0
    command: str = ""
    keep_openblas_env: bool = False  # pass OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE on to the children


# --------------------------------------------------------------------------------------------------- parent


def grid_points(grid: dict[str, list]) -> list[dict]:
    """The cartesian product of the grid, in declaration order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def parse_value(text: str, like: Any):
    """A command-line grid value, converted to the type of the declared default ``like``."""
    if isinstance(like, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    return text


def parse_grid_args(items: list[str], bench: Benchmark) -> dict[str, list]:
    """``["batch=32,128", ...]`` -> ``{"batch": [32, 128]}``, typed after the benchmark's declared values."""
    out = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep:
            raise ValueError(f"--grid wants key=v1,v2, got {item!r}")
        declared = bench.grid.get(key) or ([bench.fixed[key]] if key in bench.fixed else [""])
        out[key] = [parse_value(v, declared[0]) for v in values.split(",")]
    return out


def tree_label(path: str, all_paths: list[str]) -> str:
    """``/work/wt/base`` -> ``base`` (the full path when two trees share a base name)."""
    names = [os.path.basename(os.path.normpath(p)) for p in all_paths]
    name = os.path.basename(os.path.normpath(path))
    return name if names.count(name) == 1 else os.path.normpath(path)


def effective_contenders(bench: Benchmark, cfg: RunConfig) -> tuple[list[Contender], str]:
    """The contenders of this run (filtered, duplicated per fastnn tree) and the baseline's name."""
    chosen = [c for c in bench.contenders if cfg.contenders is None or c.name in cfg.contenders]
    baseline = cfg.baseline or bench.baseline
    if cfg.compare_trees:
        expanded = []
        for c in chosen:
            if c.uses_fastnn:
                expanded += [dataclasses.replace(c, name=f"{c.name}@{tree_label(t, cfg.compare_trees)}", tree=t)
                             for t in cfg.compare_trees]
            else:
                expanded.append(c)
        if cfg.baseline is None:  # before/after: the first tree's copy of the first fastnn contender
            first = next((c for c in expanded if c.tree), None)
            baseline = first.name if first else baseline
        chosen = expanded
    elif cfg.fastnn_path:
        chosen = [dataclasses.replace(c, tree=cfg.fastnn_path) if c.uses_fastnn else c for c in chosen]
    if not chosen:
        raise ValueError(f"no contender of {bench.name} left (have {[c.name for c in bench.contenders]})")
    if baseline not in {c.name for c in chosen}:
        baseline = chosen[0].name
    return chosen, baseline


def base_env(threads: int, keep_openblas_env: bool = False) -> dict:
    """The environment every benchmark child starts from: the caller's, with the thread variables set to
    ``threads`` and, unless kept, without the variables that pin OpenBLAS to another CPU's kernels."""
    env = {k: v for k, v in os.environ.items() if keep_openblas_env or k not in OPENBLAS_KERNEL_VARS}
    env.update({k: str(threads) for k in THREAD_VARS})
    return env


def fastnn_env(adaptive_threads: bool = False) -> dict:
    """What a fastnn child adds: its thread count fixed, unless the adaptation is what is measured."""
    return {} if adaptive_threads else {"FASTNN_ADAPTIVE_THREADS": "0"}


def removed_env(keep_openblas_env: bool = False) -> dict:
    """The caller's variables that ``base_env`` leaves out (for the record)."""
    return {} if keep_openblas_env else {k: os.environ[k] for k in OPENBLAS_KERNEL_VARS if k in os.environ}


def env_for(threads: int, is_fastnn: bool, keep_openblas_env: bool = False, adaptive: bool = False,
            tree: str | None = None) -> dict:
    """A child's environment: ``base_env``, plus ``fastnn_env`` for a fastnn child, with ``tree`` (a fastnn
    source tree to import) first on ``PYTHONPATH``."""
    env = base_env(threads, keep_openblas_env)
    if is_fastnn:
        env.update(fastnn_env(adaptive))
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
    return env


def environment_note(keep_openblas_env: bool = False) -> str:
    """How the children's environment differs from the caller's, as one clause for a script's header line."""
    removed = removed_env(keep_openblas_env)
    return (f"without {assignments(removed)}; " if removed else "") + f"fastnn with {assignments(fastnn_env())}"


def assignments(env: dict) -> str:
    """``env`` as "K=V, K=V"."""
    return ", ".join(f"{k}={v}" for k, v in env.items())


def child_env(threads: int, contender: Contender, keep_openblas_env: bool = False,
              adaptive_threads: bool = False) -> dict:
    """``env_for`` the contender, with its own variables on top."""
    env = env_for(threads, contender.uses_fastnn, keep_openblas_env, adaptive_threads, contender.tree)
    env.update({k: str(v) for k, v in contender.env.items()})
    return env


CHILD_CODE = "import sys; sys.path.insert(0, sys.argv[1]); import harness; harness.child_main()"


def run_child(spec: dict, env: dict, timeout: float) -> dict:
    """Run one measurement in a fresh interpreter; the spec goes in on stdin, one JSON line comes back."""
    proc = subprocess.run([sys.executable, "-c", CHILD_CODE, BENCH_DIR], input=json.dumps(spec), env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        return {"error": f"child exited {proc.returncode}: " + "\n".join(tail)}
    return json.loads(lines[-1])


class OtherCpuShare:
    """The share of the machine's CPU time that processes other than this run used while it ran (Linux).

    "This run" is this process and the children it reaped meanwhile: enter it inside any background load the
    benchmark starts (``Benchmark.around``), so that load is reaped after the count and shows as another
    process's. ``ours_s`` is this run's CPU time in seconds."""

    def __enter__(self):
        self._stat, self._ours = self._machine(), self._own()
        return self

    def __exit__(self, *exc):
        stat, ours = self._machine(), self._own()
        total = sum(stat) - sum(self._stat)
        busy = sum(stat[:3]) - sum(self._stat[:3])
        self.ours_s = (ours - self._ours) / os.sysconf("SC_CLK_TCK")
        self.share = max(0.0, (busy - (ours - self._ours)) / total) if total > 0 else None

    @staticmethod
    def _machine() -> list[int]:
        try:
            with open("/proc/stat") as f:
                return [int(v) for v in f.readline().split()[1:8]]
        except OSError:
            return [0] * 7

    @staticmethod
    def _own() -> float:
        t = os.times()  # this process and its finished children, in clock ticks like /proc/stat
        return (t.user + t.system + t.children_user + t.children_system) * os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_caches() -> str:
    """The first core's caches as Linux lists them ("L1d 48K, L2 1024K, L3 32768K"; "" where unknown): the VMs
    these benchmarks run on often name only the vendor ("AMD EPYC"), and the cache sizes tell their kinds apart."""
    caches = []
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(os.path.join(index, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(index, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(index, "size")) as f:
                size = f.read().strip()
        except OSError:
            continue
        if kind != "Instruction":
            caches.append(f"L{level}{'d' if kind == 'Data' else ''} {size}")
    return ", ".join(caches)


def cpu_simd() -> str:
    """The widest x86 vector extension the CPU reports ("AVX-512", "AVX2", "" where unknown or not x86)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return ""
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""


def machine_info() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": cpu_model(), "caches": cpu_caches(), "simd": cpu_simd(), "cores": os.cpu_count(),
            "usable_cores": usable, "arch": platform.machine(), "os": platform.platform(),
            "python": platform.python_version()}


def cpu_line(m: dict) -> str:
    """"AMD EPYC (AVX-512; L1d 48K, L2 1024K, L3 32768K)": the CPU with what reports made before 2026-12-02 lack."""
    details = "; ".join(part for part in (m.get("simd"), m.get("caches")) if part)
    return f"{m['cpu']} ({details})" if details else m["cpu"]


def recorded_env(env: dict | None = None) -> dict:
    env = os.environ if env is None else env
    return {k: v for k, v in sorted(env.items()) if k.startswith(RECORDED_ENV_PREFIXES)}


def summarize(values: list[float]) -> dict:
    """Median, best (max for throughput is handled by the caller) and spread of one contender's rounds."""
    med = statistics.median(values)
    return {"median": med, "min": min(values), "max": max(values),
            "spread_pct": 100 * (max(values) - min(values)) / med if med else None}


def run_benchmark(bench: Benchmark, cfg: RunConfig, log=None) -> dict:
    """Measure every (grid point, contender), contenders alternated round by round, each in its own process."""
    rounds = cfg.rounds or (1 if cfg.quick else bench.rounds)
    min_time = cfg.min_time if cfg.min_time is not None else (min(bench.min_time, 0.1) if cfg.quick
                                                              else bench.min_time)
    grid = dict(bench.grid)
    fixed = dict(bench.fixed)
    if cfg.quick:
        grid.update(bench.quick_grid)
        fixed.update(bench.quick_fixed)
    for key, values in cfg.grid.items():
        if key in fixed and key not in grid:
            fixed.pop(key)
        grid[key] = values
    contenders, baseline = effective_contenders(bench, cfg)
    points = grid_points(grid)
    order, results = [], []
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    around = bench.around() if bench.around else contextlib.nullcontext()
    with around, OtherCpuShare() as share:  # the background load is not "ours": its process is reaped later
        for point in points:
            params = {**fixed, **point}
            taking_part = [c for c in contenders if c.when is None or c.when(params)]
            runs: dict[str, list[dict]] = {c.name: [] for c in taking_part}
            for r in range(rounds):
                for c in rotated(taking_part, r):
                    call_params = {**params, **c.params}
                    threads = int(call_params.pop("threads", cfg.threads))
                    spec = {"factory": c.factory, "params": call_params, "threads": threads, "unit": bench.unit,
                            "warmup": bench.warmup, "min_calls": bench.min_calls, "min_time": min_time,
                            "extra": r == 0, "tree": c.tree, "preload": list(c.preload)}
                    env = child_env(threads, c, cfg.keep_openblas_env, bench.fastnn_adaptive_threads)
                    res = run_child(spec, env, cfg.timeout)
                    res["threads"] = threads
                    runs[c.name].append(res)
                    order.append({"point": point, "round": r, "contender": c.name, "pid": res.get("pid")})
                    if log:
                        log(f"{bench.name} {point} round {r} {c.name}: " +
                            (f"{res['value']:.6g} {bench.unit}" if "value" in res else
                             res.get("unsupported") and "n/a" or res.get("error", "?")[:300]))
            results += collect(point, runs, baseline, bench, taking_part)
    return {"suite_benchmark": bench.name, "title": bench.title, "command": cfg.command, "date": started,
            "machine": machine_info(), "unit": bench.unit, "items": bench.items,
            "higher_is_better": bench.higher_is_better, "report_memory": bench.report_memory,
            "rounds": rounds, "min_time_s": min_time,
            "threads": cfg.threads, "quick": cfg.quick, "baseline": baseline, "fixed": fixed,
            "grid": grid, "env": recorded_env(base_env(cfg.threads, cfg.keep_openblas_env)),
            "env_removed": removed_env(cfg.keep_openblas_env),
            "fastnn_env": fastnn_env(bench.fastnn_adaptive_threads),
            "openblas": openblas_kernels(results), "versions": versions_seen(results),
            "fastnn_trees": sorted({c.tree for c in contenders if c.tree}),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "other_processes_cpu_share": share.share, "our_cpu_s": share.ours_s,
            "background_load": bench.around is not None, "notes": bench.notes, "order": order,
            "results": results}


def rotated(contenders: list, r: int) -> list:
    """Round ``r``'s order: the list rotated by ``r`` (A B C, B C A, C A B, ...), so none always runs first."""
    k = r % len(contenders) if contenders else 0
    return contenders[k:] + contenders[:k]


def paired_ratio(values: list[float], reference: list[float], higher_is_better: bool) -> dict | None:
    """Median, min and max over rounds of the per-round ratio of ``values`` to ``reference`` (round i with
    round i; > 1: better than the reference), or None when the rounds do not pair."""
    if len(values) != len(reference):
        return None
    ratios = [(v / b if higher_is_better else b / v) for v, b in zip(values, reference, strict=True)
              if v > 0 and b > 0]
    return {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios)} if ratios else None


def collect(point: dict, runs: dict[str, list[dict]], baseline: str, bench: Benchmark,
            contenders: list[Contender] = ()) -> list[dict]:
    """One result row per contender at one grid point: summary of its rounds (``values`` in round order), its
    paired ratio to the baseline and to every other contender (``vs``: per round baseline/contender for times,
    contender/baseline for throughputs: > 1 is better), and for a fastnn contender the paired ratio to the
    best contender of each peer family (``vs_best``)."""
    rows = []
    for name, rr in runs.items():
        row = {"params": point, "contender": name, "pids": [r.get("pid") for r in rr],
               "threads": rr[0].get("threads") if rr else None}
        errors = [r["error"] for r in rr if "error" in r]
        if any("unsupported" in r for r in rr):
            row["unsupported"] = next(r["unsupported"] for r in rr if "unsupported" in r)
        elif errors:
            row["error"] = errors[0]
        else:
            values = [r["value"] for r in rr]
            row.update({"values": values, **summarize(values),
                        "best": max(values) if bench.higher_is_better else min(values),
                        "peak_rss_growth_mib": max(r["peak_rss_growth_mib"] for r in rr),
                        "calls": [r["calls"] for r in rr],
                        "extra": next((r["extra"] for r in rr if r.get("extra")), {}),
                        "versions": rr[0].get("versions", {}), "fastnn_file": rr[0].get("fastnn_file"),
                        "child_env": rr[0].get("env", {}), "blas": rr[0].get("blas")})
        rows.append(row)
    measured = {row["contender"]: row for row in rows if "values" in row}
    for row in measured.values():
        row["vs"] = {other["contender"]: paired
                     for other in measured.values() if other is not row
                     and (paired := paired_ratio(row["values"], other["values"], bench.higher_is_better))}
        # ``vs`` holds the ratio to the baseline already; only the baseline's own (1.0) is not in it
        to_base = (paired_ratio(row["values"], row["values"], bench.higher_is_better)
                   if row["contender"] == baseline else row["vs"].get(baseline))
        if to_base:
            row.update({"ratio": to_base["ratio"], "ratio_min": to_base["min"], "ratio_max": to_base["max"]})
    best = best_of_families(measured, contenders, bench.higher_is_better)
    for c in contenders:
        if c.uses_fastnn and c.name in measured:
            measured[c.name]["vs_best"] = {family: {"contender": peer, **measured[c.name]["vs"][peer]}
                                           for family, peer in best.items() if peer in measured[c.name]["vs"]}
    return rows


def best_of_families(measured: dict[str, dict], contenders, higher_is_better: bool) -> dict[str, str]:
    """{peer family: its contender with the best median} among the measured non-fastnn contenders."""
    best: dict[str, str] = {}
    for c in contenders:
        if c.uses_fastnn or c.name not in measured:
            continue
        current = best.get(c.peer_family)
        if current is None or _better(measured[c.name]["median"], measured[current]["median"], higher_is_better):
            best[c.peer_family] = c.name
    return best


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    return a > b if higher_is_better else a < b


def openblas_kernels(results: list[dict]) -> dict[str, list[str]]:
    """{"<kernel> (openblas <version>)": [contenders whose children loaded it]}, from threadpoolctl."""
    kernels: dict[str, list[str]] = {}
    for row in results:
        for lib in openblas_libraries(row.get("blas")):
            names = kernels.setdefault(f"{lib.get('architecture')} (openblas {lib.get('version')})", [])
            if row["contender"] not in names:
                names.append(row["contender"])
    return kernels


def openblas_libraries(blas: list[dict] | None) -> list[dict]:
    """The OpenBLAS entries of one child's ``blas`` list (``blas_info``; None where threadpoolctl is absent)."""
    return [lib for lib in blas or [] if lib.get("internal_api") == "openblas"]


def openblas_architectures(blas_lists: Iterable[list[dict] | None]) -> list[str]:
    """The OpenBLAS kernels (threadpoolctl's ``architecture``) that the children with these ``blas`` lists ran,
    sorted."""
    return sorted({str(lib.get("architecture")) for blas in blas_lists for lib in openblas_libraries(blas)})


def versions_seen(results: list[dict]) -> dict:
    seen: dict[str, set] = {}
    for row in results:
        for mod, ver in row.get("versions", {}).items():
            seen.setdefault(mod, set()).add(ver)
    return {mod: ", ".join(sorted(v)) for mod, v in sorted(seen.items())}


# ------------------------------------------------------------------------------------------------- reports


def format_value(v: float | None, unit: str) -> str:
    if v is None:
        return "n/a"
    if unit == "items/s":
        return f"{v:,.0f}"
    for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if v >= scale:
            return f"{v / scale:.3g} {suffix}"
    return f"{v * 1e9:.3g} ns"


def markdown(report: dict) -> str:
    """The table and its header (command, date, machine, versions, threads, environment) for RESULTS.md."""
    unit = report["unit"]
    value_name = f"{report['items']}/s" if unit == "items/s" else "time per call"
    m = report["machine"]
    share = report["other_processes_cpu_share"]
    lines = [f"### {report['title']}", "",
             f"Command: `{report['command']}` ({report['date']}). Machine: {cpu_line(m)}, {m['cores']} cores "
             f"({m['usable_cores']} usable), Python {m['python']}; "
             + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ". "
             f"Threads {report['threads']} unless the row says otherwise; children's environment: "
             + (assignments(report["env"])
                or "no OMP_/GOMP_/OPENBLAS_/MKL_/FASTNN_/XLA_ variables")
             + _environment_notes(report) + ". "
             f"Each contender alone in a fresh process, alternated over {report['rounds']} round(s), the order "
             "rotated each round"
             + (f"; load average {report['loadavg_before']:.2f} -> {report['loadavg_after']:.2f}"
                if report["loadavg_before"] is not None else "")
             + (f", other processes used {share:.0%} of the CPU" if share is not None else "")
             + (" (the benchmark's own background load included)" if report.get("background_load") else "")
             + ".", ""]
    if report["fastnn_trees"]:
        lines += ["fastnn trees: " + ", ".join(f"`{t}`" for t in report["fastnn_trees"]), ""]
    if report["notes"]:
        lines += [report["notes"], ""]
    keys = list(report["grid"])
    better = "higher" if report["higher_is_better"] else "lower"
    memory = report["report_memory"]
    lines.append("| " + " | ".join(keys + ["contender", f"median {value_name}", "best", "spread",
                                           f"vs {report['baseline']} [range]"]
                                   + (["peak RSS growth MiB"] if memory else [])) + " |")
    lines.append("|" + " --- |" * (len(keys) + 5 + memory))
    for row in report["results"]:
        cells = [str(row["params"][k]) for k in keys] + [row["contender"]]
        if "median" in row:
            ratio = (f"{row['ratio']:.2f}x [{row['ratio_min']:.2f}, {row['ratio_max']:.2f}]"
                     if "ratio" in row else "n/a")
            cells += [format_value(row["median"], unit), format_value(row["best"], unit),
                      f"{row['spread_pct']:.0f}%", ratio] + ([f"{row['peak_rss_growth_mib']:.1f}"] if memory else [])
        else:
            cells += ["n/a" if "unsupported" in row else "error", "", "", ""] + ([""] if memory else [])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", (f"{better} is better; spread = (max - min) / median over the rounds; the ratio is the median "
                   f"over rounds of the paired per-round ratio to {report['baseline']} (> 1: faster than it).")]
    lines += best_peer_table(report, keys)
    extras = [(row["params"], row["contender"], row["extra"]) for row in report["results"] if row.get("extra")]
    missing = [(row["params"], row["contender"], row["unsupported"]) for row in report["results"]
               if "unsupported" in row]
    if extras or missing:
        lines.append("")
        for params, name, extra in extras:
            lines.append(f"- {name} {params}: " + ", ".join(f"{k} {_short(v)}" for k, v in extra.items()))
        for params, name, why in missing:
            lines.append(f"- {name} {params}: n/a: {why}")
    return "\n".join(lines) + "\n"


def _environment_notes(report: dict) -> str:
    """Where the children's environment differs from the caller's, and which OpenBLAS kernels they ran."""
    notes = []
    if report.get("env_removed"):
        notes.append("removed from the caller's: " + assignments(report["env_removed"]))
    notes.append("fastnn children: " + (assignments(report["fastnn_env"]) or "fastnn's load-adaptive thread count on"))
    if report.get("openblas"):
        notes.append("OpenBLAS kernel (threadpoolctl): " + "; ".join(
            f"{kernel} in {', '.join(names)}" for kernel, names in report["openblas"].items()))
    return " (" + "; ".join(notes) + ")"


def best_peer_table(report: dict, keys: list[str]) -> list[str]:
    """A table of each fastnn contender's paired ratio to the best contender of every peer family."""
    rows = [row for row in report["results"] if row.get("vs_best")]
    families = list(dict.fromkeys(f for row in rows for f in row["vs_best"]))
    if not rows:
        return []
    lines = ["", "fastnn against the best of each peer family (the family's contender with the best median at "
             "that point, named): median of the paired per-round ratios [min, max], > 1: fastnn better.", "",
             "| " + " | ".join(keys + ["contender"] + [f"vs best {f}" for f in families]) + " |",
             "|" + " --- |" * (len(keys) + 1 + len(families))]
    for row in rows:
        cells = [str(row["params"][k]) for k in keys] + [row["contender"]]
        for f in families:
            b = row["vs_best"].get(f)
            cells.append(f"{b['ratio']:.2f}x [{b['min']:.2f}, {b['max']:.2f}] ({b['contender']})" if b else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _short(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------------------------------------------- child


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return 0.0


def set_threads(n: int) -> None:
    """Threads of the libraries this process loaded (the environment already set the defaults)."""
    if "fastnn" in sys.modules:
        sys.modules["fastnn"].set_num_threads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def blas_info() -> list | None:
    """The BLAS / OpenMP libraries this process loaded, with the OpenBLAS kernel picked (``architecture``)."""
    try:
        import threadpoolctl  # after the measurement: it only lists what is loaded
    except ImportError:
        return None
    return [{k: lib.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
            for lib in threadpoolctl.threadpool_info()]


def measure(fn: Callable[[], Any], unit: str, warmup: int, min_calls: int, min_time: float) -> dict:
    for _ in range(warmup):
        fn()
    calls = items = 0
    t0 = time.perf_counter()
    while True:
        n = fn()
        if unit == "items/s":
            items += 1 if n is None else int(n)
        calls += 1
        elapsed = time.perf_counter() - t0
        if calls >= min_calls and elapsed >= min_time:
            break
    return {"value": elapsed / calls if unit == "s" else items / elapsed, "calls": calls, "seconds": elapsed}


def child_main() -> None:
    """Entry point of a measuring process: build the contender, set threads, time it, print one JSON line."""
    spec = json.loads(sys.stdin.read())
    # a fastnn tree first; "" (the working directory, which ``-c`` adds) never: it may hold another fastnn
    sys.path[:] = [p for p in sys.path if p != ""]
    if spec.get("tree"):
        sys.path.insert(0, spec["tree"])
    sys.path.insert(0, BENCH_DIR)
    out: dict[str, Any] = {"pid": os.getpid(), "env": recorded_env()}
    module_name, _, attr = spec["factory"].partition(":")
    module = importlib.import_module(module_name)
    for name in spec.get("preload", ()):
        importlib.import_module(name)
    rss0 = _peak_rss_mib()
    factory = getattr(module, attr)
    params = dict(spec["params"])
    if "threads" in inspect.signature(factory).parameters:  # a factory that needs the count asks for it
        params["threads"] = spec["threads"]
    try:
        fn = factory(**params)
    except Unsupported as e:
        out["unsupported"] = str(e) or "not available"
        print(json.dumps(out), flush=True)
        return
    set_threads(spec["threads"])
    out.update(measure(fn, spec["unit"], spec["warmup"], spec["min_calls"], spec["min_time"]))
    if spec.get("extra") and hasattr(fn, "extra"):
        out["extra"] = fn.extra()
    out["peak_rss_growth_mib"] = _peak_rss_mib() - rss0
    out["versions"] = {m: getattr(sys.modules[m], "__version__", "?") for m in VERSIONED_MODULES
                       if m in sys.modules}
    if "fastnn" in sys.modules:
        out["fastnn_file"] = os.path.dirname(sys.modules["fastnn"].__file__)
    out["blas"] = blas_info()
    print(json.dumps(out, default=str), flush=True)


def with_extra(fn: Callable, extra: Callable[[], dict]) -> Callable:
    """Attach an ``extra()`` (recorded once, in round 0) to a contender's callable."""
    fn.extra = extra
    return fn
