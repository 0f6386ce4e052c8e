"""``medgan-aug demo``: the whole workflow on phantom ultrasound volumes, offline."""

from __future__ import annotations

import argparse
import sys

from .arguments import add_threads_argument

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    from ..demo import DemoSettings, run_demo

    overrides = {"kimg": args.kimg, "device": args.device, "seed": args.seed, "threads": args.threads}
    try:
        settings = DemoSettings.preset(
            args.preset,
            args.out,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            **{key: value for key, value in overrides.items() if value is not None},
        )
        summary = run_demo(settings)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.table())
    print()
    for key, path in summary.paths.items():
        print(f"{key}: {path}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..demo import DEMO_PRESETS

    demo = commands.add_parser(
        "demo",
        help="run the whole workflow on phantom ultrasound volumes, offline",
        description="Make phantom neonatal cranial ultrasound volumes, slice them into coronal, sagittal and noise "
        "planes, train a small class-conditional generator with ADA, generate a synthetic set, score it (FID/KID "
        "in the features of a classifier trained on the real planes) and self-train against the real-only "
        "baseline; print a summary and where the sample grids, plots and reports are. Nothing is downloaded; "
        "the default preset takes a few minutes on a 2-core CPU.",
    )
    demo.add_argument("--out", default="demo", help="output folder (default ./demo)")
    demo.add_argument("--preset", default="default", choices=list(DEMO_PRESETS), help="size of the run")
    demo.add_argument("--kimg", type=float, help="GAN training length in thousands of images (default: the preset's)")
    demo.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    demo.add_argument("--seed", type=int, help="seed of the phantoms, split, GAN and classifiers (default 0)")
    demo.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    demo.add_argument("--no-progress", action="store_true", help="no step headers and progress bars")
    # The demo applies the threads itself, to warn when the machine is busy and to report what it used.
    add_threads_argument(demo, start=False)
    demo.set_defaults(func=run)
