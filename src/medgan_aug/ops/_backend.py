"""Choosing the implementation an operator call runs on.

``impl`` values:

``"ref"``
    Pure PyTorch; runs anywhere, autograd by PyTorch itself.
``"cpp"``
    The C++ CPU kernels (``medgan_aug::`` custom operators), CPU tensors only.
``"cuda"``
    The CUDA kernels (same operators), CUDA tensors only.
``"cuda_emulated"``
    The CUDA kernels' source run on the CPU by the emulation layer; slow, for
    verifying kernels on machines without a GPU.
``"auto"`` / ``None``
    The fastest available for the tensor's device: ``cuda`` for CUDA tensors,
    ``cpp`` for CPU tensors, ``ref`` otherwise or when a build failed.

``None`` defers to the environment variable ``MEDGAN_AUG_OPS``
(``ref|cpp|cuda|cuda_emulated|auto``), which forces one implementation for the
whole process.
"""

from __future__ import annotations

import os
import threading
from typing import Literal

import torch

from . import extension

__all__ = ["ENV_VAR", "IMPLS", "Impl", "available_impls", "op_namespace", "resolve_impl"]

Impl = Literal["auto", "ref", "cpp", "cuda", "cuda_emulated"]
IMPLS: tuple[str, ...] = ("auto", "ref", "cpp", "cuda", "cuda_emulated")
ENV_VAR = "MEDGAN_AUG_OPS"

_LIBRARY: dict[str, extension.Library] = {"cpp": "cpu", "cuda": "cuda", "cuda_emulated": "emulated"}
_NAMESPACE = {"cpp": "medgan_aug", "cuda": "medgan_aug", "cuda_emulated": "medgan_aug_emulated"}
_DEVICE = {"cpp": "cpu", "cuda": "cuda", "cuda_emulated": "cpu"}
_registered: set[str] = set()
_register_lock = threading.Lock()


def _requested(impl: str | None) -> str:
    if impl is not None:
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(IMPLS)} or None, got {impl!r}")
        return impl
    env = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if env not in IMPLS:
        raise ValueError(f"${ENV_VAR} must be one of {', '.join(IMPLS)}, got {env!r}")
    return env


def resolve_impl(impl: str | None, device: torch.device) -> str:
    """The implementation that will run for tensors on ``device``.

    Parameters
    ----------
    impl : str or None
        Requested implementation (see module docstring).
    device : torch.device
        Device of the operator's main input.

    Returns
    -------
    str
        ``"ref"``, ``"cpp"``, ``"cuda"`` or ``"cuda_emulated"``.  A compiled
        implementation whose library failed to build resolves to ``"ref"``
        (the build failure was already reported by a warning).

    Raises
    ------
    ValueError
        For an unknown ``impl`` or an implementation that cannot run on
        ``device`` (``cpp`` on CUDA tensors, ``cuda`` on CPU tensors).
    """
    requested = _requested(impl)
    if requested == "auto":
        requested = {"cpu": "cpp", "cuda": "cuda"}.get(device.type, "ref")
    if requested == "ref":
        return "ref"
    if device.type != _DEVICE[requested]:
        raise ValueError(
            f"impl={requested!r} runs on {_DEVICE[requested]} tensors, but the input is on "
            f"{device}; use impl='auto' or move the tensors"
        )
    if not extension.load(_LIBRARY[requested]):
        return "ref"
    _register(_NAMESPACE[requested])
    return requested


def op_namespace(impl: str) -> torch._ops._OpNamespace:
    """The ``torch.ops`` namespace holding the compiled operators of ``impl``."""
    return getattr(torch.ops, _NAMESPACE[impl])


def available_impls(device: torch.device | str = "cpu", include_emulated: bool = False) -> list[str]:
    """Implementations that load and can run on ``device`` (builds on first call).

    ``cuda_emulated`` is listed only with ``include_emulated``: it exists to
    verify the CUDA kernels, not to be fast.
    """
    device = torch.device(device)
    usable = ["ref"]
    for impl, device_type in _DEVICE.items():
        if impl == "cuda_emulated" and not include_emulated:
            continue
        if device_type == device.type and extension.load(_LIBRARY[impl]):
            _register(_NAMESPACE[impl])
            usable.append(impl)
    return usable


def _register(namespace: str) -> None:
    """Register autograd formulas and fake kernels once per operator namespace."""
    if namespace in _registered:
        return
    with _register_lock:
        if namespace in _registered:
            return
        from .bias_act import register_operator_hooks as register_bias_act
        from .modulated_conv2d import register_operator_hooks as register_modulated_conv2d
        from .plane_sampling import register_operator_hooks as register_sample_planes
        from .upfirdn2d import register_operator_hooks as register_upfirdn2d
        from .winograd import register_operator_hooks as register_winograd

        registers = (
            register_upfirdn2d,
            register_bias_act,
            register_modulated_conv2d,
            register_sample_planes,
            register_winograd,
        )
        for register in registers:
            register(namespace)
        _registered.add(namespace)
