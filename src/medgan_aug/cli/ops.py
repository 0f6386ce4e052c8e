"""``medgan-aug ops``: check the toolchain and build the compiled operator libraries ahead of time."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["add_parser"]


def _doctor(args: argparse.Namespace) -> int:
    from ..ops.doctor import doctor_report

    print("checking the toolchain and backends (the first run compiles the C++ kernels, ~30 s) ...", flush=True)
    print(doctor_report(load_cuda=True if args.cuda else None))
    return 0


def _build(args: argparse.Namespace) -> int:
    from ..ops import extension

    libraries: list[extension.Library] = ["cpu"]
    if args.cuda:
        libraries.append("cuda")
    if args.emulated:
        libraries.append("emulated")
    for library in libraries:
        start = time.perf_counter()
        print(f"building the {library} operator library ...", flush=True)
        try:
            extension.build(library, verbose=args.verbose, arch_list=args.arch)
            print(f"{library} ready in {time.perf_counter() - start:.1f} s: {extension.loaded_from(library)}")
            if args.output:
                print(f"copied to {extension.export(library, args.output, arch_list=args.arch)}", flush=True)
        except extension.BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print("run `medgan-aug ops doctor` to check the toolchain", file=sys.stderr)
            return 1
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    ops = commands.add_parser("ops", help="compiled operator backends")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True)
    doctor = ops_commands.add_parser("doctor", help="print the toolchain and which backends load")
    doctor.add_argument("--cuda", action="store_true", help="also build/load the CUDA backend")
    doctor.set_defaults(func=_doctor)
    build = ops_commands.add_parser("build", help="compile the operator libraries ahead of time")
    build.add_argument("--cuda", action="store_true", help="also build the CUDA kernels")
    build.add_argument("--emulated", action="store_true", help="also build the CPU emulation of the CUDA kernels")
    build.add_argument(
        "--arch", help="CUDA architectures, e.g. '8.0;9.0+PTX' (default: visible GPUs, else 8.0;9.0+PTX)"
    )
    build.add_argument(
        "--output",
        metavar="DIR",
        help="also copy the libraries to DIR, for MEDGAN_AUG_OPS_LIB=DIR on machines without a compiler",
    )
    build.add_argument("--verbose", action="store_true", help="show compiler commands and output")
    build.set_defaults(func=_build)
