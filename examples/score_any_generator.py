"""A generator and a classifier that are not medgan-aug's, through synthesize, FIDScorer and SelfTrainer.

medgan-aug's writer, scorer and self-training take any generator with ``z_dim``, ``c_dim``, ``img_resolution``,
``img_channels`` and ``G(z, c)`` returning ``[N, img_channels, R, R]`` images in [-1, 1]
(``medgan_aug.nets.GeneratorLike``), and any classifier through ``SelfTrainer(model_factory=...)``. Here both are
small modules written in this file, standing in for your own (a generator from another library, a wrapped
diffusion sampler, your own classifier):

1. Load the real images, split into train / val / test class folders.
2. Build the class-conditional generator and load its weights (``--generator-weights``, a ``state_dict``).
3. Write ``--n`` images per class with ``synthesize`` (seeds recorded, manifest, all or nothing).
4. Score them against the real training images with ``FIDScorer`` (FID, KID, precision/recall).
5. Train your classifier on real images alone and on real + synthetic (the generator's labels), with repeats,
   and print the verdict with its interval.

Usage::

    python examples/score_any_generator.py --data splits/ --generator-weights my_generator.pt \\
        --inception-weights pt_inception-2015-12-05.pth --out runs/any
    # toy data, an untrained generator and a random-convolution feature extractor: checks the plumbing only
    python examples/score_any_generator.py --smoke --out /tmp/any-smoke

Writes ``synthetic/``, ``scores.json`` and ``selftrain/`` (``report.md``, ``report.json``, ``classifier.pt``) into
--out.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from medgan_aug.generate import synthesize
from medgan_aug.metrics import FIDScorer
from medgan_aug.selftrain import FolderPool, SelfTrainConfig, SelfTrainer, TrainSettings, load_real_splits


class ConditionalDecoder(nn.Module):
    """Your generator: latent and one-hot label -> image in [-1, 1], through a small transposed-conv decoder."""

    def __init__(self, z_dim: int, c_dim: int, resolution: int, channels: int) -> None:
        super().__init__()
        if resolution % 4:
            raise ValueError(f"resolution must be a multiple of 4, got {resolution}")
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, c_dim, resolution, channels
        self.start = resolution // 4
        self.fc = nn.Linear(z_dim + c_dim, 32 * self.start * self.start)
        self.decode = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(16, channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = self.fc(z if c is None else torch.cat([z, c], dim=1))
        return self.decode(x.view(-1, 32, self.start, self.start))


class SmallCNN(nn.Module):
    """Your classifier: ``[B, C, H, W]`` images in [-1, 1] -> ``[B, num_classes]`` logits."""

    def __init__(self, num_classes: int, num_channels: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(num_channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def write_smoke_splits(root: Path, size: int = 16, seed: int = 0) -> Path:
    """Toy train / val / test folders: dark "benign" and bright "malignant" noise images."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", 16), ("val", 8), ("test", 8)):
        for name, level in (("benign", 0.3), ("malignant", 0.7)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(level + 0.1 * rng.standard_normal((size, size)), 0, 1)
                Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


def random_features(channels: int = 3, seed: int = 0) -> nn.Module:
    """A fixed random convolution as feature extractor: enough to run the scorer, not a meaningful FID."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 16, 3, stride=2), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = write_smoke_splits(out / "smoke-data") if args.smoke else Path(args.data)
    real = load_real_splits(data, args.resolution)
    names = list(real.class_names)

    G = ConditionalDecoder(args.z_dim, len(names), args.resolution, real.num_channels)
    if args.generator_weights:
        G.load_state_dict(torch.load(args.generator_weights, map_location="cpu", weights_only=True))
    G.eval()
    synthetic = synthesize(
        G, args.n * len(names), out / "synthetic", classes=range(len(names)), overwrite=True, progress=not args.smoke
    )
    print(f"wrote {args.n} images per class to {synthetic}")

    if args.smoke:
        scorer = FIDScorer(("fid", "kid", "prc"), extractor=random_features(), kid_subset_size=8)
        warnings.filterwarnings("ignore", "FID from", UserWarning)  # the toy sets are small on purpose
    else:
        scorer = FIDScorer(("fid", "kid", "prc"), weights=args.inception_weights)
    scores = scorer.score(data / "train", synthetic)
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    # FID has no absolute scale: read it against two halves of the real set at the same size.
    print(
        f"FID {scores['fid']:.2f} (95% CI {scores['fid_ci_low']:.2f}-{scores['fid_ci_high']:.2f}); at "
        f"{scores['fid_floor_images']:.0f} images per side {scores['fid_matched']:.2f} against the real-vs-real "
        f"floor {scores['fid_real_floor']:.2f}"
    )

    config = SelfTrainConfig(
        mode="mix",
        mix_ratios=(1.0,),
        positive_class=args.positive_class or (names[-1] if len(names) == 2 else None),
        repeats=args.repeats,
        train=TrainSettings(epochs=args.epochs, batch_size=16, lr=1e-2, num_workers=0, seed=0),
        bootstrap=200 if args.smoke else 2000,
    )
    trainer = SelfTrainer(config, model_factory=SmallCNN)
    # synthesize wrote class0, class1, ...: the K-th folder is the K-th real class.
    pool = FolderPool(synthetic, args.resolution, num_channels=real.num_channels, class_names=names)
    result = trainer.run(real, pool, out_dir=out / "selftrain", progress=not args.smoke)
    print(result.verdict())
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="train / val / test folders, one subfolder per class in each")
    source.add_argument("--smoke", action="store_true", help="toy data and toy-scale settings (checks the plumbing)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--generator-weights", help="state_dict of ConditionalDecoder (default: untrained)")
    parser.add_argument("--inception-weights", help="local Inception weights for FID (see FIDScorer)")
    parser.add_argument("--resolution", type=int, default=64, help="image side, a multiple of 4")
    parser.add_argument("--z-dim", type=int, default=64)
    parser.add_argument("--n", type=int, default=500, help="synthetic images per class")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="classifiers per stage, with different seeds")
    parser.add_argument("--positive-class", help="the disease class of a binary task")
    args = parser.parse_args(argv)
    if args.smoke:
        args.resolution, args.n, args.epochs, args.repeats = 16, 16, 2, 2
    elif args.generator_weights is None:
        parser.error("--generator-weights is required with --data: an untrained generator makes noise")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
