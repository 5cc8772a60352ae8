"""argparse types shared by the commands: each parses one option's text or raises ArgumentTypeError (argparse
then names the option and exits with status 2)."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_int_list(text: str) -> list[int]:
    """Comma-separated positive integers, e.g. layer sizes ``256,128``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return values


def hw_shape(text: str) -> tuple[int, ...]:
    """``H,W`` or ``H,W,C`` of positive sizes."""
    try:
        shape = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C, got {text!r}") from None
    if len(shape) not in (2, 3) or any(s < 1 for s in shape):
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C of positive sizes, got {text!r}")
    return shape


def int_or_float(text: str) -> int | float:
    """An int (e.g. pixels) if the text is one, else a float (e.g. a fraction)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected pixels (int) or a fraction (float), got {text!r}") from None
