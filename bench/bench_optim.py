"""Optimizer step benchmarks: fastnn's fused kernels vs torch.optim (fused=True / foreach=True / for-loop),
measured in ONE process, interleaved, with the thread count set explicitly on both sides.

    python bench/bench_optim.py                 # 10M float32 params, 2 threads, + the 784-512-256-10 MLP
    python bench/bench_optim.py --n 1000000 --threads 1 --rounds 9

Sections:
  1. one step over N float32 parameters (default 10M) for Adam, AdamW, RMSprop, SGD-momentum, and Adam with
     global-norm clipping; torch gets the parameters as 10 tensors of N/10 (like ../shared/peers/torch_kernels.py)
     and as one tensor of N. GB/s counts the bytes the update must move (Adam: read p, g, m, v; write p, m, v).
  2. the optimizer step alone for the 535,818 parameters of the 784-512-256-10 MLP (6 tensors in torch): the
     per-step cost a training loop pays, fastnn serial vs 2 threads (threads_for picks 2 at the default
     threshold 2**18).
  3. a full Adam training step (batch 128) of that MLP through fastnn.Sequential.train_step, with the optimizer
     serial vs threaded, next to PyTorch's training step: does a 2-thread OpenMP region between matmuls hurt?
  4. (only with --sections ...,4) the same step while a busy-loop process occupies one core: numpy's BLAS at 1
     or 2 threads x the optimizer at 1 or 2 threads, next to PyTorch.
Each round runs every contender; the best round counts (other processes on a shared machine only slow rounds
down; the share of CPU they took during the run is printed). Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import fastnn
from fastnn import clip as C
from fastnn import optim
from fastnn._layout import ParamLayout
from _timing import timeit
from _timing import run_rounds


class CpuShare:
    """CPU time used by OTHER processes while the benchmark ran, as a fraction of the machine (Linux only)."""

    def __enter__(self):
        self.a, self.m = self._all(), self._mine()
        return self

    def __exit__(self, *exc):
        b, m = self._all(), self._mine()
        total = sum(y - x for x, y in zip(self.a, b))
        busy = (b[0] + b[1] + b[2]) - (self.a[0] + self.a[1] + self.a[2])
        self.others = max(0.0, (busy - (m - self.m)) / total) if total else float("nan")

    @staticmethod
    def _all():
        try:
            with open("/proc/stat") as f:
                return list(map(int, f.readline().split()[1:8]))
        except OSError:
            return [0] * 7

    @staticmethod
    def _mine():
        try:
            with open("/proc/self/stat") as f:
                s = f.read().rsplit(")", 1)[1].split()
            return int(s[11]) + int(s[12])
        except OSError:
            return 0


BYTES_PER_PARAM = {"Adam": 7, "AdamW": 7, "RMSprop": 5, "SGD-momentum": 5, "Adam+clip": 8}


def ours(name, n, dtype=np.float32, n_threads=None):
    layout = ParamLayout.pack([("0.W", (n,), "weight", 0)], dtype)
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32).astype(dtype)
    g = rng.standard_normal(n, dtype=np.float32).astype(dtype)
    opt, clip = {
        "Adam": (optim.Adam(lr=1e-3), None),
        "AdamW": (optim.AdamW(lr=1e-3), None),
        "RMSprop": (optim.RMSprop(lr=1e-3), None),
        "SGD-momentum": (optim.SGD(lr=1e-3, momentum=0.9), None),
        "Adam+clip": (optim.Adam(lr=1e-3), C.ByGlobalNorm(1.0)),
    }[name]
    opt.bind(layout)
    opt.n_threads = n_threads
    return lambda: opt.step(p, g, clip=clip)


def torch_step(name, sizes, mode):
    """mode: 'fused', 'foreach' or 'loop'; None if torch has no such implementation."""
    import torch

    params = [torch.nn.Parameter(torch.randn(s)) for s in sizes]
    for q in params:
        q.grad = torch.randn_like(q)
    kw = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[mode]
    cls, args = {
        "Adam": (torch.optim.Adam, dict(lr=1e-3)),
        "Adam+clip": (torch.optim.Adam, dict(lr=1e-3)),
        "AdamW": (torch.optim.AdamW, dict(lr=1e-3)),
        "RMSprop": (torch.optim.RMSprop, dict(lr=1e-3)),
        "SGD-momentum": (torch.optim.SGD, dict(lr=1e-3, momentum=0.9)),
    }[name]
    try:
        opt = cls(params, **args, **kw)
    except (TypeError, RuntimeError, ValueError):
        return None
    if name == "Adam+clip":
        foreach = mode != "loop"

        def step():
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=foreach)
            opt.step()
        return step
    return opt.step


def env_settings() -> dict:
    keys = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS",
            "FASTNN_PARALLEL_THRESHOLD")
    return {k: os.environ.get(k, "<unset>") for k in keys}


def section_kernels(n, rounds, min_time, results, lines):
    import torch

    lines.append(f"\n## 1. one optimizer step over {n:,} float32 parameters "
                 f"(fastnn threads {fastnn.get_num_threads()}, torch threads {torch.get_num_threads()})\n")
    lines.append("| optimizer | fastnn ms (GB/s) | torch fused 10x ms | torch fused 1x ms | torch foreach ms | "
                 "torch for-loop ms | vs fused (best) | vs foreach |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("Adam", "AdamW", "RMSprop", "SGD-momentum", "Adam+clip"):
        cont = {"fastnn": ours(name, n)}
        for label, sizes, mode in (("fused10", [n // 10] * 10, "fused"), ("fused1", [n], "fused"),
                                   ("foreach", [n // 10] * 10, "foreach"), ("loop", [n // 10] * 10, "loop")):
            fn = torch_step(name, sizes, mode)
            if fn is not None:
                cont[label] = fn
        t = run_rounds(cont, rounds, min_time)
        gbps = BYTES_PER_PARAM[name] * 4 * n / t["fastnn"] / 1e9
        fused_best = min((t[k] for k in ("fused10", "fused1") if k in t), default=None)
        row = {k: v * 1e3 for k, v in t.items()}
        row["fastnn_GBps"] = gbps
        row["speedup_vs_fused"] = fused_best / t["fastnn"] if fused_best else None
        row["speedup_vs_foreach"] = t["foreach"] / t["fastnn"] if "foreach" in t else None
        results[f"step_{name}"] = row

        def ms(k):
            return f"{t[k] * 1e3:.2f}" if k in t else "n/a"

        def x(v):
            return f"{v:.2f}x" if v else "n/a"

        lines.append(f"| {name} | {t['fastnn'] * 1e3:.2f} ({gbps:.0f}) | {ms('fused10')} | {ms('fused1')} | "
                     f"{ms('foreach')} | {ms('loop')} | {x(row['speedup_vs_fused'])} | "
                     f"{x(row['speedup_vs_foreach'])} |")


MLP = (784, 512, 256, 10)


def mlp_sizes():
    out = []
    for i in range(len(MLP) - 1):
        out += [(MLP[i + 1], MLP[i]), (MLP[i + 1],)]
    return out


def section_small(rounds, min_time, results, lines):
    import torch

    n = sum(int(np.prod(s)) for s in mlp_sizes())
    lines.append(f"\n## 2. optimizer step alone, 784-512-256-10 MLP ({n:,} float32 parameters; "
                 f"threads_for({n}) = {fastnn._config.threads_for(n)})\n")
    lines.append("| optimizer | fastnn serial us | fastnn 2 threads us | torch fused us | torch foreach us | "
                 "torch for-loop us |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for name in ("Adam", "SGD-momentum"):
        cont = {"serial": ours(name, n, n_threads=1), "threads": ours(name, n, n_threads=2)}
        for mode in ("fused", "foreach", "loop"):
            fn = torch_step(name, mlp_sizes(), mode)
            if fn is not None:
                cont[mode] = fn
        t = run_rounds(cont, rounds, min_time)
        results[f"mlp_step_{name}"] = {k: v * 1e6 for k, v in t.items()}
        lines.append(f"| {name} | " + " | ".join(f"{t[k] * 1e6:.0f}" if k in t else "n/a"
                                                 for k in ("serial", "threads", "fused", "foreach", "loop")) + " |")


def section_training(rounds, min_time, results, lines, batch=128):
    if not hasattr(fastnn, "Sequential"):
        lines.append("\n## 3. training step: skipped (fastnn.Sequential not available)\n")
        return
    import torch

    from fastnn.layers import Dense

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * 20, MLP[0]), dtype=np.float32)
    y = rng.integers(0, MLP[-1], batch * 20)

    def fastnn_trainer(n_threads):
        model = fastnn.Sequential([Dense(MLP[1], activation="relu"), Dense(MLP[2], activation="relu"),
                                   Dense(MLP[3])], input_dim=MLP[0], dtype="float32", seed=0)
        opt = optim.Adam(lr=1e-3)
        opt.n_threads = n_threads
        model.train_step(X[:batch], y[:batch], optimizer=opt)
        state = {"i": 0}

        def step():
            j = (state["i"] % 20) * batch
            state["i"] += 1
            model.train_step(X[j:j + batch], y[j:j + batch], optimizer=opt)
        return step

    tmodel = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                 torch.nn.ReLU(), torch.nn.Linear(256, 10))
    tX, tY = torch.from_numpy(X), torch.from_numpy(y)
    contenders = {"fastnn opt serial": fastnn_trainer(1), "fastnn opt 2 threads": fastnn_trainer(2),
                  "fastnn default": fastnn_trainer(None)}
    for label, kw in (("torch Adam (default)", {}), ("torch Adam fused", {"fused": True})):
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3, **kw)
        lossf = torch.nn.CrossEntropyLoss()
        st = {"i": 0}

        def tstep(topt=topt, lossf=lossf, st=st):
            j = (st["i"] % 20) * batch
            st["i"] += 1
            topt.zero_grad(set_to_none=True)
            lossf(tmodel(tX[j:j + batch]), tY[j:j + batch]).backward()
            topt.step()
        contenders[label] = tstep
    t = run_rounds(contenders, rounds, min_time)
    lines.append(f"\n## 3. Adam training step, 784-512-256-10, batch {batch} (samples/s; higher is better)\n")
    lines.append("| contender | ms/step | samples/s | vs torch default |")
    lines.append("| --- | --- | --- | --- |")
    base = t["torch Adam (default)"]
    results["train_step_ms"] = {k: v * 1e3 for k, v in t.items()}
    for k, v in t.items():
        lines.append(f"| {k} | {v * 1e3:.3f} | {batch / v:,.0f} | {base / v:.2f}x |")


def section_contention(rounds, min_time, results, lines, batch=128):
    """The training step while another process keeps one core busy: BLAS threads x optimizer threads."""
    import subprocess

    import torch
    from threadpoolctl import threadpool_limits

    from fastnn.layers import Dense

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * 20, MLP[0]), dtype=np.float32)
    y = rng.integers(0, MLP[-1], batch * 20)

    def trainer(blas, opt_threads):
        model = fastnn.Sequential([Dense(MLP[1], activation="relu"), Dense(MLP[2], activation="relu"),
                                   Dense(MLP[3])], input_dim=MLP[0], dtype="float32", seed=0)
        opt = optim.Adam(lr=1e-3)
        opt.n_threads = opt_threads
        state = {"i": 0}

        def step():
            with threadpool_limits(limits=blas, user_api="blas"):
                for _ in range(5):
                    j = (state["i"] % 20) * batch
                    state["i"] += 1
                    model.train_step(X[j:j + batch], y[j:j + batch], optimizer=opt)
        return step

    tmodel = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                 torch.nn.ReLU(), torch.nn.Linear(256, 10))
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    tX, tY = torch.from_numpy(X), torch.from_numpy(y)

    def tstep():
        for i in range(5):
            j = (i % 20) * batch
            topt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(tmodel(tX[j:j + batch]), tY[j:j + batch]).backward()
            topt.step()

    contenders = {f"fastnn BLAS {b} thread(s), optimizer {o}": trainer(b, o) for b in (1, 2) for o in (1, 2)}
    contenders["torch Adam (default)"] = tstep
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        t = run_rounds(contenders, rounds, min_time)
    finally:
        hog.kill()
        hog.wait()
    lines.append(f"\n## 4. Adam training step with another process keeping one core busy (batch {batch})\n")
    lines.append("| contender | ms/step |")
    lines.append("| --- | --- |")
    results["contention_ms"] = {k: v / 5 * 1e3 for k, v in t.items()}
    for k, v in t.items():
        lines.append(f"| {k} | {v / 5 * 1e3:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--sections", default="1,2,3")
    args = ap.parse_args(argv)
    import torch

    fastnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    results = {"n": args.n, "threads": args.threads, "torch": torch.__version__, "numpy": np.__version__,
               "cpu": platform.processor() or platform.machine(), "env": env_settings()}
    lines = [f"# bench_optim  {time.strftime('%Y-%m-%d %H:%M')}  torch {torch.__version__}  numpy {np.__version__}"
             f"  threads {args.threads}  env {env_settings()}"]
    sections = set(args.sections.split(","))
    with CpuShare() as share:
        if "3" in sections:  # first: it is the one most sensitive to what ran before (see bench/RESULTS.md, optimizer section)
            section_training(args.rounds, args.min_time, results, lines)
        if "1" in sections:
            section_kernels(args.n, args.rounds, args.min_time, results, lines)
        if "2" in sections:
            section_small(args.rounds, args.min_time, results, lines)
        if "4" in sections:
            section_contention(args.rounds, args.min_time, results, lines)
    results["other_processes_cpu_share"] = share.others
    lines.append(f"\nother processes used {share.others:.0%} of the machine's CPU time during this run")
    print("\n".join(lines))
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
