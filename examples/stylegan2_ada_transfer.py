"""Turn a published RGB StyleGAN2-ADA snapshot into grayscale networks to fine-tune on medical images.

Reads the snapshot without executing it, converts the generator and
discriminator to one image channel, saves them as medgan-aug checkpoints and
writes a grid of samples (truncation 0.7, constant noise) so you can see what
the fine-tuning starts from.

Usage::

    python examples/stylegan2_ada_transfer.py ffhq-res256.pkl --out transfer/ [--channels 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from torchvision.utils import save_image

import medgan_aug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snapshot", type=Path, help="StyleGAN2-ADA .pkl (e.g. network-snapshot-*.pkl)")
    parser.add_argument("--out", type=Path, default=Path("transfer"))
    parser.add_argument("--channels", type=int, default=1, help="image channels of the converted networks")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        snap = medgan_aug.load_stylegan2_ada(args.snapshot, img_channels=args.channels)
    for warning in caught:
        print(f"note: {warning.message}")
    G, D = snap["G_ema"], snap["D"]
    print(f"G: {G.img_resolution} px, {G.img_channels} channel(s), {G.c_dim} classes, {G.num_ws} ws")

    args.out.mkdir(parents=True, exist_ok=True)
    G.save(args.out / "G_ema.pt", metadata={"source": str(args.snapshot)})
    D.save(args.out / "D.pt", metadata={"source": str(args.snapshot)})

    generator = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.samples, G.z_dim, generator=generator)
    c = None
    if G.c_dim > 0:
        c = torch.nn.functional.one_hot(torch.arange(args.samples) % G.c_dim, G.c_dim).float()
    with torch.no_grad():
        images = G(z, c, truncation_psi=0.7, noise_mode="const")
        logits = D(images, c)
    save_image(images.clamp(-1, 1) * 0.5 + 0.5, args.out / "samples.png", nrow=4)
    print(f"wrote {args.out / 'samples.png'}; D logits mean {logits.mean().item():+.3f}")


if __name__ == "__main__":
    main()
