"""Image classifiers the library builds and loads: timm models from local weights, and saved classifier files.

Nothing is ever downloaded. :func:`create_classifier` builds a timm model with random weights or with a local
state dict (a first convolution for another number of input channels is adapted, a head for another number
of classes dropped); :func:`load_classifier` reads the ``classifier.pt`` that
:meth:`~medgan_aug.selftrain.SelfTrainResult.save` writes. Self-training trains such classifiers, and the metrics
use them as domain feature extractors.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._validation import check_positive_int
from ..formats import CLASSIFIER_FORMAT

__all__ = ["CUSTOM_MODEL_PREFIX", "adapt_input_conv", "check_model_name", "create_classifier", "load_classifier"]

CUSTOM_MODEL_PREFIX = "model_factory:"
"""Starts the recorded ``model`` of a classifier a user's ``model_factory`` made (then its qualified name)."""

_MAX_SUGGESTIONS = 8


def _close_model_names(name: str) -> list[str]:
    import timm

    # A substring pattern finds variants ("resnet" -> "resnet18"); difflib catches typos ("resnt18").
    close = timm.list_models(f"*{name}*")
    if not close:
        close = difflib.get_close_matches(name, timm.list_models(), n=_MAX_SUGGESTIONS, cutoff=0.6)
    return close[:_MAX_SUGGESTIONS]


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"weights file {path}: cannot read it with torch.load: {error}") from error
    # timm's training script wraps the weights as {"state_dict": ..., "optimizer": ...}.
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ValueError(f"weights file {path}: expected a state dict (parameter name -> tensor)")
    return dict(loaded)


def _names(cfg_value: Any) -> tuple[str, ...]:
    if not cfg_value:
        return ()
    return (cfg_value,) if isinstance(cfg_value, str) else tuple(cfg_value)


def check_model_name(name: str) -> None:
    """Raise a ValueError listing close names when timm has no model ``name``.

    Parameters
    ----------
    name : str
        A timm model name, e.g. ``"convnext_tiny"``.
    """
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        close = _close_model_names(name) if isinstance(name, str) else []
        hint = f"; close names: {', '.join(close)}" if close else "; see timm.list_models() for the names"
        raise ValueError(f"name: timm has no model named {name!r}{hint}")


def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Return a first-conv kernel ``[O, I, ...]`` turned into ``[O, in_chans, ...]``.

    Every new input channel gets the sum of the saved kernels over their ``I`` input channels divided by
    ``in_chans``. An image whose ``in_chans`` channels are all equal therefore gives the same first-layer
    response as the saved network on that image repeated over its ``I`` channels (e.g. a grayscale image fed
    to RGB weights); for ``in_chans == 1`` the kernel is the plain sum over the saved input channels.

    Parameters
    ----------
    weight : torch.Tensor
        The saved kernel, input channels on dimension 1.
    in_chans : int
        The number of input channels wanted.

    Returns
    -------
    torch.Tensor
        The adapted kernel, in ``weight``'s dtype.
    """
    check_positive_int(in_chans, "in_chans")
    summed = weight.double().sum(dim=1, keepdim=True) / in_chans
    return summed.expand(-1, in_chans, *weight.shape[2:]).to(weight.dtype).contiguous()


def create_classifier(
    name: str, num_classes: int, in_chans: int, *, weights: str | os.PathLike[str] | None = None
) -> nn.Module:
    """Create a timm image classifier, with random weights or weights from a local file.

    Nothing is ever downloaded: the model is built with ``pretrained=False``.

    Parameters
    ----------
    name : str
        A timm model name, e.g. ``"resnet18"``.
    num_classes : int
        Number of classes (outputs of the classifier head).
    in_chans : int
        Number of input image channels (1 for grayscale).
    weights : str or os.PathLike, optional
        A state dict saved with :func:`torch.save` (or a timm checkpoint holding one under ``"state_dict"``) of
        the same architecture. Classifier-head tensors whose shape differs (trained for another number of
        classes) are dropped, with a warning naming them, and keep their random initialisation. A first
        convolution saved for another number of input channels is adapted with :func:`adapt_input_conv`
        (sum over the saved input channels divided by ``in_chans``).

    Returns
    -------
    torch.nn.Module
        The classifier, mapping ``[B, in_chans, H, W]`` images to ``[B, num_classes]`` logits.

    Raises
    ------
    ValueError
        If timm has no model ``name`` (the message lists close names), an argument is invalid, or the weights
        do not fit the architecture.
    FileNotFoundError
        If ``weights`` does not exist.
    """
    import timm

    check_positive_int(num_classes, "num_classes")
    check_positive_int(in_chans, "in_chans")
    check_model_name(name)
    path = None if weights is None else Path(weights)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")

    model = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    if path is None:
        return model

    saved = _load_state_dict(path)
    own = model.state_dict()
    cfg = model.pretrained_cfg
    for conv in _names(cfg.get("first_conv")):
        key = f"{conv}.weight"
        if key in saved and key in own and saved[key].ndim >= 3 and saved[key].shape[1] != in_chans:
            saved[key] = adapt_input_conv(saved[key], in_chans)
    head_prefixes = tuple(f"{head}." for head in _names(cfg.get("classifier")))
    dropped = [
        key
        for key, value in saved.items()
        if key.startswith(head_prefixes) and key in own and value.shape != own[key].shape
    ]
    for key in dropped:
        del saved[key]
    mismatched = [key for key, value in saved.items() if key in own and value.shape != own[key].shape]
    if mismatched:
        details = ", ".join(f"{k} {tuple(saved[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:5])
        raise ValueError(f"weights file {path} does not fit timm model {name!r}: shapes differ for {details}")
    missing, unexpected = model.load_state_dict(saved, strict=False)
    missing = [key for key in missing if key not in dropped]
    if missing or unexpected:
        raise ValueError(
            f"weights file {path} does not fit timm model {name!r}: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]} ({len(missing)} and {len(unexpected)} keys)"
        )
    if dropped:
        warnings.warn(
            f"weights file {path}: dropped the classifier-head tensors {', '.join(dropped)} (saved for another "
            f"number of classes); they keep their random initialisation for num_classes={num_classes}",
            UserWarning,
            stacklevel=2,
        )
    return model


def load_classifier(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Load a classifier written by :meth:`~medgan_aug.selftrain.SelfTrainResult.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``classifier.pt`` file.

    Returns
    -------
    (torch.nn.Module, dict)
        The timm classifier in eval mode on the CPU, and its metadata: ``model``, ``class_names``, ``in_chans``,
        ``image_size`` (the side its input images had), ``stage`` and ``seed`` (None in files from before
        seeds were recorded).

    Raises
    ------
    ValueError
        If the file is not a classifier file, or holds a classifier made by a ``model_factory``, which only
        that factory can rebuild.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier file {path} does not exist")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"classifier file {path}: not a {CLASSIFIER_FORMAT} file written by SelfTrainResult.save")
    meta = {key: saved[key] for key in ("model", "class_names", "in_chans", "image_size", "stage")}
    meta["seed"] = saved.get("seed")
    if str(meta["model"]).startswith(CUSTOM_MODEL_PREFIX):
        raise ValueError(
            f"classifier file {path} holds a classifier made by {meta['model']}: build it with that factory "
            "(num_classes, in_chans from the file) and load torch.load(path)['state_dict'] into it"
        )
    model = create_classifier(meta["model"], len(meta["class_names"]), int(meta["in_chans"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), meta
