"""timm classifiers for self-training: creation from local weights, training and batched prediction."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .._validation import check_positive_int
from ..threads import adjust_threads

__all__ = ["OPTIMIZERS", "TrainSettings", "predict", "train_classifier"]

OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
"""Accepted values of :attr:`TrainSettings.optimizer`."""

_MIN_CROP_AREA = 0.8  # smallest fraction of the image area kept by the random resized crop
_SGD_MOMENTUM = 0.9


@dataclass
class TrainSettings:
    """How :func:`train_classifier` trains.

    Parameters
    ----------
    epochs : int
        Passes over the training set, >= 1.
    batch_size : int
        Images per optimisation step.
    lr : float
        Learning rate (constant).
    weight_decay : float
        Decoupled (AdamW) or L2 (SGD) weight decay.
    optimizer : {"adamw", "sgd"}
        AdamW, or SGD with momentum 0.9.
    image_size : int, optional
        Side the images are resized to (antialiased bilinear) before the network; None keeps the data's size.
    augment : bool
        Random left-right flips and random square crops of 80-100 % of the area, resized back, applied to each
        batch on the device from a generator seeded with ``seed``.
    num_workers : int
        DataLoader worker processes.
    seed : int
        Seeds the shuffling, the augmentation and the network's own randomness (dropout); the caller's global
        random state is left untouched.
    device : str, optional
        Where to train; None picks ``"cuda"`` when available, else ``"cpu"``.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    optimizer: Literal["adamw", "sgd"] = "adamw"
    image_size: int | None = None
    augment: bool = True
    num_workers: int = 2
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        """Reject invalid settings."""
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.image_size is not None:
            check_positive_int(self.image_size, "image_size")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_dataset(data: Any, name: str) -> None:
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise TypeError(f"{name} must be a map-style torch Dataset (with __len__), got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} dataset is empty")


def _images_of(batch: Any, name: str) -> torch.Tensor:
    # Datasets may yield (image, label) pairs or bare images (an unlabelled pool of synthetic images).
    images = batch[0] if isinstance(batch, (list, tuple)) else batch
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"{name} must yield images of shape [C, H, W], got a batch {getattr(images, 'shape', images)}")
    return images


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Randomly flip each image left-right and crop a square of 80-100 % of its area, resized back."""
    n = images.shape[0]
    # Parameters come from a CPU generator so that the draws are the same on every device.
    scale = torch.sqrt(torch.empty(n, dtype=torch.float64).uniform_(_MIN_CROP_AREA, 1.0, generator=generator))
    shift = (torch.rand(n, 2, dtype=torch.float64, generator=generator) * 2 - 1) * (1 - scale)[:, None]
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).double()
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _targets(batch: Any, num_outputs: int, device: torch.device, name: str) -> torch.Tensor:
    """Class indices ``[B]`` (int64) or class-probability rows ``[B, K]`` (float) on ``device``."""
    labels = batch[1] if isinstance(batch, (list, tuple)) and len(batch) == 2 else None
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{name} must yield (image, label) pairs with an int or tensor label")
    if labels.ndim == 1 and not labels.is_floating_point() and labels.dtype != torch.bool:
        if labels.min() < 0 or labels.max() >= num_outputs:
            raise ValueError(
                f"labels: class indices must lie in [0, {num_outputs - 1}] for a {num_outputs}-class model, got "
                f"{labels.min().item()}..{labels.max().item()}"
            )
        return labels.to(device=device, dtype=torch.int64)
    if labels.ndim == 2 and labels.is_floating_point():
        if labels.shape[1] != num_outputs:
            raise ValueError(
                f"labels: label vectors have length {labels.shape[1]} but the model has {num_outputs} outputs"
            )
        return labels.to(device=device, dtype=torch.float32)
    raise ValueError(
        f"labels must be int class indices or one-hot/probability float vectors, got a batch of dtype "
        f"{labels.dtype} and shape {tuple(labels.shape)}"
    )


def _classes(targets: torch.Tensor) -> torch.Tensor:
    return targets if targets.ndim == 1 else targets.argmax(dim=1)


def _loader(data: Dataset, batch_size: int, num_workers: int, device: torch.device, **kwargs: Any) -> DataLoader:
    return DataLoader(
        data,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
        **kwargs,
    )


@torch.no_grad()
def _accuracy(model: nn.Module, loader: DataLoader, image_size: int | None, device: torch.device) -> float:
    correct = total = 0
    for batch in loader:
        images = _resize(_images_of(batch, "val").to(device, non_blocking=True), image_size)
        logits = model(images)
        targets = _targets(batch, logits.shape[1], device, "val")
        correct += int((logits.argmax(dim=1) == _classes(targets)).sum())
        total += images.shape[0]
    return correct / total


def train_classifier(
    model: nn.Module,
    train: Dataset,
    settings: TrainSettings,
    *,
    val: Dataset | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train a classifier with cross-entropy, in place.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``[B, C, H, W]`` images to ``[B, K]`` logits, e.g. from :func:`create_classifier`.
    train : torch.utils.data.Dataset
        Yields ``(image [C, H, W], label)``; the label is an int class index or a one-hot (or class-probability)
        float vector of length ``K``, such as :class:`~medgan_aug.data.ImageFolderDataset` gives.
    settings : TrainSettings
        Epochs, optimiser, augmentation, seed and device.
    val : torch.utils.data.Dataset, optional
        Labelled like ``train``. When given, the weights of the epoch with the best validation accuracy (the
        earliest on ties) are restored at the end.
    progress : bool
        Show a progress bar per epoch.

    Returns
    -------
    list of dict
        One row per epoch: ``"epoch"`` (from 1), ``"loss"`` (mean training cross-entropy), ``"train_acc"``
        (accuracy on the augmented training batches, in training mode) and, with ``val``, ``"val_acc"``.

    Notes
    -----
    The model is left on the settings' device, in eval mode. On the CPU, the same seed gives the same weights.
    When the last batch of an epoch would hold a single image it is skipped (BatchNorm layers cannot train on one
    image); shuffling makes it a different image every epoch.
    """
    if not isinstance(settings, TrainSettings):
        raise TypeError(f"settings must be a TrainSettings, got {type(settings).__name__}")
    _check_dataset(train, "train")
    if val is not None:
        _check_dataset(val, "val")
    device = _device(settings.device)
    model.to(device)
    if settings.optimizer == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
    else:
        optimizer = torch.optim.SGD(
            model.parameters(), lr=settings.lr, momentum=_SGD_MOMENTUM, weight_decay=settings.weight_decay
        )
    shuffle = torch.Generator().manual_seed(settings.seed)
    augment = torch.Generator().manual_seed(settings.seed + 1)
    # BatchNorm cannot train on a batch of one image: a last batch of one (a different image every epoch) is dropped.
    lone_last = len(train) % settings.batch_size == 1 and len(train) > settings.batch_size
    train_loader = _loader(
        train, settings.batch_size, settings.num_workers, device, shuffle=True, generator=shuffle, drop_last=lone_last
    )
    val_loader = None if val is None else _loader(val, settings.batch_size, settings.num_workers, device)

    history: list[dict[str, float]] = []
    best_acc = -1.0
    best_state: dict[str, torch.Tensor] | None = None
    fork_devices = [device] if device.type == "cuda" else []
    # Dropout and drop-path draw from the global generators: fork them so the seed decides without side effects.
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(settings.seed)
        for epoch in range(1, settings.epochs + 1):
            model.train()
            loss_sum = 0.0
            correct = total = 0
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{settings.epochs}", leave=False, disable=not progress)
            for batch in bar:
                adjust_threads()
                images = _resize(_images_of(batch, "train").to(device, non_blocking=True), settings.image_size)
                if settings.augment:
                    with torch.no_grad():
                        images = _augment(images, augment)
                logits = model(images)
                targets = _targets(batch, logits.shape[1], device, "train")
                loss = F.cross_entropy(logits, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * images.shape[0]
                correct += int((logits.detach().argmax(dim=1) == _classes(targets)).sum())
                total += images.shape[0]
                bar.set_postfix(loss=f"{loss_sum / total:.4f}")
            row: dict[str, float] = {"epoch": epoch, "loss": loss_sum / total, "train_acc": correct / total}
            if val_loader is not None:
                model.eval()
                row["val_acc"] = _accuracy(model, val_loader, settings.image_size, device)
                if row["val_acc"] > best_acc:
                    best_acc = row["val_acc"]
                    best_state = copy.deepcopy(model.state_dict())
            history.append(row)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def predict(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 64,
    num_workers: int = 2,
    device: str | torch.device | None = None,
    image_size: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Return a classifier's softmax probabilities for every item of a dataset.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``[B, C, H, W]`` images to ``[B, K]`` logits; it is moved to ``device`` and run in eval mode
        (its previous mode is restored afterwards).
    data : torch.utils.data.Dataset
        Yields images ``[C, H, W]`` or ``(image, label)`` pairs (labels are ignored).
    batch_size : int
        Images per forward pass.
    num_workers : int
        DataLoader worker processes.
    device : str or torch.device, optional
        None picks ``"cuda"`` when available, else ``"cpu"``.
    image_size : int, optional
        Side the images are resized to (antialiased bilinear); None keeps the data's size.
    progress : bool
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        float32 ``[N, K]`` class probabilities in item order; each row sums to 1.
    """
    check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    if image_size is not None:
        check_positive_int(image_size, "image_size")
    _check_dataset(data, "data")
    target = _device(device)
    was_training = model.training
    model.to(target).eval()
    rows = []
    try:
        with torch.no_grad():
            for batch in tqdm(_loader(data, batch_size, num_workers, target), desc="predict", disable=not progress):
                adjust_threads()
                images = _resize(_images_of(batch, "data").to(target, non_blocking=True), image_size)
                rows.append(torch.softmax(model(images).float(), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(rows).numpy()
