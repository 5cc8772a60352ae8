"""The chapter's claims, each a runnable experiment with a figure, its numbers over seeds and a verdict.

Every module here has ``NAME``, ``TITLE``, ``CLAIM``, ``SETUP`` and

- ``run(quick=True, seeds=None) -> dict``: the measurements (quick: seconds, for tests; full: the figures);
- ``numbers(results) -> dict[str, str]``: each measurement as mean ± spread over the seeds;
- ``verdict(results) -> Verdict``: the pair ``(ok, text)``, ``ok`` True when every clause of the claim holds over
  the seeds, ``text`` the numbers that decide them; ``.held`` each clause's outcome and ``.status``
  "reproduced", "partly reproduced" (some clauses hold) or "NOT reproduced";
- ``plot(results) -> matplotlib Figure`` (needs the ``plot`` extra).

``fastnn gallery [NAME ...] [--quick] [--out DIR]`` or ``python -m fastnn.gallery`` runs them; the examples in
``examples/plot_*.py`` are the same experiments in sphinx-gallery form.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ._common import Verdict, page

# in the chapter's order
NAMES = ("batch_size", "learning_rate", "schedules", "optimizers", "clipping", "initialization", "preprocessing",
         "normalization", "search", "regularization")


def get(name: str) -> ModuleType:
    """The experiment module called ``name`` (one of NAMES)."""
    if name not in NAMES:
        raise ValueError(f"unknown gallery example {name!r}; choose from {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")


def run_example(name: str, quick: bool = False, out: str | Path | None = None,
                seeds: Any = None) -> tuple[dict[str, Any], Verdict]:
    """Run one experiment; with ``out``, write ``out/NAME.png`` (the figure) and ``out/NAME.md`` (claim, setup,
    numbers, verdict). Returns (results, verdict)."""
    module = get(name)
    start = time.perf_counter()
    results = module.run(quick=quick, seeds=seeds)
    seconds = time.perf_counter() - start
    result_verdict = module.verdict(results)
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..formats.common import atomic_write_bytes
        from ..plot import save_figure

        directory = Path(out)
        directory.mkdir(parents=True, exist_ok=True)
        fig = module.plot(results)
        try:  # each file replaced atomically: a failed write leaves the previous run's figure and page
            save_figure(fig, directory / f"{name}.png", dpi=90)
        finally:
            plt.close(fig)
        numbers = {**module.numbers(results), "run time": f"{seconds:.1f} s ({'quick' if quick else 'full'})"}
        text = page(module.TITLE, module.CLAIM, module.SETUP, numbers, result_verdict) + f"\n![{name}]({name}.png)\n"
        atomic_write_bytes(directory / f"{name}.md", text.encode("utf-8"))
    return results, result_verdict


def show(module: ModuleType, results: dict[str, Any]) -> None:
    """Print an experiment's numbers and verdict (what the sphinx-gallery examples end with)."""
    for key, value in module.numbers(results).items():
        print(f"{key}: {value}")
    result_verdict = module.verdict(results)
    print(f"Verdict: {result_verdict.status}. {result_verdict.details()}")
