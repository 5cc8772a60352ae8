"""The ``fastnn`` command line (console script ``fastnn``, or ``python -m fastnn.cli``). Run ``fastnn --help``.

One module per command, each with ``COMMAND``, ``add_parser(subparsers)`` and ``run(args) -> exit status``;
they are imported directly, so a broken command fails loudly instead of vanishing from the help. Shared
argparse types live in ``_types``.
"""
from __future__ import annotations

import argparse
import sys

from . import augment_preview, config, export, inspect_model, predict, schedule, train

COMMANDS = {module.COMMAND: module for module in (train, config, schedule, augment_preview, predict, export,
                                                  inspect_model)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description="Train and serve feedforward neural networks "
                                     "fast on CPUs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command and return its exit status: 0 on success,
    1 when the command reports an error (one line on stderr), 2 for usage errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command].run(args)
    except (ValueError, TypeError, OSError) as exc:  # FileNotFoundError is an OSError
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 1
