"""Training throughput (real images per second) of GANTrainer per architecture, resolution and mask count.

For each resolution: grayscale images, ADA on (``bgc``, p = 0.2 so that the
augmentation runs); ``stylegan2`` uses the ``auto`` preset's networks and
batch with lazy R1, path-length regularisation and EMA, ``dcgan`` the DCGAN
defaults (4 x 4 base, DCGAN widths, batch 64, no regularisation); with masks,
each image carries that many binary mask channels (image + mask pairs). Data
is in memory so that decoding is not measured. The rate is that of the last
tick, which spans every minibatch after the first (no checkpoints or sample
grids inside it).

Usage::

    python benchmarks/train_bench.py [--archs stylegan2 dcgan] [--resolutions 32 64 128] [--masks 0 1]
        [--steps 6] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from medgan_aug.train import GANTrainer, read_stats, resolve_config


class RandomImages(torch.utils.data.Dataset):
    def __init__(self, resolution: int, mask_channels: int = 0, count: int = 256) -> None:
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(count, 1, resolution, resolution, generator=generator) * 2 - 1
        masks = torch.rand(count, mask_channels, resolution, resolution, generator=generator) < 0.05
        self.images = torch.cat([images, masks.float() * 2 - 1], dim=1)
        self.mask_channels = mask_channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], torch.zeros(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["stylegan2"], choices=["stylegan2", "dcgan"])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--masks", type=int, nargs="+", default=[0], help="mask channels per image")
    parser.add_argument("--steps", type=int, default=6, help="minibatches per resolution (the first is excluded)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    rows = []
    for arch in args.archs:
        for resolution in args.resolutions:
            for masks in args.masks:
                config = resolve_config(resolution=resolution, img_channels=1, mask_channels=masks, arch=arch)
                with tempfile.TemporaryDirectory() as outdir:
                    trainer = GANTrainer(
                        config,
                        RandomImages(resolution, masks),
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
                rows.append((arch, resolution, masks, config.batch, rate))
                print(
                    f"{arch:>9} {resolution:>4} px  masks {masks}  batch {config.batch:>3}  {rate:8.2f} img/s",
                    flush=True,
                )
    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("| architecture | resolution | mask channels | batch | training img/s |")
    print("|---|---|---|---|---:|")
    for arch, resolution, masks, batch, rate in rows:
        print(f"| {arch} | {resolution} | {masks} | {batch} | {rate:.2f} |")


if __name__ == "__main__":
    main()
