"""Your own GAN training loop with medgan-aug's networks and ADA, without GANTrainer.

``StyleGenerator`` and ``StyleDiscriminator`` are ordinary ``nn.Module``s. ``AdaptiveAugment`` is a
differentiable module applied to every image the discriminator sees, real and generated alike, and
``AdaController`` tunes its probability ``p`` from the discriminator's outputs on real images so that the
overfitting heuristic ``r_t`` stays at its target. Everything else is the loop you would write anyway:

- the non-saturating logistic loss of StyleGAN2;
- an R1 penalty on real images every ``--r1-interval`` steps (lazy regularisation, scaled by the interval);
- an exponential moving average of the generator's weights (``G_ema``), the network to sample from.

Usage::

    python examples/own_training_loop.py --data images/ --resolution 64 --kimg 200 --out runs/own
    # toy images and toy networks, a few steps on the CPU
    python examples/own_training_loop.py --smoke --out /tmp/own-smoke

Writes ``fakes.png`` (a grid from ``G_ema``), ``stats.jsonl`` (losses, ``p`` and ``r_t`` per log interval)
and ``G_ema.pt`` (``StyleGenerator.from_checkpoint`` reads it) into --out.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from medgan_aug.augment import AdaController, AdaptiveAugment
from medgan_aug.data import ImageFolderDataset
from medgan_aug.nets import StyleDiscriminator, StyleGenerator
from medgan_aug.runtime import retain_freed_memory
from medgan_aug.train import save_image_grid


def write_smoke_images(root: Path, n: int = 32, size: int = 16, seed: int = 0) -> Path:
    """Toy grayscale images: a bright disc at a random place on a dark background."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, size=2)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < (size / 5) ** 2).astype(float)
        pixels = np.clip(0.2 + 0.6 * disc + 0.05 * rng.standard_normal((size, size)), 0, 1)
        Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(root / f"{i:03d}.png")
    return root


def r1_penalty(D: StyleDiscriminator, augment: AdaptiveAugment, real: torch.Tensor, c: torch.Tensor | None):
    """Squared norm of D's gradient at (augmented) real images, per image; differentiable for the D step."""
    real = real.detach().requires_grad_(True)
    logits = D(augment(real), c)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return logits, grad.square().sum(dim=(1, 2, 3))


def train(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    data = write_smoke_images(out / "smoke-data") if args.smoke else Path(args.data)
    dataset = ImageFolderDataset(data, args.resolution, labels=None)
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True)
    if len(loader) == 0:
        raise ValueError(f"--data {data} holds {len(dataset)} images, fewer than one batch of {args.batch}")

    widths = {"channel_base": args.channel_base, "channel_max": args.channel_max}
    G = StyleGenerator(
        z_dim=args.z_dim,
        c_dim=0,
        w_dim=args.z_dim,
        img_resolution=args.resolution,
        img_channels=dataset.num_channels,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs=widths,
    )
    D = StyleDiscriminator(c_dim=0, img_resolution=args.resolution, img_channels=dataset.num_channels, **widths)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    augment = AdaptiveAugment("bgc")  # blit, geometric and colour transforms, as StyleGAN2-ADA's default
    ada = AdaController(augment, target=0.6, interval=4, speed_kimg=args.ada_kimg)
    # Adam as in StyleGAN2, with the betas and learning rate corrected for lazy R1 (mb_ratio).
    mb_ratio = args.r1_interval / (args.r1_interval + 1)
    opt_G = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=args.lr * mb_ratio, betas=(0.0, 0.99**mb_ratio))
    gamma = args.gamma

    stats_path = out / "stats.jsonl"
    stats_path.write_text("")
    images_seen, step, last_r1 = 0, 0, float("nan")
    total = int(args.kimg * 1000)
    batches = iter(())
    while images_seen < total:
        real = next(batches, None)
        if real is None:
            batches = iter(loader)
            real = next(batches)
        real = real[0] if isinstance(real, (tuple, list)) else real
        z = torch.randn(args.batch, args.z_dim)

        # Generator step: make D call the augmented fakes real.
        G.requires_grad_(True)
        D.requires_grad_(False)
        loss_G = F.softplus(-D(augment(G(z, None)), None)).mean()
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()

        # Discriminator step: fakes down, reals up, plus R1 on reals every r1_interval steps.
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G(z, None)
        fake_logits = D(augment(fake), None)
        if step % args.r1_interval == 0:
            real_logits, penalty = r1_penalty(D, augment, real, None)
            r1 = penalty.mean() * (gamma / 2) * args.r1_interval
            last_r1 = penalty.mean().item()
        else:
            real_logits, r1 = D(augment(real), None), torch.zeros(())
        loss_D = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean() + r1
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        ada.observe(real_logits)

        # EMA with a half-life of ema_kimg thousand images.
        beta = 0.5 ** (args.batch / (args.ema_kimg * 1000))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
                b_ema.copy_(b)

        images_seen += args.batch
        step += 1
        if step % args.log_every == 0 or images_seen >= total:
            row = {
                "kimg": images_seen / 1000,
                "loss_G": loss_G.item(),
                "loss_D": loss_D.item(),
                "r1_penalty": last_r1,
                "p": ada.p,
                "r_t": ada.r_t,
            }
            with open(stats_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)

    with torch.no_grad():
        samples = G_ema(torch.randn(16, args.z_dim, generator=torch.Generator().manual_seed(0)), None)
    save_image_grid(samples, out / "fakes.png", columns=4)
    G_ema.save(out / "G_ema.pt")
    return {"kimg": images_seen / 1000, "steps": step, "p": ada.p}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a folder of images (searched recursively)")
    source.add_argument("--smoke", action="store_true", help="toy images and toy networks, a few steps")
    parser.add_argument("--out", required=True)
    parser.add_argument("--resolution", type=int, default=64, help="a power of two")
    parser.add_argument("--kimg", type=float, default=100, help="thousands of real images to show D")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--z-dim", type=int, default=256)
    parser.add_argument("--channel-base", type=int, default=8192)
    parser.add_argument("--channel-max", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.0025)
    parser.add_argument("--gamma", type=float, default=1.0, help="R1 weight")
    parser.add_argument("--r1-interval", type=int, default=16)
    parser.add_argument("--ema-kimg", type=float, default=10.0)
    parser.add_argument("--ada-kimg", type=float, default=100.0, help="thousands of images for p to go 0 -> 1")
    parser.add_argument("--log-every", type=int, default=50, help="steps between stats rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.resolution, args.kimg, args.batch, args.z_dim = 16, 0.064, 8, 32
        args.channel_base, args.channel_max, args.ada_kimg, args.log_every, args.r1_interval = 128, 16, 0.1, 2, 2
    # Freed activations are reused from step to step instead of being mapped afresh (see medgan_aug.runtime).
    retain_freed_memory()
    print(json.dumps(train(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
