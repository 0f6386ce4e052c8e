"""Dermoscopy end to end: ISIC images -> conditional StyleGAN2-ADA without colour augmentation -> classifier study.

1. Prepare: the ISIC JPEGs are sorted into one RGB class folder per diagnosis (from the one-hot ground-truth CSV),
   centre-cropped to a square, with a manifest whose patient ids are the lesion ids when the metadata CSV is given.
2. Split the real images by lesion into train / val / test (stratified by diagnosis).
3. Train a diagnosis-conditional generator with ADA on the training split, with geometric augmentation only.
4. Synthesize the same number of images for every diagnosis.
5. Classifier study: real only against real + synthetic at fixed ratios (labels from the conditional generator),
   selected on validation; print the verdict and the per-class test recall, melanoma first.

Usage::

    python examples/dermoscopy.py --data ISIC_2019_Training_Input/ --labels ISIC_2019_Training_GroundTruth.csv \\
        --metadata ISIC_2019_Training_Metadata.csv --classes MEL,NV,BCC --out runs/derm
    # a toy stand-in in the ISIC layout and a toy-scale run of every step (CPU, well under a minute)
    python examples/dermoscopy.py --smoke --out /tmp/derm-smoke

Writes ``prepared/``, ``gan/``, ``synthetic/`` (``class0`` ... in the order of ``prepared``'s sorted class names)
and ``selftrain/`` (``report.md``, ``report.json``, ``classifier.pt``) into --out.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Subset

from medgan_aug.data import prepare_images
from medgan_aug.generate import load_generator, synthesize
from medgan_aug.selftrain import FolderPool, SelfTrainConfig, SelfTrainer, TrainSettings, load_real_splits
from medgan_aug.train import GANTrainer, resolve_config

ISIC_2019_COLUMNS = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
MELANOMA = "MEL"


def read_csv(path: Path, what: str, needed: set[str]) -> list[dict[str, str]]:
    """The rows of a CSV file, checked for the columns ``needed``."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not needed <= set(rows[0]):
        raise ValueError(
            f"{what} {path}: expected the columns {sorted(needed)}, found {sorted(rows[0]) if rows else []}"
        )
    return rows


def isic_images(
    folder: Path, labels_csv: Path, metadata_csv: Path | None, classes: list[str] | None
) -> tuple[list[Path], dict[str, str], dict[str, str]]:
    """The images of an ISIC folder with their diagnosis (the CSV's one-hot column) and lesion (patient) id."""
    if not folder.is_dir():
        raise FileNotFoundError(f"--data folder {folder} does not exist or is not a directory")
    rows = read_csv(labels_csv, "--labels file", {"image"})
    columns = [name for name in rows[0] if name != "image"]
    unknown = sorted(set(classes or ()) - set(columns))
    if unknown:
        raise ValueError(f"--classes {unknown} are not columns of {labels_csv} ({columns})")
    lesion = {}
    if metadata_csv is not None:
        # Several images of one lesion must stay in one split, or the test set shows the classifier known lesions.
        lesion = {
            row["image"]: row["lesion_id"] for row in read_csv(metadata_csv, "--metadata file", {"image", "lesion_id"})
        }
    paths, diagnosis, patients = [], {}, {}
    for row in rows:
        label = max(columns, key=lambda name: float(row[name] or 0))
        if float(row[label] or 0) < 0.5 or (classes is not None and label not in classes):
            continue
        path = folder / f"{row['image']}.jpg"
        if not path.is_file():
            raise FileNotFoundError(f"{path} (listed in {labels_csv}) does not exist")
        paths.append(path)
        diagnosis[str(path)] = label
        patients[str(path)] = lesion.get(row["image"]) or row["image"]
    if len(set(diagnosis.values())) < 2:
        raise ValueError(
            f"--labels {labels_csv}: images of at least two diagnoses are needed, found {set(diagnosis.values())}"
        )
    return paths, diagnosis, patients


def write_smoke_dataset(root: Path, per_class: int = 20, seed: int = 0) -> tuple[Path, Path]:
    """A toy ISIC-2019 layout: 48 x 64 JPEG lesions on skin and a one-hot ground-truth CSV (MEL, NV, BCC).

    Nevi are round and evenly brown, melanomas irregular with dark and blue-grey parts, basal cell carcinomas
    pink with red vessels: colour carries the diagnosis, as in real dermoscopy.
    """
    rng = np.random.default_rng(seed)
    height, width = 48, 64
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    images = root / "ISIC_2019_Training_Input"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, diagnosis in enumerate(("MEL", "NV", "BCC")):
        for i in range(per_class):
            skin = np.array([225, 180, 150]) + rng.normal(0, 8, 3)
            image = skin + rng.normal(0, 4, (height, width, 3))
            cy, cx = height / 2 + rng.uniform(-4, 4), width / 2 + rng.uniform(-6, 6)
            angle = np.arctan2(y - cy, x - cx)
            bumps = 0.25 * np.sin(3 * angle + rng.uniform(0, 6)) if diagnosis == "MEL" else 0.0  # irregular border
            radius = rng.uniform(9, 13) * (1 + bumps)
            inside = np.hypot(y - cy, x - cx) < radius
            colour = {"MEL": [90, 55, 40], "NV": [150, 100, 70], "BCC": [215, 135, 145]}[diagnosis]
            image[inside] = colour + rng.normal(0, 6, (inside.sum(), 3))
            if diagnosis == "MEL":
                image[inside & (x > cx + rng.uniform(-3, 3))] = [95, 110, 140]  # blue-grey veil on one side
            elif diagnosis == "BCC":
                vessel = inside & (np.abs(np.sin((x - cx) / 3 + (y - cy) / 5)) < 0.15)
                image[vessel] = [190, 40, 50]
            name = f"ISIC_{k * 1000 + i:07d}"
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(images / f"{name}.jpg", quality=95)
            rows.append({"image": name, **{c: f"{float(c == diagnosis):.1f}" for c in ISIC_2019_COLUMNS}})
    table = root / "ISIC_2019_Training_GroundTruth.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", *ISIC_2019_COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    return images, table


def run(args: argparse.Namespace) -> None:
    """Every step of the study (see the module description)."""
    out: Path = args.out
    if args.smoke:
        args.data, args.labels = write_smoke_dataset(out / "smoke-data")
    paths, diagnosis, patients = isic_images(args.data, args.labels, args.metadata, args.classes)
    counts = {name: list(diagnosis.values()).count(name) for name in sorted(set(diagnosis.values()))}
    print(f"{len(paths)} dermoscopy images of {len(set(patients.values()))} lesions: {counts}", flush=True)

    # Lesions sit in the middle of the field, so a centre crop loses little and adds no black bars to learn.
    prepared = prepare_images(
        paths, out / "prepared", size=args.size, resize="center-crop", labels=diagnosis,
        patient_id=lambda path: patients[str(path)], overwrite=True, progress=args.progress,
    )  # fmt: skip
    real = load_real_splits(prepared, args.size, seed=args.seed)
    print(f"split by {real.method}: train {len(real.train)}, val {len(real.val)}, test {len(real.test)}")

    classes = list(real.class_names)
    # --smoke: toy networks, a few thousand parameters per layer instead of millions.
    toy = {"channel_base": 256, "channel_max": 32, "mapping_layers": 1} if args.smoke else {}
    config = resolve_config(
        "auto", resolution=args.size, img_channels=3, c_dim=len(classes), batch=args.batch, kimg=args.kimg, **toy
    )
    gan_data = Subset(real.train.base, real.train.indices.tolist())  # (image, one-hot diagnosis) of the train split
    # color=False drops ADA's brightness, contrast, luma-flip, hue and saturation transforms and keeps the geometric
    # ones. Colour is diagnostic (the blue-grey veil and colour variety of melanoma, the pink of BCC); when D is
    # shown hue-shifted lesions, augmentations can leak into G, and synthetic lesions would carry the wrong colours
    # for their diagnosis label.
    trainer = GANTrainer(
        config, gan_data, out / "gan", augment="ada", augpipe="bgc", color=False, seed=args.seed,
        kimg_per_tick=max(args.kimg / 4, 0.05), num_workers=args.workers, progress=args.progress,
    )  # fmt: skip
    checkpoint = trainer.train()

    per_class = math.ceil(max(args.mix_ratios) * max(np.bincount(real.train_labels)))
    synthetic = synthesize(
        load_generator(checkpoint), per_class * len(classes), out / "synthetic", classes=list(range(len(classes))),
        checkpoint=checkpoint, overwrite=True, progress=args.progress,
    )  # fmt: skip
    # Synthetic folder class<K> is the generator's class K, which is the K-th real class name.
    pool = FolderPool(synthetic, args.size, num_channels=3, class_names=classes)

    study = SelfTrainConfig(
        model=args.model, weights=args.weights, mode="mix", mix_ratios=args.mix_ratios,
        positive_class=MELANOMA if len(classes) == 2 and MELANOMA in classes else None,
        train=TrainSettings(epochs=args.epochs, batch_size=args.batch, num_workers=args.workers, seed=args.seed),
    )  # fmt: skip
    result = SelfTrainer(study).run(real, pool, out_dir=out / "selftrain", progress=args.progress)

    print(result.verdict())
    # Melanoma first: missing one costs far more than a false alarm on a nevus.
    order = sorted(classes, key=lambda name: name != MELANOMA)
    print(f"test recall      {' '.join(f'{name:>6}' for name in order)}")
    for label, stage in (("real only", result.baseline), ("selected", result.selected_stage)):
        recalls = " ".join(f"{stage.test.recall[classes.index(name)]:6.3f}" for name in order)
        print(f"{label:<16} {recalls}   [{stage.name}]")
    print(f"report: {out / 'selftrain' / 'report.md'}")


def main() -> int:
    """Parse the arguments, run the study and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="folder of ISIC_*.jpg images")
    source.add_argument("--smoke", action="store_true", help="toy dataset and toy-scale settings (overrides sizes)")
    parser.add_argument("--labels", type=Path, help="ground-truth CSV: column image and one-hot diagnosis columns")
    parser.add_argument("--metadata", type=Path, help="metadata CSV with image and lesion_id (split by lesion)")
    parser.add_argument("--classes", type=lambda text: text.split(","), help="diagnoses to keep, e.g. MEL,NV,BCC")
    parser.add_argument("--out", type=Path, default=Path("runs/dermoscopy"))
    parser.add_argument("--size", type=int, default=256, help="side of the prepared, generated and classified images")
    parser.add_argument("--kimg", type=float, default=3000, help="GAN training length in thousands of real images")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--model", default="resnet18", help="timm classifier")
    parser.add_argument("--weights", help="local weights file of --model (default: from scratch)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--mix-ratios", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="synthetic per real")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.data is not None and args.labels is None:
        parser.error("--data needs --labels (the ground-truth CSV)")
    args.progress = not args.smoke
    if args.smoke:
        args.size, args.kimg, args.batch, args.epochs, args.workers = 32, 0.2, 8, 3, 0
        args.model, args.mix_ratios, args.metadata, args.classes = "test_efficientnet", [1.0], None, None
    try:
        run(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
