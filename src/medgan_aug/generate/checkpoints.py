"""Loading a generator from any checkpoint this library reads, and naming the checkpoint by its bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..formats import CHECKPOINT_FORMAT, TRAINING_FORMAT
from ..nets.architectures import ARCHITECTURES, Generator
from ..nets.checkpoint import load_network
from ..nets.errors import CheckpointError
from ..nets.generator_like import is_native_generator
from ..nets.stylegan2_ada import load_stylegan2_ada

__all__ = ["checkpoint_hash", "load_generator"]


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
        if payload.get("G_init_kwargs") is None and isinstance(payload.get("G_ema"), dict):
            raise CheckpointError(
                f"{str(path)!r} was trained with a generator built by your own code (GANTrainer(G=...)); "
                "build it again and load the checkpoint's 'G_ema' state dict into it"
            )
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
