"""Synthetic image folders from a trained generator, with a per-folder record of the seeds used.

Image ``i`` of a set is generated from seed ``s``: ``z = RandomState(s).randn(1, z_dim)``, the convention of
StyleGAN2-ADA's ``generate.py``, so a seed names the same latent here and in the reference tooling.

Two sets generated side by side (a synthetic train set and a synthetic test set, say) must not share a seed:
the same seed with the same generator gives the same image, which would leak test images into training. So
every folder written by :func:`synthesize` is recorded in a registry file ``.medgan-aug-seeds.json`` in the
folder's parent: folder name -> checkpoint hash -> sorted half-open seed ranges ``[[start, stop], ...]``.
Default seeds continue after the highest seed any sibling folder used with the same checkpoint, and explicit
seeds that overlap a sibling's are refused unless ``allow_seed_reuse=True``. The registry only covers folders
with the same parent, and runs writing into the same parent at the same time are not coordinated.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .._files import atomic_write
from ..formats import CHECKPOINT_FORMAT, SEED_REGISTRY_FORMAT, TRAINING_FORMAT
from ..nets.architectures import ARCHITECTURES, Generator
from ..nets.checkpoint import load_network
from ..nets.errors import CheckpointError
from ..nets.generator_like import (
    GeneratorLike,
    check_sampling,
    generate_images,
    generator_device,
    generator_image_channels,
    is_native_generator,
)
from ..nets.stylegan2_ada import load_stylegan2_ada
from .dataset_writer import DatasetWriter
from .intensity import encode_pixels

__all__ = [
    "MAX_SEED",
    "SEED_REGISTRY",
    "checkpoint_hash",
    "class_indices",
    "generator_inputs",
    "load_generator",
    "synthesize",
]

SEED_REGISTRY = ".medgan-aug-seeds.json"
"""Name of the seed registry file kept in the parent of the folders :func:`synthesize` writes."""

MAX_SEED = 2**32 - 1
"""The largest seed: numpy's ``RandomState`` takes seeds in [0, 2**32 - 1]."""
# Class folder of an unconditional generator's pairs (images/generated/, masks/generated/).
_PAIRS_FOLDER = "generated"


def checkpoint_hash(path: str | os.PathLike[str]) -> str:
    """The first 16 hex digits of the SHA-256 of a file's bytes, naming the checkpoint a set came from.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    str
        16 lowercase hex digits.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def load_generator(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Generator:
    """Load a generator from any checkpoint this library reads, without running code from the file.

    Parameters
    ----------
    path : str or os.PathLike
        A generator checkpoint written by :meth:`~medgan_aug.nets.CheckpointMixin.save` (StyleGAN2 or DCGAN),
        a ``training-*.pt`` written by :class:`~medgan_aug.train.GANTrainer` (its ``G_ema``), or a
        StyleGAN2-ADA ``.pkl`` snapshot (its ``G_ema``).
    device : str or torch.device
        Where to put the generator.

    Returns
    -------
    StyleGenerator or DCGANGenerator
        In eval mode, without gradients.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is none of the three kinds, or holds no generator.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator checkpoint {str(path)!r} does not exist")
    if path.suffix.lower() == ".pkl":
        networks = load_stylegan2_ada(path, device=device)
        if "G_ema" not in networks:
            raise CheckpointError(f"{str(path)!r}: the StyleGAN2-ADA snapshot has no G_ema generator")
        return networks["G_ema"]
    try:
        # mmap: only the small header is read here; the tensors are read when used.
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read {str(path)!r}: expected a medgan-aug network or training checkpoint (.pt) "
            "or a StyleGAN2-ADA snapshot (.pkl)"
        ) from error
    kind = payload.get("format") if isinstance(payload, dict) else None
    if kind == CHECKPOINT_FORMAT:
        net = load_network(path, map_location=device)
        if not is_native_generator(net):
            raise CheckpointError(f"{str(path)!r} holds no generator: got {type(net).__name__}")
        return net.requires_grad_(False)
    if kind == TRAINING_FORMAT:
        if not isinstance(payload.get("G_init_kwargs"), dict) or not isinstance(payload.get("G_ema"), dict):
            raise CheckpointError(f"{str(path)!r}: the training checkpoint lacks G_ema or G_init_kwargs")
        config = payload.get("config")
        arch = config.get("arch", "stylegan2") if isinstance(config, dict) else "stylegan2"
        if arch not in ARCHITECTURES:
            raise CheckpointError(f"{str(path)!r}: unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
        try:
            G = ARCHITECTURES[arch][0](**payload["G_init_kwargs"])
            G.load_state_dict(payload["G_ema"])
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{str(path)!r}: cannot rebuild G_ema: {error}") from error
        return G.to(device).eval().requires_grad_(False)
    raise CheckpointError(
        f"{str(path)!r} is neither a medgan-aug network checkpoint nor a training checkpoint "
        f"(format {kind!r}); StyleGAN2-ADA snapshots must end in .pkl"
    )


# --- seed registry ---------------------------------------------------------------------------


def _ranges(seeds: Iterable[int]) -> list[list[int]]:
    """Sorted half-open ``[start, stop]`` ranges covering ``seeds``."""
    ranges: list[list[int]] = []
    for seed in sorted(set(seeds)):
        if ranges and ranges[-1][1] == seed:
            ranges[-1][1] = seed + 1
        else:
            ranges.append([seed, seed + 1])
    return ranges


def _merge(*range_lists: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, stop in sorted(r for ranges in range_lists for r in ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def _overlap(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    return _merge([[max(s, t), min(e, f)] for s, e in a for t, f in b if max(s, t) < min(e, f)])


def _describe_ranges(ranges: list[list[int]]) -> str:
    parts = [str(s) if e == s + 1 else f"{s}-{e - 1}" for s, e in ranges]
    shown = ", ".join(parts[:5]) + (", ..." if len(parts) > 5 else "")
    return f"{shown} ({sum(e - s for s, e in ranges)} seeds)"


def _read_registry(path: Path) -> dict[str, dict[str, list[list[int]]]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        folders = data["folders"]
        if data.get("format") != SEED_REGISTRY_FORMAT or not isinstance(folders, dict):
            raise ValueError("not a seed registry")
        return {
            str(folder): {str(key): [[int(s), int(e)] for s, e in ranges] for key, ranges in used.items()}
            for folder, used in folders.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # Overwriting it would forget which seeds the sibling sets hold, the very thing it guards.
        raise ValueError(f"seed registry {path} is damaged ({error}); repair or delete it") from error


def _write_registry(path: Path, folders: dict[str, dict[str, list[list[int]]]]) -> None:
    # One line per folder keeps the file readable (and diffable) when a folder holds many ranges.
    lines = [f"  {json.dumps(name)}: {json.dumps(used, sort_keys=True)}" for name, used in sorted(folders.items())]
    head = f'{{"format": {json.dumps(SEED_REGISTRY_FORMAT)}, "version": 1, "folders": {{'
    text = head + ("\n" + ",\n".join(lines) + "\n" if lines else "") + "}}\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _record(registry: Path, folder: str, key: str, ranges: list[list[int]], keep_old: bool) -> None:
    folders = _read_registry(registry)
    if keep_old:
        entry = folders.get(folder, {})
        entry[key] = _merge(entry.get(key, []), ranges)
    else:
        # The folder now holds only this set: seeds of what it held before are free again.
        entry = {key: ranges}
    folders[folder] = entry
    _write_registry(registry, folders)


def _check_seeds(seeds: Sequence[int] | None, n: int) -> list[int] | None:
    if seeds is None:
        return None
    values = list(seeds)
    if len(values) != n:
        raise ValueError(f"seeds gives {len(values)} seeds for n={n} images")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seeds must be integers in [0, 2**32 - 1], got {seed!r}")
    values = [int(seed) for seed in values]
    if len(set(values)) != n:
        repeated = sorted(seed for seed, count in Counter(values).items() if count > 1)
        raise ValueError(f"seeds must be distinct; repeated: {repeated[:10]}")
    return values


def _choose_seeds(
    seeds: list[int] | None, n: int, out_dir: Path, key: str, allow_reuse: bool
) -> tuple[list[int], Path]:
    registry = out_dir.parent / SEED_REGISTRY
    siblings = {
        name: used[key] for name, used in _read_registry(registry).items() if name != out_dir.name and key in used
    }
    if seeds is None:
        start = max((stop for ranges in siblings.values() for _, stop in ranges), default=0)
        if start + n - 1 > MAX_SEED:
            raise ValueError(f"no {n} free seeds left after {start} for this checkpoint in {registry}")
        return list(range(start, start + n)), registry
    if not allow_reuse:
        wanted = _ranges(seeds)
        for name, ranges in sorted(siblings.items()):
            shared = _overlap(wanted, ranges)
            if shared:
                raise ValueError(
                    f"seeds {_describe_ranges(shared)} were already used with this checkpoint by the folder "
                    f"{str(out_dir.parent / name)!r} (recorded in {registry}); sets sharing seeds share images. "
                    "Choose other seeds, or pass allow_seed_reuse=True if that is intended"
                )
    return seeds, registry


# --- generation --------------------------------------------------------------------------------


def class_indices(classes: int | Sequence[int] | None, n: int, c_dim: int) -> list[int | None]:
    """The class index of each of ``n`` images, spread as :func:`synthesize` spreads them.

    Parameters
    ----------
    classes : int, sequence of int or None
        One class for all images, or several among which the images are spread evenly in the order given
        (``n // len(classes)`` each, one more for each of the first ``n % len(classes)``); None for an
        unconditional generator.
    n : int
        Number of images.
    c_dim : int
        The generator's number of classes (0: unconditional).

    Returns
    -------
    list of int or None
        ``n`` class indices, or ``n`` Nones for an unconditional generator; a ValueError for classes out of range,
        repeated, missing for a conditional generator or given for an unconditional one.
    """
    if classes is None:
        if c_dim > 0:
            raise ValueError(f"the generator is conditional (c_dim={c_dim}): pass classes (a class index or a list)")
        return [None] * n
    if c_dim == 0:
        raise ValueError(f"classes={classes!r} given, but the generator is unconditional (c_dim=0)")
    wanted = [classes] if isinstance(classes, numbers.Integral) else list(classes)
    if not wanted:
        raise ValueError("classes must not be empty")
    for k in wanted:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k < c_dim:
            raise ValueError(f"class {k!r} is out of range: the generator has classes 0 to {c_dim - 1}")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"classes lists a class twice: {wanted}")
    per_class, extra = divmod(n, len(wanted))
    return [int(k) for i, k in enumerate(wanted) for _ in range(per_class + (i < extra))]


def generator_inputs(
    G: GeneratorLike, seeds: Sequence[int], labels: Sequence[int | None], device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latents and one-hot labels that make the images of ``seeds`` and class indices ``labels``.

    Latent ``i`` is ``RandomState(seeds[i]).randn(1, G.z_dim)``, StyleGAN2-ADA's ``generate.py`` convention.

    Parameters
    ----------
    G : GeneratorLike
        The generator, for ``z_dim`` and ``c_dim``.
    seeds : sequence of int
        One seed per image, in [0, 2**32 - 1].
    labels : sequence of int or None
        One class index per image (in ``range(G.c_dim)``), or None each for an unconditional generator, as
        checked by the callers.
    device : str or torch.device
        Where to put the tensors.

    Returns
    -------
    (torch.Tensor, torch.Tensor or None)
        float32 ``z [N, z_dim]`` and ``c [N, c_dim]``, or None for ``c`` when ``G.c_dim`` is 0.
    """
    z = np.concatenate([np.random.RandomState(seed).randn(1, G.z_dim) for seed in seeds])
    z = torch.from_numpy(z).to(device, torch.float32)
    if G.c_dim == 0:
        return z, None
    c = torch.zeros(len(seeds), G.c_dim, device=device)
    c[torch.arange(len(seeds)), torch.tensor(list(labels))] = 1
    return z, c


def synthesize(
    G: GeneratorLike,
    n: int,
    out_dir: str | os.PathLike[str],
    *,
    classes: int | Sequence[int] | None = None,
    truncation_psi: float = 1.0,
    noise_mode: Literal["const", "random", "none"] | None = None,
    seeds: Sequence[int] | None = None,
    batch_size: int = 16,
    bits: Literal[8, 16] = 8,
    rgb: bool = False,
    manifest: Literal["csv", "json"] = "csv",
    overwrite: bool = False,
    allow_seed_reuse: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Path:
    """Write ``n`` generated images (and masks) into a new dataset folder with a manifest, all or nothing.

    Images go to ``out_dir/class<K>/seed<SEED>.png`` (``out_dir/images/`` for an unconditional generator),
    in the layout :class:`~medgan_aug.data.ImageFolderDataset` reads; ``K`` is zero-padded to the width of the
    largest class index (``class03`` of 12 classes) so that the folders sort, and are numbered by the dataset, in
    class order. A ``manifest.csv`` (or ``.json``) has one row per image: ``file`` (its relative path),
    ``label`` (its class folder, or ``images``), ``seed``, ``class_index``, ``psi``, ``noise_mode``,
    ``checkpoint`` (the :func:`checkpoint_hash`, or ``""``) and ``generator``. The generator output ``x`` in
    [-1, 1] becomes ``clip(x * 0.5 + 0.5, 0, 1)``, rounded to ``bits`` by :func:`~medgan_aug.data.encode_pixels`.
    The seeds are recorded in the seed registry of ``out_dir``'s parent (see the module description).

    A generator with ``mask_channels`` M > 0 makes image + mask pairs, written in the paired layout of
    ``DatasetWriter(masks=True)``: the image (its first ``img_channels - M`` channels, encoded as above) to
    ``out_dir/images/<folder>/seed<SEED>.png`` (``<folder>`` is ``class<K>``, or ``generated`` for an
    unconditional generator) and mask channel ``m`` to ``out_dir/masks/...`` for ``m = 0`` and
    ``out_dir/masks_<m>/...`` after it, under the same relative path; read them back with
    ``PairedImageFolderDataset(out_dir / "images", [out_dir / "masks", ...])``. A mask is a single-channel 8-bit
    PNG, 255 where ``x > 0`` (0.5 on the [0, 1] scale) and 0 elsewhere, whatever ``bits`` and ``rgb``. The
    manifest rows gain ``mask`` and ``foreground`` (the mask's relative path and its fraction of foreground
    pixels, rounded to 4 decimals) for mask 0, and ``mask_<m>``, ``foreground_<m>`` for mask ``m``.

    Parameters
    ----------
    G : GeneratorLike
        The generator, e.g. from :func:`load_generator`, or any object with ``z_dim``, ``c_dim``,
        ``img_resolution``, ``img_channels`` and ``G(z, c)`` (:class:`~medgan_aug.nets.GeneratorLike`); moved
        to ``device`` if given. Its image part must have 1 or 3 channels.
    n : int
        Number of images (pairs), >= 1.
    out_dir : str or os.PathLike
        The folder to create.
    classes : int or sequence of int, optional
        For a conditional generator (required then): one class index for all images, or several, among which
        the images are spread evenly (``n // len(classes)`` each, one more for each of the first
        ``n % len(classes)`` classes), in the order given.
    truncation_psi : float
        Truncation; 1 for none, e.g. 0.7 for fewer odd images at some cost in variety. Only this library's
        generators take another value than 1.
    noise_mode : {"const", "random", "none"}, optional
        Per-pixel noise of this library's generators (default ``"const"``); ``"random"`` draws it from torch's
        global generator, so the images are then not reproducible from the seeds alone. Other generators take
        only None (their manifest rows record an empty ``noise_mode``).
    seeds : sequence of int, optional
        ``n`` distinct seeds in [0, 2**32 - 1]; image ``i`` uses ``seeds[i]``. Default: the ``n`` seeds after
        the highest one any sibling folder used with the same checkpoint (0, 1, ... for the first set).
    batch_size : int
        Images per generator call. The batch size can change pixels by one quantisation level (float
        rounding); the same seeds and settings reproduce the same files.
    bits : {8, 16}
        Bits per channel of the image PNGs; 16 needs a grayscale generator and ``rgb=False``.
    rgb : bool
        Write grayscale images with three channels (masks stay single-channel).
    manifest : {"csv", "json"}
        Manifest format.
    overwrite : bool
        Replace an existing non-empty ``out_dir`` (once the new folder is complete).
    allow_seed_reuse : bool
        Accept explicit ``seeds`` that a sibling folder already used with the same checkpoint.
    checkpoint : str or os.PathLike, optional
        The file ``G`` was loaded from: its hash goes into the manifest and keys the seed registry. Without
        it, all sets of unknown origin in the parent folder share one pool of seeds.
    device : str or torch.device, optional
        Where to run ``G``; default: where its parameters are.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        The absolute dataset folder.

    Raises
    ------
    ValueError
        For invalid arguments (a class out of range, classes for an unconditional generator or none for a
        conditional one, 16-bit colour, ...), or explicit seeds that a sibling folder already used.
    FileExistsError
        If ``out_dir`` is not empty and ``overwrite`` is False.
    """
    from tqdm.auto import tqdm

    channels = generator_image_channels(G, "only 1 or 3 can be written as PNG")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    check_sampling(G, truncation_psi, noise_mode)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    masks = getattr(G, "mask_channels", 0)
    if bits == 16 and (rgb or channels == 3):
        raise ValueError("bits=16 needs grayscale output: PNG colour images are written with 8 bits (bits=8)")
    labels = class_indices(classes, n, G.c_dim)
    key = "" if checkpoint is None else checkpoint_hash(checkpoint)

    out = Path(out_dir).absolute()
    if out.is_symlink():
        out = out.resolve()  # as DatasetWriter does, so the registry names the folder really written
    chosen, registry = _choose_seeds(_check_seeds(seeds, n), n, out, key, allow_seed_reuse)
    if device is not None:
        G = G.to(device)
    run_on = generator_device(G)
    generator = f"{type(G).__name__} {G.img_resolution}x{G.img_resolution}"
    recorded_noise = noise_mode or ("const" if is_native_generator(G) else "")

    with (
        DatasetWriter(out, manifest=manifest, overwrite=overwrite, bits=bits, masks=masks > 0) as writer,
        tqdm(total=n, unit="img", disable=not progress, desc="generating") as bar,
        torch.no_grad(),
    ):
        for begin in range(0, n, batch_size):
            batch_seeds = chosen[begin : begin + batch_size]
            batch_labels = labels[begin : begin + batch_size]
            z, c = generator_inputs(G, batch_seeds, batch_labels, run_on)
            output = generate_images(G, z, c, truncation_psi, noise_mode)
            images = (output[:, :channels].float() * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
            foregrounds = (output[:, channels:] > 0).cpu().numpy()
            for image, foreground, seed, k in zip(images, foregrounds, batch_seeds, batch_labels, strict=True):
                pixels = encode_pixels(image[:, :, 0] if image.shape[2] == 1 else image, bits=bits, rgb=rgb)
                writer.add(
                    pixels,
                    (_PAIRS_FOLDER if masks else "images") if k is None else f"class{k:0{len(str(G.c_dim - 1))}d}",
                    f"seed{seed:08d}",
                    mask=foreground if masks else None,
                    seed=seed,
                    class_index=k,
                    psi=float(truncation_psi),
                    noise_mode=recorded_noise,
                    checkpoint=key,
                    generator=generator,
                )
            bar.update(len(batch_seeds))
        # Recorded before the folder is published, and together with any seeds the folder held before, so
        # that a crash never leaves a published folder whose seeds the registry lacks.
        _record(registry, out.name, key, _ranges(chosen), keep_old=True)
    _record(registry, out.name, key, _ranges(chosen), keep_old=False)
    return out
