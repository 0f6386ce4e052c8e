"""Synthetic image folders from any generator, with a per-folder record of the seeds used.

The seeds follow :mod:`~medgan_aug.generate.latents` and are kept apart between sibling folders by the
:mod:`~medgan_aug.generate.seed_registry`.
"""

from __future__ import annotations

import itertools
import numbers
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..data.dataset_writer import DatasetWriter
from ..data.intensity import encode_pixels
from ..nets.generator_like import (
    GeneratorLike,
    check_sampling,
    generate_images,
    generator_device,
    generator_image_channels,
    is_native_generator,
)
from ..threads import adjust_threads
from .checkpoints import checkpoint_hash
from .latents import MAX_SEED, class_indices, generator_inputs
from .screening import ImageScreen, Screening
from .seed_registry import _check_seeds, _choose_seeds, _ranges, _record

__all__ = ["synthesize"]

# Class folder of an unconditional generator's pairs (images/generated/, masks/generated/).
_PAIRS_FOLDER = "generated"
# With a screen, generation stops with an error after this many images per image asked for.
_MAX_DRAWS_PER_IMAGE = 4


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
    screen: ImageScreen | None = None,
) -> Path:
    """Write ``n`` generated images (and masks) into a new dataset folder with a manifest, all or nothing.

    Images go to ``out_dir/class<K>/seed<SEED>.png`` (``out_dir/images/`` for an unconditional generator),
    in the layout :class:`~medgan_aug.data.ImageFolderDataset` reads; ``K`` is zero-padded to the width of the
    largest class index (``class03`` of 12 classes) so that the folders sort, and are numbered by the dataset, in
    class order. A ``manifest.csv`` (or ``.json``) has one row per image: ``file`` (its relative path),
    ``label`` (its class folder, or ``images``), ``seed``, ``class_index``, ``psi``, ``noise_mode``,
    ``checkpoint`` (the :func:`checkpoint_hash`, or ``""``) and ``generator``. The generator output ``x`` in
    [-1, 1] becomes ``clip(x * 0.5 + 0.5, 0, 1)``, rounded to ``bits`` by :func:`~medgan_aug.data.encode_pixels`.
    The seeds are recorded in the seed registry of ``out_dir``'s parent (:mod:`~medgan_aug.generate.seed_registry`).

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
    screen : ImageScreen, optional
        Decides which images are kept (e.g. :class:`~medgan_aug.metrics.CopyScreen`, which drops likely copies
        of the training images). It sees every batch as written, rounded to 8 bits; a dropped image is replaced
        by one of the same class from the next free seed until ``n`` are kept, or the run fails (writing
        nothing) after ``4 n`` images. Every image drawn, kept or dropped, has a manifest row with the screen's
        columns and ``dropped`` (a dropped image's ``file`` is empty), and every seed drawn is recorded in the
        registry. Needs the default seeds (not ``seeds``).

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
    if screen is not None:
        if not callable(screen):
            raise TypeError(f"screen must be an ImageScreen (called with uint8 images), got {type(screen).__name__}")
        if seeds is not None:
            raise ValueError("screen replaces dropped images with further seeds: leave seeds to their default")
    width = len(str(G.c_dim - 1))
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

    folder_of = {k: (_PAIRS_FOLDER if masks else "images") if k is None else f"class{k:0{width}d}" for k in set(labels)}
    # Labels still to fill, in order; a screened-out image's label goes back to the end, so that the classes keep
    # the counts asked for.
    queue = deque(labels)
    seed_source = iter(chosen) if screen is None else itertools.count(chosen[0])
    drawn: list[int] = []
    dropped = 0
    with (
        DatasetWriter(out, manifest=manifest, overwrite=overwrite, bits=bits, masks=masks > 0) as writer,
        tqdm(total=n, unit="img", disable=not progress, desc="generating") as bar,
        torch.no_grad(),
    ):
        while queue:
            adjust_threads()
            batch_labels = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
            batch_seeds = [next(seed_source) for _ in batch_labels]
            if batch_seeds[-1] > MAX_SEED:
                raise ValueError(f"the screen dropped so many images that the seeds passed {MAX_SEED}")
            drawn += batch_seeds
            z, c = generator_inputs(G, batch_seeds, batch_labels, run_on)
            output = generate_images(G, z, c, truncation_psi, noise_mode)
            images = (output[:, :channels].float() * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
            foregrounds = (output[:, channels:] > 0).cpu().numpy()
            verdict = None if screen is None else _screen(screen, images)
            for i, (image, foreground, seed, k) in enumerate(
                zip(images, foregrounds, batch_seeds, batch_labels, strict=True)
            ):
                fields = {
                    "seed": seed,
                    "class_index": k,
                    "psi": float(truncation_psi),
                    "noise_mode": recorded_noise,
                    "checkpoint": key,
                    "generator": generator,
                }
                if verdict is not None:
                    fields.update({column: values[i] for column, values in verdict.fields.items()})
                    fields["dropped"] = not verdict.keep[i]
                    if not verdict.keep[i]:
                        writer.record(folder_of[k], **fields)
                        queue.append(k)
                        dropped += 1
                        continue
                pixels = encode_pixels(image[:, :, 0] if image.shape[2] == 1 else image, bits=bits, rgb=rgb)
                writer.add(pixels, folder_of[k], f"seed{seed:08d}", mask=foreground if masks else None, **fields)
                bar.update(1)
            if screen is not None:
                bar.set_postfix(dropped=dropped)
                if len(drawn) >= _MAX_DRAWS_PER_IMAGE * n and queue:
                    raise ValueError(
                        f"{screen.name} dropped {dropped} of the {len(drawn)} images generated so far, before "
                        f"{n} passed: the generator reproduces what the screen looks for too often to fill the "
                        "set (nothing was written)"
                    )
        # Recorded before the folder is published, and together with any seeds the folder held before, so
        # that a crash never leaves a published folder whose seeds the registry lacks. Dropped images' seeds
        # count as used: their images exist, and a sibling set must not draw them.
        _record(registry, out.name, key, _ranges(drawn), keep_old=True)
    _record(registry, out.name, key, _ranges(drawn), keep_old=False)
    return out


def _screen(screen: ImageScreen, images: np.ndarray) -> Screening:
    """Run ``screen`` on float ``[B, H, W, C]`` images in [0, 1], rounded to 8 bits as they are written."""
    gray = images.shape[3] == 1
    pixels = torch.from_numpy(np.stack([encode_pixels(x[:, :, 0] if gray else x, bits=8) for x in images]))
    pixels = pixels.reshape(*images.shape).permute(0, 3, 1, 2).contiguous()
    verdict = screen(pixels)
    name = getattr(screen, "name", type(screen).__name__)
    if not isinstance(verdict, Screening):
        raise TypeError(f"{name} must return a Screening, got {type(verdict).__name__}")
    verdict.check(len(images), name)
    return verdict
