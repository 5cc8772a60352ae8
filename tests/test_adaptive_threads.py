"""The wait policy and the load-adaptive thread count (fastnn/_config.py, fastnn/_load.py).

fastnn's libgomp spins briefly after each parallel region; while it may spin, a kernel gets no more threads than
the cores other processes leave free. The suite itself runs with FASTNN_ADAPTIVE_THREADS=0 (conftest.py), so these
tests switch the adaptation on themselves."""
import ast
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import child_env

import fastnn
from fastnn import _config, _load
from fastnn.ops import gemm as gemm_ops


class FakeLoad:
    def __init__(self, others):
        self.value = others

    def others(self):
        return self.value


@pytest.fixture
def adaptive(monkeypatch):
    """Adaptation on, on a 2-core machine whose load the test sets (fake.value = cores used elsewhere)."""
    fake = FakeLoad(0.0)
    monkeypatch.setattr(_config._state, "adaptive", True)
    monkeypatch.setattr(_config._state, "load", fake)
    monkeypatch.setattr(_config._state, "cores", 2)
    return fake


@pytest.mark.parametrize("others,expected", [(0.0, 2), (0.2, 2), (0.5, 1), (1.0, 1), (1.9, 1), (5.0, 1)])
def test_threads_follow_the_cores_other_processes_leave_free(adaptive, others, expected):
    adaptive.value = others
    with fastnn.threads(2, parallel_threshold=1):
        assert _config.threads_for(10) == expected
        assert gemm_ops._threads(1000, 1000, 1000) == expected
    with fastnn.threads(4, parallel_threshold=1):  # never more threads than the machine's free cores
        assert _config.threads_for(10) == expected


def test_small_work_stays_serial_and_one_thread_stays_one(adaptive):
    with fastnn.threads(2, parallel_threshold=1000):
        assert _config.threads_for(999) == 1
        assert _config.threads_for(1000) == 2
    with fastnn.threads(1, parallel_threshold=1):
        assert _config.threads_for(10**9) == 1


def test_without_adaptation_the_setting_is_used_whatever_the_load(adaptive, monkeypatch):
    monkeypatch.setattr(_config._state, "adaptive", False)
    adaptive.value = 2.0
    with fastnn.threads(2, parallel_threshold=1):
        assert _config.threads_for(10) == 2


def test_training_gives_the_same_bits_when_the_load_changes_mid_fit(adaptive, rng):
    """The thread count changes speed only: a fit whose free cores change every few steps equals a 1-thread fit."""
    from fastnn.layers import Dense

    X = rng.standard_normal((256, 40)).astype("float32")
    y = rng.integers(0, 3, 256)

    def fit():
        model = fastnn.Sequential([Dense(64, activation="relu"), Dense(3)], input_dim=40, seed=0)
        model.fit(X, y, optimizer=fastnn.optim.Adam(lr=1e-2), epochs=2, batch_size=32, verbose=0)
        return model.params.copy()

    with fastnn.threads(1):
        serial = fit()
    calls = {"n": 0}

    def flapping():
        calls["n"] += 1
        return 0.0 if (calls["n"] // 3) % 2 else 1.0

    adaptive.others = flapping
    with fastnn.threads(2, parallel_threshold=1):
        assert (fit() == serial).all()
    assert calls["n"] > 6  # the load was asked for, and changed, during the fit


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="the monitor reads /proc/stat (Linux)")
def test_the_monitor_sees_a_process_that_keeps_a_core_busy():
    monitor = _load.LoadMonitor(window=0.2)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        monitor.others()  # starts a window with the hog running
        time.sleep(0.6)
        seen = monitor.others()
    finally:
        hog.kill()
        hog.wait()
    assert seen >= 0.5, f"a busy-loop process used only {seen:.2f} cores by the monitor's reading"
    t0 = time.process_time()
    while time.process_time() - t0 < 0.3:  # our own work is not another process's
        pass
    own = monitor.others()
    assert own < seen


def _policy_of_a_child(tmp_path, **env):
    code = ("import json, fastnn; from fastnn import _config; "
            "print(json.dumps({'policy': _config._state.wait_policy, 'adaptive': _config._state.adaptive}))")
    base = {k: v for k, v in child_env().items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "FASTNN_ADAPTIVE_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_default_policy_spins_briefly_and_adapts_and_the_environment_wins(tmp_path):
    if not fastnn._ext.openmp.openmp_enabled():
        pytest.skip("a serial build has no OpenMP runtime")
    default = _policy_of_a_child(tmp_path)
    assert default["adaptive"] and f"GOMP_SPINCOUNT={_config.SPIN_COUNT}" in default["policy"], default
    assert not _policy_of_a_child(tmp_path, FASTNN_ADAPTIVE_THREADS="0")["adaptive"]
    user = _policy_of_a_child(tmp_path, OMP_WAIT_POLICY="PASSIVE")
    assert not user["adaptive"] and "as set by the environment: OMP_WAIT_POLICY=PASSIVE" in user["policy"], user


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_window():
    """After fork the child's CPU time restarts near 0: the parent's window would read the parent's own work as
    another process's. So the child's monitor starts a new window at the fork, with no reading carried over. (Read
    from the window's start, not from a reading: a reading over the few microseconds after the fork is all /proc/stat
    tick quantization, one 10 ms tick read as 16 cores, which made this test flaky.)"""
    monitor = _load.LoadMonitor(window=0.0)
    t0 = time.process_time()
    while time.process_time() - t0 < 0.3:  # the parent works: its CPU time grows
        pass
    monitor.others()  # a reading in the parent
    read, write = os.pipe()
    forked_at = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: report its window, then leave without running pytest's teardown
        os.close(read)
        start, own, _ = monitor._last
        os.write(write, repr((start >= forked_at, own, monitor._others)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        restarted, own_at_start, carried = ast.literal_eval(f.read())
    os.waitpid(pid, 0)
    assert restarted, "the child's window started before the fork (the parent's)"
    assert own_at_start < 0.25 and carried == 0.0  # the child's own CPU time (the parent's was >= 0.3 s), no reading


def test_show_config_reports_the_load_and_the_threads_a_kernel_gets(adaptive, capsys):
    adaptive.value = 1.0
    with fastnn.threads(2):
        fastnn.show_config()
    out = capsys.readouterr().out
    assert "load: other processes use 1.00 of 2 cores; a kernel gets up to 1 thread(s)" in out


def test_a_threaded_plan_follows_the_load_too(adaptive, rng, monkeypatch):
    """InferencePlan(threads=2) gives its big calls no more threads than the free cores; the bits never change."""
    from fastnn import inference
    from fastnn.inference import plan as plan_module
    from fastnn.layers import Dense

    model = fastnn.Sequential([Dense(256, activation="relu"), Dense(5)], input_dim=300, seed=0)
    # 200 rows in the kernel (ops.forward) on any CPU: small_batch_max's default is 64 rows without AVX-512
    plan, serial = (inference.compile(model, threads=2, small_batch_max=256),
                    inference.compile(model, small_batch_max=256))
    seen = []
    forward, one_call = plan_module.ops.forward, plan._one_call
    monkeypatch.setattr(plan_module.ops, "forward", lambda *a: seen.append(a[5]) or forward(*a))
    plan._one_call = lambda *a: seen.append(a[5]) or one_call(*a)  # small calls' one C call (ops.infer.one_call)
    x = rng.standard_normal((200, 300)).astype("float32")
    expected = serial.predict(x)
    for others, threads in ((0.0, 2), (1.0, 1), (0.0, 2)):
        adaptive.value = others
        np.testing.assert_array_equal(plan.predict(x), expected)
        assert seen[-1] == threads, (others, seen)


@pytest.mark.parametrize("n,callers,others,expected", [
    (2, 1, 0.0, 2), (2, 2, 0.0, 1), (4, 2, 0.0, 1), (2, 3, 0.0, 1), (2, 2, 1.0, 1), (1, 1, 0.0, 1)])
def test_calls_in_flight_share_the_free_cores(adaptive, n, callers, others, expected):
    adaptive.value = others
    assert _config.free_threads(n, callers) == expected


def test_without_adaptation_calls_in_flight_still_share_the_setting(adaptive, monkeypatch):
    monkeypatch.setattr(_config._state, "adaptive", False)
    assert [_config.free_threads(4, c) for c in (1, 2, 3, 4, 5)] == [4, 2, 1, 1, 1]


@pytest.fixture
def main_owns_the_team(monkeypatch):
    """This (the main) thread owns fastnn's OpenMP team, and no calls have been in flight together lately."""
    import threading

    monkeypatch.setattr(_config._state, "team_owner", threading.current_thread())
    monkeypatch.setattr(_config._state, "team_owner_ident", threading.get_ident())


def _held_in_another_thread(call, held_forward_target, owner, name, record):
    """Run ``call()`` in a new Python thread with ``owner.<name>`` replaced by a spy that records
    ``record()`` and, on its first call, waits inside until the returned ``release`` is set."""
    import threading

    inside, release, seen = threading.Event(), threading.Event(), []

    def held(*a, **k):
        seen.append(record(a))
        if len(seen) == 1:
            inside.set()
            assert release.wait(10)
        return held_forward_target(*a, **k)

    setattr(owner, name, held)
    thread = threading.Thread(target=call)
    thread.start()
    assert inside.wait(10)
    return thread, release, seen


def test_a_threaded_plan_shares_its_threads_with_a_call_of_another_python_thread(adaptive, main_owns_the_team,
                                                                                   rng, monkeypatch):
    """While a call of another Python thread is inside the kernel, the owner's call takes its share of the cores
    (1 of 2); alone again, it gets both threads. The bits never change."""
    from fastnn import inference
    from fastnn.inference import plan as plan_module
    from fastnn.layers import Dense

    model = fastnn.Sequential([Dense(256, activation="relu"), Dense(5)], input_dim=300, seed=0)
    # 200 rows in the kernel (ops.forward) on any CPU: small_batch_max's default is 64 rows without AVX-512
    plan, serial = (inference.compile(model, threads=2, small_batch_max=256),
                    inference.compile(model, small_batch_max=256))
    x = rng.standard_normal((200, 300)).astype("float32")
    expected = serial.predict(x)
    results = {}
    forward = plan_module.ops.forward
    monkeypatch.setattr(plan_module.ops, "forward", forward)  # restored after the test
    # the checked path: there the held spy sits inside a call already counted in flight (the one-call path counts
    # it in C, out of a spy's reach); both paths take their thread count from InferencePlan._threads
    plan._one_call = lambda *a: None
    thread, release, seen = _held_in_another_thread(lambda: results.setdefault("other", plan.predict(x)), forward,
                                                    plan_module.ops, "forward", lambda a: a[5])
    try:
        results["owner"] = plan.predict(x)
    finally:
        release.set()
        thread.join()
    assert seen == [1, 1]  # the other thread (not the team's owner), then the owner beside it
    assert _config.CALLS_IN_FLIGHT == []
    plan.predict(x)
    assert seen[-1] == 2  # alone again
    for r in results.values():
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("second", ["predict", "train_step", "mc_dropout"])
def test_a_prediction_and_a_step_at_the_same_time_share_the_threads(adaptive, main_owns_the_team, rng, second):
    """While another Python thread is inside a model's predict, the owner's prediction, step or Monte Carlo
    passes get their share of the cores (threads_for: 1 of 2)."""
    from fastnn.layers import Dense

    model = fastnn.Sequential([Dense(8, activation="relu"), Dense(2)], input_dim=4, loss="mse", seed=0)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    layer = model.layers[0]
    with fastnn.threads(2, parallel_threshold=1):
        thread, release, seen = _held_in_another_thread(lambda: model.predict(x), layer.forward, layer, "forward",
                                                        lambda a: _config.threads_for(10**9))
        try:
            if second == "predict":
                model.predict(x)
            elif second == "mc_dropout":
                model.predict(x, mc_samples=2)
            else:
                model.train_step(x, y, optimizer="sgd")
        finally:
            release.set()
            thread.join()
        # the other thread's big call alone (work >= UNOWNED_MIN_WORK), then every pass of the owner's beside it
        assert len(seen) >= 2 and seen[0] == 2 and set(seen[1:]) == {1}
        assert _config.CALLS_IN_FLIGHT == []
        assert _config.threads_for(10**9) == 2


def test_only_the_team_owner_runs_threaded_kernels_until_it_ends(adaptive, monkeypatch):
    """The first Python thread to ask owns fastnn's OpenMP team; another thread's small kernels run on one thread
    (libgomp stops spinning once two threads hold teams, so each region would wake sleeping threads), until the
    owner has ended."""
    import threading

    monkeypatch.setattr(_config._state, "team_owner", None)
    monkeypatch.setattr(_config._state, "team_owner_ident", 0)
    got = {}

    def ask(name):
        got[name] = (_config.free_threads(2), _config.free_threads(2, 1, _config.UNOWNED_MIN_WORK - 1),
                     _config.free_threads(2, 1, _config.UNOWNED_MIN_WORK), _config.threads_for(10**9),
                     _config.explicit_threads(3))

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    first.join()  # it owned the team, and has ended
    ask("main")   # so the main thread takes the team over
    other = threading.Thread(target=ask, args=("other",))
    other.start()
    other.join()
    # the owner: 2 for any work; another thread: 1 for small work, 2 for work that pays its team's wake; a count
    # the caller gave explicitly stands
    assert got == {"first": (2, 2, 2, 2, 3), "main": (2, 2, 2, 2, 3), "other": (1, 1, 2, 2, 3)}


def test_busy_time_counts_our_cores_or_all_when_none_match(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 100 0 0 0 0 0 0\n"
                    "cpu0 1 0 2 50 0 0 0 0 0 0\n"
                    "cpu1 3 4 0 50 9 1 1 1 0 0\n"
                    "intr 12345\n")
    monkeypatch.setattr(_load, "_STAT", str(stat))
    monkeypatch.setattr(_load, "_TICK", 1)
    assert _load._busy_seconds(frozenset({0})) == 3  # user + system of cpu0; idle and iowait are not busy
    assert _load._busy_seconds(frozenset({1})) == 10  # user, nice, irq, softirq, steal
    assert _load._busy_seconds(None) == 13
    assert _load._busy_seconds(frozenset({7})) == 13  # numbered otherwise: all cores rather than none
    monkeypatch.setattr(_load, "_STAT", str(tmp_path / "missing"))
    assert _load._busy_seconds(None) is None
