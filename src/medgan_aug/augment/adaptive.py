"""Adaptive discriminator augmentation (ADA): the non-leaking augmentation pipeline.

Karras et al., "Training Generative Adversarial Networks with Limited Data"
(NeurIPS 2020). Every transform is applied to each sample independently with
probability ``multiplier * p`` and is invertible in distribution, so the
generator cannot learn the augmentations as long as ``p`` stays below about
0.8. Geometric transforms are composed into one matrix and applied once, with
reflect padding and 2x oversampling through a wavelet low-pass filter, so
that resampling does not alias.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops
from ..nets.mapping import check_mask_channels
from .matrices import rotate2d, rotate3d, scale2d, scale3d, translate2d, translate3d
from .wavelets import SYM2, SYM6, band_filter_bank

__all__ = ["COLOR_TRANSFORMS", "PRESETS", "TRANSFORMS", "AdaptiveAugment", "AugmentParams"]

_GROUPS = {
    "blit": ("xflip", "rotate90", "xint"),
    "geom": ("scale", "rotate", "aniso", "xfrac"),
    "color": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
}
TRANSFORMS = tuple(name for group in _GROUPS.values() for name in group)
COLOR_TRANSFORMS = _GROUPS["color"]


def _preset(*groups: str) -> dict[str, float]:
    return {name: 1.0 for group in groups for name in _GROUPS[group]}


PRESETS: dict[str, dict[str, float]] = {
    **{group: _preset(group) for group in _GROUPS},
    "bg": _preset("blit", "geom"),
    "bgc": _preset("blit", "geom", "color"),
    "bgcf": _preset("blit", "geom", "color", "filter"),
    "bgcfn": _preset("blit", "geom", "color", "filter", "noise"),
    "bgcfnc": _preset("blit", "geom", "color", "filter", "noise", "cutout"),
}

# Expected power of natural images in the four filter bands (1/f spectrum):
# band gains are renormalised so the image's expected power is kept.
_BAND_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)
_LUMA_AXIS = (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3))


@dataclass
class AugmentParams:
    """Per-sample parameters of one pass of :class:`AdaptiveAugment`.

    Attributes
    ----------
    geometry : torch.Tensor
        ``[N, 3, 3]`` inverse homogeneous matrices: output pixel coordinates
        to input pixel coordinates, both centred on the image centre, x to the
        right and y down. Identity rows leave their samples untouched.
    color : torch.Tensor
        ``[N, 4, 4]`` homogeneous matrices acting on ``(r, g, b, 1)``; for
        one-channel images the mean of the first three rows is used.
    filter_gains : torch.Tensor
        ``[N, 4]`` gains of the frequency bands along each axis, lowest
        first; ones = identity. The filter is separable, so content in band
        ``i`` horizontally and band ``j`` vertically is scaled by
        ``gains[i] * gains[j]`` (a constant image by ``gains[0] ** 2``).
    noise_std : torch.Tensor
        ``[N]`` standard deviation of additive Gaussian noise (0 = none).
    cutout : torch.Tensor
        ``[N, 4]``: centre x, centre y, width, height of the zeroed
        rectangle, as fractions of the image size (size 0 = none).
    seed : int
        Seed of the additive noise, so that applying the same parameters
        twice gives the same images.
    """

    geometry: torch.Tensor
    color: torch.Tensor
    filter_gains: torch.Tensor
    noise_std: torch.Tensor
    cutout: torch.Tensor
    seed: int = 0

    @staticmethod
    def identity(batch: int, device: torch.device | str = "cpu") -> AugmentParams:
        """Parameters that change nothing, to edit by hand."""
        return AugmentParams(
            geometry=torch.eye(3, device=device).repeat(batch, 1, 1),
            color=torch.eye(4, device=device).repeat(batch, 1, 1),
            filter_gains=torch.ones(batch, len(_BAND_POWER), device=device),
            noise_std=torch.zeros(batch, device=device),
            cutout=torch.zeros(batch, 4, device=device),
        )

    def to(self, device: torch.device | str) -> AugmentParams:
        """The same parameters on ``device``."""
        tensors = {name: getattr(self, name).to(device) for name in _PARAM_TENSORS}
        return replace(self, **tensors)


_PARAM_TENSORS = ("geometry", "color", "filter_gains", "noise_std", "cutout")


def _reflect_pad(x: torch.Tensor, pad: Sequence[int]) -> torch.Tensor:
    """Reflect padding that also works for pads wider than the image (mirrors repeatedly)."""
    left, right, top, bottom = pad
    while left or right or top or bottom:
        width, height = x.shape[3], x.shape[2]
        step = [min(left, width - 1), min(right, width - 1), min(top, height - 1), min(bottom, height - 1)]
        if not any(step):
            return F.pad(x, [left, right, top, bottom], mode="replicate")
        x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = (a - b for a, b in zip((left, right, top, bottom), step, strict=True))
    return x


def _changed_rows(values: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    """Indices of the samples whose parameters differ from ``identity``."""
    return (values != identity).flatten(1).any(dim=1).nonzero().flatten()


def _on_rows(images: torch.Tensor, rows: torch.Tensor, transform, *args: torch.Tensor) -> torch.Tensor:
    """Apply ``transform`` to ``images[rows]`` only; the other samples stay bit-exact."""
    if rows.numel() == 0:
        return images
    if rows.numel() == images.shape[0]:
        return transform(images, *args)
    return images.index_copy(0, rows, transform(images[rows], *(arg[rows] for arg in args)))


class AdaptiveAugment(nn.Module):
    """ADA's augmentation pipeline for discriminator inputs, with augmentation probability ``p``.

    Apply it to every image the discriminator sees, real and generated, and
    let :class:`~medgan_aug.augment.AdaController` tune ``p``. Works on any
    NCHW batch with 1 or 3 channels (geometric, filter, noise and cutout
    transforms on any channel count), is differentiable with respect to the
    images (twice, as R1 needs), and leaves a batch untouched when ``p`` is 0.

    Parameters
    ----------
    preset : str, optional
        Transforms to enable: one of :data:`PRESETS` (``'bgc'``, the paper's
        default: pixel blitting, general geometry and colour). ``None`` starts
        with none, to switch on by multipliers.
    p : float
        Initial augmentation probability in [0, 1].
    color : bool
        ``False`` switches off the preset's colour transforms, for modalities
        where colour carries the diagnosis (dermoscopy).
    xflip, rotate90, xint, scale, rotate, aniso, xfrac : float, optional
        Multipliers of the geometric transforms' probabilities; given, they
        override the preset.
    brightness, contrast, lumaflip, hue, saturation : float, optional
        Multipliers of the colour transforms' probabilities; given, they
        override the preset and ``color``.
    imgfilter, noise, cutout : float, optional
        Multipliers of filtering, additive noise and cutout.
    xint_max : float
        Range of integer translation, as a fraction of the image size.
    scale_std : float
        Standard deviation of log2 isotropic scaling.
    rotate_max : float
        Range of rotation, as a fraction of a half turn each way.
    aniso_std : float
        Standard deviation of log2 anisotropic scaling.
    xfrac_std : float
        Standard deviation of fractional translation, as a fraction of the image size.
    brightness_std : float
        Standard deviation of the brightness offset.
    contrast_std : float
        Standard deviation of log2 contrast.
    hue_max : float
        Range of hue rotation, as a fraction of a half turn each way.
    saturation_std : float
        Standard deviation of log2 saturation.
    imgfilter_bands : sequence of float
        Probability multipliers of the four frequency bands.
    imgfilter_std : float
        Standard deviation of log2 band gains.
    noise_std : float
        Scale of the additive noise's standard deviation.
    cutout_size : float
        Size of the cutout rectangle, as a fraction of the image size.
    geom_filter : str or sequence of float
        Low-pass filter of the geometric resampling: ``'sym6'`` (the
        paper's), or an even number of taps such as ``(1, 3, 3, 1)``.
    mask_channels : int
        The last this many channels are segmentation masks trained with the
        image: geometric transforms move them with the image (one transform
        per sample for all channels); colour, filtering, noise and cutout
        change the image channels only.
    """

    def __init__(
        self,
        preset: str | None = "bgc",
        p: float = 0.0,
        *,
        color: bool = True,
        xflip: float | None = None,
        rotate90: float | None = None,
        xint: float | None = None,
        scale: float | None = None,
        rotate: float | None = None,
        aniso: float | None = None,
        xfrac: float | None = None,
        brightness: float | None = None,
        contrast: float | None = None,
        lumaflip: float | None = None,
        hue: float | None = None,
        saturation: float | None = None,
        imgfilter: float | None = None,
        noise: float | None = None,
        cutout: float | None = None,
        xint_max: float = 0.125,
        scale_std: float = 0.2,
        rotate_max: float = 1.0,
        aniso_std: float = 0.2,
        xfrac_std: float = 0.125,
        brightness_std: float = 0.2,
        contrast_std: float = 0.5,
        hue_max: float = 1.0,
        saturation_std: float = 1.0,
        imgfilter_bands: Sequence[float] = (1, 1, 1, 1),
        imgfilter_std: float = 1.0,
        noise_std: float = 0.1,
        cutout_size: float = 0.5,
        geom_filter: str | Sequence[float] = "sym6",
        mask_channels: int = 0,
    ) -> None:
        super().__init__()
        self.mask_channels = check_mask_channels(mask_channels)
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)} or None, got {preset!r}")
        multipliers = dict.fromkeys(TRANSFORMS, 0.0)
        multipliers.update(PRESETS[preset] if preset is not None else {})
        if not color:
            multipliers.update(dict.fromkeys(COLOR_TRANSFORMS, 0.0))
        given = {
            "xflip": xflip,
            "rotate90": rotate90,
            "xint": xint,
            "scale": scale,
            "rotate": rotate,
            "aniso": aniso,
            "xfrac": xfrac,
            "brightness": brightness,
            "contrast": contrast,
            "lumaflip": lumaflip,
            "hue": hue,
            "saturation": saturation,
            "imgfilter": imgfilter,
            "noise": noise,
            "cutout": cutout,
        }
        for name, value in given.items():
            if value is not None:
                if value < 0:
                    raise ValueError(f"{name} multiplier must be >= 0, got {value}")
                multipliers[name] = float(value)
        if len(imgfilter_bands) != len(_BAND_POWER):
            raise ValueError(f"imgfilter_bands must have {len(_BAND_POWER)} entries, got {len(imgfilter_bands)}")
        self.preset = preset
        self.multipliers = multipliers
        self.xint_max = xint_max
        self.scale_std = scale_std
        self.rotate_max = rotate_max
        self.aniso_std = aniso_std
        self.xfrac_std = xfrac_std
        self.brightness_std = brightness_std
        self.contrast_std = contrast_std
        self.hue_max = hue_max
        self.saturation_std = saturation_std
        self.imgfilter_bands = tuple(float(b) for b in imgfilter_bands)
        self.imgfilter_std = imgfilter_std
        self.noise_std = noise_std
        self.cutout_size = cutout_size

        taps = SYM6 if geom_filter == "sym6" else geom_filter
        if isinstance(taps, str) or len(taps) < 2 or len(taps) % 2:
            raise ValueError(f"geom_filter must be 'sym6' or an even number of taps, got {geom_filter!r}")
        # Where 2x upsampling puts input pixel i: at 2i + delay (the filter's
        # centroid relative to the centring that upsample2d assumes). The
        # resampling grid must use it, or flips, rotations and scalings of the
        # oversampled image move the content by twice the error.
        centroid = sum(k * t for k, t in enumerate(taps)) / sum(taps)
        self.geom_delay = centroid - (len(taps) - 1) + (len(taps) + 1) // 2
        self.register_buffer("p", torch.zeros([]))
        self.register_buffer("geom_filter", ops.setup_filter(list(taps), separable=True))
        self.register_buffer("band_filters", torch.as_tensor(band_filter_bank(SYM2), dtype=torch.float32))
        self.set_p(p)

    def set_p(self, p: float) -> None:
        """Set the augmentation probability (in [0, 1])."""
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p.fill_(p)

    # --- sampling -----------------------------------------------------------------------------

    def sample_params(
        self,
        batch: int,
        channels: int,
        height: int,
        width: int,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> AugmentParams:
        """Draw the parameters of one augmentation pass.

        Parameters
        ----------
        batch, channels, height, width : int
            Shape of the images.
        device : torch.device or str
            Device of the parameters.
        generator : torch.Generator, optional
            Random source (on ``device``); default the global one.

        Returns
        -------
        AugmentParams
        """
        channels = self._image_channels(channels)
        self._check_channels(channels)
        p = float(self.p)
        m = self.multipliers
        n = batch

        def rand(*shape: int) -> torch.Tensor:
            return torch.rand(shape, device=device, generator=generator)

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(shape, device=device, generator=generator)

        def applied(name: str, *shape: int) -> torch.Tensor:
            return rand(*(shape or (n,))) < m[name] * p

        params = AugmentParams.identity(n, device)
        params.seed = int(torch.randint(2**62, [1], device=device, generator=generator).item())
        ones, zeros = torch.ones(n, device=device), torch.zeros(n, device=device)
        geometry = params.geometry

        # Geometric transforms compose as inverse matrices, output → input.
        if m["xflip"] > 0:
            flip = torch.where(applied("xflip"), torch.floor(rand(n) * 2), zeros)
            geometry = geometry @ scale2d(1 - 2 * flip, 1)
        if m["rotate90"] > 0:
            quarter = torch.where(applied("rotate90"), torch.floor(rand(n) * 4), zeros).long()
            cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=device)[quarter]
            sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=device)[quarter]
            geometry = geometry @ rotate2d(cos, sin)
        if m["xint"] > 0:
            shift = torch.where(applied("xint", n, 1), (rand(n, 2) * 2 - 1) * self.xint_max, 0)
            geometry = geometry @ translate2d(-torch.round(shift[:, 0] * width), -torch.round(shift[:, 1] * height))
        if m["scale"] > 0:
            s = torch.where(applied("scale"), torch.exp2(randn(n) * self.scale_std), ones)
            geometry = geometry @ scale2d(1 / s, 1 / s)
        # Rotation comes twice, around the anisotropic scaling, each with the
        # probability that makes P(any rotation) = multiplier * p.
        p_rot = 1 - math.sqrt(min(max(1 - m["rotate"] * p, 0), 1))
        if m["rotate"] > 0:
            theta = torch.where(rand(n) < p_rot, (rand(n) * 2 - 1) * math.pi * self.rotate_max, zeros)
            geometry = geometry @ rotate2d(theta.cos(), theta.sin())
        if m["aniso"] > 0:
            s = torch.where(applied("aniso"), torch.exp2(randn(n) * self.aniso_std), ones)
            geometry = geometry @ scale2d(1 / s, s)
        if m["rotate"] > 0:
            theta = torch.where(rand(n) < p_rot, (rand(n) * 2 - 1) * math.pi * self.rotate_max, zeros)
            geometry = geometry @ rotate2d(theta.cos(), theta.sin())
        if m["xfrac"] > 0:
            shift = torch.where(applied("xfrac", n, 1), randn(n, 2) * self.xfrac_std, 0)
            geometry = geometry @ translate2d(-shift[:, 0] * width, -shift[:, 1] * height)
        params.geometry = geometry

        # Colour transforms compose as forward matrices on (r, g, b, 1).
        color = params.color
        axis = torch.tensor([*_LUMA_AXIS, 0.0], device=device)
        luma = torch.outer(axis, axis)
        eye = torch.eye(4, device=device)
        if m["brightness"] > 0:
            b = torch.where(applied("brightness"), randn(n) * self.brightness_std, zeros)
            color = translate3d(b, b, b) @ color
        if m["contrast"] > 0:
            c = torch.where(applied("contrast"), torch.exp2(randn(n) * self.contrast_std), ones)
            color = scale3d(c, c, c) @ color
        if m["lumaflip"] > 0:
            flip = torch.where(applied("lumaflip"), torch.floor(rand(n) * 2), zeros)
            color = (eye - 2 * luma * flip.reshape(n, 1, 1)) @ color
        if m["hue"] > 0 and channels > 1:
            theta = torch.where(applied("hue"), (rand(n) * 2 - 1) * math.pi * self.hue_max, zeros)
            color = rotate3d(_LUMA_AXIS, theta) @ color
        if m["saturation"] > 0 and channels > 1:
            s = torch.where(applied("saturation"), torch.exp2(randn(n) * self.saturation_std), ones)
            color = (luma + (eye - luma) * s.reshape(n, 1, 1)) @ color
        params.color = color

        if m["imgfilter"] > 0:
            power = torch.tensor(_BAND_POWER, device=device)
            gains = torch.ones(n, len(_BAND_POWER), device=device)
            any_band = torch.zeros(n, dtype=torch.bool, device=device)
            for band, strength in enumerate(self.imgfilter_bands):
                chosen = rand(n) < m["imgfilter"] * p * strength
                t = torch.ones(n, len(_BAND_POWER), device=device)
                t[:, band] = torch.where(chosen, torch.exp2(randn(n) * self.imgfilter_std), ones)
                gains = gains * t / (power * t.square()).sum(dim=1, keepdim=True).sqrt()
                any_band |= chosen
            # Rounding in the power normalisation must not touch unfiltered samples.
            params.filter_gains = torch.where(any_band.unsqueeze(1), gains, 1)

        if m["noise"] > 0:
            params.noise_std = torch.where(applied("noise"), randn(n).abs() * self.noise_std, zeros)
        if m["cutout"] > 0:
            size = torch.where(applied("cutout"), torch.full([n], self.cutout_size, device=device), zeros)
            params.cutout = torch.cat([rand(n, 2), size[:, None], size[:, None]], dim=1)
        return params

    # --- applying -----------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment ``images`` ``[N, C, H, W]`` with freshly drawn parameters (unchanged when ``p`` is 0)."""
        self._check_images(images)
        if float(self.p) == 0:
            return images
        n, c, h, w = images.shape
        return self.apply(images, self.sample_params(n, c, h, w, images.device, generator))

    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Augment ``images`` with the given parameters (deterministic, differentiable).

        Parameters
        ----------
        images : torch.Tensor
            ``[N, C, H, W]``, floating point.
        params : AugmentParams
            From :meth:`sample_params` or built by hand.

        Returns
        -------
        torch.Tensor
            The augmented images, same shape and dtype.
        """
        self._check_images(images)
        n, channels = images.shape[0], self._image_channels(images.shape[1])
        for name in _PARAM_TENSORS:
            value = getattr(params, name)
            if value.shape[0] != n:
                raise ValueError(f"params.{name} is for {value.shape[0]} samples, images has {n}")
        params = params.to(images.device)
        dtype = images.dtype

        geometry = params.geometry.to(dtype)
        rows = _changed_rows(geometry, torch.eye(3, dtype=dtype, device=images.device))
        if rows.numel():
            # Pixel-aligned transforms (flips, quarter turns of square images,
            # integer shifts) are exact copies; the rest are resampled.
            coords = _source_pixels(geometry[rows], images.shape[2], images.shape[3])
            aligned = (coords - coords.round()).abs().amax(dim=(1, 2, 3)) < 1e-3
            images = _on_rows(images, rows[aligned], _blit, geometry)
            images = _on_rows(images, rows[~aligned], self._warp, geometry)
        images, masks = images[:, :channels], images[:, channels:]

        color = params.color.to(dtype)
        rows = _changed_rows(color, torch.eye(4, dtype=dtype, device=images.device))
        if rows.numel() and channels not in (1, 3):
            raise ValueError(f"colour transforms need 1 or 3 channels, got {channels}")
        images = _on_rows(images, rows, _apply_color, color)

        gains = params.filter_gains.to(dtype)
        images = _on_rows(images, _changed_rows(gains, torch.ones_like(gains[0])), self._filter, gains)

        noise_std = params.noise_std.to(dtype)
        rows = (noise_std != 0).nonzero().flatten()
        if rows.numel():
            generator = torch.Generator(images.device).manual_seed(params.seed)
            noise = torch.randn(images.shape, dtype=dtype, device=images.device, generator=generator)
            images = _on_rows(images, rows, _add_noise, noise, noise_std)

        cutout = params.cutout.to(dtype)
        rows = (cutout[:, 2:] > 0).all(dim=1).nonzero().flatten()
        images = _on_rows(images, rows, _apply_cutout, cutout)
        return torch.cat([images, masks], dim=1) if self.mask_channels else images

    def _warp(self, images: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        """Resample ``images`` through the inverse matrices without aliasing."""
        n, c, h, w = images.shape
        f = self.geom_filter.to(images.dtype)
        pad = f.shape[0] // 4
        cx, cy = (w - 1) / 2, (h - 1) / 2

        # Reflect-pad enough that no output pixel samples outside the image.
        corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], dtype=images.dtype)
        reach = (inverse @ corners.t().to(images.device))[:, :2, :].permute(1, 0, 2).flatten(1)
        margin = torch.cat([-reach, reach]).amax(dim=1).cpu()
        margin = margin + torch.tensor([pad * 2 - cx, pad * 2 - cy] * 2, dtype=margin.dtype)
        margin = margin.clamp(min=0).minimum(torch.tensor([w - 1, h - 1] * 2, dtype=margin.dtype))
        mx0, my0, mx1, my1 = (int(v) for v in margin.ceil().tolist())
        images = _reflect_pad(images, [mx0, mx1, my0, my1])
        ones = torch.ones(n, dtype=images.dtype, device=images.device)
        inverse = translate2d(ones * (mx0 - mx1) / 2, (my0 - my1) / 2) @ inverse

        # Oversample 2x, so bilinear sampling only sees band-limited content.
        images = ops.upsample2d(images, f, up=2)
        shift = self.geom_delay - 0.5
        inverse = translate2d(ones * shift, shift) @ scale2d(ones * 2, 2) @ inverse
        inverse = inverse @ scale2d(ones / 2, 1 / 2) @ translate2d(-ones * shift, -shift)

        # grid_sample works in [-1, 1] coordinates of the padded input and of the output.
        shape = [n, c, (h + pad * 2) * 2, (w + pad * 2) * 2]
        inverse = scale2d(2 / images.shape[3] * ones, 2 / images.shape[2]) @ inverse
        inverse = inverse @ scale2d(shape[3] / 2 * ones, shape[2] / 2)
        grid = F.affine_grid(inverse[:, :2, :], shape, align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return ops.downsample2d(images, f, down=2, padding=-pad * 2, flip_filter=True)

    def _filter(self, images: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """Scale each frequency band by its gain: one separable symmetric filter per sample."""
        n, c, h, w = images.shape
        taps = (gains @ self.band_filters.to(images.dtype)).repeat_interleave(c, dim=0)
        pad = taps.shape[1] // 2
        x = _reflect_pad(images.reshape(1, n * c, h, w), [pad] * 4)
        x = F.conv2d(x, taps[:, None, None, :], groups=n * c)
        x = F.conv2d(x, taps[:, None, :, None], groups=n * c)
        return x.reshape(n, c, h, w)

    def _check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
            got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images)
            raise ValueError(f"images must be a floating-point [N, C, H, W] tensor, got {got}")

    def _image_channels(self, channels: int) -> int:
        """The image's share of ``channels`` (the rest are masks)."""
        if channels <= self.mask_channels:
            raise ValueError(
                f"images have {channels} channels, which leaves none for the image besides "
                f"mask_channels={self.mask_channels}"
            )
        return channels - self.mask_channels

    def _check_channels(self, channels: int) -> None:
        active = [name for name in COLOR_TRANSFORMS if self.multipliers[name] > 0]
        if active and channels not in (1, 3):
            raise ValueError(
                f"colour transforms ({', '.join(active)}) need 1 or 3 channels, got {channels}; "
                "pass color=False to augment other channel counts"
            )

    def extra_repr(self) -> str:
        active = ", ".join(f"{k}={v:g}" for k, v in self.multipliers.items() if v > 0) or "none"
        masks = f", mask_channels={self.mask_channels}" if self.mask_channels else ""
        return f"p={float(self.p):.4f}, preset={self.preset!r}{masks}, transforms: {active}"


def _source_pixels(inverse: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[N, H, W, 2]`` input (x, y) pixel positions that each output pixel reads through ``inverse``."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    x = torch.arange(width, dtype=inverse.dtype, device=inverse.device) - cx
    y = torch.arange(height, dtype=inverse.dtype, device=inverse.device) - cy
    grid = torch.stack([x.expand(height, width), y[:, None].expand(height, width)], dim=-1)
    coords = grid @ inverse[:, None, :2, :2].transpose(-1, -2) + inverse[:, None, None, :2, 2]
    return coords + torch.tensor([cx, cy], dtype=inverse.dtype, device=inverse.device)


def _mirror_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Map integer positions outside ``[0, size)`` back inside by reflection (as reflect padding does)."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def _blit(images: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Exact pixel copy through pixel-aligned matrices; pixels from outside come from the reflection."""
    n, c, h, w = images.shape
    coords = _source_pixels(inverse, h, w).round().long()
    index = _mirror_index(coords[..., 1], h) * w + _mirror_index(coords[..., 0], w)
    index = index.reshape(n, 1, h * w).expand(n, c, h * w)
    return images.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)


def _apply_color(images: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    n, c, h, w = images.shape
    x = images.reshape(n, c, h * w)
    if c == 3:
        x = color[:, :3, :3] @ x + color[:, :3, 3:]
    else:
        # Grayscale is the mean of the three colour outputs of (g, g, g).
        mean = color[:, :3, :].mean(dim=1, keepdim=True)
        x = x * mean[:, :, :3].sum(dim=2, keepdim=True) + mean[:, :, 3:]
    return x.reshape(n, c, h, w)


def _add_noise(images: torch.Tensor, noise: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return images + noise * std.reshape(-1, 1, 1, 1)


def _apply_cutout(images: torch.Tensor, cutout: torch.Tensor) -> torch.Tensor:
    n, _, h, w = images.shape
    cx, cy, sx, sy = (v.reshape(n, 1, 1, 1) for v in cutout.unbind(dim=1))
    x = (torch.arange(w, dtype=images.dtype, device=images.device) + 0.5) / w
    y = (torch.arange(h, dtype=images.dtype, device=images.device) + 0.5) / h
    keep = ((x.reshape(1, 1, 1, w) - cx).abs() >= sx / 2) | ((y.reshape(1, 1, h, 1) - cy).abs() >= sy / 2)
    return images * keep.to(images.dtype)
