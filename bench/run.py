"""Run a benchmark suite: every contender alone in a fresh process, alternated round by round.

    python bench/run.py --list
    python bench/run.py training [--grid batch=32,128 opt=adam] [--rounds 5] [--threads 2] [--quick]
    python bench/run.py optim --bench step_10m --contenders fastnn,torch_fused10
    python bench/run.py training --compare-trees /work/wt/base /work/wt/main     # fastnn@base vs fastnn@main
    python bench/run.py norm --fastnn-path /some/other/tree --json out.json --markdown out.md

Prints the progress on stderr, then one markdown table per benchmark (ready for bench/RESULTS.md) on stdout;
``--json`` also writes every measurement (rounds, PIDs, order, versions, environment). See bench/harness.py.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SUITES = ("training", "inference", "optim", "norm", "augment", "preprocessing", "threads", "callbacks")


def load_suite(name: str) -> list[harness.Benchmark]:
    return importlib.import_module(f"suites.{name}").BENCHMARKS


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", nargs="?", choices=SUITES)
    p.add_argument("--list", action="store_true", help="list the suites, their benchmarks, grids, contenders")
    p.add_argument("--bench", help="comma-separated benchmarks of the suite (default: its default ones)")
    p.add_argument("--grid", nargs="+", default=[], metavar="KEY=V1,V2", help="replace a grid axis or a fixed "
                   "parameter")
    p.add_argument("--rounds", type=int, help="rounds per contender (default: the benchmark's; 1 with --quick)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, help="seconds each child times its contender")
    p.add_argument("--quick", action="store_true", help="small grids, 1 round, short timing: proves it runs")
    p.add_argument("--contenders", help="comma-separated contender names to keep")
    p.add_argument("--baseline", help="contender the ratios refer to")
    p.add_argument("--fastnn-path", metavar="DIR", help="put this fastnn tree first on the children's path")
    p.add_argument("--compare-trees", nargs="+", default=[], metavar="DIR",
                   help="run every fastnn contender once per tree (named fastnn@TREE), alternated")
    p.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables to this file")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds one child may take")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="pass OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE on to the children (removed by default: they "
                        "pin OpenBLAS to slower kernels than the CPU has)")
    args = p.parse_args(argv)
    if not args.list and not args.suite:
        p.error("a suite is required (or --list)")
    return args


def list_suites() -> None:
    for suite in SUITES:
        print(f"{suite}:")
        for b in load_suite(suite):
            grid = " ".join(f"{k}={','.join(map(str, v))}" for k, v in b.grid.items())
            print(f"  {b.name}{'' if b.default else ' (not run by default)'}: {b.title}")
            print(f"      grid {grid or '-'}; baseline {b.baseline}; contenders "
                  + ", ".join(c.name for c in b.contenders))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        list_suites()
        return 0
    benchmarks = load_suite(args.suite)
    if args.bench:
        wanted = args.bench.split(",")
        unknown = set(wanted) - {b.name for b in benchmarks}
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; have {[b.name for b in benchmarks]}")
        benchmarks = [b for b in benchmarks if b.name in wanted]
    else:
        benchmarks = [b for b in benchmarks if b.default]
    command = "python bench/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    reports, tables = [], []
    for bench in benchmarks:
        cfg = harness.RunConfig(rounds=args.rounds, threads=args.threads, quick=args.quick, min_time=args.min_time,
                                grid=harness.parse_grid_args(args.grid, bench),
                                contenders=args.contenders.split(",") if args.contenders else None,
                                baseline=args.baseline,
                                fastnn_path=args.fastnn_path and os.path.abspath(args.fastnn_path),
                                compare_trees=[os.path.abspath(t) for t in args.compare_trees],
                                timeout=args.timeout, command=command,
                                keep_openblas_env=args.keep_openblas_env)
        report = harness.run_benchmark(bench, cfg, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        reports.append(report)
        tables.append(harness.markdown(report))
        print(tables[-1], flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"suite": args.suite, "benchmarks": reports}, f, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(tables))
    failed = [r for rep in reports for r in rep["results"] if "error" in r]
    for r in failed:
        print(f"error in {r['contender']} {r['params']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
