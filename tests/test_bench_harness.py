"""The benchmark harness (bench/harness.py) on a tiny grid with trivial contenders: every measurement in its
own process, contenders alternated round by round, threads set, and the report's table and JSON complete."""
import contextlib
import json
import os
import platform
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


    def with_numpy(size):
        import numpy as np

        a = np.ones((size * 8, size * 8))
        return lambda: float((a @ a)[0, 0]) and size
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
    # contenders alternate round by round at each grid point, their order rotated each round: A B, B A
    for size in (1, 2):
        seq = [(o["round"], o["contender"]) for o in report["order"] if o["point"] == {"size": size}]
        assert seq == [(0, "A"), (0, "B"), (1, "B"), (1, "A")]

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


def test_machine_line_names_the_caches_and_the_vector_extension():
    """VMs name only the vendor ("AMD EPYC"): the line tells hosts apart by what Linux reports of their caches."""
    m = {"cpu": "AMD EPYC", "caches": "L1d 48K, L2 1024K, L3 32768K", "simd": "AVX-512"}
    assert harness.cpu_line(m) == "AMD EPYC (AVX-512; L1d 48K, L2 1024K, L3 32768K)"
    assert harness.cpu_line({"cpu": "x", "caches": "", "simd": ""}) == "x"
    assert harness.cpu_line({"cpu": "x"}) == "x"  # a report written before these fields existed
    if os.path.exists("/sys/devices/system/cpu/cpu0/cache/index0/size"):
        caches = harness.cpu_caches()
        assert caches.startswith("L1d ") and "Instruction" not in caches and "L1 " not in caches
    if os.path.exists("/proc/cpuinfo") and platform.machine() == "x86_64":
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        assert harness.cpu_simd() == ("AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "")


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


def tiny_fashion(monkeypatch, rows):
    """recipe_fashion with ``rows`` random training rows in place of Fashion-MNIST."""
    import numpy as np
    import recipe_fashion

    rng = np.random.default_rng(0)
    tiny = (rng.standard_normal((rows, 784)).astype(np.float32), rng.integers(0, 10, rows),
            rng.standard_normal((8, 784)).astype(np.float32), rng.integers(0, 10, 8))
    monkeypatch.setattr(recipe_fashion, "_data", lambda: tiny)
    return recipe_fashion


@contextlib.contextmanager
def before_each_optimizer_step(record):
    """Call ``record(optimizer)`` before every torch optimizer step inside the block."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    hook = register_optimizer_step_pre_hook(lambda opt, args, kwargs: record(opt))
    try:
        yield
    finally:
        hook.remove()


def test_recipe_fashion_torch_side_keeps_beta1_fixed_as_fastnns_onecycle(monkeypatch):
    """Review 9, F1: the recipe's torch side used OneCycleLR's default cycle_momentum=True, which moves AdamW's
    beta1 between 0.85 and 0.95, while fastnn's OneCycle sets the lr only: two recipes under one name."""
    torch = pytest.importorskip("torch")
    recipe_fashion = tiny_fashion(monkeypatch, 64)
    beta1 = []
    with before_each_optimizer_step(lambda opt: beta1.append(opt.param_groups[0]["betas"][0])):
        recipe_fashion.run_torch(epochs=2, batch=16, threads=torch.get_num_threads())
    assert len(beta1) == 8 and set(beta1) == {0.9}


# ---- fairness (review 9 of bench/): what every child gets, the order, the paired ratios


@pytest.fixture
def session_openblas_env(monkeypatch):
    """The variables some machines set for old OpenBLAS builds (this one among them), and no fastnn setting."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    monkeypatch.delenv("FASTNN_ADAPTIVE_THREADS", raising=False)


def fastnn_and_peer(**kw):
    return harness.Benchmark(
        name="env", title="Env", baseline="peer", unit="items/s", grid={"size": [1]}, rounds=1, min_time=0.0,
        contenders=[harness.Contender("fastnn", "trivial_contender:make"),
                    harness.Contender("peer", "trivial_contender:make")], **kw)


def test_children_run_without_the_openblas_kernel_pins_and_fastnn_with_fixed_threads(contender_module,
                                                                                     session_openblas_env):
    """Review 9, 1 and 6: the session's OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE went to every child (OpenBLAS on its
    AVX2 kernels under an AVX-512 fastnn), and fastnn children adapted their thread count to the load."""
    report = harness.run_benchmark(fastnn_and_peer(), harness.RunConfig(threads=1))
    env = {r["contender"]: r["child_env"] for r in report["results"]}
    for name in ("fastnn", "peer"):
        assert "OPENBLAS_CORETYPE" not in env[name] and "OPENBLAS_L2_SIZE" not in env[name]
        assert env[name]["OPENBLAS_NUM_THREADS"] == "1"
    assert env["fastnn"]["FASTNN_ADAPTIVE_THREADS"] == "0" and "FASTNN_ADAPTIVE_THREADS" not in env["peer"]
    assert report["env_removed"] == {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}
    assert "OPENBLAS_CORETYPE" not in report["env"]
    table = harness.markdown(report)
    assert "removed from the caller's: OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=512" in table
    assert "fastnn children: FASTNN_ADAPTIVE_THREADS=0" in table


def test_keep_openblas_env_and_a_benchmark_of_the_adaptation_keep_the_callers_settings(contender_module,
                                                                                      session_openblas_env):
    report = harness.run_benchmark(fastnn_and_peer(fastnn_adaptive_threads=True),
                                   harness.RunConfig(threads=1, keep_openblas_env=True))
    for row in report["results"]:
        assert row["child_env"]["OPENBLAS_CORETYPE"] == "Haswell" and row["child_env"]["OPENBLAS_L2_SIZE"] == "512"
        assert "FASTNN_ADAPTIVE_THREADS" not in row["child_env"]
    assert report["env_removed"] == {}
    assert "fastnn children: fastnn's load-adaptive thread count on" in harness.markdown(report)


def test_run_py_has_the_keep_openblas_env_option():
    import run

    assert run.parse_args(["training"]).keep_openblas_env is False
    assert run.parse_args(["training", "--keep-openblas-env"]).keep_openblas_env is True


def test_table_header_names_the_openblas_kernel_each_contender_ran(contender_module):
    """The caller's OpenBLAS variables are kept here (tests never change them): the header still names the
    kernel threadpoolctl reports in each child that loaded OpenBLAS, and none for one that did not."""
    bench = fastnn_and_peer()
    bench.contenders = [harness.Contender("numpy_peer", "trivial_contender:with_numpy"),
                        harness.Contender("peer", "trivial_contender:make")]
    report = harness.run_benchmark(bench, harness.RunConfig(threads=1, keep_openblas_env=True))
    assert len(report["openblas"]) == 1
    (kernel, names), = report["openblas"].items()
    assert names == ["numpy_peer"] and "(openblas " in kernel and not kernel.startswith("None")
    assert f"OpenBLAS kernel (threadpoolctl): {kernel} in numpy_peer" in harness.markdown(report)


def test_order_rotates_every_round_so_no_contender_always_runs_first(contender_module):
    """Review 9, A7: the order within a round was always A B C."""
    bench = tiny_benchmark()
    bench.contenders.append(harness.Contender("C", "trivial_contender:make"))
    bench.rounds, bench.grid = 3, {"size": [1]}
    report = harness.run_benchmark(bench, harness.RunConfig(threads=1))
    assert [o["contender"] for o in report["order"]] == list("ABC" "BCA" "CAB")


def fake_runs(**per_contender):
    return {name: [{"value": v, "pid": i, "peak_rss_growth_mib": 0.0, "calls": 1} for i, v in enumerate(values)]
            for name, values in per_contender.items()}


def test_ratios_between_any_two_contenders_are_medians_of_paired_per_round_ratios():
    """Review 9, 5: only the ratio to the baseline was paired; fastnn against another peer (JAX, a fused torch)
    could only be read as a ratio of medians from two rows."""
    contenders = [harness.Contender("fastnn", "m:f"), harness.Contender("torch", "m:f", family="torch"),
                  harness.Contender("torch_fused", "m:f", family="torch"), harness.Contender("jax", "m:f")]
    bench = harness.Benchmark(name="p", title="P", baseline="torch", unit="items/s", contenders=contenders)
    runs = fake_runs(fastnn=[100, 200, 300], torch=[50, 100, 100], torch_fused=[80, 100, 120],
                     jax=[100, 400, 150])
    rows = {r["contender"]: r for r in harness.collect({"batch": 1}, runs, "torch", bench, contenders)}
    # fastnn / jax per round: 1.0, 0.5, 2.0 -> median 1.0 (the ratio of medians would be 200 / 150 = 1.33)
    assert rows["fastnn"]["vs"]["jax"] == {"ratio": 1.0, "min": 0.5, "max": 2.0}
    assert rows["jax"]["vs"]["fastnn"] == {"ratio": 1.0, "min": 0.5, "max": 2.0}
    assert rows["fastnn"]["ratio"] == 2.0 and (rows["fastnn"]["ratio_min"], rows["fastnn"]["ratio_max"]) == (2, 3)
    # against the best (by median) of each peer family: jax, and torch (tied with torch_fused at 100: the first)
    best = rows["fastnn"]["vs_best"]
    assert best == {"torch": {"contender": "torch", "ratio": 2.0, "min": 2.0, "max": 3.0},
                    "jax": {"contender": "jax", "ratio": 1.0, "min": 0.5, "max": 2.0}}
    assert "vs_best" not in rows["torch"]


def test_fastnn_is_quoted_against_the_best_variant_of_a_peer_family_in_the_table():
    contenders = [harness.Contender("fastnn", "m:f"), harness.Contender("torch", "m:f", family="torch"),
                  harness.Contender("torch_fused", "m:f", family="torch")]
    bench = harness.Benchmark(name="p", title="P", baseline="torch", unit="s", contenders=contenders)
    runs = fake_runs(fastnn=[1.0, 1.0, 1.0], torch=[2.0, 2.0, 2.0], torch_fused=[1.6, 1.5, 1.4])
    rows = harness.collect({"batch": 1}, runs, "torch", bench, contenders)
    fastnn = next(r for r in rows if r["contender"] == "fastnn")
    assert fastnn["vs_best"]["torch"] == {"contender": "torch_fused", "ratio": 1.5, "min": 1.4, "max": 1.6}
    report = {"title": "P", "command": "c", "date": "d", "unit": "s", "items": "items", "higher_is_better": False,
              "report_memory": False, "rounds": 3, "threads": 2, "baseline": "torch", "grid": {"batch": [1]},
              "env": {}, "env_removed": {}, "fastnn_env": {"FASTNN_ADAPTIVE_THREADS": "0"}, "openblas": {},
              "versions": {}, "fastnn_trees": [], "loadavg_before": None, "loadavg_after": None,
              "other_processes_cpu_share": None, "notes": "", "results": rows,
              "machine": {"cpu": "x", "cores": 2, "usable_cores": 2, "python": "3"}}
    table = harness.markdown(report)
    assert "| batch | contender | vs best torch |" in table
    assert "| 1 | fastnn | 1.50x [1.40, 1.60] (torch_fused) |" in table


def test_the_background_load_a_benchmark_starts_counts_as_another_process(contender_module):
    """Review 9, 6: the contention suite's busy-loop child was reaped inside the count, so its CPU time was
    "ours" and the header said other processes used 0% while a core was kept busy."""
    import subprocess

    burn = "import time\nwhile time.process_time() < 1.5: pass\nprint('burnt', flush=True)\ntime.sleep(60)\n"

    @contextlib.contextmanager
    def burner():
        proc = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
        try:
            yield
            proc.stdout.readline()  # 1.5 s of CPU time spent, whatever the machine's load
        finally:
            proc.kill()
            proc.wait()

    bench = tiny_benchmark(around=burner)
    bench.rounds, bench.grid = 1, {"size": [1]}
    report = harness.run_benchmark(bench, harness.RunConfig(threads=1))
    assert report["our_cpu_s"] < 1.2  # two trivial children, not the burner's 1.5 s
    assert report["background_load"] and "background load included" in harness.markdown(report)


def test_inference_plan_rows_name_the_threads_the_plan_runs():
    """Review 9, A1: "fastnn plan" ran compile(threads=1) under a --threads 2 header."""
    from suites import inference

    for c in inference.CONTENDERS:
        if c.factory.endswith(":plan_predict"):
            threads = c.params.get("plan_threads", 1)
            assert f"{threads} thread" in c.name, c.name


def test_scipy_warp_of_colour_images_is_a_2d_warp_per_channel_with_the_same_numbers(monkeypatch):
    """Review 9, 3: the 32x32x3 scipy contender ran one 3-d affine_transform per image, interpolating across
    the channel axis (8 taps, half of them weight 0): twice the work for the same output."""
    pytest.importorskip("scipy")
    import numpy as np
    import scipy.ndimage as ndi
    from suites import augment

    imgs, _ = augment.batch_images("32x32x3")
    mats = augment.geometric(imgs.shape[1:]).warp_matrices(augment.BATCH, imgs.shape[1:3], augment.SEED,
                                                            augment.STEP)
    old = np.empty_like(imgs)
    for i, m in enumerate(mats):  # the former call: one 3-d transform, the channel axis mapped to itself
        matrix = np.array([[m[1, 1], m[1, 0], 0], [m[0, 1], m[0, 0], 0], [0, 0, 1]])
        ndi.affine_transform(imgs[i], matrix, offset=(m[1, 2], m[0, 2], 0), order=1, mode="grid-constant",
                             cval=0.0, output=old[i])
    ranks, real = [], ndi.affine_transform

    def recording(image, matrix, **kw):
        ranks.append(np.ndim(image))
        return real(image, matrix, **kw)

    monkeypatch.setattr(ndi, "affine_transform", recording)
    run = augment.scipy_warp("32x32x3")
    assert run() == augment.BATCH
    assert set(ranks) == {2} and len(ranks) == 3 * augment.BATCH
    new = augment.scipy_warp_batch(imgs, augment.scipy_matrices(mats), np.empty_like(imgs))
    assert np.array_equal(new, old)  # bit for bit


def test_training_suite_has_torch_foreach_and_fused_in_one_family_and_preloads_jax():
    """Review 9, 2 and 7: torch ran only its default (for-loop) optimizer, and JAX's memory included import."""
    from suites import norm, training

    by_name = {c.name: c for c in training.CONTENDERS}
    assert by_name["torch_fused"].params == {"impl": "fused"}
    assert by_name["torch_foreach"].params == {"impl": "foreach"}
    assert {by_name[n].peer_family for n in ("torch", "torch_fused", "torch_foreach", "torch_compile")} == {"torch"}
    assert set(by_name["jax"].preload) == {"jax", "optax"}
    assert {"torch_fused", "torch_foreach"} <= {c.name for c in norm.BENCHMARKS[1].contenders}


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_torch_trainer_uses_the_optimizer_implementation_asked_for(opt, impl):
    pytest.importorskip("torch")
    import peers

    seen = []
    with before_each_optimizer_step(lambda o: seen.append(o.defaults[impl])):
        peers.torch_trainer([4, 3, 2], 2, opt, impl=impl)(0)
    assert seen == [True]
    with pytest.raises(ValueError, match="impl"):
        peers.torch_trainer([4, 3, 2], 2, opt, impl="fast")


def test_jax_threads_can_be_limited_after_jax_and_optax_are_imported(tmp_path):
    """The jax contender preloads jax and optax; the thread limit must still apply (before XLA's client)."""
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    import subprocess

    code = ("import sys; sys.path.insert(0, sys.argv[1]); import jax, optax, os, peers; "
            "s = peers.limit_jax_threads(1); import jax.numpy as jnp; jnp.ones(2).sum().block_until_ready(); "
            "print(s['xla_pool_cores'], len(os.sched_getaffinity(0)))")
    out = subprocess.run([sys.executable, "-c", code, str(BENCH)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "1"]


def test_recipe_children_and_table(monkeypatch):
    """recipe_fashion: torch variants as contenders, the children's environment as the harness's, and the speed
    ratio paired per round against the best torch variant."""
    import recipe_fashion

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("FASTNN_ADAPTIVE_THREADS", raising=False)
    env = recipe_fashion.child_environment("fastnn", 2, keep_openblas_env=False)
    assert "OPENBLAS_CORETYPE" not in env and env["FASTNN_ADAPTIVE_THREADS"] == "0" and env["OMP_NUM_THREADS"] == "2"
    assert "FASTNN_ADAPTIVE_THREADS" not in recipe_fashion.child_environment("torch_fused", 2, False)
    assert {"torch", "torch_foreach", "torch_fused"} <= set(recipe_fashion.CONTENDERS)
    res = {"fastnn": [{"seconds": s, "test_accuracy": 0.9} for s in (10, 10, 10)],
           "torch": [{"seconds": s, "test_accuracy": 0.9} for s in (30, 30, 30)],
           "torch_fused": [{"seconds": s, "test_accuracy": 0.9} for s in (20, 12, 16)]}
    lines = recipe_fashion.table(res)
    assert "best torch (torch_fused)" in lines[0]
    assert lines[2].startswith("| fastnn |") and lines[2].endswith("| 1.60x [1.20, 2.00] |")


def test_recipe_fashion_torch_fused_variant_runs_adamw_fused(monkeypatch):
    torch = pytest.importorskip("torch")
    recipe_fashion = tiny_fashion(monkeypatch, 32)
    fused = []
    with before_each_optimizer_step(lambda opt: fused.append(opt.defaults["fused"])):
        recipe_fashion.CONTENDERS["torch_fused"](1, 16, torch.get_num_threads())
    assert fused == [True, True]


def test_bench_inference_ratio_to_ort_is_paired_per_round():
    """Review 9, 5: "median / ORT" divided the medians over rounds instead of pairing the rounds."""
    import bench_inference

    results = {"onnxruntime": [{"median": m} for m in (1.0, 2.0, 4.0)],
               "fastnn plan": [{"median": m} for m in (2.0, 1.0, 6.0)]}
    # per round 2.0, 0.5, 1.5 -> 1.5 [0.5, 2.0]; the ratio of the medians would be 2.0 / 2.0 = 1.0
    assert bench_inference._ratio_to_ort(results, "fastnn plan") == "1.50 [0.50, 2.00]"


def test_bench_tune_offers_optunas_gp_sampler_and_quotes_bayes_against_the_best_optuna_sampler(capsys):
    """Review 9, 4: only TPE stood for Optuna, while fastnn's bayes is a GP searcher like Optuna's GPSampler."""
    pytest.importorskip("optuna")
    pytest.importorskip("torch")  # GPSampler needs it
    import bench_tune

    bench_tune.main(["--problems", "branin", "--methods", "bayes,tpe,gp", "--seeds", "1", "--budget-scale", "0.2"])
    out = capsys.readouterr().out
    assert "| branin (6) | Optuna GP |" in out and "| branin (6) | Optuna TPE |" in out
    assert "median regret bayes / best Optuna sampler of this run (Optuna" in out
    fake = {("b", "bayes"): {"regrets": [1.0]}, ("b", "tpe"): {"regrets": [4.0]}, ("b", "gp"): {"regrets": [2.0]}}
    assert bench_tune.readings(fake, ["b"]) == ["b: median regret bayes / best Optuna sampler of this run "
                                                 "(Optuna GP) = 0.5"]
