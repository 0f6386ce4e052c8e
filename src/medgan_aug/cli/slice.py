"""``medgan-aug slice``: labelled 2-D planes (named views, oblique tilts, tiles) out of 3-D volumes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .arguments import add_threads_argument, number_list

__all__ = ["add_parser", "run"]


def _image_size(text: str) -> int | tuple[int, int]:
    """An argparse type for ``N`` (square) or ``HxW`` pixels."""
    try:
        sides = [int(part) for part in text.lower().split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides, default=0) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW positive pixel counts, got {text!r}")
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def _parse_view_axes(specs: Sequence[str]) -> dict:
    from ..data import ViewAxes

    views = {}
    for spec in specs:
        name, _, axes = spec.partition("=")
        parts = axes.split(",")
        flags = set(parts[3:])
        if not name or len(parts) < 3 or not flags <= {"flip_rows", "flip_cols"}:
            raise ValueError(f"--view-axes expects NAME=NORMAL,ROWS,COLS[,flip_rows][,flip_cols], got {spec!r}")
        try:
            normal, rows, cols = (int(p) for p in parts[:3])
        except ValueError:
            raise ValueError(f"--view-axes: axes must be 0, 1 or 2, got {spec!r}") from None
        views[name] = ViewAxes(normal, rows, cols, "flip_rows" in flags, "flip_cols" in flags)
    return views


def _mask_path(volume: str, suffix: str) -> str:
    from pathlib import Path

    path = Path(volume)
    for extension in (".nrrd", ".nhdr"):
        if path.name.lower().endswith(extension):
            return str(path.with_name(path.name[: -len(extension)] + suffix + path.name[-len(extension) :]))
    return str(path.with_name(path.name + suffix))


def run(args: argparse.Namespace) -> int:
    import re

    from ..data import VolumeSlicer, parse_angles

    try:
        slicer = VolumeSlicer(
            args.views.split(","),
            parse_angles(args.angles),
            tilt_axis=args.tilt_axis,
            size=args.size,
            pixel_size=args.pixel_size,
            slice_spacing=args.slice_spacing,
            interpolation=args.interpolation,
            every=args.every,
            skip=args.skip,
            noise_margin=args.noise_margin,
            min_informative=args.min_informative,
            informative_threshold=args.informative_threshold,
            noise_label=args.noise_label,
            label_format=args.label_format,
            window=args.window,
            percentiles=args.percentiles,
            tile=args.tile,
            overlap=args.overlap,
            pad=args.pad,
            min_foreground=args.min_foreground,
            view_axes=_parse_view_axes(args.view_axes),
            orientation=args.orientation,
        )
        if args.write_masks and args.mask_suffix is None:
            raise ValueError("--write-masks needs the label volumes: give --mask-suffix")
        masks = None if args.mask_suffix is None else [_mask_path(v, args.mask_suffix) for v in args.volumes]
        patient_ids = None
        if args.patient_regex is not None:
            pattern = re.compile(args.patient_regex)

            def patient_ids(source: str) -> str:
                match = pattern.search(source)
                if match is None:
                    raise ValueError(f"--patient-regex {args.patient_regex!r} does not match {source}")
                return match.group(1) if pattern.groups else match.group(0)

        out = slicer.write(
            args.volumes,
            args.out,
            masks=masks,
            write_masks=args.write_masks,
            patient_ids=patient_ids,
            split=args.split,
            seed=args.seed,
            bits=args.bits,
            rgb=args.rgb,
            manifest=args.manifest,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, FileExistsError, re.error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..data.planes import TILT_AXES
    from ..data.tiling import PAD_MODES
    from ..data.volume_slicer import INTERPOLATION_ORDERS, ORIENTATIONS

    slice_ = commands.add_parser(
        "slice",
        help="cut labelled 2-D planes (views, oblique tilts) from 3-D NRRD volumes or DICOM series",
        description="Cut 2-D training planes from 3-D volumes (NRRD files or DICOM series folders) into a folder of "
        "class subfolders of PNG with a manifest. Written to a temporary folder and moved into place when complete.",
    )
    slice_.add_argument("volumes", nargs="+", help="NRRD files (.nrrd/.nhdr) or DICOM series folders")
    slice_.add_argument("--out", required=True, help="output folder")
    slice_.add_argument("--views", default="coronal,sagittal", help="comma-separated views (default coronal,sagittal)")
    slice_.add_argument("--angles", default="0", help="tilts in degrees: START:STOP:STEP (inclusive) or a list")
    slice_.add_argument("--tilt-axis", default="rows", choices=TILT_AXES, help="in-plane axis the tilt rotates about")
    slice_.add_argument("--size", type=_image_size, default=256, help="image size: N or HxW pixels")
    slice_.add_argument("--pixel-size", type=float, help="output pixel size in mm (default: fit the field of view)")
    slice_.add_argument("--slice-spacing", type=float, help="mm between slices (default: the voxel spacing)")
    slice_.add_argument("--interpolation", default="linear", choices=list(INTERPOLATION_ORDERS))
    slice_.add_argument("--every", type=int, default=1, help="keep every k-th slice")
    slice_.add_argument("--skip", type=int, default=0, help="drop this many slices at each end")
    slice_.add_argument("--noise-margin", type=int, default=0, help="label the first/last N slices as noise")
    slice_.add_argument("--min-informative", type=float, help="label planes with fewer informative pixels as noise")
    slice_.add_argument("--informative-threshold", type=float, default=0.05, help="windowed intensity (0-1)")
    slice_.add_argument("--noise-label", default="noise", help="class name of uninformative planes")
    slice_.add_argument("--label-format", default="{view}", help="class name, e.g. '{view}' or '{view}_{angle:+.0f}'")
    slice_.add_argument(
        "--window", type=number_list(2, "center,width"), help="intensity window C,W (default: per-volume percentiles)"
    )
    slice_.add_argument(
        "--percentiles",
        type=number_list(2, "low,high"),
        default=(0.5, 99.5),
        help="per-volume percentiles mapped to black and white (default 0.5,99.5)",
    )
    slice_.add_argument("--tile", type=int, help="cut planes into TILE x TILE tiles")
    slice_.add_argument("--overlap", type=int, default=0, help="pixels shared by neighbouring tiles")
    slice_.add_argument("--pad", default="reflect", choices=PAD_MODES, help="padding of the last tiles")
    slice_.add_argument("--mask-suffix", help="label volume beside each volume: case.nrrd -> case<SUFFIX>.nrrd")
    slice_.add_argument("--min-foreground", type=float, default=0.0, help="drop tiles/planes with less foreground")
    slice_.add_argument(
        "--write-masks",
        action="store_true",
        help="with --mask-suffix: write image + mask pairs (images/ and masks/ folders) for train --masks",
    )
    slice_.add_argument(
        "--view-axes",
        action="append",
        default=[],
        help="map a view to index axes: NAME=NORMAL,ROWS,COLS[,flip_rows][,flip_cols] (repeatable)",
    )
    slice_.add_argument(
        "--orientation",
        default="anatomical",
        choices=ORIENTATIONS,
        help="anatomical (default): axial/coronal/sagittal in the patient frame of each volume's direction matrix, "
        "whatever its axis order; volumes more than 30 degrees oblique are refused and files without orientation "
        "are cut along index axes with a warning. index: those views are index axes (axial = normal along axis 2)",
    )
    slice_.add_argument("--bits", type=int, default=8, choices=[8, 16], help="PNG bit depth")
    slice_.add_argument("--rgb", action="store_true", help="write 3-channel images")
    slice_.add_argument("--split", type=number_list(3, "train,val,test"), help="fractions by patient, e.g. 0.8,0.1,0.1")
    slice_.add_argument("--seed", type=int, default=0, help="seed of the patient split")
    slice_.add_argument("--patient-regex", help="patient id from the volume path: group 1, else the whole match")
    slice_.add_argument("--manifest", default="csv", choices=["csv", "json"])
    slice_.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    slice_.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_argument(slice_)
    slice_.set_defaults(func=run)
