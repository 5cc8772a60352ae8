"""The GIL hand-off of plan calls (csrc/infer.c): a caller whose kernel has finished spins, for at most the bound, while
another caller holds the GIL. Its speed is bench/RESULTS.md's (two Python threads on one plan); here: the bound's
settings and rules, and that a caller spins while another holds the GIL and never past the bound; that results stay
exact whatever the bound, tests/test_inference.py (eight threads on one plan)."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import child_env

import fastnn as fnn
import fastnn.inference as fi
from fastnn import _config
from fastnn.layers import Dense
from fastnn.ops import infer

handoff_built = pytest.mark.skipif(not infer._infer.gil_spin_supported(),
                                   reason="this build has no GIL hand-off (a C runtime without a fine clock)")


@pytest.fixture
def spin():
    """Restores the bound a test sets."""
    before = infer.set_gil_spin(0)
    infer.set_gil_spin(before)
    yield infer.set_gil_spin
    infer.set_gil_spin(before)


def test_the_default_spins_only_where_a_holder_can_run_beside_the_caller():
    assert _config.gil_spin_default({}, cores=2, gil_enabled=True) == _config.GIL_SPIN_US
    assert _config.gil_spin_default({}, cores=1, gil_enabled=True) == 0  # the holder would wait for our core
    assert _config.gil_spin_default({}, cores=8, gil_enabled=False) == 0  # free-threaded Python: no GIL to hand over
    assert _config.gil_spin_default({"FASTNN_GIL_SPIN_US": "5.5"}, cores=2, gil_enabled=True) == 5.5
    assert _config.gil_spin_default({"FASTNN_GIL_SPIN_US": "0"}, cores=2, gil_enabled=True) == 0
    assert _config.gil_spin_default({"FASTNN_GIL_SPIN_US": "4"}, cores=1, gil_enabled=True) == 4  # asked for
    for bad in ("-1", "fast", "nan", "1e7", ""):
        with pytest.raises(ValueError, match="FASTNN_GIL_SPIN_US"):
            _config.gil_spin_default({"FASTNN_GIL_SPIN_US": bad}, cores=1, gil_enabled=False)


@handoff_built
def test_the_environment_sets_the_bound_at_import():
    code = "from fastnn.ops import infer; print(infer.set_gil_spin(0))"
    base = {k: v for k, v in child_env().items() if k != "FASTNN_GIL_SPIN_US"}
    cases = ({}, _config.GIL_SPIN_US), ({"FASTNN_GIL_SPIN_US": "7"}, 7.0), ({"FASTNN_GIL_SPIN_US": "0"}, 0.0)
    for env, want in cases:
        out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                             check=True, cwd="/")
        assert float(out.stdout) == (want if env or fnn._load.usable_cores() >= 2 else 0.0)
    bad = subprocess.run([sys.executable, "-c", code], env={**child_env(), "FASTNN_GIL_SPIN_US": "soon"},
                         capture_output=True, text=True, cwd="/")
    assert bad.returncode != 0 and "FASTNN_GIL_SPIN_US must be a number" in bad.stderr


@handoff_built
def test_set_gil_spin_returns_the_bound_before_and_refuses_bad_values(spin):
    spin(12.5)
    assert spin(3) == 12.5
    assert spin(0) == 3
    for bad in (-1, 2e6, float("nan"), "5", None, True):
        with pytest.raises(ValueError, match="microseconds"):
            spin(bad)
    assert spin(0) == 0  # a refused value changed nothing


def _start(target) -> threading.Thread:
    """A daemon thread: a regression that spins forever fails the test's timed waits instead of hanging pytest."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@handoff_built
def test_a_call_spins_while_another_caller_holds_the_gil_and_no_longer_than_the_bound(spin, rng):
    """A thread predicts (it takes the GIL back, stamped), then runs Python for 1.5 s, then predicts once more. The
    main thread's call finishes its kernel while that stamp is fresh, so it spins until the bound has passed since
    the stamp: ~0.3 s here, then takes the GIL as usual (CPython hands it over every 5 ms). Without the spin it
    would take a few ms; with a spin that ignored its bound, until the other thread's next call, 1.5 s later."""
    plan = fi.compile(fnn.Sequential([Dense(8, activation="relu"), Dense(3)], input_dim=5, seed=0))
    x = rng.standard_normal((1, 5)).astype(np.float32)
    spin(0)
    want = plan.predict(x)  # with the spin off: no stamp of ours for the other thread's first call to wait on
    bound = 0.3
    spin(bound * 1e6)
    stamped, stop = threading.Event(), time.perf_counter() + 1.5

    def holder():
        plan.predict(x)
        stamped.set()
        while time.perf_counter() < stop:  # Python: the GIL is this thread's but for the switch interval's hand-overs
            pass
        plan.predict(x)  # clears the stamp: a spin with no bound ends here

    thread = _start(holder)
    assert stamped.wait(10), "the other thread's first call did not return"
    t = time.perf_counter()
    got = plan.predict(x)
    took = time.perf_counter() - t
    spin(0)  # the other thread's last call must not wait on our stamp
    thread.join(10)
    assert not thread.is_alive(), "the other thread's last call did not return"
    np.testing.assert_array_equal(got, want)
    assert 0.1 < took < bound + 0.4, f"the call took {took:.3f} s; the bound is {bound} s after the other's stamp"


@handoff_built
def test_a_spin_ends_when_the_holder_starts_its_next_kernel(spin, rng):
    """The holder's next plan call clears its stamp as its kernel starts, with the GIL released: a caller spinning on
    that stamp then takes the GIL at once, during that kernel, not after it. The holder predicts (stamp), runs 20 ms
    of Python, then makes one 4096-row call in one kernel (~25 ms: room for a spinner preempted on a loaded machine
    to get its core back); the main thread's call, made while the first stamp is fresh, must return before the
    holder's big call does. With the stamp never cleared, the main thread would spin through the holder's kernel
    (the bound, 1 s, is far longer) and return after it."""
    rows = 4096
    model = fnn.Sequential([Dense(512, activation="relu"), Dense(256, activation="relu"), Dense(10)], input_dim=784,
                           seed=0)
    # one kernel call for the big batch on any CPU (small_batch_max=None leaves it to the CPU: 64 rows without
    # AVX-512, whose larger calls take gemm blocks, which do not clear the stamp)
    plan = fi.compile(model, small_batch_max=rows, block_rows=rows)
    x1, big = (rng.standard_normal((n, 784)).astype(np.float32) for n in (1, rows))
    spin(1_000_000)
    stamped, times = threading.Event(), {}

    def holder():
        plan.predict(x1)
        stamped.set()
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:
            pass
        times["big_start"] = time.perf_counter()
        plan.predict(big)
        times["big_end"] = time.perf_counter()

    thread = _start(holder)
    assert stamped.wait(10), "the other thread's first call did not return"
    plan.predict(x1)
    times["main_done"] = time.perf_counter()
    spin(0)  # the holder's big call must not wait on our stamp
    thread.join(10)
    assert not thread.is_alive(), "the other thread's big call did not return"
    assert times["main_done"] < times["big_end"], (
        f"the main thread's call returned {1e3 * (times['main_done'] - times['big_end']):.2f} ms after the holder's "
        f"{1e3 * (times['big_end'] - times['big_start']):.2f} ms call: its spin did not end when that kernel began")


@handoff_built
def test_a_thread_that_waited_between_its_calls_makes_nobody_spin(spin, rng):
    """A thread that predicts, sleeps (the GIL released, not by a plan call), predicts again and then runs Python:
    its stretch from the first call to the second outlasted the bound, so its second call sets no stamp, and the
    main thread's call made during the Python that follows does not spin on it (it would for ~0.3 s)."""
    plan = fi.compile(fnn.Sequential([Dense(8, activation="relu"), Dense(3)], input_dim=5, seed=0))
    x = rng.standard_normal((1, 5)).astype(np.float32)
    spin(0)
    plan.predict(x)
    spin(300_000)
    stamped, stop = threading.Event(), time.perf_counter() + 1.0

    def holder():
        plan.predict(x)
        time.sleep(0.35)  # longer than the bound
        plan.predict(x)  # its stretch since the last call was long: no stamp now
        stamped.set()
        while time.perf_counter() < stop:
            pass

    thread = _start(holder)
    assert stamped.wait(10), "the other thread's calls did not return"
    t = time.perf_counter()
    plan.predict(x)
    took = time.perf_counter() - t
    spin(0)
    thread.join(10)
    assert not thread.is_alive()
    assert took < 0.1, f"the call took {took:.3f} s: it spun on the stamp of a thread that had waited between calls"
