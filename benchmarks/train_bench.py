"""Training throughput (real images per second) of GANTrainer with the ``auto`` configuration.

For each resolution: grayscale images, the ``auto`` preset's networks and
batch, ADA on (``bgc``, p = 0.2 so that the augmentation runs), lazy R1 and
path-length regularisation, EMA; in-memory data so that decoding is not
measured. The rate is that of the last tick, which spans every minibatch
after the first (no checkpoints or sample grids inside it).

Usage::

    python benchmarks/train_bench.py [--resolutions 32 64 128] [--steps 6] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from medgan_aug.train import GANTrainer, read_stats, resolve_config


class RandomImages(torch.utils.data.Dataset):
    def __init__(self, resolution: int, count: int = 256) -> None:
        self.images = torch.rand(count, 1, resolution, resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], torch.zeros(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--steps", type=int, default=6, help="minibatches per resolution (the first is excluded)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    rows = []
    for resolution in args.resolutions:
        config = resolve_config("auto", resolution=resolution, img_channels=1)
        with tempfile.TemporaryDirectory() as outdir:
            trainer = GANTrainer(
                config,
                RandomImages(resolution),
                outdir,
                p=0.2,
                device=args.device,
                kimg_per_tick=1e6,
                snapshot_ticks=10**6,
                image_snapshot_ticks=10**6,
                num_workers=0,
                progress=False,
            )
            trainer.train(kimg=args.steps * config.batch / 1000)
            rate = read_stats(f"{outdir}/stats.jsonl")[-1]["img_per_sec"]
        rows.append((resolution, config.batch, rate))
        print(f"{resolution:>4} px  batch {config.batch:>3}  {rate:8.2f} img/s", flush=True)
    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("| resolution | batch (auto) | training img/s |")
    print("|---|---|---:|")
    for resolution, batch, rate in rows:
        print(f"| {resolution} | {batch} | {rate:.2f} |")


if __name__ == "__main__":
    main()
