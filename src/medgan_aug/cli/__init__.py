"""The ``medgan-aug`` command line: one module per command, each adding its parser and running it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..runtime import retain_freed_memory
from ..threads import use_threads
from . import demo, generate, ops, prepare, score, selftrain, slice, train
from .arguments import attach_signed_values

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="medgan-aug", description="The medgan-aug command line.")
    parser.add_argument("--version", action="version", version=f"medgan-aug {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    for command in (ops, train, generate, prepare, slice, score, selftrain, demo):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(attach_signed_values(sys.argv[1:] if argv is None else argv))
    retain_freed_memory()
    if getattr(args, "start_threads", False):
        use_threads(args.threads)
    return args.func(args)
