"""``medgan-aug selftrain``: pseudo-labelled synthetic images against real-only classifiers, with intervals."""

from __future__ import annotations

import argparse
import sys

from .arguments import add_threads_argument, ratio_list

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import math

    from ..selftrain import FolderPool, GeneratorPool, SelfTrainConfig, SelfTrainer, TrainSettings, load_real_splits

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
            from ..generate import load_generator

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
        result = SelfTrainer(config).run(
            real,
            pool,
            out_dir=args.out,
            progress=not args.no_progress,
            generator_training=args.generator_training,
        )
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


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    selftrain.add_argument(
        "--generator-training",
        metavar="DIR",
        help="the folder the generator was trained on: the report warns when its manifest shares patients with "
        "the test (or validation) images",
    )
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
        "--mix-ratios", type=ratio_list, default=(1.0,), help="--mode mix: synthetic per real image, e.g. 0.5,1,2"
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
    add_threads_argument(selftrain)
    selftrain.set_defaults(func=run)
