"""From 3-D ultrasound volumes to a verdict on whether GAN images help a plane classifier.

The workflow of the neonatal cranial ultrasound study, end to end:

1. cut coronal and sagittal planes, each also tilted, out of one NRRD volume per patient; the first and last
   slices of every sweep form a ``noise`` class, and patients are split into train / val / test;
2. train an unconditional StyleGAN2 generator with adaptive discriminator augmentation (ADA) on the training
   planes of all classes together;
3. self-train: a classifier trained on part of the real planes pseudo-labels images sampled from the generator,
   keeps confident ones and retrains, against real-only baselines.

Writes ``planes/`` (class subfolders and ``manifest.csv`` per split), ``gan/`` (the training run) and
``selftrain/`` (``report.md``, ``report.json``, the accepted images) into ``--out``.

Usage::

    python examples/ultrasound_volumes.py volumes/ --out runs/us/ --size 128 --kimg 500
    python examples/ultrasound_volumes.py --smoke --out /tmp/us-smoke   # phantom volumes, toy scale, CPU
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import medgan_aug
from medgan_aug.data import parse_angles
from medgan_aug.demo import make_phantom_volumes
from medgan_aug.selftrain import GeneratorPool, TrainSettings, load_real_splits

# Overrides for --smoke: every stage runs for real, just small enough for a test suite on two CPU cores.
SMOKE = {
    "size": 32,
    "angles": "-20:20:20",
    "noise_margin": 4,
    "every": 2,
    "split": (0.6, 0.2, 0.2),
    "kimg": 0.2,
    "batch": 16,
    "cbase": 128,
    "cmax": 16,
    "map": 2,
    "model": "test_resnet",
    "epochs": 1,
    "pool_size": 64,
    "rounds": 1,
    "workers": 0,
}


def find_volumes(folder: Path) -> list[Path]:
    """The NRRD volumes in ``folder``, one per patient (the file name is the patient id)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"volume folder {folder} does not exist")
    volumes = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".nrrd", ".nhdr"))
    if not volumes:
        raise ValueError(f"no NRRD volumes (.nrrd, .nhdr) in {folder}")
    return volumes


def slice_planes(volumes: list[Path], out: Path, args: argparse.Namespace) -> Path:
    """Cut labelled planes into ``out/train``, ``out/val`` and ``out/test``."""
    slicer = medgan_aug.VolumeSlicer(
        ["coronal", "sagittal"],
        parse_angles(args.angles),
        size=args.size,
        every=args.every,
        noise_margin=args.noise_margin,
        # Planes that cross little of the head are noise too, wherever they lie in the sweep.
        min_informative=0.1,
    )
    # Splitting by patient keeps neighbouring, nearly identical planes of one head out of both train and test.
    return slicer.write(volumes, out, split=args.split, seed=args.seed, overwrite=True, progress=False)


def train_generator(train_dir: Path, run_dir: Path, args: argparse.Namespace) -> Path:
    """Train an unconditional generator with ADA on every training plane; returns the last checkpoint."""
    # labels=None: the generator learns all classes together, so it never sees the labels it will be judged on.
    dataset = medgan_aug.ImageFolderDataset(train_dir, args.size, labels=None)
    # The auto networks (up to 512 channels) are sized for GPUs; --cbase/--cmax/--map make ones a CPU trains.
    config = medgan_aug.resolve_config(
        "auto", resolution=args.size, img_channels=dataset.num_channels, batch=args.batch, kimg=args.kimg,
        channel_base=args.cbase, channel_max=args.cmax, mapping_layers=args.map,
    )  # fmt: skip
    trainer = medgan_aug.GANTrainer(
        config,
        dataset,
        run_dir,
        augment="ada",  # a few thousand planes: without ADA the discriminator overfits within a few kimg
        augpipe="bgc",
        target=0.6,
        seed=args.seed,
        kimg_per_tick=min(args.kimg, 4.0),  # report (stats row, sample grid) every 4 kimg
        num_workers=args.workers,
        progress=not args.smoke,
    )
    return trainer.train()


def self_train(planes: Path, checkpoint: Path, out: Path, args: argparse.Namespace) -> None:
    """Pseudo-label generator images with a classifier trained on part of the real planes, and report."""
    real = load_real_splits(planes, args.size, seed=args.seed)
    G = medgan_aug.load_generator(checkpoint)
    # The pool is sampled on demand from consecutive seeds, so `medgan-aug generate` can write the same images.
    pool = GeneratorPool(
        G, args.pool_size, resolution=real.resolution, num_channels=real.num_channels, progress=not args.smoke
    )
    config = medgan_aug.SelfTrainConfig(
        model=args.model,
        mode="pseudo",
        # Part of the real planes only (half by default): with fewer real images there is room for synthetic ones
        # to help, and the real 100 % baseline beside it shows how much more real data would have given.
        real_fraction=args.real_fraction,
        threshold=args.threshold,
        rounds=args.rounds,
        train=TrainSettings(epochs=args.epochs, num_workers=args.workers, seed=args.seed),
    )
    result = medgan_aug.SelfTrainer(config).run(real, pool, out_dir=out, progress=not args.smoke)
    print(result.verdict())
    for stage in result.stages:
        if stage.kind == "round":
            counts = ", ".join(f"{name} {n}" for name, n in zip(result.class_names, stage.added_per_class, strict=True))
            print(f"{stage.name}: accepted {counts}")
    print(f"report: {out / 'report.md'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("volumes", type=Path, nargs="?", help="folder of NRRD volumes, one per patient")
    parser.add_argument("--out", type=Path, default=Path("ultrasound"), help="output folder")
    parser.add_argument("--smoke", action="store_true", help="phantom volumes and toy settings, for a quick check")
    parser.add_argument("--size", type=int, default=128, help="plane side and GAN resolution (power of two)")
    parser.add_argument("--angles", default="-20:20:5", help="tilts in degrees, START:STOP:STEP (--angles=-10:10:5)")
    parser.add_argument("--noise-margin", type=int, default=20, help="first/last N slices of a sweep are noise")
    parser.add_argument("--every", type=int, default=1, help="keep every k-th slice")
    parser.add_argument("--split", type=float, nargs=3, default=(0.8, 0.1, 0.1), help="train val test, by patient")
    parser.add_argument("--kimg", type=float, default=500.0, help="GAN training length, thousands of images")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--cbase", type=int, default=16384, help="channel base of G and D")
    parser.add_argument("--cmax", type=int, default=512, help="maximum channels of G and D")
    parser.add_argument("--map", type=int, default=8, help="mapping network depth")
    parser.add_argument("--model", default="resnet18", help="timm classifier")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=5000, help="generator images to pseudo-label")
    parser.add_argument("--real-fraction", type=float, default=0.5)
    parser.add_argument("--threshold", type=float, default=0.9, help="confidence needed to accept an image")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        if args.volumes is not None:
            parser.error("--smoke writes its own phantom volumes; drop the volume folder")
        vars(args).update(SMOKE)
        # Stand-in data: phantom heads with skull, falx and ventricles, written as NRRD like scanner exports.
        args.volumes = args.out / "volumes"
        make_phantom_volumes(args.volumes, n=5, size=32, seed=args.seed)
    elif args.volumes is None:
        parser.error("give a folder of NRRD volumes, or --smoke")

    try:
        volumes = find_volumes(args.volumes)
        print(f"slicing {len(volumes)} volumes ...", flush=True)
        planes = slice_planes(volumes, args.out / "planes", args)
        print(f"training the generator on {planes / 'train'} ...", flush=True)
        checkpoint = train_generator(planes / "train", args.out / "gan", args)
        print(f"self-training with images of {checkpoint.name} ...", flush=True)
        self_train(planes, checkpoint, args.out / "selftrain", args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
