"""Mammography end to end: Mini-DDSM or CBIS-DDSM -> conditional StyleGAN2-ADA -> synthetic set -> classifier study.

1. Prepare: 16-bit PNG or DICOM mammograms are windowed, letterboxed to a square (the breast keeps its shape,
   the padding is black) and written as 16-bit PNG class folders (normal / benign / malignant) with a manifest
   whose patient ids keep all views of a case in one split.
2. Split the real images by patient into train / val / test (stratified by class).
3. Train a class-conditional generator with ADA on the real training split only (val and test never leak in).
4. Synthesize the same number of images for every class.
5. Classifier study: real only against real + synthetic at fixed ratios (the labels come from the conditional
   generator), selected on validation; print the verdict and the sensitivity (malignant recall) on the test set.

Usage::

    # Mini-DDSM: <root>/{Normal,Benign,Cancer}/<case>/*.png (16-bit); *_Mask* files are skipped
    python examples/mammography.py --data MINI-DDSM-Complete-PNG-16/ --out runs/mammo
    # CBIS-DDSM: the TCIA DICOM tree and one of its description CSVs (benign / malignant only)
    python examples/mammography.py --cbis CBIS-DDSM/ --cbis-csv mass_case_description_train_set.csv --out runs/mammo
    # a toy stand-in dataset and a toy-scale run of every step (CPU, well under a minute)
    python examples/mammography.py --smoke --out /tmp/mammo-smoke

Writes ``prepared/``, ``gan/`` (checkpoints, sample grids), ``synthetic/`` (``class0`` ... in the order of
``prepared``'s sorted class names) and ``selftrain/`` (``report.md``, ``report.json``, ``classifier.pt``) into --out.
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

MINI_DDSM_CLASSES = {"Normal": "normal", "Benign": "benign", "Cancer": "malignant"}
# BENIGN_WITHOUT_CALLBACK findings are benign too: they only needed no follow-up imaging.
CBIS_PATHOLOGY = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}
Labelled = tuple[list[Path], dict[str, str], dict[str, str]]  # images, label by path, patient id by path


def mini_ddsm_images(root: Path) -> Labelled:
    """The mammograms of a Mini-DDSM folder with their classes; the case folder is the patient."""
    if not root.is_dir():
        raise FileNotFoundError(f"--data folder {root} does not exist or is not a directory")
    present = [name for name in MINI_DDSM_CLASSES if (root / name).is_dir()]
    if "Cancer" not in present or len(present) < 2:  # the study reports the sensitivity on cancer
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise ValueError(f"--data {root}: expected class folders {', '.join(MINI_DDSM_CLASSES)}, found {found}")
    paths, labels, patients = [], {}, {}
    for name in present:
        for path in sorted((root / name).glob("*/*.png")):
            if "_mask" in path.stem.lower():  # lesion outlines shipped beside the images
                continue
            paths.append(path)
            labels[str(path)] = MINI_DDSM_CLASSES[name]
            patients[str(path)] = path.parent.name
    if not paths:
        raise ValueError(f"--data {root}: no PNG files in case folders <class>/<case>/*.png")
    return paths, labels, patients


def cbis_ddsm_images(root: Path, table: Path) -> Labelled:
    """The full mammograms listed in a CBIS-DDSM description CSV, found in the TCIA DICOM tree under ``root``.

    The CSV's file paths name series folders that the TCIA download renames, so an image is found by its top
    folder (e.g. ``Mass-Training_P_00001_LEFT_CC``), which holds only the full mammogram. An image listed with
    several findings is malignant if any of them is.
    """
    for path, what in ((root, "--cbis folder"), (table, "--cbis-csv file")):
        if not path.exists():
            raise FileNotFoundError(f"{what} {path} does not exist")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    needed = {"patient_id", "pathology", "image file path"}
    if not rows or not needed <= set(rows[0]):
        raise ValueError(f"--cbis-csv {table}: expected the columns {sorted(needed)}")
    by_folder: dict[str, tuple[str, str]] = {}
    for row in rows:
        label = CBIS_PATHOLOGY.get(row["pathology"].strip().upper())
        if label is None:
            raise ValueError(f"--cbis-csv {table}: unknown pathology {row['pathology']!r}")
        folder = row["image file path"].strip().split("/")[0]
        if by_folder.get(folder, ("", ""))[0] != "malignant":
            by_folder[folder] = (label, row["patient_id"].strip())
    paths, labels, patients = [], {}, {}
    for folder, (label, patient) in sorted(by_folder.items()):
        found = sorted((root / folder).rglob("*.dcm"))
        if not found:
            raise FileNotFoundError(f"--cbis {root}: no DICOM file under {folder}/ (listed in {table})")
        paths.append(found[0])
        labels[str(found[0])], patients[str(found[0])] = label, patient
    return paths, labels, patients


def write_smoke_dataset(root: Path, cases_per_class: int = 12, seed: int = 0) -> Path:
    """A toy Mini-DDSM folder: 16-bit, 64 x 48 'mammograms' (CC and MLO per case) of three classes.

    A bright half-ellipse breast with blurred texture on black; benign cases get a smooth round mass, malignant
    ones a smaller core with radiating spicules, normal ones no mass.
    """
    rng = np.random.default_rng(seed)
    height, width = 64, 48
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    for number, folder in enumerate(MINI_DDSM_CLASSES):
        for case in range(number * 1000, number * 1000 + cases_per_class):  # case numbers are unique, as in DDSM
            for view in ("CC", "MLO"):
                depth, half = rng.uniform(0.75, 0.95) * width, rng.uniform(0.38, 0.46) * height
                inside = (x / depth) ** 2 + ((y - height / 2) / half) ** 2
                noise = rng.normal(0, 1, (height // 8, width // 8))
                texture = np.kron(noise, np.ones((8, 8)))  # coarse blobs of fibroglandular tissue
                image = np.where(inside <= 1, 16000 + 6000 * (1 - inside) + 2500 * texture, 0.0)
                cy, cx = height / 2 + rng.uniform(-0.4, 0.4) * half, rng.uniform(0.3, 0.6) * depth
                r2 = (y - cy) ** 2 + (x - cx) ** 2
                if folder == "Benign":
                    image += 26000 * np.exp(-r2 / (2 * rng.uniform(3.5, 5.0) ** 2))
                elif folder == "Cancer":
                    image += 26000 * np.exp(-r2 / (2 * 2.2**2))
                    for angle in rng.uniform(0, 2 * np.pi, 9):
                        # Distance of every pixel to a ray from the core: thin bright lines of 6-12 px.
                        along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
                        across = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
                        ray = (along > 0) & (along < rng.uniform(6, 12))
                        image += np.where(ray, 18000 * np.exp(-(across**2) / 0.5), 0.0)
                path = root / folder / f"{case:04d}" / f"{folder[0]}_{case:04d}.LEFT_{view}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(image, 0, 65535).astype(np.uint16)).save(path)
    return root


def run(args: argparse.Namespace) -> None:
    """Every step of the study (see the module description)."""
    out: Path = args.out
    if args.smoke:
        paths, labels, patients = mini_ddsm_images(write_smoke_dataset(out / "smoke-data"))
    elif args.cbis is not None:
        paths, labels, patients = cbis_ddsm_images(args.cbis, args.cbis_csv)
    else:
        paths, labels, patients = mini_ddsm_images(args.data)
    counts = {name: list(labels.values()).count(name) for name in sorted(set(labels.values()))}
    print(f"{len(paths)} mammograms of {len(set(patients.values()))} cases: {counts}", flush=True)

    # 16 bits keep the subtle contrast of dense tissue that 8 bits would band; letterbox keeps the breast's shape.
    prepared = prepare_images(
        paths, out / "prepared", size=args.size, resize="letterbox", bits=16, labels=labels,
        patient_id=lambda path: patients[str(path)], overwrite=True, progress=args.progress,
    )  # fmt: skip
    real = load_real_splits(prepared, args.size, seed=args.seed)
    print(f"split by {real.method}: train {len(real.train)}, val {len(real.val)}, test {len(real.test)}")

    classes = list(real.class_names)
    # --smoke: toy networks, a few thousand parameters per layer instead of millions.
    toy = {"channel_base": 256, "channel_max": 32, "mapping_layers": 1} if args.smoke else {}
    config = resolve_config(
        "auto", resolution=args.size, img_channels=1, c_dim=len(classes), batch=args.batch, kimg=args.kimg, **toy
    )
    # The GAN sees the training split only; its items are (image, one-hot class), what a conditional run needs.
    gan_data = Subset(real.train.base, real.train.indices.tolist())
    trainer = GANTrainer(
        config, gan_data, out / "gan", augment="ada", augpipe="bgc", seed=args.seed,
        kimg_per_tick=max(args.kimg / 4, 0.05), num_workers=args.workers, progress=args.progress,
    )  # fmt: skip
    checkpoint = trainer.train()

    # As many synthetic images per class as the largest ratio asks for the largest class; smaller mixes use a part.
    per_class = math.ceil(max(args.mix_ratios) * max(np.bincount(real.train_labels)))
    G = load_generator(checkpoint)
    synthetic = synthesize(
        G, per_class * len(classes), out / "synthetic", classes=list(range(len(classes))), bits=16,
        checkpoint=checkpoint, overwrite=True, progress=args.progress,
    )  # fmt: skip
    # Synthetic folder class<K> is the generator's class K, which is the K-th real class name.
    pool = FolderPool(synthetic, args.size, num_channels=1, class_names=classes)

    study = SelfTrainConfig(
        model=args.model, weights=args.weights, mode="mix", mix_ratios=args.mix_ratios,
        # Two classes (CBIS-DDSM) need the disease class named; three classes report recall per class anyway.
        positive_class="malignant" if len(classes) == 2 else None,
        train=TrainSettings(epochs=args.epochs, batch_size=args.batch, num_workers=args.workers, seed=args.seed),
    )  # fmt: skip
    result = SelfTrainer(study).run(real, pool, out_dir=out / "selftrain", progress=args.progress)

    print(result.verdict())
    malignant = classes.index("malignant")
    for label, stage in (("real only", result.baseline), ("selected", result.selected_stage)):
        print(f"sensitivity (malignant recall, test) {label} [{stage.name}]: {stage.test.recall[malignant]:.3f}")
    print(f"report: {out / 'selftrain' / 'report.md'}")


def main() -> int:
    """Parse the arguments, run the study and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="Mini-DDSM folder with Normal/, Benign/, Cancer/ case folders")
    source.add_argument("--cbis", type=Path, help="CBIS-DDSM DICOM folder (needs --cbis-csv and pydicom)")
    source.add_argument("--smoke", action="store_true", help="toy dataset and toy-scale settings (overrides sizes)")
    parser.add_argument("--cbis-csv", type=Path, help="CBIS-DDSM description CSV (mass or calc, train or test)")
    parser.add_argument("--out", type=Path, default=Path("runs/mammography"))
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
    if (args.cbis is None) != (args.cbis_csv is None):
        parser.error("--cbis and --cbis-csv go together")
    args.progress = not args.smoke
    if args.smoke:
        args.size, args.kimg, args.batch, args.epochs, args.workers = 32, 0.2, 8, 3, 0
        args.model, args.mix_ratios = "test_efficientnet", [1.0]
    try:
        run(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
