"""``fastnn gallery [NAME ...] [--quick] [--out DIR] [--list]``: run the chapter's claims (fastnn.gallery), writing
each figure (NAME.png) and a short page with the numbers over seeds and the verdict (NAME.md).

Examples::

    fastnn gallery --list
    fastnn gallery initialization clipping --quick --out gallery/
    fastnn gallery --out gallery/        (all of them, full mode; needs matplotlib)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import gallery
from .._optional import optional_import
from ._types import UsageError, output_directory

COMMAND = "gallery"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        COMMAND, help="run the optimization chapter's claims: figures, numbers over seeds, verdicts",
        description="Run the experiments of fastnn.gallery (all, or the NAMEs given), each over several seeds, and "
        "write NAME.png and NAME.md (claim, setup, numbers, verdict) into --out. Needs matplotlib.",
        epilog="example: fastnn gallery initialization --quick --out gallery/")
    p.add_argument("names", metavar="NAME", nargs="*", help="experiments to run (default: all): "
                   + ", ".join(gallery.NAMES))
    p.add_argument("--quick", action="store_true", help="the small, seconds-long versions the tests run")
    p.add_argument("--out", type=output_directory, default="gallery", metavar="DIR",
                   help="output directory, created if missing (default: ./gallery)")
    p.add_argument("--list", action="store_true", help="list the experiments and their claims, run nothing")
    return p


def run(args: argparse.Namespace) -> int:
    unknown = [n for n in args.names if n not in gallery.NAMES]
    if unknown:
        raise UsageError(f"unknown experiment {unknown[0]!r}; choose from {', '.join(gallery.NAMES)}")
    names = args.names or list(gallery.NAMES)
    if args.list:
        for name in names:
            print(f"{name}: {gallery.get(name).CLAIM}")
        return 0
    optional_import("matplotlib", "fastnn gallery", "fastnn[gallery]")
    if "search" in names:  # its Bayesian optimization: checked before the first experiment runs, not after eight
        optional_import("scipy", "the gallery's search experiment", "fastnn[gallery]")
    Path(args.out).mkdir(parents=True, exist_ok=True)  # before the first experiment, not after it
    statuses = []
    for name in names:
        start = time.perf_counter()
        _, verdict = gallery.run_example(name, quick=args.quick, out=args.out)
        statuses.append(verdict.status)
        print(f"{name}: {verdict.status} ({time.perf_counter() - start:.1f} s): {verdict.details()}")
        sys.stdout.flush()
    print(f"{statuses.count('reproduced')}/{len(names)} reproduced, {statuses.count('partly reproduced')} partly, "
          f"{statuses.count('NOT reproduced')} not; figures and pages in {args.out}")
    return 0
