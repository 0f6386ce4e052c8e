"""The StyleGAN2 synthesis network: intermediate latents ``ws`` → images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .. import ops
from .layers import (
    DEFAULT_RESAMPLE_FILTER,
    Conv2dLayer,
    FullyConnectedLayer,
    block_format,
    initial_weight,
    memory_format_of,
    register_resample_filter,
)

__all__ = [
    "ARCHITECTURES",
    "NOISE_MODES",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGBLayer",
    "block_channels",
    "check_resolution",
]

ARCHITECTURES = ("orig", "skip", "resnet")
NOISE_MODES = ("random", "const", "none")


def check_resolution(img_resolution: int, name: str = "img_resolution") -> int:
    """Return log2 of ``img_resolution``, which must be a power of two of at least 4 (errors name it ``name``)."""
    if not isinstance(img_resolution, int) or img_resolution < 4 or img_resolution & (img_resolution - 1):
        raise ValueError(f"{name} must be a power of two >= 4, got {img_resolution!r}")
    return img_resolution.bit_length() - 1


def check_architecture(architecture: str) -> None:
    """Raise a ValueError naming the valid choices for an unknown ``architecture``."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")


def block_channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at ``resolution``: ``min(channel_base // resolution, channel_max)``."""
    return min(channel_base // resolution, channel_max)


def fp16_resolution(img_resolution_log2: int, num_fp16_res: int) -> int:
    """Lowest resolution computed in float16 (the top ``num_fp16_res`` ones, never 4x4)."""
    return max(2 ** (img_resolution_log2 + 1 - num_fp16_res), 8)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution with noise, bias, activation and optional 2x upsampling.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    w_dim : int
        Size of ``w``, mapped to per-channel styles by ``affine``.
    resolution : int
        Output resolution (size of the stored constant noise).
    kernel_size : int
        Convolution size.
    up : int
        1, or 2 to upsample.
    use_noise : bool
        Add per-pixel noise with a learned strength.
    activation : str
        Activation after the bias.
    resample_filter : sequence of float
        FIR filter for upsampling.
    conv_clamp : float, optional
        Clamp of the activations.
    channels_last : bool
        Store the weight channels-last.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: Sequence[float] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = ops.ACTIVATIONS[activation].default_gain

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(initial_weight(out_channels, in_channels, kernel_size, channels_last))
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        register_resample_filter(self, resample_filter)
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True, gain: float = 1
    ) -> torch.Tensor:
        """Apply with style vector ``w`` ``[N, w_dim]``; ``gain`` scales output and clamp."""
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = ops.modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,
            fused_modconv=fused_modconv,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated (not demodulated) convolution from features to image channels.

    Parameters
    ----------
    in_channels : int
        Feature channels.
    out_channels : int
        Image channels.
    w_dim : int
        Size of ``w``.
    kernel_size : int
        Convolution size (1 in StyleGAN2).
    conv_clamp : float, optional
        Clamp of the output.
    channels_last : bool
        Store the weight channels-last.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(initial_weight(out_channels, in_channels, kernel_size, channels_last))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        """Project ``x`` to image channels with style vector ``w``."""
        # Without demodulation the He constant is folded into the styles.
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (upsample +) two modulated convolutions (+ ToRGB).

    Parameters
    ----------
    in_channels : int
        Channels coming in; 0 for the first block, which starts from a learned constant.
    out_channels : int
        Channels produced.
    w_dim : int
        Size of ``w``.
    resolution : int
        Output resolution.
    img_channels : int
        Image channels.
    is_last : bool
        Last block (always has ToRGB).
    architecture : str
        ``'orig'``, ``'skip'`` (images summed across resolutions) or ``'resnet'``.
    resample_filter : sequence of float
        FIR filter for upsampling.
    conv_clamp : float, optional
        Clamp of the activations.
    use_fp16 : bool
        Compute in float16 on CUDA.
    fp16_channels_last : bool
        Use channels-last memory format in float16 blocks.
    kernel_size, use_noise, activation
        Passed to each :class:`SynthesisLayer`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: Sequence[float] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        kernel_size: int = 3,
        use_noise: bool = True,
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        register_resample_filter(self, resample_filter)
        layer_kwargs = {
            "kernel_size": kernel_size,
            "use_noise": use_noise,
            "activation": activation,
            "resample_filter": resample_filter,
            "conv_clamp": conv_clamp,
            "channels_last": self.channels_last,
        }

        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(
                out_channels, img_channels, w_dim, conv_clamp=conv_clamp, channels_last=self.channels_last
            )
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                up=2,
                resample_filter=resample_filter,
                channels_last=self.channels_last,
            )

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "random",
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run on features ``x`` and the running image ``img``; ``ws`` is ``[N, num_conv + num_torgb, w_dim]``.

        ``memory_format`` is the network's (see :attr:`SynthesisNetwork.memory_format`); the features
        and the image are kept in it.
        """
        w_iter = iter(ws.unbind(dim=1))
        image_format = memory_format
        dtype, memory_format = block_format(self.use_fp16, self.channels_last, force_fp32, ws.device, image_format)
        channels_last = memory_format == torch.channels_last
        if fused_modconv is None:
            # Per-sample weights in one grouped convolution are cheapest for CUDA
            # inference in float32; in training, in float16 and on CPUs (oneDNN's
            # grouped convolutions run about 2x slower) scaling activations is. The
            # grouped convolution folds the batch into the channels, which a
            # channels-last batch of more than one image cannot do without a relayout.
            batch = ws.shape[0]
            fused_modconv = not self.training and (
                batch == 1 or (dtype == torch.float32 and ws.device.type == "cuda" and not channels_last)
            )

        if self.in_channels == 0:
            const = self.const.to(dtype=dtype)
            if channels_last:
                # Repeated as [N, H, W, C] and viewed as NCHW: channels-last without a second copy.
                x = const.permute(1, 2, 0).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1]).permute(0, 3, 1, 2)
            else:
                x = const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)

        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=image_format)
            img = img + y if img is not None else y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}, use_fp16={self.use_fp16}"


class SynthesisNetwork(nn.Module):
    """Stack of :class:`SynthesisBlock` from 4x4 to ``img_resolution``.

    Parameters
    ----------
    w_dim : int
        Size of ``w``.
    img_resolution : int
        Output resolution, a power of two >= 4.
    img_channels : int
        Output channels (1 for grayscale modalities, 3 for RGB).
    channel_base : int
        Channels at resolution ``r`` are ``min(channel_base // r, channel_max)``.
    channel_max : int
        Upper bound of the channels.
    num_fp16_res : int
        Run the top this many resolutions in float16 on CUDA.
    architecture, resample_filter, conv_clamp, fp16_channels_last, kernel_size, use_noise, activation
        Passed to every :class:`SynthesisBlock`.
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        architecture: str = "skip",
        resample_filter: Sequence[float] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        fp16_channels_last: bool = False,
        kernel_size: int = 3,
        use_noise: bool = True,
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = check_resolution(img_resolution)
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        lowest_fp16 = fp16_resolution(self.img_resolution_log2, num_fp16_res)

        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = block_channels(res // 2, channel_base, channel_max) if res > 4 else 0
            out_channels = block_channels(res, channel_base, channel_max)
            block = SynthesisBlock(
                in_channels,
                out_channels,
                w_dim,
                resolution=res,
                img_channels=img_channels,
                is_last=res == img_resolution,
                architecture=architecture,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                use_fp16=res >= lowest_fp16,
                fp16_channels_last=fp16_channels_last,
                kernel_size=kernel_size,
                use_noise=use_noise,
                activation=activation,
            )
            self.num_ws += block.num_conv
            if res == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format of the activations: that of the 4x4 block's 3x3 convolution weight.

        ``torch.channels_last`` after ``.to(memory_format=torch.channels_last)`` (which converts the
        4-D weights), and then every feature map and the image, the output included, stay
        channels-last; ``torch.contiguous_format`` otherwise (float16 blocks built with
        ``fp16_channels_last`` still run channels-last on CUDA, as in the reference).
        """
        return memory_format_of(self.b4.conv1.weight)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        """Synthesise images from ``ws`` ``[N, num_ws, w_dim]``.

        Parameters
        ----------
        ws : torch.Tensor
            One ``w`` per layer.
        noise_mode : str
            ``'random'`` (fresh noise), ``'const'`` (the stored noise, reproducible) or ``'none'``.
        force_fp32 : bool
            Compute every block in float32.
        fused_modconv : bool, optional
            Force the modulated-convolution strategy (default: by mode and dtype).

        Returns
        -------
        torch.Tensor
            ``[N, img_channels, img_resolution, img_resolution]`` float32, roughly in [-1, 1], in
            :attr:`memory_format`.
        """
        if not isinstance(ws, torch.Tensor) or ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            got = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {got}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        ws = ws.to(torch.float32)
        memory_format = self.memory_format
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(
                x,
                img,
                block_ws,
                noise_mode=noise_mode,
                force_fp32=force_fp32,
                fused_modconv=fused_modconv,
                memory_format=memory_format,
            )
        return img

    def extra_repr(self) -> str:
        return f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}"
