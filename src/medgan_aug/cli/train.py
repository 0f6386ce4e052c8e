"""``medgan-aug train``: a StyleGAN2 (or DCGAN) generator with ADA on an image folder, multi-GPU through torchrun."""

from __future__ import annotations

import argparse
import sys

from .arguments import add_threads_argument

__all__ = ["add_parser", "metric_tracker", "run"]


def run(args: argparse.Namespace) -> int:
    import os

    import torch
    import torch.distributed as dist

    from ..data import ImageFolderDataset, PairedImageFolderDataset
    from ..train import GANTrainer, TrainingDivergedError, resolve_config

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
            metrics=metric_tracker(args),
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
    from ..train import callbacks

    # Like StyleGAN2-ADA: events are written whenever tensorboard is installed, unless --no-tensorboard.
    available = callbacks.tensorboard_available()
    if args.tensorboard and not available:
        raise ValueError("--tensorboard needs the tensorboard package: pip install 'medgan-aug[tensorboard]'")
    wanted = available if args.tensorboard is None else args.tensorboard
    return [callbacks.TensorBoardCallback()] if wanted else []


def metric_tracker(args: argparse.Namespace) -> object:
    """The MetricTracker that ``train --metrics`` asks for, or None."""
    if args.metrics is None:
        if args.patience is not None:
            raise ValueError("--patience needs --metrics")
        return None
    from pathlib import Path

    from ..metrics import FIDScorer, MetricsWeightsError
    from ..metrics.weights import check_weights_available, downloads_weights
    from ..train import MetricTracker

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


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..augment import PRESETS
    from ..nets import ARCHITECTURES, DCGAN_PRESETS
    from ..train import ADVERSARIAL_LOSSES, AUGMENT_MODES, CONFIG_PRESETS

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
    add_threads_argument(train)
    train.set_defaults(func=run)
