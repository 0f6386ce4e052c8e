"""Argument types shared by several commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from ..threads import parse_threads

__all__ = ["add_threads_argument", "attach_signed_values", "class_list", "number_list", "ratio_list", "seed_list"]


def number_list(count: int, meaning: str) -> Callable[[str], tuple[float, ...]]:
    """An argparse type for ``count`` comma-separated numbers."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(part) for part in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers ({meaning}), got {text!r}")
        return values

    return parse


# Options whose values may start with '-' (tilt ranges like -20:20:5, window centres like -600,1500), which
# argparse would otherwise take for options.
_SIGNED_VALUE_OPTIONS = ("--angles", "--window")


def attach_signed_values(argv: Sequence[str]) -> list[str]:
    """``--angles -20:20:5`` as ``--angles=-20:20:5``, so that argparse takes a negative value for a value."""
    attached: list[str] = []
    values = iter(argv)
    for arg in values:
        if arg in _SIGNED_VALUE_OPTIONS:
            value = next(values, None)
            if value is not None and value.startswith("-") and value[1:2].isdigit():
                attached.append(f"{arg}={value}")
                continue
            attached.append(arg)
            if value is not None:
                attached.append(value)
            continue
        attached.append(arg)
    return attached


def seed_list(text: str) -> list[int]:
    """An argparse type for seeds: ``START-END`` (inclusive), ``a,b,c``, or a mix such as ``0-9,20``."""
    seeds: list[int] = []
    for part in text.split(","):
        start, dash, end = part.strip().partition("-")
        try:
            first = int(start)
            last = int(end) if dash else first
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds as START-END or a,b,c, got {text!r}") from None
        if first < 0 or last < first:
            raise argparse.ArgumentTypeError(f"seed range {part.strip()!r} must be non-negative and increasing")
        seeds.extend(range(first, last + 1))
    return seeds


def class_list(text: str) -> list[int]:
    """An argparse type for comma-separated class indices."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices, got {text!r}") from None


def ratio_list(text: str) -> tuple[float, ...]:
    """An argparse type for one or more comma-separated numbers."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.5,1,2, got {text!r}")
    return values


def add_threads_argument(parser: argparse.ArgumentParser, *, start: bool = True) -> None:
    """Add ``--threads N|auto``; with ``start`` the command line applies it before the command runs."""
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default="auto",
        help="torch CPU threads: a number, or auto (default) for one per core other processes leave free, "
        "re-checked every few seconds",
    )
    parser.set_defaults(start_threads=start)
