"""GAN-generated image + mask pairs for electron-microscopy (EM) mitochondria segmentation, with and without them.

The next step the EM mitochondria study named, end to end:

1. Tiles: 3-D EM-like phantom stacks (cytoplasm with vesicles and elongated, membrane-bounded mitochondria with
   cristae, about 5 % of the volume) and their label volumes are written as NRRD and sliced section by section into
   square tiles with masks, split by stack into train / val / test; or ``--data`` gives real tiles in that layout.
2. A paired GAN (StyleGAN2 or DCGAN, with ADA) learns the training tiles and their masks together, as one image with
   a mask channel; ADA moves the masks with the image and recolours only the image.
3. Synthetic pairs are generated, and their foreground fraction is compared with the real tiles'.
4. A small U-Net is trained twice from the same seed, on the real training tiles and on real + synthetic pairs,
   and both are scored on the real test tiles: per-tile Jaccard (IoU), Dice and VOC with an explicit rule for
   tiles where mask and prediction are both empty, and Jaccard and Dice pooled over all test pixels.

Writes into ``--out``: ``volumes/`` (phantom only: ``cellNNN.nrrd`` and labels ``cellNNN_seg.nrrd``),
``tiles/`` (``<split>/images/<view>/`` beside ``<split>/masks/<view>/`` and ``manifest.csv``), ``gan/`` (the
training run: ``reals.png`` and ``fakes-*.png`` show each image beside its mask), ``synthetic/`` (``images/``,
``masks/``, ``manifest.csv``) and ``report.md`` / ``report.json``.

Usage::

    python examples/segmentation_pairs.py --out runs/em --kimg 500                  # phantom, 256 px tiles
    python examples/segmentation_pairs.py --data em_tiles/ --out runs/em-real       # real tiles, paired layout
    python examples/segmentation_pairs.py --smoke --out /tmp/em-smoke               # toy scale, under a minute on CPU

``--data`` holds ``train/``, ``test/`` and optionally ``val/``, each with ``images/`` and ``masks/`` mirroring each
other (binary PNG masks with the same relative path and stem), e.g. what ``medgan-aug slice ... --mask-suffix _seg
--write-masks --split 0.8,0.1,0.1`` writes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial.transform import Rotation
from torch import nn
from torch.nn import functional as F

from medgan_aug.data import (
    PairedImageFolderDataset,
    Volume,
    VolumeSlicer,
    load_generator,
    split_masks,
    synthesize,
    write_nrrd,
)
from medgan_aug.metrics.segmentation import EMPTY_POLICIES, SegmentationScores, binarize, segmentation_scores
from medgan_aug.train import GANTrainer, resolve_config

SPLITS = ("train", "val", "test")
RUNS = ("real", "real+synthetic")
THRESHOLD = 0.5
# Voxel size (mm) of 256 px phantom tiles: 5 nm, as in FIB-SEM stacks of neural tissue. Smaller tiles cover the
# same field with coarser voxels, so that a tile always shows a few mitochondria.
EM_SPACING_256 = 5e-6

# Overrides for --smoke: every step runs for real, small enough for a test suite on two CPU cores.
SMOKE = {
    "size": 64,
    "volumes": 4,
    "sections": 6,
    "kimg": 0.06,
    "batch": 8,
    "cbase": 256,
    "cmax": 16,
    "map": 1,
    "epochs": 4,
    "seg_batch": 8,
    "width": 8,
    "workers": 0,
}


# ----------------------------------------------------------------------------------------------------------------
# 1. Tiles.


def _random_mitochondrion(rng: np.random.Generator, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes (voxels) and rotation of one mitochondrion: a rod a few times longer than wide."""
    width = rng.uniform(0.05, 0.08) * tile
    radii = np.array([rng.uniform(2.0, 4.0) * width, width, width * rng.uniform(0.8, 1.2)])
    return radii, Rotation.random(random_state=rng).as_matrix()


def em_phantom(
    shape: tuple[int, int, int], tile: int, rng: np.random.Generator, fraction: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """One EM-like stack ``[X, Y, Z]`` in [0, 1] (float32) and its mitochondria labels (float32, 1 inside).

    Cytoplasm is mid-grey with fine granular texture and slow shading; small vesicles with dark rims are
    distractors; mitochondria (ellipsoidal rods of random orientation, not overlapping) have a dark double
    membrane around a darker matrix crossed by cristae. Mitochondria are added until they fill ``fraction``.
    """
    image = 0.62 + 0.05 * _normalised(ndimage.gaussian_filter(rng.standard_normal(shape), tile / 6))
    image += 0.04 * _normalised(ndimage.gaussian_filter(rng.standard_normal(shape), 1.0))
    labels = np.zeros(shape, dtype=np.float32)

    def local(radius: float, centre: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
        # Only the voxels of the bounding box are evaluated: a full grid per object would dominate the run time.
        box = tuple(
            slice(max(int(c - radius), 0), min(int(c + radius) + 2, n)) for c, n in zip(centre, shape, strict=True)
        )
        grid = np.stack(np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij"), axis=-1)
        return box, grid - centre

    membrane = max(tile / 128, 1.0)
    # Vesicles first, so that mitochondria painted later cover any they overlap; about 1 % of the volume.
    vesicle_volume = 0.0
    while vesicle_volume < 0.01 * labels.size:
        radius = rng.uniform(0.015, 0.03) * tile + 1.0
        box, offset = local(radius, rng.uniform(0, shape))
        distance = np.linalg.norm(offset, axis=-1)
        image[box][distance < radius] = 0.7
        image[box][np.abs(distance - radius + membrane) < membrane] = 0.3
        vesicle_volume += 4 / 3 * math.pi * radius**3

    filled, tries = 0, 0
    while filled < fraction * labels.size:
        tries += 1
        if tries > 10_000:
            raise ValueError(f"could not fill {fraction:.0%} of a {shape} stack with mitochondria; make it larger")
        radii, rotation = _random_mitochondrion(rng, tile)
        box, offset = local(radii[0] + 1, rng.uniform(0, shape))
        u = offset @ rotation  # coordinates along the rod's own axes
        q = np.sqrt(((u / radii) ** 2).sum(axis=-1))
        inside = q < 1.0
        if labels[box][inside].any():
            continue  # mitochondria do not overlap
        # Depth below the surface, exact on the short axes, where the membrane is seen in cross-section.
        depth = (1.0 - q) * radii[1:].min()
        phase = rng.uniform(0, 2 * math.pi)
        cristae = np.cos(2 * math.pi * u[..., 0] / (3.0 * membrane + 2.0) + phase) > 0.5
        matrix = 0.42 + 0.03 * rng.standard_normal(inside.shape)
        matrix[cristae & (depth > 2.5 * membrane)] = 0.3
        # Two dark leaflets with a thin lighter gap: the outer and inner membranes.
        matrix[depth < 2.0 * membrane] = 0.22
        matrix[(depth > 0.8 * membrane) & (depth < 1.2 * membrane)] = 0.32
        image[box][inside] = matrix[inside]
        labels[box][inside] = 1
        filled += int(inside.sum())
    # The microscope's blur and detector noise.
    image = ndimage.gaussian_filter(image, 0.6) + 0.03 * rng.standard_normal(shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32), labels


def _normalised(field: np.ndarray) -> np.ndarray:
    return field / max(float(np.abs(field).max()), 1e-12)


def write_phantom(folder: Path, n: int, size: int, sections: int, seed: int) -> tuple[list[Path], list[Path]]:
    """``n`` phantom stacks of ``2 size x 2 size x sections`` voxels and their labels, as NRRD files."""
    folder.mkdir(parents=True, exist_ok=True)
    spacing = (EM_SPACING_256 * 256 / size,) * 3
    images, labels = [], []
    for index, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
        image, label = em_phantom((2 * size, 2 * size, sections), size, np.random.default_rng(child))
        name = f"cell{index:03d}"
        images.append(write_nrrd(Volume.from_array(image, spacing=spacing), folder / f"{name}.nrrd"))
        labels.append(write_nrrd(Volume.from_array(label, spacing=spacing), folder / f"{name}_seg.nrrd"))
    return images, labels


def slice_tiles(images: list[Path], labels: list[Path], out: Path, size: int, seed: int, progress: bool) -> Path:
    """Cut every section of every stack into ``size`` px tiles with masks, split by stack."""
    shape = (2 * size, 2 * size)
    # A plane of the stack's own size samples the sections' voxels as they are: no resampling to interpolate.
    # Electron-microscopy stacks have no patient frame: the sections are index axis 2, said so explicitly.
    slicer = VolumeSlicer(
        ["axial"], size=shape, tile=size, interpolation="nearest", label_format="{view}", orientation="index"
    )
    # By stack: neighbouring sections of one cell are nearly identical and must not be in both train and test.
    # Val and test need a stack each: a quarter each of a few stacks, an eighth each from eight on.
    split = (0.5, 0.25, 0.25) if len(images) < 8 else (0.75, 0.125, 0.125)
    return slicer.write(
        images, out, masks=labels, write_masks=True, split=split, seed=seed, overwrite=True, progress=progress
    )


def check_paired_folder(data: Path) -> dict[str, Path]:
    """The splits of a paired tile folder (``val`` optional), each checked for ``images/`` and ``masks/``."""
    if not data.is_dir():
        raise FileNotFoundError(f"--data folder {data} does not exist or is not a directory")
    splits = {}
    for split in SPLITS:
        folder = data / split
        if split == "val" and not folder.exists():
            continue
        if not folder.is_dir():
            raise FileNotFoundError(
                f"--data folder {data} has no {split}/ folder (expected train/, test/ and optional val/)"
            )
        for part in ("images", "masks"):
            if not (folder / part).is_dir():
                raise FileNotFoundError(f"--data folder {data}: {folder / part} does not exist")
        splits[split] = folder
    return splits


@dataclass
class Pairs:
    """Images ``[N, C, R, R]`` in [-1, 1] and bool masks ``[N, 1, R, R]`` of one folder, in memory."""

    images: torch.Tensor
    masks: torch.Tensor

    def __len__(self) -> int:
        """Number of pairs."""
        return len(self.images)

    def foreground(self) -> dict[str, float | int]:
        """Mean foreground fraction per tile and the share of tiles without foreground."""
        per_tile = self.masks.flatten(1).double().mean(dim=1)
        return {
            "tiles": len(self),
            "mean_foreground": round(float(per_tile.mean()), 4),
            "empty_tiles": round(float((per_tile == 0).double().mean()), 4),
        }


def load_pairs(images: Path, masks: Path, resolution: int) -> Pairs:
    """Every image + mask pair under ``images`` / ``masks`` (the paired layout), at ``resolution``."""
    dataset = PairedImageFolderDataset(images, masks, resolution, labels=None)
    batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    image, mask = split_masks(batch, dataset.mask_channels)
    return Pairs(image.contiguous(), mask.contiguous())


# ----------------------------------------------------------------------------------------------------------------
# 2. and 3. Paired GAN and synthetic pairs.


def train_gan(train: Path, run_dir: Path, args: argparse.Namespace) -> Path:
    """Train a generator of image + mask pairs with ADA on the training tiles; returns the last checkpoint."""
    dataset = PairedImageFolderDataset(train / "images", train / "masks", args.size, labels=None)
    # The default networks are sized for GPUs; --cbase/--cmax/--map give ones a CPU trains (--cbase and --map are
    # StyleGAN2 settings: a DCGAN's widths are capped by --cmax alone).
    style = {"channel_base": args.cbase, "mapping_layers": args.map} if args.arch == "stylegan2" else {}
    config = resolve_config(
        resolution=args.size, img_channels=dataset.num_channels, mask_channels=dataset.mask_channels,
        arch=args.arch, batch=args.batch, kimg=args.kimg, channel_max=args.cmax, **style,
    )  # fmt: skip
    trainer = GANTrainer(
        config,
        dataset,
        run_dir,
        augment="ada",  # a few hundred tiles: without ADA the discriminator memorises them within a few kimg
        augpipe="bgc",
        seed=args.seed,
        device=args.device,
        kimg_per_tick=min(args.kimg / 2, 4.0),
        num_workers=args.workers,
        progress=not args.smoke,
    )
    return trainer.train()


# ----------------------------------------------------------------------------------------------------------------
# 4. Segmenter.


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    """A two-level U-Net: encoder blocks of ``width`` and ``2 width`` channels, a ``4 width`` bottleneck, skip
    connections, and one output logit per pixel (mitochondrion or not)."""

    def __init__(self, in_channels: int, width: int = 16) -> None:
        super().__init__()
        self.enc1, self.enc2 = _block(in_channels, width), _block(width, 2 * width)
        self.bottom = _block(2 * width, 4 * width)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2), _block(4 * width, 2 * width)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2), _block(2 * width, width)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, 1, H, W]`` of images ``[N, C, H, W]`` (H and W divisible by 4)."""
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        return self.head(self.dec1(torch.cat([self.up1(d2), e1], dim=1)))


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss over the batch.

    Cross-entropy alone, at 5 % foreground, is lowest for a network that predicts background nearly everywhere;
    the Dice term weighs the few mitochondria pixels as much as the many background ones.
    """
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    soft_dice = (2 * (prob * target).sum() + 1.0) / (prob.sum() + target.sum() + 1.0)
    return bce + 1.0 - soft_dice


def _augment(images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """The same random flip and quarter turn for a batch's images and masks (EM sections have no orientation)."""
    turns, flip = torch.randint(0, 4, (2,), generator=generator).tolist()
    images, masks = torch.rot90(images, turns, (2, 3)), torch.rot90(masks, turns, (2, 3))
    if flip % 2:
        images, masks = images.flip(3), masks.flip(3)
    return images, masks


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 32) -> torch.Tensor:
    """Foreground probabilities ``[N, 1, H, W]`` on the CPU."""
    model.eval()
    chunks = [images[i : i + batch] for i in range(0, len(images), batch)]
    return torch.cat([torch.sigmoid(model(chunk.to(device))).cpu() for chunk in chunks])


def _minibatches(n: int, batch: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless minibatches of indices into ``n`` items: one random permutation after another."""
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order.split(batch)


def train_segmenter(
    train: Pairs, val: Pairs | None, steps_per_epoch: int, args: argparse.Namespace, device: torch.device
) -> tuple[nn.Module, dict[str, object]]:
    """Train a :class:`SmallUNet` from ``args.seed`` for ``args.epochs`` epochs of ``steps_per_epoch`` minibatches.

    The epoch with the best pooled validation Dice is kept (the last one without validation tiles).
    """
    torch.manual_seed(args.seed)
    model = SmallUNet(train.images.shape[1], args.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(args.seed)
    batches = _minibatches(len(train), args.seg_batch, generator)
    best, best_dice, history = None, -1.0, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for _ in range(steps_per_epoch):
            index = next(batches)
            images, masks = _augment(train.images[index], train.masks[index].float(), generator)
            loss = bce_dice_loss(model(images.to(device)), masks.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        row = {"epoch": epoch, "loss": round(total / steps_per_epoch, 4)}
        if val is not None:
            scores = segmentation_scores(binarize(predict(model, val.images, device), THRESHOLD), val.masks)
            row["val_micro_dice"] = round(scores.micro_dice, 4)
            if scores.micro_dice > best_dice:
                best_dice = scores.micro_dice
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
                row["kept"] = True
        history.append(row)
    if best is not None:
        model.load_state_dict(best)
    chosen = max((r for r in history if r.get("kept")), key=lambda r: r["epoch"], default=history[-1])
    return model, {"steps": args.epochs * steps_per_epoch, "selected_epoch": chosen["epoch"], "history": history}


# ----------------------------------------------------------------------------------------------------------------
# 5. Report.


def scores_row(name: str, n_train: int, scores: SegmentationScores) -> str:
    """One Markdown table row of a run's test scores."""
    values = (scores.mean_jaccard, scores.mean_dice, scores.mean_voc, scores.micro_jaccard, scores.micro_dice)
    cells = " | ".join("n/a" if math.isnan(v) else f"{v:.3f}" for v in values)
    return f"| {name} | {n_train} | {cells} | {scores.n_items} ({scores.n_empty} empty) |"


def write_report(out: Path, report: dict, scores: dict[str, SegmentationScores]) -> None:
    """``report.json`` and ``report.md``."""
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    seg = report["segmentation"]
    lines = [
        "# GAN image + mask pairs for mitochondria segmentation",
        "",
        f"Data: {report['data']['source']}, {report['data']['size']} px tiles. "
        f"Paired GAN: {report['gan']['arch']}, {report['gan']['kimg']:g} kimg with ADA.",
        "",
        f"## Test scores (threshold {seg['threshold']}, per tile; empty policy `{seg['empty_policy']}`)",
        "",
        "| run | training pairs | Jaccard (IoU) | Dice | VOC | Jaccard pooled | Dice pooled | test tiles |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [scores_row(name, seg["runs"][name]["training_pairs"], scores[name]) for name in RUNS]
    lines += [
        "",
        "Jaccard, Dice and VOC (mean of foreground and background IoU) are means over test tiles; "
        f"`{seg['empty_policy']}` sets how a tile scores when mask and prediction are both empty "
        "(`one`: 1, `nan`: left out, VOC = background IoU; `skip`: left out of every mean). "
        "The pooled scores count all test pixels together.",
        "",
        "## Foreground (mitochondria) fraction",
        "",
        "| tiles | count | mean foreground | tiles without foreground |",
        "|---|---:|---:|---:|",
    ]
    for name, stats in report["foreground"].items():
        lines.append(f"| {name} | {stats['tiles']} | {stats['mean_foreground']:.2%} | {stats['empty_tiles']:.0%} |")
    lines += ["", "## Files", ""]
    lines += [f"- {key}: `{path}`" for key, path in report["paths"].items()]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    """Every step of the study (see the module description)."""
    out: Path = args.out
    progress = not args.smoke
    if args.data is not None:
        folders = check_paired_folder(args.data)
        source = str(args.data)
    else:
        print(f"writing {args.volumes} phantom EM stacks ...", flush=True)
        images, labels = write_phantom(out / "volumes", args.volumes, args.size, args.sections, args.seed)
        tiles = slice_tiles(images, labels, out / "tiles", args.size, args.seed, progress)
        folders = {split: tiles / split for split in SPLITS}
        source = "phantom EM stacks"
    real = {split: load_pairs(folder / "images", folder / "masks", args.size) for split, folder in folders.items()}
    print("real tiles: " + ", ".join(f"{split} {len(pairs)}" for split, pairs in real.items()), flush=True)

    print(f"training the paired {args.arch} generator ...", flush=True)
    checkpoint = train_gan(folders["train"], out / "gan", args)
    n_synthetic = max(round(args.synthetic_ratio * len(real["train"])), 1)
    synthetic_dir = synthesize(
        load_generator(checkpoint, device=args.device), n_synthetic, out / "synthetic", checkpoint=checkpoint,
        device=args.device, overwrite=True, progress=progress,
    )  # fmt: skip
    synthetic = load_pairs(synthetic_dir / "images", synthetic_dir / "masks", args.size)
    foreground = {f"real {split}": pairs.foreground() for split, pairs in real.items()}
    foreground["synthetic"] = synthetic.foreground()
    print(
        f"foreground: real train {foreground['real train']['mean_foreground']:.2%}, "
        f"synthetic {foreground['synthetic']['mean_foreground']:.2%} ({n_synthetic} pairs)",
        flush=True,
    )

    training = {
        "real": real["train"],
        "real+synthetic": Pairs(
            torch.cat([real["train"].images, synthetic.images]), torch.cat([real["train"].masks, synthetic.masks])
        ),
    }
    device = torch.device(args.device)
    test = real["test"]
    # Both runs take the same number of optimizer steps (--epochs passes over the real tiles), so that a gain of the
    # second comes from the synthetic pairs and not from a longer training.
    steps_per_epoch = math.ceil(len(real["train"]) / args.seg_batch)
    scores, runs = {}, {}
    for name in RUNS:
        print(f"training the segmenter on {name} pairs ...", flush=True)
        model, log = train_segmenter(training[name], real.get("val"), steps_per_epoch, args, device)
        prediction = binarize(predict(model, test.images, device), THRESHOLD)
        # Each test tile is one item; the policy decides tiles where neither mask nor prediction has mitochondria.
        scores[name] = segmentation_scores(prediction, test.masks, per="image", empty=args.empty)
        runs[name] = {"training_pairs": len(training[name]), **log, "test": scores[name].to_dict()}

    fakes = out / "gan" / checkpoint.name.replace("training-", "fakes-").replace(".pt", ".png")
    report = {
        "data": {"source": source, "size": args.size, "tiles": {split: len(p) for split, p in real.items()}},
        "gan": {"arch": args.arch, "kimg": args.kimg, "checkpoint": str(checkpoint)},
        "synthetic_pairs": n_synthetic,
        "foreground": foreground,
        "segmentation": {"threshold": THRESHOLD, "empty_policy": args.empty, "seed": args.seed, "runs": runs},
        "paths": {
            "tiles": str(folders["train"].parent),
            "gan run": str(out / "gan"),
            "real sample grid (image beside mask)": str(out / "gan" / "reals.png"),
            "generated sample grid (image beside mask)": str(fakes),
            "synthetic pairs": str(synthetic_dir),
        },
    }
    write_report(out, report, scores)

    print(f"test scores, per tile (empty policy {args.empty}), threshold {THRESHOLD}:")
    print(f"{'run':<16}" + "".join(f"{column:>10}" for column in ("Jaccard", "Dice", "VOC", "J pooled", "D pooled")))
    for name in RUNS:
        s = scores[name]
        values = (s.mean_jaccard, s.mean_dice, s.mean_voc, s.micro_jaccard, s.micro_dice)
        print(f"{name:<16}" + "".join(f"{value:10.3f}" for value in values))
    print(f"report: {out / 'report.md'}")


def main() -> int:
    """Parse the arguments, run the study and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="real tiles: train/, test/ (and val/), each with images/ and masks/")
    parser.add_argument("--out", type=Path, default=Path("runs/em-segmentation"), help="output folder")
    parser.add_argument("--smoke", action="store_true", help="toy phantom and toy-scale settings, for a quick check")
    parser.add_argument("--size", type=int, default=256, help="tile side, GAN and segmenter resolution (power of 2)")
    parser.add_argument("--volumes", type=int, default=8, help="phantom stacks (cells)")
    parser.add_argument("--sections", type=int, default=24, help="sections per phantom stack")
    parser.add_argument("--arch", choices=("stylegan2", "dcgan"), default="stylegan2", help="paired GAN")
    parser.add_argument("--kimg", type=float, default=500.0, help="GAN training length, thousands of images")
    parser.add_argument("--batch", type=int, default=16, help="GAN minibatch")
    parser.add_argument("--cbase", type=int, default=16384, help="StyleGAN2 channel base")
    parser.add_argument("--cmax", type=int, default=512, help="maximum channels of G and D")
    parser.add_argument("--map", type=int, default=8, help="StyleGAN2 mapping network depth")
    parser.add_argument("--synthetic-ratio", type=float, default=1.0, help="synthetic pairs per real training tile")
    parser.add_argument("--epochs", type=int, default=30, help="segmenter training epochs")
    parser.add_argument("--seg-batch", type=int, default=16, help="segmenter minibatch")
    parser.add_argument("--width", type=int, default=16, help="segmenter channels at full resolution")
    parser.add_argument("--empty", choices=EMPTY_POLICIES, default="skip", help="score of tiles with both masks empty")
    parser.add_argument("--workers", type=int, default=2, help="GAN data-loading processes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        if args.data is not None:
            parser.error("--smoke makes its own phantom tiles; drop --data")
        vars(args).update(SMOKE)
    if args.size < 4 or args.size & (args.size - 1):
        parser.error(f"--size must be a power of two >= 4, got {args.size}")
    if args.data is None and args.volumes < 3:
        parser.error(f"the phantom needs --volumes >= 3 (a stack each for train, val, test), got {args.volumes}")
    if args.data is None and args.sections < 1:
        parser.error(f"--sections must be >= 1, got {args.sections}")
    try:
        run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
