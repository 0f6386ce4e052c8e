"""StyleGAN2 discriminator, optionally conditioned by projection on a mapped label embedding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .. import ops
from .checkpoint import CheckpointMixin
from .layers import (
    DEFAULT_RESAMPLE_FILTER,
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdLayer,
    block_format,
    memory_format_of,
    register_resample_filter,
)
from .mapping import MappingNetwork, check_labels
from .synthesis import block_channels, check_architecture, check_resolution, fp16_resolution

__all__ = ["DiscriminatorBlock", "DiscriminatorEpilogue", "StyleDiscriminator"]


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator: (FromRGB +) two convolutions, the second downsampling.

    Parameters
    ----------
    in_channels : int
        Channels coming in; 0 for the first block, which reads the image.
    tmp_channels : int
        Channels inside the block.
    out_channels : int
        Channels produced (at half the resolution).
    resolution : int
        Input resolution.
    img_channels : int
        Image channels.
    first_layer_idx : int
        Index of the block's first layer in the whole network (for ``freeze_layers``).
    architecture : str
        ``'orig'``, ``'skip'`` (image fed to every block) or ``'resnet'``.
    activation : str
        Activation of the convolutions.
    resample_filter : sequence of float
        FIR filter for downsampling.
    conv_clamp : float, optional
        Clamp of the activations.
    use_fp16 : bool
        Compute in float16 on CUDA.
    fp16_channels_last : bool
        Use channels-last memory format in float16 blocks.
    freeze_layers : int
        Layers with an index below this are frozen (weights stored as buffers).
    """

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        first_layer_idx: int,
        architecture: str = "resnet",
        activation: str = "lrelu",
        resample_filter: Sequence[float] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        freeze_layers: int = 0,
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        if in_channels not in (0, tmp_channels):
            raise ValueError(f"in_channels must be 0 or tmp_channels ({tmp_channels}), got {in_channels}")
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.first_layer_idx = first_layer_idx
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        register_resample_filter(self, resample_filter)

        self.num_layers = 0

        def next_trainable() -> bool:
            trainable = first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return trainable

        common = {"activation": activation, "conv_clamp": conv_clamp, "channels_last": self.channels_last}
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=next_trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=next_trainable(), **common)
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            kernel_size=3,
            down=2,
            resample_filter=resample_filter,
            trainable=next_trainable(),
            **common,
        )
        if architecture == "resnet":
            self.skip = Conv2dLayer(
                tmp_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                down=2,
                resample_filter=resample_filter,
                trainable=next_trainable(),
                channels_last=self.channels_last,
            )

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        force_fp32: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the block on features ``x`` (``None`` in the first block) and the image ``img``.

        ``memory_format`` is the network's (see :attr:`StyleDiscriminator.memory_format`).
        """
        device = img.device if img is not None else x.device
        dtype, memory_format = block_format(self.use_fp16, self.channels_last, force_fp32, device, memory_format)
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = ops.downsample2d(img, self.resample_filter) if self.architecture == "skip" else None

        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}, use_fp16={self.use_fp16}"


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: minibatch standard deviation, a convolution, two fully connected layers.

    Parameters
    ----------
    in_channels : int
        Channels at 4x4.
    cmap_dim : int
        Size of the label embedding the output is projected on; 0 for unconditional.
    resolution : int
        Spatial size (4).
    img_channels : int
        Image channels (read by the ``'skip'`` architecture).
    architecture : str
        ``'orig'``, ``'skip'`` or ``'resnet'``.
    reads_image : bool
        Add FromRGB of the image to the features: with ``'skip'``, and for
        4x4 images, where there is no block before the epilogue.
    mbstd_group_size : int, optional
        Group size of the minibatch standard deviation (``None``: whole batch).
    mbstd_num_channels : int
        Statistics appended; 0 disables the layer.
    activation : str
        Activation of the hidden layers.
    conv_clamp : float, optional
        Clamp of the convolution.
    """

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        reads_image: bool | None = None,
        mbstd_group_size: int | None = 4,
        mbstd_num_channels: int = 1,
        activation: str = "lrelu",
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.architecture = architecture
        self.reads_image = architecture == "skip" if reads_image is None else reads_image

        if self.reads_image:
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        cmap: torch.Tensor | None,
        force_fp32: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> torch.Tensor:
        """Logits ``[N, 1]`` from 4x4 features ``x`` (and the image for ``'skip'``, labels' ``cmap``).

        The head runs in float32 in the network's ``memory_format``.
        """
        if self.reads_image:
            y = self.fromrgb(img.to(dtype=torch.float32, memory_format=memory_format))
            x = x.to(dtype=torch.float32, memory_format=memory_format) + y if x is not None else y
        else:
            x = x.to(dtype=torch.float32, memory_format=memory_format)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        # The fully connected weight is ordered (C, H, W) as in the checkpoints, so channels-last
        # features are put in that order: one copy of N x C x 4 x 4 values, the network's only
        # relayout (reordering the weight instead would move C / N times more).
        x = self.fc(x.contiguous().flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            # Projection discriminator: score = <features, label embedding> / sqrt(dim).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, cmap_dim={self.cmap_dim}, architecture={self.architecture}"


class StyleDiscriminator(CheckpointMixin):
    """The StyleGAN2(-ADA) discriminator, unconditional or class-conditional, grayscale or RGB.

    Arguments, submodule names and state-dict keys are those of the
    StyleGAN2-ADA ``Discriminator``, so its state dicts load unchanged.

    Memory format: ``D.to(memory_format=torch.channels_last)`` stores the convolution weights
    channels-last, and the network then runs channels-last end to end (see
    :attr:`memory_format`); the scores are the same.

    Parameters
    ----------
    c_dim : int
        Number of classes, 0 for unconditional.
    img_resolution : int
        Input resolution, a power of two >= 4.
    img_channels : int
        1 (grayscale) or 3 (RGB), or any other count.
    architecture : str
        ``'orig'``, ``'skip'`` or ``'resnet'`` (the published default).
    channel_base, channel_max : int
        Channels at resolution ``r`` are ``min(channel_base // r, channel_max)``.
    num_fp16_res : int
        Run the top this many resolutions in float16 on CUDA.
    conv_clamp : float, optional
        Clamp of the convolution outputs (256 in the published configurations with fp16).
    cmap_dim : int, optional
        Size of the label embedding (default: the 4x4 channels; 0 if unconditional).
    block_kwargs : dict, optional
        Passed to every :class:`DiscriminatorBlock` (``activation``, ``freeze_layers``, ...).
    mapping_kwargs : dict, optional
        Passed to the label :class:`~medgan_aug.nets.MappingNetwork`.
    epilogue_kwargs : dict, optional
        Passed to :class:`DiscriminatorEpilogue` (``mbstd_group_size``, ``mbstd_num_channels``, ...).
    """

    def __init__(
        self,
        c_dim: int,
        img_resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        cmap_dim: int | None = None,
        block_kwargs: dict[str, Any] | None = None,
        mapping_kwargs: dict[str, Any] | None = None,
        epilogue_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        img_resolution_log2 = check_resolution(img_resolution)
        if img_channels < 1:
            raise ValueError(f"img_channels must be at least 1, got {img_channels}")
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(img_resolution_log2, 2, -1)]
        lowest_fp16 = fp16_resolution(img_resolution_log2, num_fp16_res)
        self.record_init_kwargs(
            c_dim=c_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            architecture=architecture,
            channel_base=channel_base,
            channel_max=channel_max,
            num_fp16_res=num_fp16_res,
            conv_clamp=conv_clamp,
            cmap_dim=cmap_dim,
            block_kwargs=dict(block_kwargs or {}),
            mapping_kwargs=dict(mapping_kwargs or {}),
            epilogue_kwargs=dict(epilogue_kwargs or {}),
        )
        if cmap_dim is None:
            cmap_dim = block_channels(4, channel_base, channel_max)
        if c_dim == 0:
            cmap_dim = 0
        self.cmap_dim = cmap_dim

        common = {"img_channels": img_channels, "architecture": architecture, "conv_clamp": conv_clamp}
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                in_channels=block_channels(res, channel_base, channel_max) if res < img_resolution else 0,
                tmp_channels=block_channels(res, channel_base, channel_max),
                out_channels=block_channels(res // 2, channel_base, channel_max),
                resolution=res,
                first_layer_idx=layer_idx,
                use_fp16=res >= lowest_fp16,
                **(block_kwargs or {}),
                **common,
            )
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(
                z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None, **(mapping_kwargs or {})
            )
        self.b4 = DiscriminatorEpilogue(
            block_channels(4, channel_base, channel_max),
            cmap_dim=cmap_dim,
            resolution=4,
            reads_image=architecture == "skip" or not self.block_resolutions,
            **(epilogue_kwargs or {}),
            **common,
        )

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False) -> torch.Tensor:
        """Score images.

        Parameters
        ----------
        img : torch.Tensor
            ``[N, img_channels, img_resolution, img_resolution]``, about [-1, 1].
        c : torch.Tensor, optional
            Labels ``[N, c_dim]``; required iff ``c_dim > 0``.
        force_fp32 : bool
            Disable float16 blocks.

        Returns
        -------
        torch.Tensor
            Logits ``[N, 1]`` (real > fake).
        """
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if not isinstance(img, torch.Tensor) or img.ndim != 4 or tuple(img.shape[1:]) != expected:
            got = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
            raise ValueError(f"img must have shape [N, {', '.join(map(str, expected))}], got {got}")
        check_labels(c, self.c_dim, img.shape[0], "img")
        cmap = self.mapping(None, c) if self.c_dim > 0 else None

        memory_format = self.memory_format
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32, memory_format=memory_format)
        return self.b4(x, img, cmap, force_fp32=force_fp32, memory_format=memory_format)

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format of the activations: that of the 4x4 head's 3x3 convolution weight.

        ``torch.channels_last`` after ``.to(memory_format=torch.channels_last)`` (which converts the
        4-D weights): the image is then taken in that format (converted once if it comes
        contiguous; pass it channels-last to avoid that copy) and every feature map stays
        channels-last. ``torch.contiguous_format`` otherwise.
        """
        return memory_format_of(self.b4.conv.weight)

    def extra_repr(self) -> str:
        return f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, img_channels={self.img_channels}"
