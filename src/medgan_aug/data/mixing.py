"""Training indexes that mix real and synthetic images at a chosen ratio, per class, without copying images."""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._files import atomic_write_text
from .image_folder import find_images

__all__ = ["CLASS_BALANCES", "MixReport", "match_classes", "mix_datasets", "read_index"]

CLASS_BALANCES: tuple[str, str] = ("keep", "equal")
"""The ``class_balance`` choices of :func:`mix_datasets`."""

SOURCES: tuple[str, str] = ("real", "synthetic")
_INDEX_COLUMNS = ["file", "label", "source"]
_CLASS_FOLDER = re.compile(r"class(\d+)")


@dataclass(frozen=True)
class MixReport:
    """How many real and synthetic images of each class a mixed index holds.

    Attributes
    ----------
    index : pathlib.Path
        The index file written.
    ratio : tuple of float
        The requested real and synthetic shares, normalised to sum to 1.
    class_balance : {"keep", "equal"}
        How the images were spread over the classes.
    seed : int
        Seed of the sampling.
    counts : dict of str to (int, int)
        Class name -> (real, synthetic) images, in sorted class order.
    """

    index: Path
    ratio: tuple[float, float]
    class_balance: str
    seed: int
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def real(self) -> int:
        """Real images in the index."""
        return sum(real for real, _ in self.counts.values())

    @property
    def synthetic(self) -> int:
        """Synthetic images in the index."""
        return sum(synthetic for _, synthetic in self.counts.values())

    @property
    def total(self) -> int:
        """Images in the index."""
        return self.real + self.synthetic

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable): the settings and, per class and in total, real/synthetic/total."""
        return {
            "index": str(self.index),
            "ratio": list(self.ratio),
            "class_balance": self.class_balance,
            "seed": self.seed,
            "classes": {
                name: {"real": real, "synthetic": synthetic, "total": real + synthetic}
                for name, (real, synthetic) in self.counts.items()
            },
            "total": {"real": self.real, "synthetic": self.synthetic, "total": self.total},
        }

    def __str__(self) -> str:
        rows = [(name, real, synthetic) for name, (real, synthetic) in self.counts.items()]
        rows.append(("total", self.real, self.synthetic))
        width = max(len("class"), *(len(name) for name, _, _ in rows))
        numbers_width = max(len("synthetic"), len(str(self.total)))
        lines = [f"{'class':<{width}}  {'real':>{numbers_width}}  {'synthetic':>{numbers_width}}  "]
        lines[0] += f"{'total':>{numbers_width}}"
        for i, (name, real, synthetic) in enumerate(rows):
            if i == len(rows) - 1:
                lines.append("-" * len(lines[0]))
            lines.append(
                f"{name:<{width}}  {real:>{numbers_width}}  {synthetic:>{numbers_width}}  "
                f"{real + synthetic:>{numbers_width}}"
            )
        real_share, synthetic_share = (100 * share for share in self.ratio)
        lines.append(f"ratio {real_share:g}/{synthetic_share:g} real/synthetic, class balance {self.class_balance!r}")
        return "\n".join(lines)


def _images_by_class(root: str | os.PathLike[str], what: str) -> dict[str, list[Path]]:
    root = Path(root).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"{what} image folder {str(root)!r} is not a directory")
    by_class: dict[str, list[Path]] = {}
    loose = []
    for relpath in find_images(root):
        label, slash, _ = relpath.partition("/")
        if not slash:
            loose.append(relpath)
            continue
        by_class.setdefault(label, []).append(root / relpath)
    if loose:
        raise ValueError(
            f"{what} folder {root} has images outside class subfolders (e.g. {loose[0]!r}); "
            "every image must lie in a subfolder named after its class"
        )
    if not by_class:
        raise ValueError(f"{what} folder {root} holds no images in class subfolders")
    return dict(sorted(by_class.items()))


def match_classes(real: list[str], synthetic: dict[str, list[Path]], where: Path) -> dict[str, list[Path]]:
    """Synthetic images keyed by real class name.

    A synthetic folder counts as the real class of the same name, else ``class<K>`` as the K-th real class in
    sorted order (the class index a conditional generator trained on the real folder uses), else an
    unconditional set's ``images`` as the only real class.

    Parameters
    ----------
    real : list of str
        The real class names, sorted.
    synthetic : dict of str to list of pathlib.Path
        The synthetic images by folder name.
    where : pathlib.Path
        The synthetic set's folder, for the error messages.

    Returns
    -------
    dict of str to list of pathlib.Path
        The images by real class name; a ValueError when a folder matches no real class or two folders one.
    """
    matched: dict[str, list[Path]] = {}
    origin: dict[str, str] = {}
    for folder, paths in synthetic.items():
        number = _CLASS_FOLDER.fullmatch(folder)
        if folder in real:
            name = folder
        elif number is not None and int(number.group(1)) < len(real):
            name = real[int(number.group(1))]
        elif folder == "images" and len(real) == 1:
            name = real[0]
        else:
            raise ValueError(
                f"synthetic folder {str(where / folder)!r} matches no real class: name it after a real class "
                f"({', '.join(real)}) or class<K> for the K-th of them (0 to {len(real) - 1})"
            )
        if name in matched:
            raise ValueError(
                f"synthetic folders {origin[name]!r} and {folder!r} in {where} both stand for the real class {name!r}"
            )
        matched[name], origin[name] = paths, folder
    return matched


def _share(value: float, what: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"ratio must hold two finite numbers >= 0, got {what} share {value!r}")
    # Via the shortest decimal, so that 0.3 means 3/10 and counts like 1000 * 0.3 come out exact.
    return Fraction(str(float(value)))


def _largest_remainder(quotas: list[Fraction], total: int) -> list[int]:
    """Integers summing to ``total``, each the floor or ceiling of its quota; ties go to the earlier entry.

    ``total`` must lie within 1/2 of the quotas' sum (then at most as many quotas are rounded up as have a
    fractional part).
    """
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _allocate(total: int, shares: list[Fraction], real_share: Fraction) -> list[tuple[int, int]]:
    """(real, synthetic) per class: class totals, then the real part rounded so the whole index is exact."""
    class_totals = _largest_remainder([total * share for share in shares], total)
    real_quotas = [t * real_share for t in class_totals]
    overall_real = math.floor(total * real_share + Fraction(1, 2))
    # Controlled rounding: each class's real count is within one of its quota, and they add up to the
    # rounded overall real count.
    real = _largest_remainder(real_quotas, overall_real)
    return [(r, t - r) for r, t in zip(real, class_totals, strict=True)]


def _shortfalls(allocation: list[tuple[int, int]], classes: list[str], available: list[tuple[int, int]]) -> list[str]:
    problems = []
    for name, wanted, have in zip(classes, allocation, available, strict=True):
        for source, need, got in zip(SOURCES, wanted, have, strict=True):
            if need > got:
                problems.append(f"class {name!r} needs {need} {source} images, {got} available")
    return problems


def mix_datasets(
    real: str | os.PathLike[str],
    synthetic: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    ratio: tuple[float, float] = (0.5, 0.5),
    total: int | None = None,
    class_balance: Literal["keep", "equal"] = "keep",
    seed: int = 0,
) -> MixReport:
    """Write a CSV index of real and synthetic images mixed at a given ratio in every class.

    Nothing is copied: the index lists the absolute image paths with their class label and source, one
    row per image (columns ``file``, ``label``, ``source``), and is written atomically. Classes are the
    real folder's subfolders; a synthetic subfolder counts as the real class of the same name, else
    ``class<K>`` (as written by :func:`~medgan_aug.generate.synthesize`) as the K-th real class in sorted order,
    the index a conditional generator trained on the real folder gives it. An unconditional set's
    ``images`` folder stands for the real class if there is only one.

    The class totals are ``total`` split in proportion to the real class sizes (``"keep"``) or equally
    (``"equal"``, remainder to the first classes in sorted order); each class then takes its real share of
    that, rounded so that the index's overall real count is ``round(total * real share)`` and no class is
    more than one image off its share. Images are drawn without replacement with
    ``numpy.random.default_rng([seed, source, class])``, so a larger request with the same seed keeps the
    images of a smaller one.

    Parameters
    ----------
    real : str or os.PathLike
        Folder of real images in class subfolders (searched recursively; hidden files skipped).
    synthetic : str or os.PathLike
        Folder of synthetic images in class subfolders.
    out_path : str or os.PathLike
        The index CSV to write; its folder is created if missing.
    ratio : tuple of two floats
        Real and synthetic shares, e.g. ``(30, 70)`` or ``(0.95, 0.05)``; normalised to sum to 1. One may
        be 0.
    total : int, optional
        Images in the index. Default: the largest total the two folders can fill at this ratio and balance
        (with ``"equal"``, the largest multiple of the number of classes).
    class_balance : {"keep", "equal"}
        Keep the real set's class proportions, or the same number of images per class.
    seed : int
        Seed of the sampling; the same folders and arguments always give the same index.

    Returns
    -------
    MixReport
        The counts per class.

    Raises
    ------
    ValueError
        If a folder has too few images for the request (the message lists, per class, how many are needed
        and available), a synthetic class matches no real class, or an argument is invalid.
    FileNotFoundError
        If a folder does not exist.
    """
    if class_balance not in CLASS_BALANCES:
        raise ValueError(f"class_balance must be one of {CLASS_BALANCES}, got {class_balance!r}")
    try:
        real_part, synthetic_part = ratio
    except (TypeError, ValueError):
        raise ValueError(f"ratio must be two numbers (real, synthetic), got {ratio!r}") from None
    real_part, synthetic_part = _share(real_part, "real"), _share(synthetic_part, "synthetic")
    if real_part + synthetic_part == 0:
        raise ValueError(f"ratio must not be all zero, got {ratio!r}")
    real_share = real_part / (real_part + synthetic_part)
    if total is not None and (isinstance(total, bool) or not isinstance(total, numbers.Integral) or total < 1):
        raise ValueError(f"total must be a positive integer or None, got {total!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    real_root, synthetic_root = Path(real).absolute(), Path(synthetic).absolute()
    if real_root.exists() and synthetic_root.exists() and real_root.samefile(synthetic_root):
        raise ValueError(f"real and synthetic are the same folder: {real_root}")
    real_images = _images_by_class(real_root, "real")
    classes = list(real_images)
    synthetic_images = match_classes(classes, _images_by_class(synthetic_root, "synthetic"), synthetic_root)
    available = [(len(real_images[name]), len(synthetic_images.get(name, []))) for name in classes]

    if class_balance == "keep":
        n_real = sum(have for have, _ in available)
        shares = [Fraction(have, n_real) for have, _ in available]
    else:
        shares = [Fraction(1, len(classes))] * len(classes)
    parts = (real_share, 1 - real_share)

    if total is None:
        empty = [
            f"class {name!r} has no {source} images"
            for name, have in zip(classes, available, strict=True)
            for source, got, part in zip(SOURCES, have, parts, strict=True)
            if part > 0 and got == 0
        ]
        if empty:
            raise ValueError(f"cannot mix {real_root} and {synthetic_root} at ratio {ratio!r}: " + "; ".join(empty))
        # Every count is at least its quota minus 2, so no total above this bound fits; the largest that
        # fits lies a few steps below it (rounding makes feasibility not quite monotonic, hence the scan).
        bound = min(
            ((got + 2) / part) / share
            for share, have in zip(shares, available, strict=True)
            for got, part in zip(have, parts, strict=True)
            if part > 0
        )
        # "equal" takes whole rounds of one image per class, so that every class gets the same number.
        step = len(classes) if class_balance == "equal" else 1
        total = math.floor(bound) // step * step
        while total > 0 and _shortfalls(_allocate(total, shares, real_share), classes, available):
            total -= step
        if total <= 0:
            raise ValueError(f"{real_root} and {synthetic_root} cannot fill the classes at ratio {ratio!r}")
    allocation = _allocate(int(total), shares, real_share)
    problems = _shortfalls(allocation, classes, available)
    if problems:
        raise ValueError(
            f"too few images for {total} images at ratio {ratio!r} with class balance {class_balance!r}: "
            + "; ".join(problems)
        )

    rows = []
    for class_index, (name, wanted) in enumerate(zip(classes, allocation, strict=True)):
        for source_index, (source, count) in enumerate(zip(SOURCES, wanted, strict=True)):
            pool = (real_images if source == "real" else synthetic_images).get(name, [])
            picks = np.random.default_rng([int(seed), source_index, class_index]).permutation(len(pool))[:count]
            rows.extend({"file": str(pool[i]), "label": name, "source": source} for i in sorted(picks))

    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=_INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out = Path(out_path).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, buffer.getvalue())
    return MixReport(
        index=out,
        ratio=(float(real_share), float(1 - real_share)),
        class_balance=class_balance,
        seed=int(seed),
        counts={name: wanted for name, wanted in zip(classes, allocation, strict=True)},
    )


def read_index(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read an index written by :func:`mix_datasets`.

    Parameters
    ----------
    path : str or os.PathLike
        The index CSV.

    Returns
    -------
    list of dict
        One dict per image: ``file`` (:class:`pathlib.Path`; a relative path is taken relative to the
        index's folder), ``label`` (str) and ``source`` (``"real"`` or ``"synthetic"``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"index {str(path)!r} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not set(_INDEX_COLUMNS) <= set(reader.fieldnames):
            raise ValueError(f"{path}: an index needs the columns {_INDEX_COLUMNS}, found {reader.fieldnames}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if row["source"] not in SOURCES:
                raise ValueError(f"{path}, line {line}: source must be 'real' or 'synthetic', got {row['source']!r}")
            rows.append({"file": path.parent / row["file"], "label": row["label"], "source": row["source"]})
    return rows
