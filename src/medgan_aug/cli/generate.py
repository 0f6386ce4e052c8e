"""``medgan-aug generate``: synthetic images from a trained generator into a dataset folder."""

from __future__ import annotations

import argparse
import sys

from .arguments import add_threads_argument, class_list, seed_list

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data.dataset_writer import mask_folder
    from ..generate import load_generator, synthesize

    try:
        n = args.n
        if args.seeds is not None:
            if n is not None and n != len(args.seeds):
                raise ValueError(f"--n {n} does not match the {len(args.seeds)} seeds of --seeds")
            n = len(args.seeds)
        if n is None:
            raise ValueError("give the number of images with --n (or the seeds with --seeds)")
        copy_options = {"--train": args.train, "--extractor": args.extractor, "--weights": args.weights}
        given = [flag for flag, value in copy_options.items() if value is not None]
        if not args.exclude_copies and given:
            raise ValueError(f"{', '.join(given)} apply to --exclude-copies only")
        if args.exclude_copies and args.train is None:
            raise ValueError("--exclude-copies needs --train, the folder of images the generator was trained on")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        screen = None
        if args.exclude_copies:
            from ..metrics import CopyScreen, FIDScorer, MetricsWeightsError

            extractor = args.extractor or "inception-v3-compat"
            try:
                scorer = FIDScorer(extractor=extractor, weights=args.weights, device=device)
                screen = CopyScreen(args.train, scorer, threshold=args.copying_threshold)
            except MetricsWeightsError as error:
                raise ValueError(f"--exclude-copies: {error}") from error
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
            screen=screen,
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


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    which.add_argument("--classes", type=class_list, help="spread the images evenly over these classes, e.g. 0,1")
    generate.add_argument(
        "--seeds", type=seed_list, help="seeds START-END (inclusive) or a,b,c (default: the next unused ones)"
    )
    generate.add_argument("--out", default="synthetic", help="dataset folder to create (default ./synthetic)")
    generate.add_argument("--bits", type=int, default=8, choices=[8, 16], help="PNG bit depth (colour needs 8)")
    generate.add_argument("--rgb", action="store_true", help="write grayscale images with three channels")
    generate.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    generate.add_argument("--batch", type=int, default=16, help="images per generator call")
    generate.add_argument(
        "--allow-seed-reuse", action="store_true", help="accept --seeds already used by a sibling folder"
    )
    generate.add_argument(
        "--exclude-copies",
        action="store_true",
        help="drop images that are likely copies of --train images (nearest-training ratio below "
        "--copying-threshold) and generate more until --n pass; the manifest records every image's "
        "nearest_train_distance, copy_ratio and whether it was dropped",
    )
    generate.add_argument("--train", help="--exclude-copies: the generator's training images")
    generate.add_argument(
        "--extractor",
        help="--exclude-copies: feature space (torch-fidelity name, timm:MODEL, or pixels; default "
        "inception-v3-compat)",
    )
    generate.add_argument("--weights", help="--exclude-copies: weights file of the extractor")
    generate.add_argument(
        "--copying-threshold", type=float, default=0.5, help="--exclude-copies: the ratio below which (default 0.5)"
    )
    generate.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_argument(generate)
    generate.set_defaults(func=run)
