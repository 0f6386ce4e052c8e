"""The library's own network checkpoints, state-dict checks and colour-channel transfer.

A checkpoint is a ``torch.save`` of plain data (constructor kwargs and the
state dict), so :func:`load_network` reads it with ``weights_only=True`` and
loading never runs code from the file.
"""

from __future__ import annotations

import copy
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from .._files import atomic_write
from ..formats import CHECKPOINT_FORMAT
from .errors import CheckpointError, StateDictMismatchError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointMixin",
    "TransferReport",
    "atomic_save",
    "convert_color_channels",
    "load_network",
]

CHECKPOINT_VERSION = 1

# ToRGB maps features to colours along dim 0, FromRGB reads colours along dim 1.
_TORGB_KEY = re.compile(r"(^|\.)torgb\.(weight|bias)$")
_FROMRGB_KEY = re.compile(r"(^|\.)fromrgb\.weight$")

_NETWORKS: dict[str, type[CheckpointMixin]] = {}

NetworkT = TypeVar("NetworkT", bound="CheckpointMixin")


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place.

    A crash or a full disk leaves either the old file or the new one, never a
    truncated checkpoint.

    Parameters
    ----------
    obj : Any
        What to save.
    path : str or os.PathLike
        Destination; its directory must exist.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return atomic_write(path, lambda f: torch.save(obj, f))


def convert_color_channels(
    state_dict: Mapping[str, torch.Tensor], target_shapes: Mapping[str, torch.Size]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Convert ToRGB/FromRGB tensors to another number of image channels.

    An RGB generator's ToRGB rows are averaged into one grayscale row, so the
    grayscale generator outputs the mean of the RGB image; an RGB
    discriminator's FromRGB columns are summed, so it scores a grayscale
    image as it would the same image replicated to RGB. The reverse (1 → n)
    replicates ToRGB and splits FromRGB evenly.

    Parameters
    ----------
    state_dict : mapping
        Source state dict.
    target_shapes : mapping
        Shapes the destination network expects, by key.

    Returns
    -------
    state_dict : dict
        A shallow copy with the converted tensors.
    converted : list of str
        Keys that were converted.
    """
    out = dict(state_dict)
    converted = []
    for key, value in state_dict.items():
        target = target_shapes.get(key)
        if target is None or value.shape == target:
            continue
        if _TORGB_KEY.search(key):
            dim = 0
        elif _FROMRGB_KEY.search(key):
            dim = 1
        else:
            continue
        if value.ndim != len(target) or any(
            a != b for i, (a, b) in enumerate(zip(value.shape, target, strict=True)) if i != dim
        ):
            continue
        src, dst = value.shape[dim], target[dim]
        if dst == 1 and dim == 0:
            out[key] = value.mean(dim=0, keepdim=True)
        elif dst == 1:
            # FromRGB's run-time gain is 1/sqrt(colours): summing the effective
            # weights means dividing the stored ones by sqrt(src).
            out[key] = value.sum(dim=1, keepdim=True) / math.sqrt(src)
        elif src == 1:
            repeats = [dst if i == dim else 1 for i in range(value.ndim)]
            out[key] = value.repeat(repeats) if dim == 0 else value.repeat(repeats) / math.sqrt(dst)
        else:
            continue
        converted.append(key)
    return out, converted


def _mismatches(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[str], list[tuple[str, tuple[int, ...], tuple[int, ...]]]]:
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched = [
        (key, tuple(value.shape), tuple(expected[key].shape))
        for key, value in state_dict.items()
        if key in expected and isinstance(value, torch.Tensor) and value.shape != expected[key].shape
    ]
    return missing, unexpected, mismatched


@dataclass(frozen=True)
class TransferReport:
    """Outcome of :meth:`CheckpointMixin.transfer_from`.

    Attributes
    ----------
    copied : list of str
        Keys copied from the source.
    missing : list of str
        Keys the source lacks; left at their initial values.
    unexpected : list of str
        Source keys the network lacks; ignored.
    mismatched : list of (str, tuple, tuple)
        ``(key, source shape, network shape)``; left at their initial values.
    """

    copied: list[str]
    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]]

    def __str__(self) -> str:
        lines = [f"copied {len(self.copied)} tensors"]
        if self.missing:
            lines.append(
                f"kept the initial values of {len(self.missing)} absent from the source: {', '.join(self.missing)}"
            )
        if self.mismatched:
            shapes = ", ".join(f"{key} {list(src)} -> {list(dst)}" for key, src, dst in self.mismatched)
            lines.append(f"kept the initial values of {len(self.mismatched)} of another shape: {shapes}")
        if self.unexpected:
            lines.append(f"ignored {len(self.unexpected)} the network lacks")
        return "; ".join(lines)


class CheckpointMixin(nn.Module):
    """Constructor-kwargs bookkeeping, checked state-dict loading and checkpoint files.

    Networks built on it remember their constructor arguments, so
    :meth:`save` writes everything needed to rebuild them and
    :meth:`from_checkpoint` rebuilds them without running code from the file.
    """

    _init_kwargs: dict[str, Any]
    checkpoint_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.checkpoint_name = cls.__name__
        _NETWORKS[cls.__name__] = cls

    def record_init_kwargs(self, **kwargs: Any) -> None:
        """Remember the constructor arguments (called by subclasses' ``__init__``)."""
        self._init_kwargs = copy.deepcopy(kwargs)

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """A copy of the constructor arguments."""
        return copy.deepcopy(self._init_kwargs)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> nn.modules.module._IncompatibleKeys:
        """Load a state dict, converting colour channels and naming every mismatch.

        Parameters
        ----------
        state_dict : mapping
            Parameters and buffers, e.g. a StyleGAN2-ADA network's ``state_dict()``.
        strict : bool
            Require exactly the network's keys.
        assign : bool
            Assign the tensors instead of copying into the existing ones.

        Raises
        ------
        StateDictMismatchError
            Keys missing or unexpected (when ``strict``), or shapes that differ
            other than in the number of image channels.

        Warns
        -----
        UserWarning
            When ToRGB/FromRGB weights were converted to this network's ``img_channels``.
        """
        state_dict, expected = self._with_color_channels(state_dict)
        missing, unexpected, mismatched = _mismatches(state_dict, expected)
        if mismatched or (strict and (missing or unexpected)):
            raise StateDictMismatchError(
                type(self).__name__, missing if strict else [], unexpected if strict else [], mismatched
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def transfer_from(self, state_dict: Mapping[str, Any]) -> TransferReport:
        """Copy every tensor of ``state_dict`` whose name and shape fit; keep the rest as initialised.

        For fine-tuning a network of another configuration: an unconditional
        snapshot into a class-conditional network (the label embedding and
        the first mapping layer start fresh), a higher-resolution one into a
        lower (the extra blocks are ignored), RGB into grayscale (converted as
        in :meth:`load_state_dict`).

        Parameters
        ----------
        state_dict : mapping
            Source parameters and buffers.

        Returns
        -------
        TransferReport
            What was copied, left at its initial value or ignored.

        Warns
        -----
        UserWarning
            Summarising what was not copied, and on colour-channel conversion.
        """
        state_dict, expected = self._with_color_channels(state_dict)
        missing, unexpected, mismatched = _mismatches(state_dict, expected)
        skipped = {key for key, _, _ in mismatched}
        copied = [key for key in state_dict if key in expected and key not in skipped]
        with torch.no_grad():
            targets = dict(self.named_parameters()) | dict(self.named_buffers())
            for key in copied:
                targets[key].copy_(state_dict[key])
        report = TransferReport(copied, missing, unexpected, mismatched)
        if missing or mismatched:
            warnings.warn(f"{type(self).__name__}: {report}", UserWarning, stacklevel=2)
        return report

    def _with_color_channels(self, state_dict: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """``state_dict`` with ToRGB/FromRGB converted to this network's channels, and the expected state."""
        expected = self.state_dict()
        state_dict, converted = convert_color_channels(
            state_dict, {key: value.shape for key, value in expected.items()}
        )
        if converted:
            warnings.warn(
                f"{type(self).__name__}: converted {len(converted)} ToRGB/FromRGB tensors to "
                f"img_channels={self.img_channels} (ToRGB averaged or replicated, FromRGB summed or split): "
                f"{', '.join(converted)}",
                UserWarning,
                stacklevel=3,
            )
        return state_dict, expected

    def save(self, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the network to ``path`` atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file (conventionally ``.pt``).
        metadata : mapping, optional
            Plain data stored alongside (numbers, strings, lists, dicts, tensors),
            e.g. the training step or the dataset name.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "class": type(self).checkpoint_name,
            "init_kwargs": self.init_kwargs,
            "state_dict": {key: value.detach().cpu() for key, value in self.state_dict().items()},
            "metadata": dict(metadata or {}),
        }
        return atomic_save(payload, path)

    @classmethod
    def from_checkpoint(
        cls: type[NetworkT],
        path: str | os.PathLike[str],
        map_location: str | torch.device | None = "cpu",
        **overrides: Any,
    ) -> NetworkT:
        """Rebuild a network saved with :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            Checkpoint file.
        map_location : str or torch.device, optional
            Where to load the tensors.
        **overrides
            Constructor arguments to change, e.g. ``img_channels=1`` to turn an
            RGB network into a grayscale one.

        Returns
        -------
        network
            In eval mode; its ``checkpoint_metadata`` attribute holds the saved metadata.
        """
        net = load_network(path, map_location=map_location, **overrides)
        if not isinstance(net, cls):
            raise CheckpointError(f"{str(path)!r} holds a {type(net).__name__}, not a {cls.__name__}")
        return net


def load_network(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu", **overrides: Any
) -> CheckpointMixin:
    """Load any network saved with :meth:`CheckpointMixin.save`, without running code from the file.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file.
    map_location : str or torch.device, optional
        Where to load the tensors.
    **overrides
        Constructor arguments to change.

    Returns
    -------
    CheckpointMixin
        The rebuilt network (e.g. a :class:`~medgan_aug.nets.StyleGenerator`), in eval mode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        # torch's message advises weights_only=False, which would run the file's code: not ours to give.
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: it is not a medgan-aug network checkpoint, or it holds "
            "objects other than tensors and plain data, which are refused without running them "
            "(StyleGAN2-ADA snapshots load with medgan_aug.load_stylegan2_ada)"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a medgan-aug network checkpoint "
            "(for StyleGAN2-ADA snapshots use medgan_aug.load_stylegan2_ada)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint version {payload.get('version')!r}, expected 1")
    cls = _NETWORKS.get(payload.get("class"))
    if cls is None:
        raise CheckpointError(f"{str(path)!r} holds an unknown network class {payload.get('class')!r}")
    net = cls(**{**payload["init_kwargs"], **overrides})
    net.load_state_dict(payload["state_dict"])
    net.checkpoint_metadata = payload.get("metadata", {})
    return net.eval()
