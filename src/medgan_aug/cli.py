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


def _train(args: argparse.Namespace) -> int:
    import os

    import torch
    import torch.distributed as dist

    from .data import ImageFolderDataset
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
        dataset = ImageFolderDataset(
            args.data,
            args.resolution,
            resize=args.resize,
            labels="auto" if args.cond else None,
            mirror=args.mirror,
        )
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
        )
        for kwargs in (config.G_kwargs["synthesis_kwargs"], config.D_kwargs):
            if args.cbase is not None:
                kwargs["channel_base"] = args.cbase
            if args.cmax is not None:
                kwargs["channel_max"] = args.cmax
        if args.map is not None:
            config.G_kwargs["mapping_kwargs"]["num_layers"] = args.map
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


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    from .augment import PRESETS
    from .train import AUGMENT_MODES, CONFIG_PRESETS

    train = commands.add_parser(
        "train",
        help="train a StyleGAN2 generator with ADA on an image folder",
        description="Train a StyleGAN2 generator with adaptive discriminator augmentation. "
        "Multi-GPU: torchrun --nproc_per_node N -m medgan_aug.cli train ...",
    )
    train.add_argument("--data", required=True, help="image folder (class subfolders or dataset.json for --cond)")
    train.add_argument("--outdir", required=True, help="run directory (checkpoints, stats, samples, plots)")
    train.add_argument("--resolution", type=int, default=256, help="training resolution (power of two)")
    train.add_argument("--resize", default="letterbox", choices=["letterbox", "center-crop", "stretch"])
    train.add_argument("--kimg", type=float, help="training length in thousands of real images (default: the cfg's)")
    train.add_argument("--cfg", default="auto", choices=list(CONFIG_PRESETS))
    train.add_argument("--aug", default="ada", choices=list(AUGMENT_MODES))
    train.add_argument("--target", type=float, default=0.6, help="ADA target for r_t")
    train.add_argument("--p", type=float, default=0.0, help="initial (or, with --aug fixed, constant) p")
    train.add_argument("--augpipe", default="bgc", choices=list(PRESETS))
    train.add_argument("--no-color", action="store_true", help="no colour augmentation (dermoscopy)")
    train.add_argument("--gamma", type=float, help="R1 weight (default: the cfg's)")
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
    train.set_defaults(func=_train)


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
    _add_train_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
