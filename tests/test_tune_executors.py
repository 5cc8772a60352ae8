"""Where trials run: a local process pool and a real Dask cluster (a scheduler and two workers started as separate
processes on 127.0.0.1). A worker killed with SIGKILL mid-trial: the trial reruns elsewhere with the same
arguments (hence the same seed), nothing is lost or counted twice, and the results equal an undisturbed run."""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import child_env
from tune_trials import UnpicklingLogger, failing_trial, fatal_trial, logged_trial, noisy_quadratic, pid, thread_count

import fastnn
from fastnn.tune._executors_pool import ProcessExecutor, WorkerLost, available_cores

TESTS_DIR = pathlib.Path(__file__).parent
TIMEOUT = 60.0  # seconds any single wait may take on a loaded machine before the test fails instead of hanging
PARAMS = [{"x": 0.1 * i} for i in range(6)]
SEEDS = [100 + i for i in range(6)]
VICTIM = 3  # index of the slow trial whose worker is killed


def wait_until(condition, timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def attempts(log_dir: pathlib.Path, kind: str, seed: int) -> list[int]:
    """pids of the processes that started (or finished) the trial with this seed."""
    return sorted(int(p.name.rsplit("-", 1)[1]) for p in log_dir.glob(f"{kind}-{seed}-*"))


def run_killing_one_worker(executor, log_dir: pathlib.Path) -> tuple[list[float], int]:
    """Submit the six trials (the victim sleeps 2 s, the others 0.2 s), collect them as a search does, one
    ``wait_any`` at a time, and SIGKILL the victim's worker once it is inside the victim trial. Returns the
    scores in submission order and the killed pid."""
    futures = {executor.submit(logged_trial, p, s, str(log_dir), 2.0 if i == VICTIM else 0.2): i
               for i, (p, s) in enumerate(zip(PARAMS, SEEDS))}
    scores: dict[int, float] = {}
    pending, killed = set(futures), None
    deadline = time.monotonic() + TIMEOUT
    while pending:
        assert time.monotonic() < deadline, f"trials {sorted(futures[f] for f in pending)} never finished"
        done, pending = executor.wait_any(pending, timeout=0.1)
        for future in done:
            assert futures[future] not in scores, "a trial came back twice"
            scores[futures[future]] = future.result()
        victim_pids = attempts(log_dir, "started", SEEDS[VICTIM])
        # kill only once every trial that finished elsewhere has been collected, as a search would have
        finished_uncollected = [i for i in range(len(SEEDS)) if i not in scores and attempts(log_dir, "finished",
                                                                                                SEEDS[i])]
        if killed is None and victim_pids and not finished_uncollected:
            killed = victim_pids[0]
            os.kill(killed, signal.SIGKILL)
    assert killed is not None, "the victim trial finished before it could be killed"
    return [scores[i] for i in range(len(SEEDS))], killed


def check_rerun_once(log_dir: pathlib.Path, killed: int) -> int:
    """The victim started twice (the second time in another process) and finished once; every other trial ran
    exactly once. Returns the pid that reran the victim."""
    started = attempts(log_dir, "started", SEEDS[VICTIM])
    finished = attempts(log_dir, "finished", SEEDS[VICTIM])
    assert len(started) == 2 and killed in started, started
    rerun = next(p for p in started if p != killed)
    assert finished == [rerun]
    for i, seed in enumerate(SEEDS):
        if i != VICTIM:
            assert len(attempts(log_dir, "started", seed)) == 1, f"trial {i} ran more than once"
            assert len(attempts(log_dir, "finished", seed)) == 1
    return rerun


REFERENCE = [noisy_quadratic(p, s) for p, s in zip(PARAMS, SEEDS)]  # the undisturbed, in-process run


# ---- ProcessExecutor -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pool():
    """Two workers shared by the tests below (starting worker processes is what takes time here)."""
    with ProcessExecutor(2) as executor:
        yield executor


def test_process_executor_worker_killed_mid_trial_reruns_it_once(pool, tmp_path):
    scores, killed = run_killing_one_worker(pool, tmp_path)
    check_rerun_once(tmp_path, killed)
    assert scores == REFERENCE
    # the pool replaced the dead worker and still serves trials
    assert pool.submit(noisy_quadratic, PARAMS[0], SEEDS[0]).result(TIMEOUT) == REFERENCE[0]


def test_process_executor_gives_each_worker_its_share_of_cores(pool):
    threads = {pool.submit(thread_count).result(TIMEOUT) for _ in range(4)}
    assert threads == {max(1, available_cores() // 2)}
    with ProcessExecutor(1) as executor:
        assert executor.submit(thread_count).result(TIMEOUT) == available_cores()


def test_a_search_sends_its_objective_to_each_worker_once(pool, tmp_path):
    """The objective (a tuning objective holds the training set) goes to each worker once, not with every trial:
    a 188 MB Fashion-MNIST took 0.66 s per trial through the pipe."""
    from fastnn.tune import Uniform, search

    objective = UnpicklingLogger(str(tmp_path))
    result = search(objective, {"x": Uniform(0.0, 1.0)}, n_trials=8, executor=pool, seed=1)
    assert len(result.trials) == 8 and all(t.status == "ok" for t in result.trials)
    unpickled = os.listdir(tmp_path)
    assert 1 <= len(unpickled) <= pool.n_workers, unpickled
    assert len({name.split("-")[1] for name in unpickled}) == len(unpickled)  # once per worker process


def test_process_executor_trial_errors_and_crashes_are_failed_trials_not_dead_pools():
    with ProcessExecutor(2, max_retries=1) as executor:
        raising = executor.submit(failing_trial, "bad config")
        crashing = executor.submit(fatal_trial)
        fine = executor.submit(noisy_quadratic, PARAMS[1], SEEDS[1])
        with pytest.raises(ValueError, match="bad config") as info:
            raising.result(TIMEOUT)
        assert "failing_trial" in str(info.value.__cause__)  # the worker's traceback travels along
        with pytest.raises(WorkerLost, match="died 2 times"):
            crashing.result(TIMEOUT)
        assert fine.result(TIMEOUT) == REFERENCE[1]


def test_process_executor_shutdown_stops_its_workers_and_refuses_new_trials():
    executor = ProcessExecutor(2)
    pids = {executor.submit(pid).result(TIMEOUT) for _ in range(4)}
    executor.shutdown()
    executor.shutdown()  # idempotent
    for worker_pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid, 0)
    with pytest.raises(RuntimeError, match="shut down"):
        executor.submit(pid)


def test_process_executor_shut_down_from_another_thread_fails_its_queued_trials():
    """Queued trials were cancelled without notice, so a wait_any on them (and the search above it) never woke."""
    executor = ProcessExecutor(1)
    running = executor.submit(time.sleep, 2)
    queued = [executor.submit(noisy_quadratic, PARAMS[i], SEEDS[i]) for i in range(2)]
    wait_until(lambda: running.running(), what="the first trial to run")
    stopper = threading.Thread(target=executor.shutdown)
    stopper.start()
    done, pending = executor.wait_any(queued, timeout=TIMEOUT)
    stopper.join(TIMEOUT)
    assert done and not stopper.is_alive()
    for future in queued:
        with pytest.raises(RuntimeError, match="shut down before this trial finished"):
            future.result(TIMEOUT)


def test_a_worker_that_cannot_start_fails_its_trial_instead_of_hanging_the_search(monkeypatch):
    """A failed worker start (fork or fd limits) killed the pool's manager thread: search waited forever."""
    from tune_trials import branin

    from fastnn.tune import Uniform, search
    from fastnn.tune._executors_pool import _Pool
    from fastnn.tune.search import AllTrialsFailedError

    def cannot_fork(self):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(_Pool, "start_worker", cannot_fork)
    outcome: list = []

    def run():
        try:
            search(branin, {"x": Uniform(-5.0, 10.0), "y": Uniform(0.0, 15.0)}, n_trials=2, executor="processes",
                   n_workers=2)
        except AllTrialsFailedError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "search hung"
    assert outcome and "could not start a worker process" in str(outcome[0])


def test_process_executor_wait_any_returns_the_first_finished(pool):
    slow = pool.submit(time.sleep, 3)
    fast = pool.submit(noisy_quadratic, PARAMS[0], SEEDS[0])
    done, pending = pool.wait_any([slow, fast], timeout=TIMEOUT)
    assert done == {fast} and pending == {slow}


def test_a_function_the_workers_cannot_be_sent_is_refused_before_any_trial(pool):
    """A lambda objective on executor="processes" made every trial fail with PicklingError, then the search
    raised "all N trials failed"."""
    from fastnn.tune import Uniform, search

    with pytest.raises(TypeError, match="cannot be sent to the worker processes .* not a lambda"):
        pool.submit(lambda: 1.0)
    with pytest.raises(TypeError, match="cannot be sent to the worker processes"):
        search(lambda p: p["x"], {"x": Uniform(0.0, 1.0)}, n_trials=2, executor=pool)
    assert pool.submit(noisy_quadratic, PARAMS[0], SEEDS[0]).result(TIMEOUT) == REFERENCE[0]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_process_executor_refuses_bad_n_workers(bad, error):
    with pytest.raises(error, match="n_workers"):
        ProcessExecutor(bad)


def test_process_executor_refuses_fork():
    with pytest.raises(ValueError, match="start_method"):
        ProcessExecutor(1, start_method="fork")


@pytest.mark.parametrize("bad", [{"journal": "DIR"}, {"bogus_option": 1}, {"lag": -1}])
def test_search_refusing_an_argument_stops_the_pool_it_made(bad, tmp_path):
    """search builds its process pool (a manager thread) before it checks lag, the method's options and the
    journal; a refusal used to leave that thread running for as long as the error's traceback was kept."""
    from fastnn.tune import Uniform, search

    def managers():
        return [t for t in threading.enumerate() if t.name == "fastnn-process-executor" and t.is_alive()]

    before = len(managers())
    bad = {k: str(tmp_path) if v == "DIR" else v for k, v in bad.items()}
    with pytest.raises((TypeError, ValueError)) as refused:
        search(noisy_quadratic, {"x": Uniform(0.0, 1.0)}, n_trials=2, executor="processes", n_workers=1, **bad)
    assert refused.value.__traceback__ is not None  # the error is still held, with its frames
    assert len(managers()) == before


# ---- Dask: a real scheduler and two workers, each a process of its own -----------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    """``dask scheduler`` and ``dask worker`` processes (no nanny: a killed worker stays dead), each in a process
    group of its own so ``stop`` can kill it with everything it started. Should the test process itself be
    killed before ``stop``, the scheduler exits after 300 s idle and the workers 60 s after losing it."""

    def __init__(self, log_dir: pathlib.Path):
        self.log_dir = log_dir
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.env = child_env(TESTS_DIR)
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.client = None

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        try:
            return subprocess.Popen([sys.executable, "-m", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.log_dir)
        finally:
            log.close()

    def start(self) -> None:
        from distributed import Client

        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                     "--port", port, "--no-dashboard", "--idle-timeout", "300s")
        self.client = Client(self.address, timeout=TIMEOUT, set_as_default=False)

    def ensure_workers(self, n: int) -> list[int]:
        """Start workers until ``n`` are alive and registered; returns their pids."""
        alive = [w for w in self.workers if w.poll() is None]
        for _ in range(n - len(alive)):
            self.workers.append(self._start(f"worker{len(self.workers)}", "distributed.cli.dask_worker",
                                            self.address, "--host", "127.0.0.1", "--nthreads", "1",
                                            "--nworkers", "1", "--no-nanny", "--no-dashboard", "--death-timeout", "60"))
        wanted = {w.pid for w in self.workers if w.poll() is None}
        wait_until(lambda: self.worker_pids() == wanted, what=f"{n} Dask workers to register")
        return sorted(wanted)

    def worker_pids(self) -> set[int]:
        return set(self.client.run(os.getpid).values())

    def stop(self) -> None:
        if self.client is not None:
            self.client.close(timeout=10)
        for process in [self.scheduler, *self.workers]:
            if process is None:
                continue
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in self.log_dir.glob("*.log"))


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def dask_executor(dask_cluster):
    from fastnn.tune._executors_dask import DaskExecutor

    dask_cluster.ensure_workers(2)
    executor = DaskExecutor(dask_cluster.client)
    yield executor
    executor.shutdown()


def test_dask_worker_killed_mid_trial_reruns_it_elsewhere_once(dask_cluster, dask_executor, tmp_path):
    scores, killed = run_killing_one_worker(dask_executor, tmp_path)
    rerun = check_rerun_once(tmp_path, killed)
    assert rerun in dask_cluster.worker_pids()  # the surviving worker
    assert scores == REFERENCE


def test_dask_same_trials_same_results_as_in_process(dask_executor):
    assert dask_executor.n_workers == 2
    futures = [dask_executor.submit(noisy_quadratic, p, s) for p, s in zip(PARAMS, SEEDS)]
    futures.append(dask_executor.submit(noisy_quadratic, PARAMS[0], SEEDS[0]))  # equal arguments: its own task
    assert len({f.key for f in futures}) == len(futures)
    assert [f.result(TIMEOUT) for f in futures] == REFERENCE + REFERENCE[:1]


def test_dask_wait_any_returns_the_first_finished_and_sets_threads(dask_cluster, dask_executor):
    slow = dask_executor.submit(time.sleep, 3)
    fast = dask_executor.submit(noisy_quadratic, PARAMS[0], SEEDS[0])
    done, pending = dask_executor.wait_any([slow, fast], timeout=TIMEOUT)
    assert done == {fast} and pending == {slow}
    # two single-threaded workers share this host: each trial gets cores // 2 threads
    assert dask_executor.submit(thread_count).result(TIMEOUT) == max(1, available_cores() // 2)
    slow.result(TIMEOUT)


def test_dask_failed_trial_is_an_error_not_a_lost_result(dask_executor):
    future = dask_executor.submit(failing_trial, "bad config")
    assert isinstance(future.exception(TIMEOUT), ValueError)
    with pytest.raises(ValueError, match="bad config"):
        future.result()


def test_dask_executor_refuses_what_is_not_a_client_or_address():
    from fastnn.tune._executors_dask import DaskExecutor

    with pytest.raises(TypeError, match="client_or_address"):
        DaskExecutor(8786)


def test_dask_targets_are_recognized_without_importing_dask(dask_cluster):
    from fastnn.tune._executors_dask import is_dask_target

    assert is_dask_target(dask_cluster.client) and is_dask_target("tcp://127.0.0.1:8786")
    assert not any(is_dask_target(x) for x in (None, "processes", "inprocess", 8786, ProcessExecutor))


def test_dask_worker_lost_after_its_trial_finished_is_not_rerun(dask_executor, tmp_path):
    future = dask_executor.submit(logged_trial, PARAMS[2], SEEDS[2], str(tmp_path))
    done, _ = dask_executor.wait_any([future], timeout=TIMEOUT)
    assert done == {future}
    # Under heavy load the scheduler may already have started the task twice before it finished (a worker it
    # took for lost): what must not happen is a start AFTER the trial finished and its worker died.
    started = len(attempts(tmp_path, "started", SEEDS[2]))
    os.kill(attempts(tmp_path, "finished", SEEDS[2])[0], signal.SIGKILL)  # the worker that held the result
    assert future.result(TIMEOUT) == REFERENCE[2]
    time.sleep(0.5)  # a rerun the scheduler might have started would show up here
    assert len(attempts(tmp_path, "started", SEEDS[2])) == started


# ---- Dask: one executor shared by threads (a stand-in client: the race is in fastnn's own code) ---------------


class _ShippedFuture:
    def __init__(self, number):
        self.number, self.status = number, "finished"

    def release(self):
        self.status = "released"


class _SlowClient:
    """A stand-in for distributed.Client: the first scatter waits (up to 0.5 s) for a second call to scatter, the
    first submit for a second submit, so two threads that are not kept apart meet inside the window."""

    asynchronous = False

    def __init__(self):
        self.scattered, self.submitted_with = [], []
        self._second_scatter, self._second_submit = threading.Event(), threading.Event()

    def scatter(self, fn, broadcast, hash):
        self.scattered.append(_ShippedFuture(len(self.scattered)))
        shipped = self.scattered[-1]
        self._meet(self._second_scatter, first=len(self.scattered) == 1)
        return shipped

    def submit(self, run, shipped, args, threads, key, pure):
        self.submitted_with.append(shipped)
        self._meet(self._second_submit, first=len(self.submitted_with) == 1)
        assert shipped.status == "finished", "a task was submitted with a function another thread let go"
        return type("Task", (), {"key": key})()

    @staticmethod
    def _meet(second, first):
        if first:
            second.wait(0.5)
        else:
            second.set()


def _submit_from_two_threads(monkeypatch, fns):
    from types import SimpleNamespace

    from fastnn.tune import _executors_dask

    monkeypatch.setattr(_executors_dask, "optional_import", lambda *a: SimpleNamespace(Client=_SlowClient))
    client = _SlowClient()
    executor = _executors_dask.DaskExecutor(client)
    errors = []

    def submit(fn):
        try:
            executor.submit(fn, 1.0)
        except BaseException as exc:  # noqa: BLE001 -- reported by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, errors
    executor.shutdown()
    return client


def test_dask_executor_shared_by_threads_ships_a_function_once(monkeypatch):
    """Two threads submitting the same function at once both found nothing shipped and scattered it twice; the
    first copy was then overwritten without ever being released (it stayed on the workers)."""
    client = _submit_from_two_threads(monkeypatch, [noisy_quadratic, noisy_quadratic])
    assert len(client.scattered) == 1
    assert client.submitted_with == [client.scattered[0]] * 2
    assert client.scattered[0].status == "released"  # by shutdown


def test_dask_executor_shared_by_threads_never_submits_a_released_function(monkeypatch):
    """Two threads shipping different functions at once: one's Future was overwritten without being released
    (left on the workers); the stand-in client also fails a submit naming a Future released by the other thread
    between the ship and the submit."""
    client = _submit_from_two_threads(monkeypatch, [noisy_quadratic, failing_trial])
    assert len(client.scattered) == 2 and all(f.status == "released" for f in client.scattered)


# ---- search() end to end: same seed -> same trials and result in-process, on processes and on Dask -------------

needs_search = pytest.mark.skipif(not (pathlib.Path(fastnn.__file__).parent / "tune" / "search.py").exists(),
                                  reason="fastnn.tune.search is not on this branch yet")


def _summary(result) -> tuple:
    return (result.best_params, result.best_score,
            [(t.number, t.params, t.score, t.status) for t in sorted(result.trials, key=lambda t: t.number)])


class CountingDaskExecutor:
    submitted = 0

    def __new__(cls, client):
        from fastnn.tune._executors_dask import DaskExecutor

        class Counting(DaskExecutor):
            def submit(self, fn, /, *args):
                cls.submitted += 1
                return super().submit(fn, *args)

        cls.submitted = 0
        return Counting(client)


@needs_search
@pytest.mark.parametrize("method, n_trials", [("random", 8), ("bayes", 8)])
def test_search_on_dask_and_processes_equals_in_process(dask_cluster, method, n_trials):
    from tune_trials import branin

    from fastnn.tune import Uniform, search

    space = {"x": Uniform(-5.0, 10.0), "y": Uniform(0.0, 15.0)}
    dask_cluster.ensure_workers(2)
    options = {"n_initial": 4, "n_candidates": 200} if method == "bayes" else {}
    # lag=1: one trial pending when the next is proposed, as with two workers, on every executor
    in_process = search(branin, space, method=method, n_trials=n_trials, seed=7, lag=1, **options)
    on_dask = search(branin, space, method=method, n_trials=n_trials, seed=7, lag=1,
                     executor=CountingDaskExecutor(dask_cluster.client), **options)
    assert CountingDaskExecutor.submitted == n_trials  # every trial went to the cluster
    on_processes = search(branin, space, method=method, n_trials=n_trials, seed=7, lag=1, executor="processes",
                          n_workers=2, **options)
    assert _summary(on_dask) == _summary(in_process) == _summary(on_processes)
    assert len(on_dask.trials) == n_trials and all(t.status == "ok" for t in on_dask.trials)


@needs_search
def test_a_search_on_dask_sends_its_objective_to_each_worker_once(dask_cluster, tmp_path):
    """As with the process pool: a tuning objective holds the training set, so it is scattered to the workers
    once per search, not pickled into every trial's task."""
    from fastnn.tune import Uniform, search

    dask_cluster.ensure_workers(2)
    executor = DaskExecutorFor(dask_cluster)
    result = search(UnpicklingLogger(str(tmp_path)), {"x": Uniform(0.0, 1.0)}, n_trials=8, seed=1, executor=executor)
    assert len(result.trials) == 8 and all(t.status == "ok" for t in result.trials)
    unpickled = os.listdir(tmp_path)
    assert 1 <= len(unpickled) <= 2, unpickled
    assert len({name.split("-")[1] for name in unpickled}) == len(unpickled)  # once per worker process
    executor.shutdown()  # lets go of the scattered objective; the caller's client stays open
    assert not executor._shipped and dask_cluster.client.status == "running"
    wait_until(lambda: not any(dask_cluster.client.has_what().values()), what="the workers to drop the objective")


def test_dask_executor_scatters_again_when_every_copy_of_the_function_is_lost(dask_cluster):
    import functools

    dask_cluster.ensure_workers(2)
    executor = DaskExecutorFor(dask_cluster)
    trial = functools.partial(noisy_quadratic, PARAMS[1])
    assert executor.submit(trial, SEEDS[1]).result(TIMEOUT) == REFERENCE[1]
    shipped = executor._shipped[1]
    for worker in dask_cluster.workers:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(TIMEOUT)
    dask_cluster.ensure_workers(2)
    wait_until(lambda: shipped.status != "finished", what="the scheduler to see its copies lost")
    assert executor.submit(trial, SEEDS[1]).result(TIMEOUT) == REFERENCE[1]
    assert executor._shipped[1] is not shipped
    executor.shutdown()


@needs_search
def test_search_accepts_a_scheduler_address(dask_cluster):
    from tune_trials import branin

    from fastnn.tune import Uniform, search

    space = {"x": Uniform(-5.0, 10.0), "y": Uniform(0.0, 15.0)}
    dask_cluster.ensure_workers(2)
    result = search(branin, space, n_trials=4, seed=3, executor=dask_cluster.address)
    assert _summary(result) == _summary(search(branin, space, n_trials=4, seed=3, lag=1))


@needs_search
def test_search_on_dask_survives_a_worker_killed_mid_trial(dask_cluster, tmp_path):
    """The whole loop: a search on two Dask workers, one SIGKILLed inside its first trial (by a watcher thread,
    as an outage would). Every trial is recorded once, the killed one was rerun on the other worker, and the
    result is the in-process one."""
    import threading

    from tune_trials import logged_objective

    from fastnn.tune import Uniform, search

    space = {"x": Uniform(0.0, 1.0), "log_dir": str(tmp_path), "sleep": 1.0}
    dask_cluster.ensure_workers(2)
    killed: list[int] = []
    hold = tmp_path / "hold"  # started trials wait until the kill (logged_trial): the victim is always mid-trial
    hold.touch()

    def kill_the_first_trial():
        try:
            first = wait_until(lambda: sorted(tmp_path.glob("started-*")), what="a trial to start")[0]
            killed.append(int(first.name.rsplit("-", 1)[1]))
            os.kill(killed[0], signal.SIGKILL)
        finally:
            hold.unlink()

    watcher = threading.Thread(target=kill_the_first_trial, daemon=True)
    watcher.start()
    on_dask = search(logged_objective, space, n_trials=6, seed=11, lag=1, executor=DaskExecutorFor(dask_cluster))
    watcher.join(TIMEOUT)
    started = sorted(p.name for p in tmp_path.glob("started-*"))
    finished = sorted(p.name for p in tmp_path.glob("finished-*"))
    tags = [name.split("-")[1] for name in started]
    assert killed and len(started) == 7 and len(finished) == 6  # one trial ran twice, and finished once
    victim = next(tag for tag in tags if tags.count(tag) == 2)
    assert any(name.startswith(f"started-{victim}-{killed[0]}") for name in started)
    assert not any(name.startswith(f"finished-{victim}-{killed[0]}") for name in finished)
    assert len(on_dask.trials) == 6 and len({t.number for t in on_dask.trials}) == 6
    undisturbed = search(logged_objective, dict(space, sleep=0.0), n_trials=6, seed=11, lag=1)

    def without_constants(result):
        return [(t.number, t.params["x"], t.score, t.status) for t in sorted(result.trials, key=lambda t: t.number)]

    assert without_constants(on_dask) == without_constants(undisturbed)
    assert (on_dask.best_params["x"], on_dask.best_score) == (undisturbed.best_params["x"], undisturbed.best_score)


def DaskExecutorFor(cluster):
    from fastnn.tune._executors_dask import DaskExecutor

    return DaskExecutor(cluster.client)
