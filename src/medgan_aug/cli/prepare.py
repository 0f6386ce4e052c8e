"""``medgan-aug prepare``: window, resize and encode 2-D images (PNG, JPEG, DICOM) into a training folder."""

from __future__ import annotations

import argparse
import sys

from .arguments import add_threads_argument, number_list

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..data import prepare_images
    from ..data.images import IMAGE_EXTENSIONS
    from ..data.prepare import is_dicom

    def scan(folder: Path) -> list[Path]:
        # Hidden files and folders are skipped as ImageFolderDataset does; DICOM files often have no extension,
        # so extension-less files count when they carry the DICOM signature (DICOMDIR indexes hold no image).
        found = []
        for parent, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(parent, name)
                suffix = path.suffix.lower()
                if name.startswith(".") or name == "DICOMDIR":
                    continue
                if suffix in (*IMAGE_EXTENSIONS, ".dcm") or (not suffix and is_dicom(path)):
                    found.append(path)
        return sorted(found)

    try:
        paths: list[Path] = []
        for given in map(Path, args.images):
            if given.is_dir():
                found = scan(given)
                if not found:
                    raise ValueError(f"no PNG, JPEG or DICOM files found under {given}")
                paths.extend(found)
            elif given.exists():
                paths.append(given)
            else:
                raise FileNotFoundError(f"{given} does not exist")
        out = prepare_images(
            paths,
            args.out,
            size=args.size,
            resize=args.resize,
            window=args.window,
            percentiles=args.percentiles,
            bits=args.bits,
            rgb=args.rgb,
            labels=args.labels,
            split=args.split,
            seed=args.seed,
            manifest=args.manifest,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except (ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"prepared {len(paths)} images in {out}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="window, resize and encode 2D images (PNG, JPEG, DICOM) into a training folder",
        description="Map raw intensities to [0, 1] (--window, --percentiles, the DICOM header's window, or the "
        "full 8/16-bit range), resize to a square and write PNGs into class folders with a manifest. "
        "The output folder appears only once complete.",
    )
    prepare.add_argument("images", nargs="+", help="image files, or folders searched recursively")
    prepare.add_argument("--out", required=True, help="dataset folder to create")
    prepare.add_argument("--size", type=int, default=512, help="side of the square output images")
    fit = prepare.add_mutually_exclusive_group()
    fit.add_argument(
        "--letterbox",
        dest="resize",
        action="store_const",
        const="letterbox",
        help="same as --resize letterbox (the default)",
    )
    fit.add_argument("--resize", dest="resize", choices=["letterbox", "center-crop", "stretch"])
    prepare.add_argument(
        "--window",
        type=number_list(2, "center,width"),
        help="intensity window C,W in raw units, e.g. 40,400 or -600,1500",
    )
    prepare.add_argument("--percentiles", type=number_list(2, "low,high"), help="per-image window, e.g. 0.5,99.5")
    prepare.add_argument("--bits", type=int, default=8, choices=[8, 16], help="bits per channel (colour needs 8)")
    prepare.add_argument("--rgb", action="store_true", help="write grayscale images with three channels")
    prepare.add_argument("--labels", default="parent", choices=["parent", "none"], help="class = parent folder name")
    prepare.add_argument(
        "--split",
        type=number_list(3, "train,val,test"),
        help="train,val,test fractions, e.g. 0.8,0.1,0.1 (the patient id is the file stem)",
    )
    prepare.add_argument("--seed", type=int, default=0, help="seed of the patient split")
    prepare.add_argument("--manifest", default="csv", choices=["csv", "json"])
    prepare.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    prepare.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_argument(prepare)
    prepare.set_defaults(func=run, resize="letterbox")
