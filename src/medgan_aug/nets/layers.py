"""Building blocks shared by the StyleGAN2 generator and discriminator.

Parameters are stored at unit scale and multiplied by their He constant at
run time (equalised learning rate), so Adam's per-parameter steps are
comparable across layers. Names of parameters and buffers follow the
StyleGAN2-ADA checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .. import ops

__all__ = [
    "Conv2dLayer",
    "FullyConnectedLayer",
    "MinibatchStdLayer",
    "block_format",
    "memory_format_of",
    "normalize_2nd_moment",
]

DEFAULT_RESAMPLE_FILTER = (1, 3, 3, 1)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit mean square along ``dim``.

    Parameters
    ----------
    x : torch.Tensor
        Input, e.g. latents ``[N, z_dim]``.
    dim : int
        Dimension to normalise over.
    eps : float
        Added to the mean square before the inverse square root.

    Returns
    -------
    torch.Tensor
        ``x * rsqrt(mean(x**2) + eps)``.
    """
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def memory_format_of(tensor: torch.Tensor) -> torch.memory_format:
    """The memory format a 4-D tensor (a convolution weight or an activation) is stored in.

    ``torch.channels_last`` when ``tensor`` is channels-last and not also contiguous (a tensor
    with one channel or a 1x1 plane is both, and says nothing), else ``torch.contiguous_format``.
    ``module.to(memory_format=torch.channels_last)`` converts every 4-D parameter and buffer, so a
    network reads its activations' format off one of its 3x3 convolution weights.
    """
    cl = torch.channels_last
    if tensor.ndim == 4 and tensor.is_contiguous(memory_format=cl) and not tensor.is_contiguous():
        return cl
    return torch.contiguous_format


def block_format(
    use_fp16: bool,
    channels_last: bool,
    force_fp32: bool,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[torch.dtype, torch.memory_format]:
    """Dtype and memory format of a block's activations.

    float16 for a block flagged ``use_fp16`` on CUDA, float32 everywhere else. The format is
    the network's ``memory_format`` (channels-last for a network converted with
    ``.to(memory_format=torch.channels_last)``), or channels-last in a float16 block that asks for
    it (the reference's ``fp16_channels_last``), contiguous otherwise.
    """
    fp16 = use_fp16 and not force_fp32 and device.type == "cuda"
    if memory_format == torch.channels_last or (fp16 and channels_last):
        memory_format = torch.channels_last
    else:
        memory_format = torch.contiguous_format
    return (torch.float16 if fp16 else torch.float32), memory_format


def initial_weight(out_channels: int, in_channels: int, kernel_size: int, channels_last: bool) -> torch.Tensor:
    """Unit-normal convolution weight, stored channels-last for float16 blocks that ask for it."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format)


def register_resample_filter(module: nn.Module, resample_filter: Sequence[float] | torch.Tensor) -> None:
    """Register the normalised FIR filter as the ``resample_filter`` buffer checkpoints carry."""
    module.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))


class FullyConnectedLayer(nn.Module):
    """Affine layer with equalised learning rate and a fused activation.

    Parameters
    ----------
    in_features, out_features : int
        Sizes.
    bias : bool
        Learn a bias.
    activation : str
        Any name in :data:`medgan_aug.ops.ACTIVATIONS`.
    lr_multiplier : float
        Learning-rate multiplier: weights are stored divided by it and scaled
        back at run time, so their effective step shrinks by this factor.
    bias_init : float
        Initial bias value (1 for style affines, so styles start at 1).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply to ``x`` of shape ``[N, in_features]``."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Convolution with equalised learning rate, FIR resampling, bias, activation and clamp.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_size : int
        Square kernel size; padding keeps the size.
    bias : bool
        Learn a bias.
    activation : str
        Any name in :data:`medgan_aug.ops.ACTIVATIONS`.
    up, down : int
        Resampling factor (1 or 2).
    resample_filter : sequence of float
        Low-pass FIR filter used for resampling.
    conv_clamp : float, optional
        Clamp the output to ``[-conv_clamp, conv_clamp]`` (times the gain).
    channels_last : bool
        Store the weight in channels-last memory format.
    trainable : bool
        ``False`` stores weight and bias as buffers (frozen layers in transfer
        learning), under the same state-dict names.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        channels_last: bool = False,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ops.ACTIVATIONS[activation].default_gain

        weight = initial_weight(out_channels, in_channels, kernel_size, channels_last)
        bias_value = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias_value) if bias_value is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_value)
        register_resample_filter(self, resample_filter)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """Convolve ``x`` ``[N, in_channels, H, W]``; ``gain`` scales output and clamp."""
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = ops.conv2d_resample(
            x,
            w.to(x.dtype),
            f=self.resample_filter,
            up=self.up,
            down=self.down,
            padding=self.padding,
            flip_weight=self.up == 1,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}, "
            f"up={self.up}, down={self.down}"
        )


class MinibatchStdLayer(nn.Module):
    """Append the standard deviation across groups of samples as extra feature maps.

    The batch is split into groups of ``group_size`` samples (sample ``i`` in
    group ``i mod N/group_size``); for each group and each of
    ``num_channels`` channel slices, the per-pixel standard deviation over
    the group is averaged into one number, broadcast as a feature map. It lets
    the discriminator see a lack of variety in generated batches.

    Parameters
    ----------
    group_size : int, optional
        Samples per group, capped at the batch size; ``None`` means the whole batch.
    num_channels : int
        Number of statistics (channel slices) appended.
    """

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` → ``[N, C + num_channels, H, W]``."""
        n, c, h, w = x.shape
        group = min(self.group_size, n) if self.group_size is not None else n
        if n % group != 0:
            raise ValueError(
                f"minibatch standard deviation needs a batch size divisible by its group size {group}, got {n}"
            )
        if c % self.num_channels != 0:
            raise ValueError(f"{c} channels cannot be split into {self.num_channels} minibatch-std slices")
        y = x.reshape(group, -1, self.num_channels, c // self.num_channels, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        if memory_format_of(x) == torch.channels_last:
            # Built as [N, H, W, num_channels] and viewed as NCHW, so the maps are channels-last
            # like x and the concatenation keeps that format.
            y = y.reshape(-1, 1, 1, self.num_channels).repeat(group, h, w, 1).permute(0, 3, 1, 2)
        else:
            y = y.reshape(-1, self.num_channels, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
