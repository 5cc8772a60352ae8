"""The ``fastnn`` command line (console script ``fastnn``, or ``python -m fastnn.cli``). Run ``fastnn --help``.

One module per command, each with ``COMMAND``, ``add_parser(subparsers)`` and ``run(args) -> exit status``;
they are imported directly, so a broken command fails loudly instead of vanishing from the help. Shared
argparse types live in ``_types``.

Errors never end in a traceback: a bad option (checked while parsing, before any work) or a bad combination of
options (:class:`~fastnn.cli._types.UsageError`) prints the command's usage and one ``error:`` line naming the
option, exit status 2; a failure while running (a missing or damaged file, bad data) prints one ``error:``
line, exit status 1. An unexpected exception (a bug) is reported in one line too; set ``FASTNN_TRACEBACK=1`` to
see its traceback.
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys

from .._version import __version__
from . import (
    augment_preview,
    config,
    evaluate,
    export,
    gallery,
    inspect_model,
    plot,
    predict,
    schedule,
    train,
    tune,
)
from ._types import UsageError

COMMANDS = {module.COMMAND: module for module in (train, config, schedule, augment_preview, evaluate, predict,
                                                  export, inspect_model, plot, tune, gallery)}

# errors a command reports as its own failure (bad files, bad data, a missing optional dependency);
# FloatingPointError is an ArithmeticError
RUNTIME_ERRORS = (ValueError, TypeError, OSError, ArithmeticError, MemoryError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description="Train and serve feedforward neural networks "
                                     "fast on CPUs.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        command_parser = module.add_parser(sub)
        command_parser.set_defaults(command_parser=command_parser)  # so errors show this command's usage
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command and return its exit status: 0 on success
    (and for ``--help`` / ``--version``), 1 when the command fails while running, 2 for usage errors. Errors are
    one line on stderr (usage errors after the command's usage line)."""
    parser = build_parser()
    try:
        args = _parse(parser, argv)
        if args.command is None:
            parser.print_help()
            return 2
        return _run(args)
    except SystemExit as exc:  # argparse's exit: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 1


def _parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Parse, reporting unknown options with the usage of the command they were given to (argparse alone would
    show the top-level usage)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        target = getattr(args, "command_parser", parser)
        target.error(f"unrecognized arguments: {' '.join(unknown)}{_suggestion(target, unknown[0])}")
    return args


def _suggestion(parser: argparse.ArgumentParser, arg: str) -> str:
    options = list(parser._option_string_actions)  # argparse has no public list of a parser's options
    close = difflib.get_close_matches(arg.split("=")[0], options, n=1) if arg.startswith("-") else []
    return f" (did you mean {close[0]}?)" if close else ""


def _run(args: argparse.Namespace) -> int:
    name = args.command
    try:
        return COMMANDS[name].run(args)
    except UsageError as exc:
        args.command_parser.error(str(exc))  # usage + one line, SystemExit(2)
    except BrokenPipeError:  # the reader went away (fastnn schedule ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's recipe: no error at exit
        return 1
    except KeyboardInterrupt:
        print(f"fastnn {name}: interrupted", file=sys.stderr)
        return 130
    except RUNTIME_ERRORS as exc:
        print(f"fastnn {name}: error: {_one_line(exc)}", file=sys.stderr)
    except Exception as exc:
        if os.environ.get("FASTNN_TRACEBACK"):
            raise
        print(f"fastnn {name}: internal error (a bug: please report it; FASTNN_TRACEBACK=1 shows where): "
              f"{type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
    return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
