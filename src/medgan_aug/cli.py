"""The ``medgan-aug`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


def _ops_doctor(args: argparse.Namespace) -> int:
    from .ops.doctor import doctor_report

    print("checking the toolchain and backends (the first run compiles the C++ kernels, ~30 s) ...", flush=True)
    print(doctor_report(load_cuda=True if args.cuda else None))
    return 0


def _ops_build(args: argparse.Namespace) -> int:
    from .ops import _extension

    libraries: list[_extension.Library] = ["cpu"]
    if args.cuda:
        libraries.append("cuda")
    if args.emulated:
        libraries.append("emulated")
    for library in libraries:
        start = time.perf_counter()
        print(f"building the {library} operator library ...", flush=True)
        try:
            _extension.build(library, verbose=args.verbose, arch_list=args.arch)
        except _extension.BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print("run `medgan-aug ops doctor` to check the toolchain", file=sys.stderr)
            return 1
        print(f"built and loaded {library} in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="medgan-aug", description=__doc__)
    parser.add_argument("--version", action="version", version=f"medgan-aug {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    ops = commands.add_parser("ops", help="compiled operator backends")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True)
    doctor = ops_commands.add_parser("doctor", help="print the toolchain and which backends load")
    doctor.add_argument("--cuda", action="store_true", help="also build/load the CUDA backend")
    doctor.set_defaults(func=_ops_doctor)
    build = ops_commands.add_parser("build", help="compile the operator libraries ahead of time")
    build.add_argument("--cuda", action="store_true", help="also build the CUDA kernels")
    build.add_argument("--emulated", action="store_true", help="also build the CPU emulation of the CUDA kernels")
    build.add_argument("--arch", help="CUDA architectures, e.g. '8.0;9.0' (default: visible GPUs, else 8.0;9.0)")
    build.add_argument("--verbose", action="store_true", help="show compiler commands and output")
    build.set_defaults(func=_ops_build)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
