"""``fastnn config``: print the version, OpenMP status, thread settings and the BLAS numpy uses."""
from __future__ import annotations

import argparse

COMMAND = "config"


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(COMMAND, help="print version, OpenMP, threads and BLAS")


def run(args) -> int:
    from .._config import show_config

    show_config()
    return 0
