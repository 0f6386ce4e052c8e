"""The ``medgan-aug`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from .runtime import retain_freed_memory

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
            print(f"{library} ready in {time.perf_counter() - start:.1f} s: {_extension.loaded_from(library)}")
            if args.output:
                print(f"copied to {_extension.export(library, args.output, arch_list=args.arch)}", flush=True)
        except _extension.BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print("run `medgan-aug ops doctor` to check the toolchain", file=sys.stderr)
            return 1
    return 0


def _train(args: argparse.Namespace) -> int:
    import os

    import torch
    import torch.distributed as dist

    from .data import ImageFolderDataset, PairedImageFolderDataset
    from .train import GANTrainer, TrainingDivergedError, resolve_config

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = None
    if world > 1:
        # Launched by torchrun, which sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address.
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", local_rank)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        options = {"resize": args.resize, "labels": "auto" if args.cond else None, "mirror": args.mirror}
        if args.masks:
            dataset = PairedImageFolderDataset(args.data, args.masks, args.resolution, **options)
        else:
            dataset = ImageFolderDataset(args.data, args.resolution, **options)
        if args.cond and not dataset.has_labels:
            print(f"error: --cond needs labels: class subfolders or a dataset.json in {args.data}", file=sys.stderr)
            return 2
        config = resolve_config(
            args.cfg,
            resolution=args.resolution,
            img_channels=dataset.num_channels,
            c_dim=dataset.c_dim,
            num_gpus=world,
            batch=args.batch,
            batch_gpu=args.batch_gpu,
            gamma=args.gamma,
            kimg=args.kimg,
            channel_base=args.cbase,
            channel_max=args.cmax,
            mapping_layers=args.map,
            arch=args.arch,
            mask_channels=len(args.masks or ()),
            dcgan_preset=args.dcgan_preset,
            loss=args.loss,
            n_critic=args.n_critic,
            channels_last=args.channels_last,
            allow_tf32=args.allow_tf32,
        )
        trainer = GANTrainer(
            config,
            dataset,
            args.outdir,
            augment=args.aug,
            augpipe=args.augpipe,
            color=not args.no_color,
            target=args.target,
            p=args.p,
            resume=args.resume,
            freeze_d=args.freezed,
            seed=args.seed,
            device=device,
            kimg_per_tick=args.tick,
            snapshot_ticks=args.snap,
            num_workers=args.workers,
            metrics=_metric_tracker(args),
            callbacks=_train_callbacks(args),
        )
        checkpoint = trainer.train()
        if trainer.rank == 0:
            print(f"\ndone: {checkpoint}")
        return 0
    except (ValueError, FileNotFoundError, TrainingDivergedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _train_callbacks(args: argparse.Namespace) -> list[object]:
    from .train import callbacks

    # Like StyleGAN2-ADA: events are written whenever tensorboard is installed, unless --no-tensorboard.
    available = callbacks.tensorboard_available()
    if args.tensorboard and not available:
        raise ValueError("--tensorboard needs the tensorboard package: pip install 'medgan-aug[tensorboard]'")
    wanted = available if args.tensorboard is None else args.tensorboard
    return [callbacks.TensorBoardCallback()] if wanted else []


def _metric_tracker(args: argparse.Namespace) -> object:
    """The MetricTracker that ``train --metrics`` asks for, or None."""
    if args.metrics is None:
        if args.patience is not None:
            raise ValueError("--patience needs --metrics")
        return None
    from pathlib import Path

    from .metrics import FIDScorer, MetricsWeightsError
    from .metrics.weights import check_weights_available, downloads_weights
    from .train import MetricTracker

    if args.metric_weights is None and downloads_weights(args.metric_extractor):
        # Found out now rather than at the first evaluation, after the networks are built and a tick has run.
        try:
            check_weights_available(args.metric_extractor)
        except MetricsWeightsError as error:
            hint = "for medgan-aug train pass the file as --metric-weights PATH"
            raise ValueError(f"--metrics: {error}; {hint}") from error
    scorer = FIDScorer(
        args.metrics,
        extractor=args.metric_extractor,
        weights=args.metric_weights,
        # The real set's statistics are computed once per run and reused at every evaluation.
        cache_dir=Path(args.outdir) / "metric-cache",
        # Evaluations compare FIDs at one fixed size with each other: no interval or floor to pay for each time.
        fid_bootstrap=0,
        fid_floor=False,
    )
    names = [name.strip() for name in args.metrics.split(",")]
    return MetricTracker(
        scorer,
        every_ticks=args.metric_ticks,
        num_samples=args.metric_samples,
        key="fid" if "fid" in names else "kid_mean",
        patience=args.patience,
    )


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    from .augment import PRESETS
    from .nets import ARCHITECTURES, DCGAN_PRESETS
    from .train import ADVERSARIAL_LOSSES, AUGMENT_MODES, CONFIG_PRESETS

    train = commands.add_parser(
        "train",
        help="train a StyleGAN2 (or DCGAN) generator with ADA on an image folder",
        description="Train a StyleGAN2 generator (or a DCGAN baseline) with adaptive discriminator augmentation, "
        "on images or on image + mask pairs. Multi-GPU: torchrun --nproc_per_node N -m medgan_aug.cli train ...",
    )
    train.add_argument("--data", required=True, help="image folder (class subfolders or dataset.json for --cond)")
    train.add_argument("--outdir", required=True, help="run directory (checkpoints, stats, samples, plots)")
    train.add_argument(
        "--masks",
        nargs="+",
        metavar="DIR",
        help="mask folder(s) mirroring --data (binary PNG masks, same relative path and stem): G learns image "
        "and masks together, one channel per folder",
    )
    train.add_argument("--arch", default="stylegan2", choices=list(ARCHITECTURES), help="network pair")
    train.add_argument(
        "--dcgan-preset",
        choices=list(DCGAN_PRESETS),
        help="a published DCGAN architecture (--arch dcgan; its resolution must be --resolution)",
    )
    train.add_argument("--resolution", type=int, default=256, help="training resolution (a power of two for stylegan2)")
    train.add_argument("--resize", default="letterbox", choices=["letterbox", "center-crop", "stretch"])
    train.add_argument("--kimg", type=float, help="training length in thousands of real images (default: the cfg's)")
    train.add_argument("--cfg", default="auto", choices=list(CONFIG_PRESETS))
    train.add_argument("--aug", default="ada", choices=list(AUGMENT_MODES))
    train.add_argument("--target", type=float, default=0.6, help="ADA target for r_t")
    train.add_argument("--p", type=float, default=0.0, help="initial (or, with --aug fixed, constant) p")
    train.add_argument("--augpipe", default="bgc", choices=list(PRESETS))
    train.add_argument("--no-color", action="store_true", help="no colour augmentation (dermoscopy)")
    train.add_argument("--gamma", type=float, help="R1 weight (default: the cfg's; 0 with --loss wgan-gp)")
    train.add_argument(
        "--loss",
        default="logistic",
        choices=list(ADVERSARIAL_LOSSES),
        help="adversarial objective (default logistic, StyleGAN2's non-saturating loss; wgan-gp also sets the "
        "WGAN-GP recipe: 5 critic steps, no R1, and for --arch dcgan Adam 1e-4 (0, 0.9) and a layer-norm critic)",
    )
    train.add_argument(
        "--n-critic", type=int, help="discriminator steps per generator step (default 5 for wgan-gp, else 1)"
    )
    train.add_argument("--batch", type=int, help="total batch size (default: the cfg's)")
    train.add_argument("--batch-gpu", type=int, help="images per process per pass (gradient accumulation)")
    train.add_argument("--cbase", type=int, help="channel base of G and D (default: the cfg's)")
    train.add_argument("--cmax", type=int, help="maximum channels of G and D (default 512)")
    train.add_argument("--map", type=int, help="mapping network depth (default: the cfg's)")
    train.add_argument("--cond", action="store_true", help="class-conditional training")
    train.add_argument("--mirror", action="store_true", help="add x-flipped copies of the images")
    train.add_argument("--resume", help="training-*.pt to continue, or a StyleGAN2-ADA .pkl to fine-tune")
    train.add_argument("--freezed", type=int, default=0, help="freeze the first K discriminator layers")
    train.add_argument("--snap", type=int, default=50, help="ticks between checkpoints (sample grids: every tick)")
    train.add_argument("--tick", type=float, default=4.0, help="kimg per tick (report interval)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=2, help="data-loading processes")
    train.add_argument("--metrics", help="score G_ema during training, e.g. fid or fid,kid (default: none)")
    train.add_argument("--metric-ticks", type=int, default=10, help="ticks between evaluations (and the last)")
    train.add_argument("--metric-samples", type=int, default=1000, help="generated images per evaluation")
    train.add_argument("--metric-extractor", default="inception-v3-compat", help="feature extractor (or timm:NAME)")
    train.add_argument("--metric-weights", help="local weights file of the extractor (offline use)")
    train.add_argument("--patience", type=int, help="stop after N evaluations without a better score")
    train.add_argument(
        "--channels-last",
        action="store_true",
        help="run the StyleGAN2 networks in channels-last memory format (same results; often faster on GPUs)",
    )
    train.add_argument(
        "--allow-tf32",
        action="store_true",
        help="allow TF32 in CUDA float32 convolutions and matmuls: faster on Ampere+ GPUs, less reproducible "
        "(off by default, as in StyleGAN2-ADA)",
    )
    train.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write TensorBoard events (scalars and sample grids) to OUTDIR/tensorboard; default: when the "
        "tensorboard package is installed",
    )
    train.set_defaults(func=_train)


def _prepare(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from .data import prepare_images
    from .data.images import IMAGE_EXTENSIONS
    from .data.prepare import is_dicom

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


def _numbers(count: int, meaning: str) -> Callable[[str], tuple[float, ...]]:
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


def _attach_signed_values(argv: Sequence[str]) -> list[str]:
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


def _add_prepare_parser(commands: argparse._SubParsersAction) -> None:
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
        type=_numbers(2, "center,width"),
        help="intensity window C,W in raw units, e.g. 40,400 or -600,1500",
    )
    prepare.add_argument("--percentiles", type=_numbers(2, "low,high"), help="per-image window, e.g. 0.5,99.5")
    prepare.add_argument("--bits", type=int, default=8, choices=[8, 16], help="bits per channel (colour needs 8)")
    prepare.add_argument("--rgb", action="store_true", help="write grayscale images with three channels")
    prepare.add_argument("--labels", default="parent", choices=["parent", "none"], help="class = parent folder name")
    prepare.add_argument(
        "--split",
        type=_numbers(3, "train,val,test"),
        help="train,val,test fractions, e.g. 0.8,0.1,0.1 (the patient id is the file stem)",
    )
    prepare.add_argument("--seed", type=int, default=0, help="seed of the patient split")
    prepare.add_argument("--manifest", default="csv", choices=["csv", "json"])
    prepare.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    prepare.add_argument("--no-progress", action="store_true", help="no progress bar")
    prepare.set_defaults(func=_prepare, resize="letterbox")


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
    from .data import ViewAxes

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


def _slice(args: argparse.Namespace) -> int:
    import re

    from .data import VolumeSlicer, parse_angles

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


def _add_slice_parser(commands: argparse._SubParsersAction) -> None:
    from .data.planes import TILT_AXES
    from .data.tiling import PAD_MODES
    from .data.volume_slicer import INTERPOLATION_ORDERS, ORIENTATIONS

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
        "--window", type=_numbers(2, "center,width"), help="intensity window C,W (default: per-volume percentiles)"
    )
    slice_.add_argument(
        "--percentiles",
        type=_numbers(2, "low,high"),
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
    slice_.add_argument("--split", type=_numbers(3, "train,val,test"), help="fractions by patient, e.g. 0.8,0.1,0.1")
    slice_.add_argument("--seed", type=int, default=0, help="seed of the patient split")
    slice_.add_argument("--patient-regex", help="patient id from the volume path: group 1, else the whole match")
    slice_.add_argument("--manifest", default="csv", choices=["csv", "json"])
    slice_.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    slice_.add_argument("--no-progress", action="store_true", help="no progress bar")
    slice_.set_defaults(func=_slice)


def _seed_list(text: str) -> list[int]:
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


def _class_list(text: str) -> list[int]:
    """An argparse type for comma-separated class indices."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices, got {text!r}") from None


def _generate(args: argparse.Namespace) -> int:
    import torch

    from .data.dataset_writer import mask_folder
    from .data.synthetic import load_generator, synthesize

    try:
        n = args.n
        if args.seeds is not None:
            if n is not None and n != len(args.seeds):
                raise ValueError(f"--n {n} does not match the {len(args.seeds)} seeds of --seeds")
            n = len(args.seeds)
        if n is None:
            raise ValueError("give the number of images with --n (or the seeds with --seeds)")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        G = load_generator(args.network, device=device)
        out = synthesize(
            G,
            n,
            args.out,
            classes=args.class_index if args.class_index is not None else args.classes,
            truncation_psi=args.psi,
            noise_mode=args.noise_mode,
            seeds=args.seeds,
            batch_size=args.batch,
            bits=args.bits,
            rgb=args.rgb,
            overwrite=args.overwrite,
            allow_seed_reuse=args.allow_seed_reuse,
            checkpoint=args.network,
            progress=not args.no_progress,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if G.mask_channels:
        folders = ", ".join(f"{name}/" for name in ("images", *(mask_folder(m) for m in range(G.mask_channels))))
        print(f"wrote {n} image + mask pairs to {out} ({folders})")
    else:
        print(f"wrote {n} images to {out}")
    return 0


def _add_generate_parser(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="write synthetic images from a trained generator into a dataset folder",
        description="Generate images from a generator checkpoint (network .pt, training-*.pt or StyleGAN2-ADA "
        ".pkl) into class<K>/seed<SEED>.png with a manifest; the folder appears only once complete. Seeds are "
        "recorded beside the folder so that sets generated next to each other never share a seed.",
    )
    generate.add_argument("--network", required=True, help="generator checkpoint: .pt (network or training) or .pkl")
    generate.add_argument("--n", type=int, help="number of images (default: the number of --seeds)")
    generate.add_argument("--psi", type=float, default=1.0, help="truncation psi, e.g. 0.7 (default 1: none)")
    which = generate.add_mutually_exclusive_group()
    which.add_argument("--class", dest="class_index", type=int, help="class index of every image")
    which.add_argument("--classes", type=_class_list, help="spread the images evenly over these classes, e.g. 0,1")
    generate.add_argument(
        "--seeds", type=_seed_list, help="seeds START-END (inclusive) or a,b,c (default: the next unused ones)"
    )
    generate.add_argument("--out", default="synthetic", help="dataset folder to create (default ./synthetic)")
    generate.add_argument("--bits", type=int, default=8, choices=[8, 16], help="PNG bit depth (colour needs 8)")
    generate.add_argument("--rgb", action="store_true", help="write grayscale images with three channels")
    generate.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    generate.add_argument("--batch", type=int, default=16, help="images per generator call")
    generate.add_argument(
        "--allow-seed-reuse", action="store_true", help="accept --seeds already used by a sibling folder"
    )
    generate.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(func=_generate)


def _score(args: argparse.Namespace) -> int:
    import json

    from .metrics import FIDScorer, MetricsWeightsError

    per_class: dict[str, dict[str, float]] = {}
    try:
        generation = {"--n": args.n, "--psi": args.psi, "--class": args.class_index, "--seed": args.seed}
        if args.network is None:
            given = [flag for flag, value in generation.items() if value is not None]
            if args.per_class:
                given.append("--per-class")
            if given:
                raise ValueError(f"{', '.join(given)} apply to --network only")
        if args.per_class and args.class_index is not None:
            raise ValueError("--per-class scores every class; drop --class")
        scorer = FIDScorer(
            args.metrics,
            extractor=args.extractor,
            weights=args.weights,
            batch_size=args.batch,
            kid_subset_size=args.kid_subset_size,
            cache_dir=args.cache_dir,
            value_range=tuple(int(end) for end in args.value_range.split(",")),
            fid_bootstrap=args.fid_bootstrap,
            fid_floor=not args.no_fid_floor,
            progress=not args.no_progress,
        )
        if args.network is None:
            results = scorer.score(args.real, args.fake)
        else:
            from .data import ImageFolderDataset, load_generator

            G = load_generator(args.network, device=scorer.device)
            n = 1000 if args.n is None else args.n
            sampling = {
                "truncation_psi": 1.0 if args.psi is None else args.psi,
                "seed": 0 if args.seed is None else args.seed,
            }
            if args.per_class:
                if G.c_dim == 0:
                    raise ValueError(f"--per-class needs a conditional network, but {args.network} has no classes")
                real = ImageFolderDataset(args.real, G.img_resolution, labels="folders")
                per_class = scorer.score_per_class(G, real, n, **sampling)
                rows = list(per_class.values())
                # Point values average over classes; intervals, spreads and sizes stay per class.
                points = ("fid", "fid_real_floor", "fid_matched", "kid_mean", "isc_mean", "precision", "recall",
                          "f_score")  # fmt: skip
                results = {
                    key: sum(row[key] for row in rows) / len(rows) for key in points if all(key in row for row in rows)
                }
            else:
                results = scorer.score_generator(G, args.real, n, classes=args.class_index, **sampling)
    except (ValueError, OSError, MetricsWeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"per_class": per_class, "mean": results, "n_per_class": n} if per_class else results))
    elif per_class:
        width = max(10, *(len(name) + 1 for name in per_class))
        columns = {key: max(12, len(key) + 2) for row in per_class.values() for key in row}
        print(f"{'class':<{width}}" + "".join(f"{key:>{w}}" for key, w in columns.items()))
        for name, row in [*per_class.items(), ("mean", results)]:
            cells = (f"{row[key]:>{w}.6g}" if key in row else " " * w for key, w in columns.items())
            print((f"{name:<{width}}" + "".join(cells)).rstrip())
    else:
        notes = []
        if "fid_ci_low" in results:
            notes.append(
                f"95% CI {results['fid_ci_low']:.4g} to {results['fid_ci_high']:.4g}, "
                f"bootstrap sd {results['fid_std']:.3g}"
            )
        if "fid_real_floor" in results:
            notes.append(
                f"at {results['fid_floor_images']:.0f} images per side: synthetic {results['fid_matched']:.4g} +- "
                f"{results['fid_matched_std']:.2g} vs real-vs-real floor {results['fid_real_floor']:.4g} +- "
                f"{results['fid_real_floor_std']:.2g}"
            )
        folded = ("fid_std", "fid_ci_low", "fid_ci_high", "fid_real_floor", "fid_real_floor_std", "fid_matched",
                  "fid_matched_std", "fid_floor_images")  # fmt: skip
        print(f"{'metric':<10} value")
        for key, value in results.items():
            if key == "fid" and notes:
                print(f"{key:<10} {value:.6g}  ({'; '.join(notes)})")
            elif key not in folded:
                print(f"{key:<10} {value:.6g}")
    return 0


def _add_score_parser(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score",
        help="FID, KID, Inception Score and precision/recall of generated images against real ones",
        description="Compare generated images (a folder, or --network to generate them in memory) with a folder "
        "of real ones through torch-fidelity. FID comes with a bootstrap 95%% interval and the real-vs-real floor "
        "(FID between two halves of the real set at the same number of images) to read it against. Without "
        "network access, pass the extractor's weights file with --weights.",
    )
    score.add_argument(
        "--real",
        required=True,
        help="folder of real images (PNG/JPEG, searched recursively), or a .pt/.npy file of an [N, C, H, W] tensor",
    )
    fake = score.add_mutually_exclusive_group(required=True)
    fake.add_argument("--fake", help="folder of generated images, or a .pt/.npy file of an [N, C, H, W] tensor")
    fake.add_argument(
        "--network", help="generator checkpoint (.pt network or training, or .pkl) to generate the fake set from"
    )
    score.add_argument("--n", type=int, help="with --network: images to generate (per class with --per-class; 1000)")
    score.add_argument("--psi", type=float, help="with --network: truncation psi (default 1: none)")
    score.add_argument(
        "--class",
        dest="class_index",
        type=int,
        help="with --network: class of every image (default for a conditional network: uniformly random)",
    )
    score.add_argument("--seed", type=int, help="with --network: first seed; image i uses seed + i (default 0)")
    score.add_argument(
        "--per-class",
        action="store_true",
        help="with a conditional --network: score each class against --real's class subfolder of the same index "
        "(real images resized to the network's resolution)",
    )
    score.add_argument("--metrics", default="fid,kid", help="comma-separated: fid, kid, isc, prc (or pr)")
    score.add_argument("--weights", help="weights file of the feature extractor (never downloaded for timm)")
    score.add_argument(
        "--extractor",
        default="inception-v3-compat",
        help="torch-fidelity extractor name, or timm:MODEL with --weights (default inception-v3-compat)",
    )
    score.add_argument("--batch", type=int, default=64, help="images per extractor batch")
    score.add_argument("--kid-subset-size", type=int, default=1000, help="images per KID subset")
    score.add_argument("--cache-dir", help="cache the real set's features here")
    score.add_argument(
        "--value-range",
        default="-1,1",
        choices=["-1,1", "0,1", "0,255"],
        metavar="LOW,HIGH",
        help="range of float pixels in .pt/.npy tensors: -1,1 (default; write --value-range=-1,1), 0,1 or 0,255; "
        "folders and --network images are read as they are",
    )
    score.add_argument(
        "--fid-bootstrap",
        type=int,
        default=200,
        help="bootstrap resamples of FID's 95%% interval (default 200, at least 100; 0: no interval)",
    )
    score.add_argument(
        "--no-fid-floor", action="store_true", help="skip FID between two halves of the real set (the floor)"
    )
    score.add_argument(
        "--no-progress", action="store_true", help="no progress of the feature extraction and the FID bootstrap"
    )
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(func=_score)


def _ratio_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.5,1,2, got {text!r}")
    return values


def _selftrain(args: argparse.Namespace) -> int:
    import math

    from .selftrain import FolderPool, GeneratorPool, SelfTrainConfig, SelfTrainer, TrainSettings, load_real_splits

    try:
        if args.network is None and args.pool_size is not None:
            raise ValueError("--pool-size applies to --network only")
        settings = TrainSettings(
            epochs=args.epochs,
            batch_size=args.batch,
            lr=args.lr,
            weight_decay=args.weight_decay,
            optimizer=args.optimizer,
            image_size=args.image_size,
            augment=not args.no_augment,
            num_workers=args.workers,
            seed=args.seed,
            device=args.device,
        )
        config = SelfTrainConfig(
            model=args.model,
            weights=args.weights,
            mode=args.mode,
            real_fraction=args.real_fraction,
            threshold=args.threshold,
            max_ratio=math.inf if args.max_ratio <= 0 else args.max_ratio,
            rounds=args.rounds,
            patience=args.patience,
            monitor=args.monitor,
            mix_ratios=args.mix_ratios,
            positive_class=args.positive_class,
            full_baseline=not args.no_full_baseline,
            train=settings,
            predict_batch_size=args.predict_batch,
            repeats=args.repeats,
            resample_real=args.resample_real,
            bootstrap=args.bootstrap,
        )
        real = load_real_splits(args.real, args.size, val=args.val, test=args.test, seed=args.seed)
        sizes = ", ".join(
            f"{name} {len(part)}"
            for name, part in (("train", real.train), ("val", real.val), ("test", real.test))
            if part is not None
        )
        print(f"real images ({real.method} split): {sizes}", flush=True)
        if args.network is not None:
            from .data import load_generator

            G = load_generator(args.network, device=args.device or "cpu")
            classes = None if G.c_dim == 0 else list(range(G.c_dim))
            pool_size = 1000 if args.pool_size is None else args.pool_size
            pool: FolderPool | GeneratorPool = GeneratorPool(
                G,
                pool_size,
                resolution=real.resolution,
                num_channels=real.num_channels,
                classes=classes,
                seed_start=args.pool_seed,
                truncation_psi=args.psi,
                progress=not args.no_progress,
            )
        else:
            labelled = real.class_names if args.mode == "mix" else None
            pool = FolderPool(args.synthetic, real.resolution, num_channels=real.num_channels, class_names=labelled)
        result = SelfTrainer(config).run(real, pool, out_dir=args.out, progress=not args.no_progress)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.verdict())
    comparison = result.comparison()
    if comparison is not None:
        print(comparison.to_markdown(), end="")
    print(f"stopped: {result.stop_reason}")
    print(f"report: {args.out}/report.md and report.json; selected classifier: {args.out}/classifier.pt")
    return 0


def _add_selftrain_parser(commands: argparse._SubParsersAction) -> None:
    selftrain = commands.add_parser(
        "selftrain",
        help="pseudo-label synthetic images with timm classifiers and report, with intervals, whether they helped",
        description="Train a timm classifier on a fraction of the real images, pseudo-label a pool of synthetic "
        "images (a folder, or a generator sampled on demand), accept confident ones under a per-class cap, retrain, "
        "and compare with real-only baselines on validation and test data. --mode mix uses a labelled pool "
        "(class subfolders or a conditional generator) at fixed ratios instead. Every run is trained --repeats "
        "times with different seeds; the selected run is compared with the baseline on the test set with a "
        "bootstrap interval (by patient when the manifest has patient ids), McNemar's and DeLong's tests, and a "
        "verdict: helped, hurt or no detectable difference. Writes report.json, report.md, accepted.csv, runs.png, "
        "confusion PNGs and classifier.pt into --out.",
    )
    selftrain.add_argument(
        "--real",
        required=True,
        help="real images: class subfolders (split into train/val/test, by patient when manifest.csv has "
        "patient_id), or train/ val/ [test/] folders of class subfolders",
    )
    pool = selftrain.add_mutually_exclusive_group(required=True)
    pool.add_argument("--synthetic", help="folder of synthetic images (class subfolders for --mode mix)")
    pool.add_argument("--network", help="generator checkpoint (.pt or StyleGAN2-ADA .pkl) to sample the pool from")
    selftrain.add_argument("--val", help="validation folder of class subfolders (then --real is all training data)")
    selftrain.add_argument("--test", help="held-out test folder of class subfolders")
    selftrain.add_argument("--out", required=True, help="folder for the reports and the selected classifier")
    selftrain.add_argument("--model", default="convnext_tiny", help="timm model name (default convnext_tiny)")
    selftrain.add_argument("--weights", help="local weights file for --model (default: train from scratch)")
    selftrain.add_argument("--mode", default="pseudo", choices=["pseudo", "mix"])
    selftrain.add_argument("--real-fraction", type=float, default=1.0, help="share of the real training split, (0, 1]")
    selftrain.add_argument("--threshold", type=float, default=0.9, help="confidence threshold in (0, 1]")
    selftrain.add_argument(
        "--max-ratio",
        type=float,
        default=1.0,
        help="per-class cap: accepted images <= ratio x real images of the class (<= 0: no cap)",
    )
    selftrain.add_argument("--rounds", type=int, default=5, help="maximum pseudo-labelling rounds")
    selftrain.add_argument("--patience", type=int, default=1, help="rounds without validation gain before stopping")
    selftrain.add_argument(
        "--monitor", default="balanced_accuracy", choices=["accuracy", "balanced_accuracy", "macro_f1"]
    )
    selftrain.add_argument(
        "--mix-ratios", type=_ratio_list, default=(1.0,), help="--mode mix: synthetic per real image, e.g. 0.5,1,2"
    )
    selftrain.add_argument("--positive-class", help="the positive (disease) class; required for two classes")
    selftrain.add_argument("--no-full-baseline", action="store_true", help="skip the real 100%% baseline")
    selftrain.add_argument("--size", type=int, default=128, help="image side the data is loaded at (power of two)")
    selftrain.add_argument("--image-size", type=int, help="side the classifier sees (default: --size)")
    selftrain.add_argument("--epochs", type=int, default=10)
    selftrain.add_argument("--batch", type=int, default=32, help="training batch size")
    selftrain.add_argument("--predict-batch", type=int, default=64, help="batch size when scoring images")
    selftrain.add_argument("--lr", type=float, default=1e-3)
    selftrain.add_argument("--weight-decay", type=float, default=0.05)
    selftrain.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    selftrain.add_argument("--no-augment", action="store_true", help="no random flips and crops while training")
    selftrain.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    selftrain.add_argument("--pool-size", type=int, help="with --network: images to generate (default 1000)")
    selftrain.add_argument("--pool-seed", type=int, default=0, help="with --network: seed of the first image")
    selftrain.add_argument("--psi", type=float, default=1.0, help="with --network: truncation psi")
    selftrain.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="classifiers per run, with seeds --seed, --seed + 1, ...; the comparison's interval covers their spread "
        "(default 3; 1 cannot show a difference)",
    )
    selftrain.add_argument(
        "--resample-real",
        action="store_true",
        help="with --real-fraction < 1: each seed draws its own real subset",
    )
    selftrain.add_argument(
        "--bootstrap", type=int, default=2000, help="bootstrap resamples of the comparison's intervals (>= 100)"
    )
    selftrain.add_argument("--seed", type=int, default=0, help="seed of splits, initialisation, training, bootstrap")
    selftrain.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    selftrain.add_argument("--no-progress", action="store_true", help="no progress bars")
    selftrain.set_defaults(func=_selftrain)


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoSettings, run_demo

    overrides = {"kimg": args.kimg, "device": args.device, "seed": args.seed}
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


def _add_demo_parser(commands: argparse._SubParsersAction) -> None:
    from .demo import DEMO_PRESETS

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
    demo.set_defaults(func=_demo)


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
    build.add_argument(
        "--arch", help="CUDA architectures, e.g. '8.0;9.0+PTX' (default: visible GPUs, else 8.0;9.0+PTX)"
    )
    build.add_argument(
        "--output",
        metavar="DIR",
        help="also copy the libraries to DIR, for MEDGAN_AUG_OPS_LIB=DIR on machines without a compiler",
    )
    build.add_argument("--verbose", action="store_true", help="show compiler commands and output")
    build.set_defaults(func=_ops_build)
    _add_train_parser(commands)
    _add_generate_parser(commands)
    _add_prepare_parser(commands)
    _add_slice_parser(commands)
    _add_score_parser(commands)
    _add_selftrain_parser(commands)
    _add_demo_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(_attach_signed_values(sys.argv[1:] if argv is None else argv))
    retain_freed_memory()
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
