"""Convergence table (like optax's optimizer tests): every optimizer reaches the minimum of a parabola and of
the Rosenbrock function through the public step API on a flat buffer.

Run as a script to print the table: ``python tests/test_optim_convergence.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastnn import optim, schedules
from fastnn._layout import ParamLayout

TARGET = np.array([1.0, -2.0, 3.0])


def parabola(x):
    return float(((x - TARGET) ** 2).sum()), 2 * (x - TARGET)


def rosenbrock(x, a=1.0, b=100.0):
    f = (a - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2
    g = np.array([-2 * (a - x[0]) - 4 * b * x[0] * (x[1] - x[0] ** 2), 2 * b * (x[1] - x[0] ** 2)])
    return float(f), g


PROBLEMS = {
    "parabola": (parabola, np.array([-1.0, 1.0, 0.0]), TARGET),
    "rosenbrock": (rosenbrock, np.array([0.0, 0.0]), np.array([1.0, 1.0])),
}

# (id, optimizer factory, steps on the parabola, steps on Rosenbrock, tolerance on the parameters)
TABLE = [
    ("SGD momentum", lambda: optim.SGD(lr=1e-3, momentum=0.9), 10_000, 10_000, 1e-6),
    ("SGD nesterov", lambda: optim.SGD(lr=1e-3, momentum=0.9, nesterov=True), 10_000, 10_000, 1e-6),
    ("SGD + cosine", lambda: optim.SGD(lr=schedules.Cosine(2e-3, 10_000, 1e-4), momentum=0.9), 10_000, 10_000,
     1e-4),
    ("Adagrad", lambda: optim.Adagrad(lr=0.5), 10_000, 10_000, 1e-3),
    ("RMSprop", lambda: optim.RMSprop(lr=1e-3), 10_000, 10_000, 3e-3),
    ("RMSprop centered momentum", lambda: optim.RMSprop(lr=1e-4, momentum=0.9, centered=True), 10_000, 10_000,
     1e-3),
    ("Adadelta", lambda: optim.Adadelta(lr=0.1, eps=1e-7), 10_000, 30_000, 3e-2),
    ("Adam", lambda: optim.Adam(lr=0.01), 10_000, 10_000, 1e-6),
    ("Adam amsgrad", lambda: optim.Adam(lr=0.02, amsgrad=True), 10_000, 10_000, 1e-6),
    ("AdamW", lambda: optim.AdamW(lr=0.01, weight_decay=0.0), 10_000, 10_000, 1e-6),
    ("Adam + onecycle", lambda: optim.Adam(lr=schedules.OneCycle(0.05, 10_000)), 10_000, 10_000, 1e-6),
]


def minimise(make, problem: str, steps: int, dtype=np.float64):
    fn, start, target = PROBLEMS[problem]
    layout = ParamLayout.pack([("0.W", start.shape, "weight", 0)], dtype)
    x = start.astype(dtype)
    g = np.zeros_like(x)
    opt = make().bind(layout)
    for _ in range(steps):
        _, grad = fn(x.astype(np.float64))
        g[:] = grad
        opt.step(x, g)
    err = float(np.max(np.abs(x - target)))
    return err, fn(x.astype(np.float64))[0]


@pytest.mark.parametrize("row", TABLE, ids=[r[0] for r in TABLE])
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_converges(row, problem):
    _, make, n_parabola, n_rosen, tol = row
    start_err = float(np.max(np.abs(PROBLEMS[problem][1] - PROBLEMS[problem][2])))
    err, loss = minimise(make, problem, n_parabola if problem == "parabola" else n_rosen)
    assert err < tol, f"distance to the minimum {err:.3g} (loss {loss:.3g})"
    assert err < 1e-2 * start_err


def test_parabola_float32():
    for _, make, n, _, tol in TABLE:
        err, _ = minimise(make, "parabola", n, np.float32)
        assert err < max(tol, 1e-3)


def table() -> str:
    lines = ["| optimizer | parabola: steps, max abs error | Rosenbrock: steps, max abs error, f |",
             "| --- | --- | --- |"]
    for name, make, n_p, n_r, _ in TABLE:
        ep, _ = minimise(make, "parabola", n_p)
        er, fr = minimise(make, "rosenbrock", n_r)
        lines.append(f"| {name} | {n_p}, {ep:.1e} | {n_r}, {er:.1e}, {fr:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
