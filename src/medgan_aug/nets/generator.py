"""StyleGAN2 generator: mapping network + synthesis network."""

from __future__ import annotations

from typing import Any

import torch

from .checkpoint import CheckpointMixin
from .mapping import MappingNetwork, check_mask_channels
from .synthesis import SynthesisNetwork

__all__ = ["StyleGenerator"]


class StyleGenerator(CheckpointMixin):
    """The StyleGAN2(-ADA) generator, unconditional or class-conditional, grayscale or RGB.

    Arguments, submodule names and state-dict keys are those of the
    StyleGAN2-ADA ``Generator``, so its state dicts load unchanged.

    Parameters
    ----------
    z_dim : int
        Latent size (512 in the published configurations).
    c_dim : int
        Number of classes, 0 for unconditional.
    w_dim : int
        Intermediate latent size.
    img_resolution : int
        Output resolution, a power of two >= 4.
    img_channels : int
        1 for grayscale modalities (mammography, ultrasound, microscopy), 3 for RGB.
    mapping_kwargs : dict, optional
        Passed to :class:`~medgan_aug.nets.MappingNetwork` (``num_layers``, ``lr_multiplier``, ...).
    synthesis_kwargs : dict, optional
        Passed to :class:`~medgan_aug.nets.SynthesisNetwork` (``channel_base``,
        ``channel_max``, ``num_fp16_res``, ``conv_clamp``, ``architecture``, ...).
    mask_channels : int
        How many of the ``img_channels`` output channels are segmentation masks (the last ones, in [-1, 1],
        foreground > 0) generated together with the image; 0 for images only.

    Notes
    -----
    ``G.to(memory_format=torch.channels_last)`` stores the convolution weights channels-last, and
    the network then runs channels-last end to end (the learned constant, every feature map and the
    output image; see :attr:`memory_format`). It computes the same images up to float rounding; it is
    meant for GPUs with tensor cores (on CPUs, measure with ``benchmarks/nets_bench.py``). State
    dicts and checkpoints do not depend on it.

    Examples
    --------
    >>> G = StyleGenerator(z_dim=64, c_dim=2, w_dim=64, img_resolution=32, img_channels=1,
    ...                    synthesis_kwargs={"channel_base": 1024, "channel_max": 64})
    >>> z = torch.randn(4, 64)
    >>> c = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 1]), 2).float()
    >>> G(z, c, truncation_psi=0.7, noise_mode="const").shape
    torch.Size([4, 1, 32, 32])
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        synthesis_kwargs: dict[str, Any] | None = None,
        mask_channels: int = 0,
    ) -> None:
        super().__init__()
        if img_channels < 1:
            raise ValueError(f"img_channels must be at least 1, got {img_channels}")
        self.mask_channels = check_mask_channels(mask_channels, img_channels)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, num_ws=self.num_ws, **(mapping_kwargs or {}))
        init_kwargs: dict[str, Any] = {
            "z_dim": z_dim,
            "c_dim": c_dim,
            "w_dim": w_dim,
            "img_resolution": img_resolution,
            "img_channels": img_channels,
            "mapping_kwargs": dict(mapping_kwargs or {}),
            "synthesis_kwargs": dict(synthesis_kwargs or {}),
        }
        if mask_channels:
            # Recorded only when used, so image generators keep exactly StyleGAN2-ADA's constructor arguments.
            init_kwargs["mask_channels"] = mask_channels
        self.record_init_kwargs(**init_kwargs)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "random",
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
        update_w_avg: bool = True,
    ) -> torch.Tensor:
        """Generate images.

        Parameters
        ----------
        z : torch.Tensor
            Latents ``[N, z_dim]``.
        c : torch.Tensor, optional
            Labels ``[N, c_dim]`` (one-hot for classes); required iff ``c_dim > 0``.
        truncation_psi : float
            1 for no truncation; smaller trades variety for fidelity.
        truncation_cutoff : int, optional
            Truncate only the first this many layers' ``w``.
        noise_mode : str
            ``'random'``, ``'const'`` (reproducible) or ``'none'``.
        force_fp32 : bool
            Disable float16 blocks.
        fused_modconv : bool, optional
            Force the modulated-convolution strategy.
        update_w_avg : bool
            In training mode, update the tracked average of ``w``.

        Returns
        -------
        torch.Tensor
            ``[N, img_channels, img_resolution, img_resolution]``, float32, about [-1, 1].
        """
        ws = self.mapping(
            z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_w_avg=update_w_avg
        )
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv)

    @property
    def memory_format(self) -> torch.memory_format:
        """``torch.channels_last`` or ``torch.contiguous_format``: the format G computes in and returns images in."""
        return self.synthesis.memory_format

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
            f"img_resolution={self.img_resolution}, img_channels={self.img_channels}"
            + (f", mask_channels={self.mask_channels}" if self.mask_channels else "")
        )
