"""Training configurations: StyleGAN2-ADA's published presets, resolved for a dataset and a GPU count."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..nets import ARCHITECTURES, DCGAN_PRESETS
from ..nets.mapping import check_mask_channels
from .loss import _check_loss

__all__ = ["CONFIG_PRESETS", "DCGAN_DEFAULTS", "WGAN_GP_DEFAULTS", "PresetSpec", "TrainConfig", "resolve_config"]


@dataclass(frozen=True)
class PresetSpec:
    """Hyperparameters of a published configuration (``None`` = derived from the resolution).

    Attributes
    ----------
    ref_gpus : int or None
        GPUs the configuration was tuned for; the per-GPU batch is ``batch // ref_gpus``.
    kimg : float
        Length of training in thousands of real images shown to D.
    batch : int or None
        Total minibatch size.
    mbstd_group : int or None
        Minibatch standard deviation group size.
    fmaps : float or None
        Width multiplier: ``channel_base = fmaps * 32768``.
    lr : float or None
        Adam learning rate of G and D.
    gamma : float or None
        R1 regularisation weight.
    ema_kimg : float or None
        Half-life of the generator's moving average, in thousands of images.
    ema_rampup : float or None
        Cap of the half-life at this fraction of the images seen so far.
    mapping_layers : int
        Depth of the mapping network.
    """

    ref_gpus: int | None
    kimg: float
    batch: int | None
    mbstd_group: int | None
    fmaps: float | None
    lr: float | None
    gamma: float | None
    ema_kimg: float | None
    ema_rampup: float | None
    mapping_layers: int


# Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", Appendix D.
CONFIG_PRESETS: dict[str, PresetSpec] = {
    "auto": PresetSpec(None, 25000, None, None, None, None, None, None, 0.05, 2),
    "stylegan2": PresetSpec(8, 25000, 32, 4, 1, 0.002, 10, 10, None, 8),
    "paper256": PresetSpec(8, 25000, 64, 8, 0.5, 0.0025, 1, 20, None, 8),
    "paper512": PresetSpec(8, 25000, 64, 8, 1, 0.0025, 0.5, 20, None, 8),
    "paper1024": PresetSpec(8, 25000, 32, 4, 1, 0.002, 2, 10, None, 8),
    "cifar": PresetSpec(2, 100000, 64, 32, 1, 0.0025, 0.01, 500, 0.05, 2),
}
"""StyleGAN2-ADA's training presets by name (``--cfg``); ``auto`` is resolved from the resolution and GPU count."""


DCGAN_DEFAULTS: dict[str, Any] = {
    "z_dim": 100,
    "batch": 64,
    "lr": 2e-4,
    "betas": (0.5, 0.999),
    "r1_gamma": 0.0,
    "ema_kimg": 0.0,
}
"""Training settings of ``arch="dcgan"`` runs (Radford et al. 2016: Adam 2e-4, beta1 0.5; no R1, path-length
regularisation, style mixing or weight averaging). ``batch`` is the default total batch."""

WGAN_GP_DEFAULTS: dict[str, Any] = {
    "n_critic": 5,
    "gp_lambda": 10.0,
    "lr": 1e-4,
    "betas": (0.0, 0.9),
    "critic_norm": "layer",
}
"""What ``loss="wgan-gp"`` changes (Gulrajani et al. 2017, Algorithm 1): 5 critic steps per generator step, a
gradient penalty of weight 10 in place of R1. For ``arch="dcgan"`` also the paper's Adam (1e-4, betas (0, 0.9))
and layer norm in place of the critic's batch norm, which would make each sample's penalty depend on its batch.
StyleGAN2 runs keep their optimiser and discriminator (it has no batch norm)."""


@dataclass
class TrainConfig:
    """Everything the trainer needs besides the data: networks, optimisers, losses, schedule.

    Build it with :func:`resolve_config`; any field can then be changed. ``arch`` names the network pair
    (:data:`~medgan_aug.nets.ARCHITECTURES`) built from ``G_kwargs`` and ``D_kwargs``. ``img_channels`` counts the
    image's channels; with ``mask_channels`` > 0 the networks see that many segmentation masks after them
    (``img_channels + mask_channels`` channels in all). ``loss`` selects the adversarial objective (see
    :data:`~medgan_aug.train.loss.ADVERSARIAL_LOSSES`); ``n_critic`` is the number of discriminator steps per
    generator step. WGAN-GP's gradient penalty has weight ``gp_lambda`` and replaces R1; ``resolve_config(loss=
    "wgan-gp")`` sets these fields by :data:`WGAN_GP_DEFAULTS`. ``ema_kimg`` 0 makes ``G_ema`` a plain copy of G.

    Two settings change how the networks compute, not what they learn:

    ``channels_last``
        Run the StyleGAN2 networks channels-last (``.to(memory_format=torch.channels_last)``; see
        :class:`~medgan_aug.nets.StyleGenerator`): the same results up to float rounding, usually faster
        on GPUs with tensor cores (and with oneDNN on CPUs) once the custom operators keep the format.
        Checkpoints do not depend on it. Default ``False``.
    ``allow_tf32``
        Let CUDA matmuls and cuDNN convolutions use TF32 on Ampere and newer GPUs
        (``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``, set while
        :meth:`~medgan_aug.train.GANTrainer.train` runs and restored after). TF32 rounds the inputs of
        float32 products to a 10-bit mantissa (relative error ~1e-3 instead of ~1e-7): up to several times
        faster float32 convolutions, but results that differ from a float32 run and from GPU to GPU. The
        default ``False`` follows StyleGAN2-ADA, which turns TF32 off for reproducibility; the float16 blocks
        (``num_fp16_res``) are not affected. No effect on CPUs.
    """

    cfg: str
    resolution: int
    img_channels: int
    c_dim: int
    num_gpus: int
    kimg: float
    batch: int
    batch_gpu: int
    G_kwargs: dict[str, Any]
    D_kwargs: dict[str, Any]
    lr: float
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 10.0
    G_reg_interval: int | None = 4
    D_reg_interval: int | None = 16
    pl_weight: float = 2.0
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    loss: str = "logistic"
    n_critic: int = 1
    gp_lambda: float = 10.0
    arch: str = "stylegan2"
    mask_channels: int = 0
    channels_last: bool = False
    allow_tf32: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def net_channels(self) -> int:
        """Channels the networks see: the image's, then the masks."""
        return self.img_channels + self.mask_channels

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for a run's ``config.json`` and checkpoints)."""
        return dataclasses.asdict(self)


def resolve_config(
    cfg: str = "auto",
    *,
    resolution: int,
    img_channels: int,
    c_dim: int = 0,
    num_gpus: int = 1,
    batch: int | None = None,
    batch_gpu: int | None = None,
    gamma: float | None = None,
    kimg: float | None = None,
    channel_base: int | None = None,
    channel_max: int | None = None,
    mapping_layers: int | None = None,
    arch: str = "stylegan2",
    mask_channels: int = 0,
    dcgan_preset: str | None = None,
    loss: str = "logistic",
    n_critic: int | None = None,
    channels_last: bool = False,
    allow_tf32: bool = False,
) -> TrainConfig:
    """The configuration ``cfg`` for a dataset, with StyleGAN2-ADA's rules for ``auto``.

    ``auto`` scales with the resolution: batch ``max(min(num_gpus *
    min(4096 // res, 32), 64), num_gpus)``, minibatch-std group
    ``min(batch // num_gpus, 4)``, width 0.5 below 512 px, learning rate 0.0025
    (0.002 at 1024 px), ``gamma = 0.0002 * res**2 / batch`` and an EMA
    half-life of ``batch * 10 / 32`` kimg.

    Parameters
    ----------
    cfg : str
        One of :data:`CONFIG_PRESETS`.
    resolution : int
        Training resolution (a power of two).
    img_channels : int
        1 or 3.
    c_dim : int
        Number of classes (0 for unconditional).
    num_gpus : int
        Processes in the run (the global batch is split across them).
    batch : int, optional
        Override of the total batch.
    batch_gpu : int, optional
        Images per process per forward pass (gradients are accumulated up to the batch).
    gamma : float, optional
        Override of the R1 weight.
    kimg : float, optional
        Override of the training length.
    channel_base, channel_max : int, optional
        Overrides of the width of G's synthesis network and of D (features at resolution ``r`` are
        ``min(channel_base // r, channel_max)``); small values (e.g. 256 and 32) make networks a CPU trains
        in minutes.
    mapping_layers : int, optional
        Override of the depth of G's mapping network.
    arch : str
        ``"stylegan2"`` or ``"dcgan"`` (:data:`~medgan_aug.nets.ARCHITECTURES`). A DCGAN run takes its networks
        from ``dcgan_preset`` (or :class:`~medgan_aug.nets.DCGANGenerator`'s defaults from a 4 x 4 base, with
        ``channel_max`` capping the widths) and its training settings from :data:`DCGAN_DEFAULTS` (the preset's
        optimiser where the study gave one); ``cfg`` then only sets ``kimg``.
    mask_channels : int
        Segmentation masks trained with each image, as extra channels after its ``img_channels``.
    dcgan_preset : str, optional
        A :data:`~medgan_aug.nets.DCGAN_PRESETS` architecture (``arch="dcgan"`` only); its resolution must be
        ``resolution``; the channel counts follow the data.
    loss : str
        The adversarial objective (:data:`~medgan_aug.train.loss.ADVERSARIAL_LOSSES`); ``"wgan-gp"`` applies
        :data:`WGAN_GP_DEFAULTS` (R1 stays on only when ``gamma`` is given).
    n_critic : int, optional
        Discriminator steps per generator step (default 5 for ``"wgan-gp"``, else 1).
    channels_last : bool
        Run the StyleGAN2 networks in channels-last memory format (see :class:`TrainConfig`).
    allow_tf32 : bool
        Allow TF32 in CUDA float32 convolutions and matmuls: faster on Ampere and newer GPUs, less
        reproducible; off by default as in StyleGAN2-ADA (see :class:`TrainConfig`).

    Returns
    -------
    TrainConfig
    """
    if cfg not in CONFIG_PRESETS:
        raise ValueError(f"cfg must be one of {', '.join(CONFIG_PRESETS)}, got {cfg!r}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    if num_gpus < 1:
        raise ValueError(f"num_gpus must be >= 1, got {num_gpus}")
    check_mask_channels(mask_channels)
    _check_loss(loss)
    if channels_last and arch != "stylegan2":
        raise ValueError(f"channels_last runs the StyleGAN2 networks channels-last; arch is {arch!r}")
    if dcgan_preset is not None and arch != "dcgan":
        raise ValueError(f"dcgan_preset={dcgan_preset!r} needs arch='dcgan', got arch={arch!r}")
    for name, value in (
        ("channel_base", channel_base),
        ("channel_max", channel_max),
        ("mapping_layers", mapping_layers),
        ("n_critic", n_critic),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if arch == "dcgan":
        for name, value in (("channel_base", channel_base), ("mapping_layers", mapping_layers)):
            if value is not None:
                raise ValueError(f"{name} is a StyleGAN2 setting; a DCGAN's widths are capped by channel_max")
        config = _resolve_dcgan(
            cfg,
            resolution=resolution,
            img_channels=img_channels,
            c_dim=c_dim,
            num_gpus=num_gpus,
            batch=batch,
            batch_gpu=batch_gpu,
            gamma=gamma,
            kimg=kimg,
            channel_max=channel_max,
            mask_channels=mask_channels,
            preset=dcgan_preset,
        )
        config.allow_tf32 = allow_tf32
        return _apply_loss(config, loss, n_critic, gamma)
    spec = CONFIG_PRESETS[cfg]
    res = resolution
    if cfg == "auto":
        spec_batch = max(min(num_gpus * min(4096 // res, 32), 64), num_gpus)
        spec = dataclasses.replace(
            spec,
            ref_gpus=num_gpus,
            batch=spec_batch,
            mbstd_group=min(spec_batch // num_gpus, 4),
            fmaps=1 if res >= 512 else 0.5,
            lr=0.002 if res >= 1024 else 0.0025,
            gamma=0.0002 * res**2 / spec_batch,
            ema_kimg=spec_batch * 10 / 32,
        )
    total = batch if batch is not None else spec.batch
    per_gpu = _batch_split(total, batch_gpu, num_gpus, lambda: max(total // max(spec.ref_gpus, num_gpus), 1))
    # Minibatch-std groups must tile each process's batch.
    mbstd = min(spec.mbstd_group, per_gpu)
    while per_gpu % mbstd:
        mbstd -= 1
    width = {
        "channel_base": int(spec.fmaps * 32768) if channel_base is None else channel_base,
        "channel_max": 512 if channel_max is None else channel_max,
    }
    common = {**width, "num_fp16_res": 4, "conv_clamp": 256}
    G_kwargs = {
        "z_dim": 512,
        "c_dim": c_dim,
        "w_dim": 512,
        "img_resolution": res,
        "img_channels": img_channels + mask_channels,
        "mapping_kwargs": {"num_layers": spec.mapping_layers if mapping_layers is None else mapping_layers},
        "synthesis_kwargs": dict(common),
    }
    if mask_channels:
        G_kwargs["mask_channels"] = mask_channels
    D_kwargs = {
        "c_dim": c_dim,
        "img_resolution": res,
        "img_channels": img_channels + mask_channels,
        "architecture": "orig" if cfg == "cifar" else "resnet",
        **common,
        "epilogue_kwargs": {"mbstd_group_size": mbstd},
    }
    config = TrainConfig(
        cfg=cfg,
        resolution=res,
        img_channels=img_channels,
        c_dim=c_dim,
        num_gpus=num_gpus,
        kimg=kimg if kimg is not None else spec.kimg,
        batch=total,
        batch_gpu=per_gpu,
        G_kwargs=G_kwargs,
        D_kwargs=D_kwargs,
        lr=spec.lr,
        r1_gamma=gamma if gamma is not None else spec.gamma,
        ema_kimg=spec.ema_kimg,
        ema_rampup=spec.ema_rampup,
        mask_channels=mask_channels,
        channels_last=channels_last,
        allow_tf32=allow_tf32,
    )
    if cfg == "cifar":
        # The paper's CIFAR-10 setup: no path-length regularisation, no style mixing.
        config.pl_weight = 0.0
        config.style_mixing_prob = 0.0
    return _apply_loss(config, loss, n_critic, gamma)


def _apply_loss(config: TrainConfig, loss: str, n_critic: int | None, gamma: float | None) -> TrainConfig:
    wgan = loss == "wgan-gp"
    config.loss = loss
    config.n_critic = n_critic if n_critic is not None else (WGAN_GP_DEFAULTS["n_critic"] if wgan else 1)
    if wgan:
        config.gp_lambda = WGAN_GP_DEFAULTS["gp_lambda"]
        if gamma is None:
            config.r1_gamma = 0.0
        if config.arch == "dcgan":
            config.lr, config.betas = WGAN_GP_DEFAULTS["lr"], WGAN_GP_DEFAULTS["betas"]
            if config.D_kwargs["norm"] == "batch":
                config.D_kwargs["norm"] = WGAN_GP_DEFAULTS["critic_norm"]
    return config


def _batch_split(total: int, batch_gpu: int | None, num_gpus: int, default: Callable[[], int]) -> int:
    """Images per process per pass: ``batch_gpu`` or ``default()``, checked to tile the total batch."""
    if total < 1 or total % num_gpus:
        raise ValueError(f"batch {total} must be a positive multiple of the number of GPUs ({num_gpus})")
    per_gpu = batch_gpu if batch_gpu is not None else default()
    if per_gpu < 1 or total % (per_gpu * num_gpus):
        raise ValueError(f"batch {total} must be a multiple of batch_gpu x num_gpus ({per_gpu} x {num_gpus})")
    return per_gpu


def _resolve_dcgan(
    cfg: str,
    *,
    resolution: int,
    img_channels: int,
    c_dim: int,
    num_gpus: int,
    batch: int | None,
    batch_gpu: int | None,
    gamma: float | None,
    kimg: float | None,
    channel_max: int | None,
    mask_channels: int,
    preset: str | None,
) -> TrainConfig:
    channels = {"img_channels": img_channels + mask_channels}
    optimizer = None
    if preset is not None:
        if preset not in DCGAN_PRESETS:
            raise ValueError(f"dcgan_preset must be one of {', '.join(DCGAN_PRESETS)}, got {preset!r}")
        spec = DCGAN_PRESETS[preset]
        if spec["G"]["img_resolution"] != resolution:
            raise ValueError(
                f"dcgan_preset {preset!r} is the {spec['G']['img_resolution']} px architecture; "
                f"the data is at resolution {resolution}"
            )
        G_kwargs = {**copy.deepcopy(spec["G"]), **channels}
        D_kwargs = {**copy.deepcopy(spec["D"]), **channels}
        optimizer = spec["optimizer"]
    else:
        G_kwargs = {"z_dim": DCGAN_DEFAULTS["z_dim"], "img_resolution": resolution, **channels, "base_resolution": 4}
        D_kwargs = {"img_resolution": resolution, **channels, "base_resolution": 4, "norm": "batch"}
        if channel_max is not None:
            G_kwargs["channel_max"] = D_kwargs["channel_max"] = channel_max
    G_kwargs["c_dim"] = D_kwargs["c_dim"] = c_dim
    if mask_channels:
        G_kwargs["mask_channels"] = mask_channels
    total = batch if batch is not None else DCGAN_DEFAULTS["batch"]
    lr, betas = DCGAN_DEFAULTS["lr"], DCGAN_DEFAULTS["betas"]
    if optimizer is not None:
        lr, betas = optimizer["lr"], tuple(optimizer["betas"])
    return TrainConfig(
        cfg=cfg,
        resolution=resolution,
        img_channels=img_channels,
        c_dim=c_dim,
        num_gpus=num_gpus,
        kimg=kimg if kimg is not None else CONFIG_PRESETS[cfg].kimg,
        batch=total,
        batch_gpu=_batch_split(total, batch_gpu, num_gpus, lambda: total // num_gpus),
        G_kwargs=G_kwargs,
        D_kwargs=D_kwargs,
        lr=lr,
        betas=betas,
        r1_gamma=gamma if gamma is not None else DCGAN_DEFAULTS["r1_gamma"],
        G_reg_interval=None,
        D_reg_interval=None,
        pl_weight=0.0,
        style_mixing_prob=0.0,
        ema_kimg=DCGAN_DEFAULTS["ema_kimg"],
        arch="dcgan",
        mask_channels=mask_channels,
    )
