"""Thread configuration of fastnn's OpenMP kernels (and of numpy's BLAS pool, for the numpy matmuls outside a step).

A training step and ``predict`` run on ONE thread pool, fastnn's libgomp: the Dense matmuls are fastnn's own gemm
(fastnn.ops.gemm), so numpy's OpenBLAS (pthreads) no longer alternates with our kernels inside a step, which
made steps many times slower when both pools spin-waited (DESIGN.md, "Threads — the known hazard"). What remains:

* Kernels between matmuls are tiny at training batch sizes; ``threads_for(work)`` keeps any call whose work is
  below the parallel threshold (elements) serial: waking the pool for them costs more than it saves. The gemm
  uses the same threshold on its element-equivalent work (``gemm_threads``), so a step's big matmuls are threaded.
* The wait policy. When fastnn loads its extensions it asks *its* libgomp to spin briefly after each parallel
  region (``GOMP_SPINCOUNT=SPIN_COUNT``) unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``
  themselves. The variable is set only while our extensions load and restored right after, so later child
  processes and other libraries are unaffected. Measured on 2 cores (bench/RESULTS.md, "The wait policy"): on a
  quiet machine the brief spin makes the training step 1.51x faster at batch 32 and 1.31x at 128 than a passive
  pool (a step has ~8 parallel regions, and waking a sleeping thread costs ~25 us on a VM); with another process
  keeping one core busy, a 2-thread step that spins is 2-3x slower than a 1-thread step.
* So the thread count adapts to the load: while fastnn's pool may spin (the default, or a spinning runtime
  shared with another library), ``threads_for`` gives a kernel no more threads than the cores other processes
  leave free (fastnn._load.LoadMonitor, refreshed every 0.2 s). Results never depend on the thread count
  (csrc/gemm.h), so this changes speed only. ``FASTNN_ADAPTIVE_THREADS=0`` turns it off (the test suite does,
  to exercise exactly the thread counts it asks for); a wait policy set in the environment turns it off too.
* A libgomp that was already loaded keeps its own setting. A plain build (``pip install .``) binds to
  ``libgomp.so.1`` by soname, so it shares one loaded before it: PyTorch's ``libgomp.so.1``, for one, which
  spins longer after every parallel region. Since the matmuls left numpy's OpenBLAS, nothing else runs beside our
  kernels in a step, so that spin costs nothing more than ours (fastnn used to keep a step's kernels serial in
  that case: measured 0.77x at batch 128 now, bench/RESULTS.md "The wait policy"). A repaired wheel brings its
  own libgomp under a mangled name (fastnn/_openmp_runtime.py): that copy always loads fresh, with fastnn's
  setting, beside any other runtime (PyTorch's, scikit-learn's). ``show_config()`` says which applies and names
  the runtime.

``set_num_threads(n)`` sets both pools: our kernels get up to ``n`` and numpy's BLAS is limited to ``n`` through
threadpoolctl (it still serves PCA/ZCA preprocessing and the orthogonal init). ``with threads(n):`` does the same
for a block and restores both afterwards.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from . import _load, _openmp_runtime
from .validation import check_scalar

_DEFAULT_THRESHOLD = 1 << 18
# fastnn's libgomp spins this many rounds after a region before it sleeps (about 0.1 ms of CPU on the 2-core EPYC
# of bench/RESULTS.md): enough to catch the next region of a training step (the gaps are a few us of Python),
# short enough to leave the core soon after the step.
SPIN_COUNT = 10000


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return _load.usable_cores()


# How long a plan call whose kernel has finished may spin while another calling thread holds the GIL (csrc/infer.c,
# "The GIL hand-off"), from when that thread took it. Measured with bench/gil_handoff.py on this 2-core VM
# (bench/RESULTS.md, eighth session; 784-512-256-10, Fashion-MNIST images), two threads' calls per second over one
# thread's, by the Python between a thread's calls: 0 us: x1.56-1.58 without the spin, x1.84-1.86 with 5, 20 or 50
# us; 3 us: x1.23-1.33 -> x1.81-1.83; 20 us: x0.78 unless the bound is 50 us or more (x1.29-1.35). But a holder that
# releases the GIL otherwise (a queue wait, sleep, I/O) keeps its stamp, and callers spin on a free GIL up to the
# bound: two threads passing one request through queues made 26.5-27.5k hand-offs/s without the spin, 27.2-27.7k
# with 20 us, 9.9k with 100 us; a thread predicting beside one that sleeps 50 us after each call, 101.9-103.7k calls
# per second, 91.7k, 32.3k. Since a thread that waited longer than the bound between its calls sets no stamp, the
# sleeper costs nothing at either bound (91.2-93.6k, 92.4k, 93.7k) and the queue 0.58x at 100 us, nothing at 20 us.
# So the bound is short.
GIL_SPIN_US = 20.0


GIL_SPIN_MAX_US = 1e6


def check_gil_spin(us: object, name: str) -> float:
    """A GIL spin bound in microseconds, in [0, GIL_SPIN_MAX_US], as a float (ValueError naming ``name`` otherwise)."""
    return check_scalar(us, name, numbers.Real, min_val=0, max_val=GIL_SPIN_MAX_US, error=ValueError)


def gil_spin_default(environ=os.environ, cores: int | None = None, gil_enabled: bool | None = None) -> float:
    """The spin bound in microseconds fastnn starts with: ``FASTNN_GIL_SPIN_US`` if set (a number in [0, 1e6]);
    else ``GIL_SPIN_US``, or 0 (never spin) with one usable core (the GIL's holder could not run while a caller
    spins) and on a Python without a GIL (free-threaded builds: nothing to hand over)."""
    text = environ.get("FASTNN_GIL_SPIN_US")
    if text is not None:
        try:
            us = float(text)
        except ValueError:
            raise ValueError(f"FASTNN_GIL_SPIN_US must be a number of microseconds, got {text!r}") from None
        return check_gil_spin(us, "FASTNN_GIL_SPIN_US (microseconds)")
    if gil_enabled is None:
        gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    if not gil_enabled or (cores if cores is not None else _load.usable_cores()) < 2:
        return 0.0
    return GIL_SPIN_US


class _ThreadState:
    n_threads: int = _default_threads()
    parallel_threshold: int = int(os.environ.get("FASTNN_PARALLEL_THRESHOLD", _DEFAULT_THRESHOLD))
    blas_limiter = None
    wait_policy: str = "unknown"
    # the thread count follows the cores other processes leave free (module docstring); set at load_extensions
    adaptive: bool = False
    load = _load.LoadMonitor()
    cores: int = _load.usable_cores()
    # Set once a kernel is given more than one thread here. GNU libgomp keeps that team's pool for the next region;
    # a child forked after it inherits the pool without its threads and hangs in its first parallel region (no
    # at-fork handler in libgomp), so such a child, and its own children, run every kernel on one thread.
    pool_started: bool = False
    forked_after_pool: bool = False
    # The Python thread whose OpenMP team runs fastnn's threaded kernels (team_owner_may below), and its ident.
    team_owner: threading.Thread | None = None
    team_owner_ident: int = 0


_state = _ThreadState()


def _after_fork_in_child() -> None:
    global _BLOCKS_LOCK, _OWNER_LOCK
    _state.forked_after_pool = _state.forked_after_pool or _state.pool_started
    # another thread of the parent may have held them: that thread is gone here
    _BLOCKS_LOCK, _OWNER_LOCK = threading.Lock(), threading.Lock()
    # and its calls in flight, which would take a share of the child's threads for good; the forking thread is in
    # none (no fastnn call runs Python code that could fork)
    CALLS_IN_FLIGHT.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def load_extensions():
    """Import the compiled kernels with our libgomp set to spin briefly (see the module docstring)."""
    if "fastnn._ext.openmp" in sys.modules:  # loaded already (a reload of fastnn): the state stands
        return
    user_set = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    before = _openmp_runtime.loaded_runtimes()
    if not user_set:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)  # read by our libgomp when it loads, if it is a fresh one
    try:
        from ._ext import openmp
    finally:
        if not user_set:
            del os.environ["GOMP_SPINCOUNT"]
    ours = _openmp_runtime.runtime_of(openmp.__file__)
    others = sorted(before - {ours})
    _state.adaptive = not user_set and os.environ.get("FASTNN_ADAPTIVE_THREADS", "1") != "0"
    adapting = "; threads adapt to the load" if _state.adaptive else ""
    if user_set:
        _state.wait_policy = "as set by the environment: OMP_WAIT_POLICY={} GOMP_SPINCOUNT={}".format(
            os.environ.get("OMP_WAIT_POLICY", "<unset>"), os.environ.get("GOMP_SPINCOUNT", "<unset>"))
    elif ours is not None and ours in before:
        _state.wait_policy = (f"fastnn shares {ours}, loaded before fastnn (by another library): it may spin, "
                              f"its own setting applies{adapting}")
    else:
        _state.wait_policy = f"spins briefly (GOMP_SPINCOUNT={SPIN_COUNT} set for fastnn's libgomp at import){adapting}"
    if others and ours is not None and ours not in before:
        _state.wait_policy += "; separate from the OpenMP runtimes loaded before it: " + ", ".join(others)


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in fastnn's kernels (matmuls included) and in numpy's BLAS (outside the step)."""
    n = check_scalar(n, "set_num_threads n", numbers.Integral, min_val=1, error=ValueError)
    from threadpoolctl import threadpool_limits

    _state.n_threads = int(n)
    _state.blas_limiter = threadpool_limits(limits=int(n), user_api="blas")


@contextlib.contextmanager
def threads(n: int | None = None, *, parallel_threshold: int | None = None) -> Iterator[None]:
    """Run a block with ``n`` threads in fastnn's kernels and numpy's BLAS, then restore both pools.

        with fastnn.threads(1):                          # serial kernels and single-threaded BLAS
            model.fit(X, y)
        with fastnn.threads(2, parallel_threshold=1):    # every kernel call takes its OpenMP path
            ...

    ``n=None`` keeps the current count; ``parallel_threshold`` (elements, see ``threads_for``) replaces the work
    size below which kernels stay serial. On exit, normal or by an exception, the thread count, the threshold
    and numpy's BLAS limit are put back as they were on entry, whatever ``set_num_threads`` did inside. The setting
    is process-wide: blocks open in several Python threads at once may close in any order, the newest open block's
    setting is in force and the last to close puts back what was in force before the first one opened.
    """
    from threadpoolctl import threadpool_limits

    if n is not None:
        n = check_scalar(n, "threads n", numbers.Integral, min_val=1, error=ValueError)
    if parallel_threshold is not None:
        parallel_threshold = check_scalar(parallel_threshold, "parallel_threshold", numbers.Integral, min_val=0)
    with _BLOCKS_LOCK:
        # [what this block puts back, the threadpoolctl limiter that put numpy's BLAS back]
        block = [(_state.n_threads, _state.parallel_threshold, _state.blas_limiter),
                 threadpool_limits(limits=n, user_api="blas")]
        _OPEN_BLOCKS.append(block)
        if n is not None:
            _state.n_threads = n
        if parallel_threshold is not None:
            _state.parallel_threshold = parallel_threshold
    try:
        yield
    finally:
        with _BLOCKS_LOCK:
            at = next(i for i, b in enumerate(_OPEN_BLOCKS) if b is block)
            del _OPEN_BLOCKS[at]
            if at < len(_OPEN_BLOCKS):  # a block opened after this one is still open: its setting stays in force
                _OPEN_BLOCKS[at][:] = block  # and it puts back what this one would have
            else:
                block[1].restore_original_limits()
                _state.n_threads, _state.parallel_threshold, _state.blas_limiter = block[0]


# The ``threads`` blocks open now, oldest first. Blocks of several Python threads may close in any order: the setting
# of the newest open block is in force, and when the last one closes, what was in force before the first opened.
_OPEN_BLOCKS: list[list[Any]] = []
_BLOCKS_LOCK = threading.Lock()


# One entry per fastnn call in flight in this process (a training step, a model's inference chunk, a plan's
# kernel call): calls at the same time share the threads (free_threads), so two Python threads each predicting
# with 2 threads on 2 cores run one kernel thread each instead of four. list.append and list.pop are atomic.
CALLS_IN_FLIGHT: list[None] = []


def in_flight(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, counted as a call in flight (``CALLS_IN_FLIGHT``) while it runs."""
    CALLS_IN_FLIGHT.append(None)
    try:
        return call(*args, **kwargs)
    finally:
        CALLS_IN_FLIGHT.pop()


def get_num_threads() -> int:
    """Threads fastnn's kernels use when the work is large enough (see ``threads_for``)."""
    return _state.n_threads


def threads_for(work: int) -> int:
    """Threads for a kernel call touching ``work`` elements: 1 below the parallel threshold, else the setting
    shared among the calls in flight (while the pool may spin: no more than the cores other processes leave
    free, ``free_threads``).

    The threshold (default 2**18 elements, env FASTNN_PARALLEL_THRESHOLD) was measured on a 2-core machine:
    below it, waking the OpenMP pool costs more than the elementwise work it would share (bench/RESULTS.md).
    """
    if work < _state.parallel_threshold:
        return 1
    return free_threads(_state.n_threads, len(CALLS_IN_FLIGHT) or 1, work)


def work_class(work: int) -> int:
    """What ``threads_for(work)`` depends on besides the moment: 0 below the parallel threshold (one thread), 2
    from ``UNOWNED_MIN_WORK`` (threads even in a Python thread that does not own the team), else 1. A caller that
    decides many calls at once (fastnn.training.chain) keeps each call's class and asks :func:`class_shares` once."""
    if work < _state.parallel_threshold:
        return 0
    return 2 if work >= UNOWNED_MIN_WORK else 1


def class_shares(classes: set[int]) -> tuple[int, int]:
    """What ``threads_for`` gives now a call of class 1 and one of class 2 (:func:`work_class`); 1 for a class not
    in ``classes`` (not asked: asking marks the pool started when it says more than one)."""
    callers = len(CALLS_IN_FLIGHT) or 1
    n = _state.n_threads
    return (free_threads(n, callers, 0) if 1 in classes else 1,
            free_threads(n, callers, UNOWNED_MIN_WORK) if 2 in classes else 1)


def parallel_threshold() -> int:
    """The work from which a kernel call may take more than one thread (``threads_for``)."""
    return _state.parallel_threshold


def free_threads(n: int, callers: int = 1, work: int | None = None) -> int:
    """At most ``n // callers`` (``callers``: kernel calls in flight in this process, this one included, which
    share the threads: two Python threads calling a 2-thread plan get one thread each, not four on two cores),
    and while the pool may spin (``_state.adaptive``) no more than their share of the cores other processes
    leave free (at least 1): a thread without a core of its own would spin or be waited for (module docstring).
    In a Python thread that does not own the OpenMP team, 1 unless ``work`` (element-equivalents, as
    ``threads_for`` counts it) is at least ``UNOWNED_MIN_WORK`` (``team_owner_may``)."""
    state = _state  # (called for every threaded plan call: each lookup and builtin call costs)
    if n == 1 or state.forked_after_pool or (_get_ident() != state.team_owner_ident and not team_owner_may(work)):
        return 1
    share = n // callers or 1
    if state.adaptive:
        free = int((state.cores - state.load.others()) / callers + 0.25)
        if free < share:
            share = free if free > 1 else 1
    if share > 1:
        state.pool_started = True
    return share


def explicit_threads(n: int) -> int:
    """A thread count a caller gave a kernel itself: ``n``, or 1 in a child forked after the pool started."""
    if n == 1 or _state.forked_after_pool:
        return 1
    _state.pool_started = True
    return n


_OWNER_LOCK = threading.Lock()
_get_ident = threading.get_ident


# Work (element-equivalents, as threads_for counts it: a gemm's multiply-adds / 16) from which a Python thread
# that does not own the team still gets threads. Its own team's threads sleep between regions (libgomp no longer
# spins, see team_owner_may), so each region pays a wake, ~100 us on a VM: worth it from about 2 x that of
# single-threaded work (~2**24 multiply-adds at 134 G/s).
UNOWNED_MIN_WORK = 1 << 20


def team_owner_may(work: int | None = None) -> bool:
    """Whether the calling Python thread may run a kernel of ``work`` (None: small) on more than one thread: it
    owns fastnn's OpenMP team (the first Python thread to ask, for as long as that thread lives), or the work is
    at least ``UNOWNED_MIN_WORK``.

    Why: GNU libgomp keeps a pool of threads for every thread that starts a parallel region, and once its pools
    hold more threads than there are cores it stops spinning (GOMP_SPINCOUNT no longer applies): every region
    then wakes sleeping threads, ~100 us each on a VM. Measured, a 2-thread plan at batch 1 called from a second
    Python thread after the main thread had run one: 10k calls/s, against 45k on one thread (bench/RESULTS.md,
    python_threads); a training step's big products in that thread still gain from two."""
    if _get_ident() == _state.team_owner_ident:
        return True
    with _OWNER_LOCK:
        owner = _state.team_owner
        if owner is None or not owner.is_alive():
            _state.team_owner, _state.team_owner_ident = threading.current_thread(), threading.get_ident()
            return True
    return work is not None and work >= UNOWNED_MIN_WORK


# A multiply-add of fastnn's gemm counts as 1/GEMM_MACS_PER_ELEMENT of an element of elementwise work: the gemm
# kernel does ~16 multiply-adds in the time an elementwise kernel touches one element (measured, bench/RESULTS.md).
GEMM_MACS_PER_ELEMENT = 16


def blas_info() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    return [d for d in threadpool_info() if d.get("user_api") in ("blas", "openmp")]


def runtime_line(extension_file: str) -> str:
    """``PATH (VERSION), bundled with fastnn`` or ``..., not bundled: ...`` for show_config."""
    rt = _openmp_runtime.describe(extension_file)
    if rt is None:
        return "unknown (no OpenMP symbol in the kernels, or no /proc/self/maps to look it up)"
    origin = ("bundled with fastnn (the wheel's own copy)" if rt["bundled"] else
              "not bundled (a system or another package's copy, shared by soname)")
    return f"{rt['path']} ({rt['version'] or 'version unknown'}), {origin}"


def show_config(file: TextIO | None = None) -> None:
    """Print version, OpenMP, thread counts, wait policy and the BLAS numpy uses."""
    import platform

    import numpy as np

    from ._ext import openmp
    from ._version import __version__

    lines = [
        f"fastnn {__version__}  (python {platform.python_version()}, numpy {np.__version__})",
        f"  OpenMP: {'on' if openmp.openmp_enabled() else 'off (serial build)'}",
        f"  OpenMP runtime: {runtime_line(openmp.__file__)}",
        f"  fastnn threads: {_state.n_threads} (parallel above {_state.parallel_threshold} elements)",
        f"  OpenMP wait policy: {_state.wait_policy}",
    ]
    from ._ext import infer as infer_ext

    infer = sys.modules.get("fastnn.ops.infer")  # it sets the default when it loads, for the first plan
    if not infer_ext.gil_spin_supported():
        lines.append("  GIL hand-off: not in this build (its C runtime has no fine clock)")
    elif spin_us := infer.gil_spin() if infer is not None else gil_spin_default():
        lines.append(f"  GIL hand-off: a finished plan call spins up to {spin_us:g} us for another plan caller to "
                     "release the GIL")
    else:
        lines.append("  GIL hand-off: off (a finished plan call waits for the GIL the usual way)")
    if _state.forked_after_pool:
        lines.append("  forked after fastnn's OpenMP pool started: every kernel runs on one thread in this process "
                     "(a forked child's first parallel region hangs in libgomp; spawn or forkserver children get "
                     "their threads)")
    if _state.adaptive:
        lines.append(f"  load: other processes use {_state.load.others():.2f} of {_state.cores} cores; a kernel gets "
                     f"up to {free_threads(_state.n_threads)} thread(s)")
    for pool in blas_info():
        lines.append("  {user_api}: {internal_api} {version} threads={num_threads} ({filepath})".format(
            **{k: pool.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "filepath")}))
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS"):
        if var in os.environ:
            lines.append(f"  env {var}={os.environ[var]}")
    print("\n".join(lines), file=file or sys.stdout)
