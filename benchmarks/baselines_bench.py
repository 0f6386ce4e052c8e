"""Baselines evaluated the same way: FID of each architecture and loss on the demo's phantom planes.

The demo's phantom cranial-ultrasound volumes are sliced into 32 px coronal and
sagittal planes (3 classes, split 50/25/25 by patient); every run trains a
conditional generator with ADA (p from 0 to 1 in ``--ada-kimg``) on the
training planes for its kimg (``arch:loss:kimg``, default ``--kimg``), writes
200 images per class and is scored by FID against the test planes in the
features of a resnet18 trained on the training planes
(:class:`~medgan_aug.metrics.ClassifierFeatures`, offline). The FID of the
validation planes against the test planes gives the scale. ``dcgan`` uses the
DCGAN defaults (with ``wgan-gp``: the WGAN-GP recipe), ``stylegan2`` the demo's
small StyleGAN2 (``auto`` with channel base 2048, at most 64 channels).

Usage::

    python benchmarks/baselines_bench.py [--runs dcgan:logistic dcgan:wgan-gp stylegan2:logistic:20]
        [--kimg 100] [--ada-kimg 100] [--out DIR] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from medgan_aug.data import ImageFolderDataset, VolumeSlicer
from medgan_aug.demo import make_phantom_volumes
from medgan_aug.generate import load_generator, synthesize
from medgan_aug.metrics import ClassifierFeatures, FIDScorer
from medgan_aug.selftrain import TrainSettings, create_classifier, load_real_splits, train_classifier
from medgan_aug.train import GANTrainer, read_stats, resolve_config

RESOLUTION = 32
PER_CLASS = 200


def planes(out: Path, device: str) -> tuple[Path, FIDScorer, float]:
    volumes = make_phantom_volumes(out / "volumes", 8, 48, seed=0)
    slicer = VolumeSlicer(["coronal", "sagittal"], (-10.0, 0.0, 10.0), size=RESOLUTION, noise_margin=6)
    folder = slicer.write(volumes, out / "planes", split=(0.5, 0.25, 0.25), seed=0, progress=False)
    real = load_real_splits(folder, RESOLUTION, seed=0)
    torch.manual_seed(0)
    model = create_classifier("resnet18", len(real.class_names), real.num_channels)
    settings = TrainSettings(epochs=4, batch_size=32, num_workers=0, seed=0, device=device)
    train_classifier(model, real.train, settings, val=real.val, progress=False)
    scorer = FIDScorer(("fid",), extractor=ClassifierFeatures(model, real.num_channels, RESOLUTION), device=device)
    return folder, scorer, scorer.score(folder / "val", folder / "test")["fid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["dcgan:logistic", "dcgan:wgan-gp", "stylegan2:logistic:20"])
    parser.add_argument("--kimg", type=float, default=100.0, help="training length of runs that give none")
    parser.add_argument("--ada-kimg", type=float, default=100.0, help="ADA speed")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        folder, scorer, reference = planes(out, args.device)
        dataset = ImageFolderDataset(folder / "train", RESOLUTION, labels="auto")
        print(f"{len(dataset)} training planes, {dataset.c_dim} classes; FID real val vs test: {reference:.2f}\n")
        print("| architecture | loss | kimg | training s | ADA p | FID |")
        print("|---|---|---:|---:|---:|---:|")
        for run in args.runs:
            arch, loss, *length = run.split(":")
            kimg = float(length[0]) if length else args.kimg
            small = {"channel_base": 2048, "channel_max": 64} if arch == "stylegan2" else {}
            config = resolve_config(
                resolution=RESOLUTION, img_channels=1, c_dim=dataset.c_dim, arch=arch, loss=loss, kimg=kimg, **small
            )
            if arch == "stylegan2":
                config.G_kwargs.update(z_dim=64, w_dim=64)
            outdir = out / f"{arch}-{loss}"
            trainer = GANTrainer(
                config,
                dataset,
                outdir,
                ada_kimg=args.ada_kimg,
                seed=0,
                device=args.device,
                kimg_per_tick=kimg / 8,
                snapshot_ticks=10**9,
                num_workers=0,
                progress=False,
            )
            start = time.perf_counter()
            checkpoint = trainer.train()
            seconds = time.perf_counter() - start
            G = load_generator(checkpoint, device=args.device)
            classes = list(range(dataset.c_dim))
            synthetic = synthesize(
                G,
                PER_CLASS * len(classes),
                outdir / "synthetic",
                classes=classes,
                checkpoint=checkpoint,
                device=args.device,
                progress=False,
            )
            fid = scorer.score(folder / "test", synthetic)["fid"]
            p = read_stats(outdir / "stats.jsonl")[-1]["p"]
            print(f"| {arch} | {loss} | {kimg:g} | {seconds:.0f} | {p:.2f} | {fid:.1f} |", flush=True)


if __name__ == "__main__":
    main()
