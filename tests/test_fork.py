"""fastnn in a child made by os.fork (multiprocessing's "fork" start method, gunicorn's preloaded workers...).

GNU libgomp keeps the thread pool of its last parallel region; a child forked after one inherits that pool without
its threads, and its first parallel region used to wait for them forever. A child forked after fastnn's pool
started runs every kernel on one thread instead (fastnn._config); the results are the same bits (they never
depend on the thread count). Each case runs in a child Python with a timeout: the old code hangs.
"""
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import child_env

import fastnn

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not fastnn._ext.openmp.openmp_enabled(),
                                reason="needs fork and an OpenMP build")

_SETUP = """
import multiprocessing, os, signal
import numpy as np
import fastnn as fnn

rng = np.random.default_rng(0)
X = rng.standard_normal((600, 64)).astype(np.float32)
y = rng.integers(0, 5, len(X))
model = fnn.Sequential([fnn.layers.Dense(128, activation="relu"), fnn.layers.Dense(5)], input_dim=64)
plan = model.compile_inference(threads=2)


def in_child(check):
    '''Fork; the child runs check() (its kernels threaded, were it not for the fork) and exits 0 if it returns
    True; a child still busy after 20 s (a hang) is killed by its alarm. Returns the child's exit code.'''
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        try:
            code = 0 if check() else 3
        except BaseException:
            code = 4
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""


def _run(body):
    script = _SETUP + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], env=child_env(), cwd=os.path.dirname(os.__file__),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_child_forked_after_threaded_kernels_predicts_and_trains_instead_of_hanging():
    out = _run("""
        with fnn.threads(2, parallel_threshold=1):
            model.fit(X, y, epochs=1, batch_size=100, verbose=0)  # the pool has run: it has threads now
            want, plan_want = model.predict(X), plan.predict(X[:20])

            def check():
                twin = fnn.Sequential([fnn.layers.Dense(128, activation="relu"), fnn.layers.Dense(5)], input_dim=64)
                twin.fit(X, y, epochs=1, batch_size=100, verbose=0)
                return (np.array_equal(model.predict(X), want) and np.array_equal(plan.predict(X[:20]), plan_want)
                        and fnn._config.free_threads(2) == 1)

            print("child", in_child(check))
            with multiprocessing.get_context("fork").Pool(2) as pool:  # the same, through a process pool
                got = pool.map_async(plan.predict, [X[:300], X[300:]]).get(timeout=30)
            print("pool", np.array_equal(np.concatenate(got), plan.predict(X)))
            print("parent", fnn._config.free_threads(2))  # the parent keeps its threads
    """)
    assert out.split() == ["child", "0", "pool", "True", "parent", "2"]


def test_a_child_forked_before_any_threaded_kernel_keeps_its_threads():
    out = _run("""
        with fnn.threads(2, parallel_threshold=1):
            print(in_child(lambda: fnn._config.free_threads(2) == 2 and model.predict(X).shape == (600, 5)))
    """)
    assert out.split() == ["0"]


def test_show_config_says_a_forked_child_runs_serial():
    out = _run("""
        import io
        with fnn.threads(2, parallel_threshold=1):
            model.predict(X)

            def check():
                text = io.StringIO()
                fnn.show_config(file=text)
                return "forked after fastnn's OpenMP pool started" in text.getvalue()

            print(in_child(check))
    """)
    assert out.split() == ["0"]


def test_a_child_forked_while_another_thread_held_the_owner_lock_does_not_wait_for_it():
    """fastnn's locks (the threads blocks', the team owner's) are made anew in a forked child: a parent thread that
    held one at the fork does not exist there to release it."""
    _run("""
        import threading
        from fastnn import _config

        held, release = threading.Event(), threading.Event()

        def hold(lock):
            with lock:
                held.set()
                release.wait(30)

        for lock in (_config._OWNER_LOCK, _config._BLOCKS_LOCK):
            held.clear()
            release.clear()
            holder = threading.Thread(target=hold, args=(lock,))
            holder.start()
            held.wait(10)

            def check():
                with fnn.threads(2):
                    return _config.free_threads(2) >= 1 and _config.team_owner_may()

            assert in_child(check) == 0
            release.set()
            holder.join()
    """)


def test_a_child_forked_while_another_thread_was_in_a_call_has_all_the_threads():
    """A call of another thread of the parent stayed in flight in the child for good (review 12): every kernel of
    the child shared its threads with a call that does not exist there. The call is a parent thread's entry in
    CALLS_IN_FLIGHT (as plan.predict appends one while it runs): a thread caught inside a call is a race."""
    out = _run("""
        from fastnn._config import CALLS_IN_FLIGHT, threads_for

        fnn.set_num_threads(2)
        CALLS_IN_FLIGHT.append(None)  # another thread inside plan.predict as this one forks
        code = in_child(lambda: not CALLS_IN_FLIGHT and threads_for(10**9) == 2)
        print("child", code, "parent in flight", len(CALLS_IN_FLIGHT))
    """)
    assert out.split() == ["child", "0", "parent", "in", "flight", "1"]
