"""The benchmark harness (bench/harness.py) on a tiny grid with trivial contenders: every measurement in its
own process, contenders alternated round by round, threads set, and the report's table and JSON complete."""
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if not (BENCH / "harness.py").exists():
    pytest.skip("bench/ is not beside the tests (installed-package layout)", allow_module_level=True)
sys.path.insert(0, str(BENCH))
import harness  # noqa: E402

TRIVIAL = textwrap.dedent("""
    import os

    from harness import Unsupported, with_extra


    def tree_marker():
        try:
            import treemark  # only the fake fastnn trees of test_compare_trees have it
        except ImportError:
            return None
        return treemark.NAME


    def make(size, scale=1, threads=None):
        if size < 0:
            raise Unsupported("no negative sizes")
        data = list(range(size * 100))

        def run():
            sum(data)
            return size * scale

        return with_extra(run, lambda: {"omp": os.environ.get("OMP_NUM_THREADS"), "threads_arg": threads,
                                        "marker": tree_marker()})
""")


@pytest.fixture
def contender_module(tmp_path, monkeypatch):
    (tmp_path / "trivial_contender.py").write_text(TRIVIAL)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    return tmp_path


def tiny_benchmark(**kw):
    return harness.Benchmark(
        name="tiny", title="Tiny", baseline="A", unit="items/s", items="things", grid={"size": [1, 2]},
        contenders=[harness.Contender("A", "trivial_contender:make"),
                    harness.Contender("B", "trivial_contender:make", params={"scale": 2, "threads": 1})],
        warmup=1, min_calls=3, min_time=0.0, rounds=2, **kw)


def test_runner_isolates_alternates_and_reports(contender_module):
    bench = tiny_benchmark()
    report = harness.run_benchmark(bench, harness.RunConfig(threads=2, command="python bench/run.py tiny"))

    # each (point, round, contender) in its own process, none of them this one
    pids = [o["pid"] for o in report["order"]]
    assert len(pids) == 2 * 2 * 2 and None not in pids
    assert len(set(pids)) == len(pids) and os.getpid() not in pids
    # contenders alternate round by round at each grid point: A B A B
    for size in (1, 2):
        seq = [(o["round"], o["contender"]) for o in report["order"] if o["point"] == {"size": size}]
        assert seq == [(0, "A"), (0, "B"), (1, "A"), (1, "B")]

    rows = {(r["params"]["size"], r["contender"]): r for r in report["results"]}
    assert set(rows) == {(1, "A"), (1, "B"), (2, "A"), (2, "B")}
    for row in rows.values():
        for key in ("values", "median", "min", "max", "best", "spread_pct", "ratio", "ratio_min", "ratio_max",
                    "peak_rss_growth_mib", "pids", "versions", "child_env"):
            assert key in row, key
        assert len(row["values"]) == 2 and row["best"] == max(row["values"])
    assert rows[(1, "A")]["ratio"] == 1.0
    # threads: the run's count in the environment, a contender's own count where it sets one
    assert rows[(1, "A")]["extra"] == {"omp": "2", "threads_arg": 2, "marker": None}
    assert rows[(1, "B")]["extra"]["omp"] == "1" and rows[(1, "B")]["extra"]["threads_arg"] == 1
    assert rows[(1, "B")]["child_env"]["OPENBLAS_NUM_THREADS"] == "1"

    for key in ("command", "date", "machine", "versions", "env", "threads", "rounds", "baseline", "unit",
                "other_processes_cpu_share", "loadavg_before"):
        assert key in report, key
    assert {"cpu", "cores", "python"} <= set(report["machine"])
    json.loads(json.dumps(report, default=str))

    table = harness.markdown(report)
    assert "Command: `python bench/run.py tiny`" in table and report["machine"]["cpu"] in table
    assert "| size | contender | median things/s | best | spread | vs A [range] |" in table
    assert table.count("\n| 1 | ") == 2 and table.count("\n| 2 | ") == 2


def test_time_unit_ratio_and_unsupported(contender_module):
    bench = tiny_benchmark()
    bench.unit, bench.rounds = "s", 1
    bench.grid = {"size": [-1, 1]}
    report = harness.run_benchmark(bench, harness.RunConfig(threads=1))
    rows = {(r["params"]["size"], r["contender"]): r for r in report["results"]}
    table = harness.markdown(report)
    assert "unsupported" in rows[(-1, "A")] and "| -1 | A | n/a |" in table
    assert "- A {'size': -1}: n/a: no negative sizes" in table  # the reason is printed, not only "n/a"
    assert rows[(1, "A")]["best"] == rows[(1, "A")]["min"]  # lower is better for times
    assert rows[(1, "B")]["ratio"] == pytest.approx(rows[(1, "A")]["median"] / rows[(1, "B")]["median"])


def test_compare_trees_puts_each_tree_first(contender_module, tmp_path):
    trees = []
    for name in ("base", "new"):
        tree = tmp_path / name
        tree.mkdir()
        (tree / "treemark.py").write_text(f"NAME = {name!r}\n")
        trees.append(str(tree))
    bench = tiny_benchmark()
    bench.contenders = [harness.Contender("fastnn", "trivial_contender:make"),
                        harness.Contender("peer", "trivial_contender:make", fastnn=False)]
    bench.baseline, bench.rounds, bench.grid = "peer", 1, {"size": [1]}
    cfg = harness.RunConfig(compare_trees=trees, grid=harness.parse_grid_args(["size=3"], bench))
    assert cfg.grid == {"size": [3]}
    report = harness.run_benchmark(bench, cfg)
    assert [o["contender"] for o in report["order"]] == ["fastnn@base", "fastnn@new", "peer"]
    assert report["baseline"] == "fastnn@base"
    marks = {r["contender"]: r["extra"]["marker"] for r in report["results"]}
    assert marks == {"fastnn@base": "base", "fastnn@new": "new", "peer": None}


def test_grid_values_take_the_declared_types():
    bench = harness.Benchmark(name="g", title="g", baseline="A", contenders=[harness.Contender("A", "m:f")],
                              grid={"batch": [32], "bn": [False], "lr": [0.1], "opt": ["sgd"]})
    assert harness.parse_grid_args(["batch=1,2", "bn=true,0", "lr=0.5", "opt=adam"], bench) == {
        "batch": [1, 2], "bn": [True, False], "lr": [0.5], "opt": ["adam"]}
    with pytest.raises(ValueError):
        harness.parse_grid_args(["batch"], bench)
    with pytest.raises(ValueError):
        harness.Benchmark(name="g", title="g", baseline="Z", contenders=[harness.Contender("A", "m:f")])


def test_recipe_fashion_torch_side_keeps_beta1_fixed_as_fastnns_onecycle(monkeypatch):
    """Review 9, F1: the recipe's torch side used OneCycleLR's default cycle_momentum=True, which moves AdamW's
    beta1 between 0.85 and 0.95, while fastnn's OneCycle sets the lr only: two recipes under one name."""
    torch = pytest.importorskip("torch")
    import numpy as np
    import recipe_fashion

    rng = np.random.default_rng(0)
    tiny = (rng.standard_normal((64, 784)).astype(np.float32), rng.integers(0, 10, 64),
            rng.standard_normal((8, 784)).astype(np.float32), rng.integers(0, 10, 8))
    monkeypatch.setattr(recipe_fashion, "_data", lambda: tiny)
    beta1 = []
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    hook = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: beta1.append(opt.param_groups[0]["betas"][0]))
    try:
        recipe_fashion.run_torch(epochs=2, batch=16, threads=torch.get_num_threads())
    finally:
        hook.remove()
    assert len(beta1) == 8 and set(beta1) == {0.9}
