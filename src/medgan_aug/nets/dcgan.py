"""DCGAN generator and discriminator, configurable, with presets of two published studies.

:class:`DCGANGenerator` maps a latent (and optionally a label) through a dense
layer to a ``base_resolution`` feature map, then doubles the side with stride-2
transposed convolutions up to ``img_resolution``; :class:`DCGANDiscriminator`
halves the side with stride-2 convolutions and reads one logit with a dense
layer. Both follow the constructor and call conventions of
:class:`~medgan_aug.nets.StyleGenerator` / :class:`~medgan_aug.nets.StyleDiscriminator`
(``z_dim``, ``c_dim``, ``img_resolution``, ``img_channels``; ``G(z, c)``,
``D(img, c)``) and save and load with :meth:`~CheckpointMixin.save` /
:meth:`~CheckpointMixin.from_checkpoint`.

Weights of every dense layer and (transposed) convolution are drawn from
N(0, 0.02), batch-norm scales from N(1, 0.02), biases are zero (Radford et al.,
2016). ``norm="layer"`` normalises each sample over its channels and pixels
with a per-channel scale and shift (``GroupNorm`` with one group), the
batch-independent normalisation a WGAN-GP critic needs (Gulrajani et al.,
2017). Padding is ``(kernel_size - 1) // 2`` (and, for transposed
convolutions, output padding ``kernel_size % 2``), so every stride-2 layer
exactly doubles or halves the side for any kernel size >= 2.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from .checkpoint import CheckpointMixin
from .mapping import check_labels, check_mask_channels

__all__ = ["DCGAN_PRESETS", "DCGANDiscriminator", "DCGANGenerator"]

_NORMS = ("batch", "layer", "none")
_ACTIVATIONS = ("lrelu", "relu")
_NOISE_MODES = ("random", "const", "none")
_INIT_STD = 0.02

DCGAN_PRESETS: dict[str, dict[str, Any]] = {
    # Dermoscopy at 128 px. Stated: z 100, dense to 32x32x32, two 5x5 stride-2 transposed convolutions with
    # batch norm and LeakyReLU, tanh output; D two 5x5 stride-2 convolutions with LeakyReLU and dropout 0.3.
    # Not stated, chosen here: RGB; G keeps 32 channels at 64x64 (the dense layer's width); D widths 64 and
    # 128 (the DCGAN doubling); no normalisation in D; LeakyReLU slope 0.2; D's dense layer reads the flattened
    # 32x32 features. No optimiser settings are stated.
    "dermoscopy128": {
        "G": {
            "z_dim": 100,
            "img_resolution": 128,
            "img_channels": 3,
            "base_resolution": 32,
            "channels": (32, 32),
            "kernel_size": 5,
            "norm": "batch",
            "activation": "lrelu",
        },
        "D": {
            "img_resolution": 128,
            "img_channels": 3,
            "base_resolution": 32,
            "channels": (64, 128),
            "kernel_size": 5,
            "norm": "none",
            "activation": "lrelu",
            "dropout": 0.3,
        },
        "optimizer": None,
    },
    # MNIST. Stated: z 100, dense to 7x7x128, two 4x4 stride-2 transposed convolutions, Adam 2e-4 with
    # beta1 0.5. Not stated, chosen here: 64 channels at 14x14 (the DCGAN halving); batch norm and LeakyReLU
    # (slope 0.2) after the dense layer and the first transposed convolution; D mirrors G (4x4 stride-2
    # convolutions to 64 and 128 channels) with the dermoscopy D's LeakyReLU and dropout 0.3, no normalisation.
    "mnist28": {
        "G": {
            "z_dim": 100,
            "img_resolution": 28,
            "img_channels": 1,
            "base_resolution": 7,
            "channels": (128, 64),
            "kernel_size": 4,
            "norm": "batch",
            "activation": "lrelu",
        },
        "D": {
            "img_resolution": 28,
            "img_channels": 1,
            "base_resolution": 7,
            "channels": (64, 128),
            "kernel_size": 4,
            "norm": "none",
            "activation": "lrelu",
            "dropout": 0.3,
        },
        "optimizer": {"lr": 2e-4, "betas": (0.5, 0.999)},
    },
}
"""The published DCGAN architectures by name: ``"G"`` and ``"D"`` keyword arguments and, where the study gave
one, the ``"optimizer"`` settings (learning rate and Adam betas)."""


def _check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _num_stride2_layers(img_resolution: int, base_resolution: int) -> int:
    """``k`` with ``img_resolution == base_resolution * 2**k``, k >= 1."""
    _check_positive_int(img_resolution, "img_resolution")
    _check_positive_int(base_resolution, "base_resolution")
    ratio, remainder = divmod(img_resolution, base_resolution)
    if remainder or ratio < 2 or ratio & (ratio - 1):
        reachable = ", ".join(str(base_resolution * 2**k) for k in range(1, 5))
        raise ValueError(
            f"img_resolution={img_resolution} is not reachable from base_resolution={base_resolution}: it must be "
            f"base_resolution * 2**k with k >= 1 stride-2 layers ({reachable}, ...)"
        )
    return ratio.bit_length() - 1


def _resolve_channels(
    channels: Sequence[int] | None, num_layers: int, default: Sequence[int], img_resolution: int, base_resolution: int
) -> list[int]:
    if channels is None:
        return list(default)
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
        raise ValueError(f"channels must be a sequence of integers, got {channels!r}")
    if len(channels) != num_layers:
        raise ValueError(
            f"channels has {len(channels)} entries but img_resolution={img_resolution} from "
            f"base_resolution={base_resolution} needs {num_layers} (one per stride-2 layer)"
        )
    return [_check_positive_int(ch, f"channels[{i}]") for i, ch in enumerate(channels)]


def _activation(name: str, lrelu_slope: float) -> nn.Module:
    return nn.LeakyReLU(lrelu_slope) if name == "lrelu" else nn.ReLU()


def _norm_layer(norm: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.GroupNorm(1, channels)


def _init_weights(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, _INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, _INIT_STD)
            nn.init.zeros_(layer.bias)


def _preset(name: str, role: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if name not in DCGAN_PRESETS:
        raise ValueError(f"unknown DCGAN preset {name!r}; available: {', '.join(sorted(DCGAN_PRESETS))}")
    return {**copy.deepcopy(DCGAN_PRESETS[name][role]), **overrides}


class DCGANGenerator(CheckpointMixin):
    """DCGAN generator: dense layer to a feature map, stride-2 transposed convolutions, tanh.

    Layers: ``[label embedding] -> dense -> reshape to channels[0] x base x base
    -> norm -> activation``, then for each further entry of ``channels`` a
    transposed convolution ``-> norm -> activation`` doubling the side, and a
    last transposed convolution to ``img_channels`` followed by tanh. Layers
    followed by a norm have no bias (the norm's shift replaces it).

    Parameters
    ----------
    z_dim : int
        Latent size.
    c_dim : int
        Number of classes, 0 for unconditional.
    img_resolution : int
        Output side; must equal ``base_resolution * 2**len(channels)``.
    img_channels : int
        1 for grayscale, 3 for RGB.
    base_resolution : int
        Side of the dense layer's feature map.
    channels : sequence of int, optional
        Feature channels at ``base_resolution``, ``2 * base_resolution``, ...,
        ``img_resolution / 2`` (one entry per stride-2 layer). Default:
        halving from ``min(64 * 2**(k-1), channel_max)`` to ``min(64, channel_max)``, as in DCGAN.
    channel_max : int
        Cap of the default widths (ignored when ``channels`` is given).
    kernel_size : int
        Side of the transposed-convolution kernels, >= 2.
    norm : {'batch', 'layer', 'none'}
        Normalisation after the dense layer and every transposed convolution but the last.
    activation : {'lrelu', 'relu'}
        Activation after each normalisation.
    lrelu_slope : float
        Negative slope of LeakyReLU.
    c_embed_dim : int, optional
        Size of the label embedding concatenated to ``z`` (default ``c_dim``,
        as in the conditional GAN of Mirza & Osindero; ignored when ``c_dim``
        is 0). Initialised from N(0, 1) so that each entry starts at the scale
        of an entry of ``z``. An embedding as wide as ``z`` lets the label
        drown the latent (on the demo's phantom planes such generators
        collapsed to one image per class).
    mask_channels : int
        How many of the ``img_channels`` outputs are segmentation masks (the last ones, foreground > 0)
        generated with the image; 0 for images only.

    Examples
    --------
    >>> G = DCGANGenerator.preset("mnist28")
    >>> G(torch.randn(4, 100)).shape
    torch.Size([4, 1, 28, 28])
    """

    def __init__(
        self,
        z_dim: int = 100,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 1,
        *,
        base_resolution: int = 4,
        channels: Sequence[int] | None = None,
        channel_max: int = 512,
        kernel_size: int = 4,
        norm: Literal["batch", "layer", "none"] = "batch",
        activation: Literal["lrelu", "relu"] = "lrelu",
        lrelu_slope: float = 0.2,
        c_embed_dim: int | None = None,
        mask_channels: int = 0,
    ) -> None:
        super().__init__()
        _check_positive_int(z_dim, "z_dim")
        _check_positive_int(c_dim, "c_dim", minimum=0)
        _check_positive_int(img_channels, "img_channels")
        _check_positive_int(kernel_size, "kernel_size", minimum=2)
        _check_choice(norm, "norm", _NORMS)
        _check_choice(activation, "activation", _ACTIVATIONS)
        num_up = _num_stride2_layers(img_resolution, base_resolution)
        _check_positive_int(channel_max, "channel_max")
        default = [min(64 * 2 ** (num_up - 1 - i), channel_max) for i in range(num_up)]
        channels = _resolve_channels(channels, num_up, default, img_resolution, base_resolution)
        if c_embed_dim is not None:
            _check_positive_int(c_embed_dim, "c_embed_dim")
        embed_dim = (c_dim if c_embed_dim is None else c_embed_dim) if c_dim > 0 else 0
        self.mask_channels = check_mask_channels(mask_channels, img_channels)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.record_init_kwargs(
            z_dim=z_dim,
            c_dim=c_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            base_resolution=base_resolution,
            channels=list(channels),
            kernel_size=kernel_size,
            norm=norm,
            activation=activation,
            lrelu_slope=lrelu_slope,
            c_embed_dim=embed_dim or None,
            mask_channels=mask_channels,
        )

        normed = norm != "none"
        padding, output_padding = (kernel_size - 1) // 2, kernel_size % 2
        if c_dim > 0:
            self.embed = nn.Linear(c_dim, embed_dim, bias=False)
        self.fc = nn.Linear(z_dim + embed_dim, channels[0] * base_resolution**2, bias=not normed)
        layers: list[nn.Module] = [nn.Unflatten(1, (channels[0], base_resolution, base_resolution))]
        for i, (in_ch, out_ch) in enumerate(zip(channels, [*channels[1:], img_channels], strict=True)):
            if normed:
                layers.append(_norm_layer(norm, in_ch))
            layers.append(_activation(activation, lrelu_slope))
            last = i == num_up - 1
            layers.append(
                nn.ConvTranspose2d(
                    in_ch,
                    out_ch,
                    kernel_size,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=last or not normed,
                )
            )
        layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        _init_weights(self)
        if c_dim > 0:
            nn.init.normal_(self.embed.weight, 0.0, 1.0)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DCGANGenerator:
        """Build the generator of a study in :data:`DCGAN_PRESETS`.

        Parameters
        ----------
        name : str
            ``'dermoscopy128'`` or ``'mnist28'``.
        **overrides
            Constructor arguments to change, e.g. ``c_dim=2``.

        Returns
        -------
        DCGANGenerator
            A freshly initialised generator.
        """
        return cls(**_preset(name, "G", overrides))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        *,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
        force_fp32: bool = False,
        update_w_avg: bool = True,
    ) -> torch.Tensor:
        """Generate images.

        The keyword arguments mirror :meth:`StyleGenerator.forward` so that
        samplers and metrics drive both generators alike.

        Parameters
        ----------
        z : torch.Tensor
            Latents ``[N, z_dim]``.
        c : torch.Tensor, optional
            Labels ``[N, c_dim]`` (one-hot for classes); required iff ``c_dim > 0``.
        truncation_psi : float
            Scales ``z`` (whose prior mean is 0), the analogue of StyleGAN's
            lerp toward the mean latent; 1 for no truncation.
        noise_mode : str
            ``'random'``, ``'const'`` or ``'none'``; a DCGAN has no noise inputs,
            so all three give the same images.
        force_fp32 : bool
            Accepted for compatibility; the network always runs in the input's precision.
        update_w_avg : bool
            Accepted for compatibility; a DCGAN tracks no mean latent.

        Returns
        -------
        torch.Tensor
            ``[N, img_channels, img_resolution, img_resolution]`` in [-1, 1].
        """
        _check_choice(noise_mode, "noise_mode", _NOISE_MODES)
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.z_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {got}")
        check_labels(c, self.c_dim, z.shape[0], "z")
        x = z * truncation_psi if truncation_psi != 1 else z
        if self.c_dim > 0:
            x = torch.cat([x, self.embed(c.to(x.dtype))], dim=1)
        return self.net(self.fc(x))

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, "
            f"img_resolution={self.img_resolution}, img_channels={self.img_channels}"
            + (f", mask_channels={self.mask_channels}" if self.mask_channels else "")
        )


class DCGANDiscriminator(CheckpointMixin):
    """DCGAN discriminator: stride-2 convolutions, a dense logit, projection conditioning.

    Layers: for each entry of ``channels`` a stride-2 convolution halving the
    side ``-> norm -> activation -> dropout`` (no norm after the first, as in
    DCGAN), then a dense layer from the flattened ``channels[-1] x base x
    base`` features ``h`` to one logit. A conditional discriminator adds
    ``<embed(c), h>`` to the logit (projection discriminator, Miyato &
    Koyama, 2018), so for a one-hot ``c`` each class has its own dense direction
    on top of the shared one.

    Parameters
    ----------
    c_dim : int
        Number of classes, 0 for unconditional.
    img_resolution : int
        Input side; must equal ``base_resolution * 2**len(channels)``.
    img_channels : int
        1 for grayscale, 3 for RGB.
    base_resolution : int
        Side of the last feature map.
    channels : sequence of int, optional
        Output channels of each convolution (one per stride-2 layer). Default:
        doubling from 64, capped at ``channel_max``, as in DCGAN.
    channel_max : int
        Cap of the default widths (ignored when ``channels`` is given).
    kernel_size : int
        Side of the convolution kernels, >= 2.
    norm : {'batch', 'layer', 'none'}
        Normalisation after every convolution but the first; ``'layer'`` (per sample) for a WGAN-GP critic,
        whose gradient penalty is per sample and so must not mix the samples of a batch as batch norm does.
    activation : {'lrelu', 'relu'}
        Activation after each convolution.
    lrelu_slope : float
        Negative slope of LeakyReLU.
    dropout : float
        Probability of zeroing an activation after each convolution, in training mode only.
    """

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 1,
        *,
        base_resolution: int = 4,
        channels: Sequence[int] | None = None,
        channel_max: int = 512,
        kernel_size: int = 4,
        norm: Literal["batch", "layer", "none"] = "batch",
        activation: Literal["lrelu", "relu"] = "lrelu",
        lrelu_slope: float = 0.2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_positive_int(c_dim, "c_dim", minimum=0)
        _check_positive_int(img_channels, "img_channels")
        _check_positive_int(kernel_size, "kernel_size", minimum=2)
        _check_choice(norm, "norm", _NORMS)
        _check_choice(activation, "activation", _ACTIVATIONS)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        num_down = _num_stride2_layers(img_resolution, base_resolution)
        _check_positive_int(channel_max, "channel_max")
        default = [min(64 * 2**i, channel_max) for i in range(num_down)]
        channels = _resolve_channels(channels, num_down, default, img_resolution, base_resolution)
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.record_init_kwargs(
            c_dim=c_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            base_resolution=base_resolution,
            channels=list(channels),
            kernel_size=kernel_size,
            norm=norm,
            activation=activation,
            lrelu_slope=lrelu_slope,
            dropout=float(dropout),
        )

        padding = (kernel_size - 1) // 2
        layers: list[nn.Module] = []
        for i, (in_ch, out_ch) in enumerate(zip([img_channels, *channels[:-1]], channels, strict=True)):
            normed = norm != "none" and i > 0
            layers.append(nn.Conv2d(in_ch, out_ch, kernel_size, stride=2, padding=padding, bias=not normed))
            if normed:
                layers.append(_norm_layer(norm, out_ch))
            layers.append(_activation(activation, lrelu_slope))
            # Identity keeps the state-dict keys independent of dropout, which a checkpoint may override.
            layers.append(nn.Dropout(dropout) if dropout > 0 else nn.Identity())
        layers.append(nn.Flatten(1))
        self.features = nn.Sequential(*layers)
        num_features = channels[-1] * base_resolution**2
        self.fc = nn.Linear(num_features, 1)
        if c_dim > 0:
            self.embed = nn.Linear(c_dim, num_features, bias=False)
        _init_weights(self)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DCGANDiscriminator:
        """Build the discriminator of a study in :data:`DCGAN_PRESETS`.

        Parameters
        ----------
        name : str
            ``'dermoscopy128'`` or ``'mnist28'``.
        **overrides
            Constructor arguments to change, e.g. ``c_dim=2``.

        Returns
        -------
        DCGANDiscriminator
            A freshly initialised discriminator.
        """
        return cls(**_preset(name, "D", overrides))

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False) -> torch.Tensor:
        """Score images.

        Parameters
        ----------
        img : torch.Tensor
            ``[N, img_channels, img_resolution, img_resolution]``, about [-1, 1].
        c : torch.Tensor, optional
            Labels ``[N, c_dim]``; required iff ``c_dim > 0``.
        force_fp32 : bool
            Accepted for compatibility with :meth:`StyleDiscriminator.forward`.

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
        h = self.features(img)
        logits = self.fc(h)
        if self.c_dim > 0:
            logits = logits + (self.embed(c.to(h.dtype)) * h).sum(dim=1, keepdim=True)
        return logits

    def extra_repr(self) -> str:
        return f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, img_channels={self.img_channels}"
