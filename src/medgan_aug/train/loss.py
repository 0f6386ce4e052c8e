"""StyleGAN2's losses: adversarial objectives, lazy R1 and path-length regularisation, style mixing.

The same objective trains the DCGAN baselines: their generator has no mapping network, so path-length
regularisation and style mixing (which act on ``w``) must be off.

The adversarial objective is selectable (:data:`ADVERSARIAL_LOSSES`), per sample with ``f`` the logits of generated
and ``r`` of real images:

* ``"logistic"`` (StyleGAN2's non-saturating loss, the default): G ``softplus(-f)``, D ``softplus(f) + softplus(-r)``;
* ``"minimax"`` (the original GAN objective): G ``-softplus(f)``, that is G minimises ``log(1 - sigmoid(f))``; D as
  logistic;
* ``"hinge"``: G ``-f``, D ``relu(1 + f) + relu(1 - r)``;
* ``"wgan-gp"``: G ``-f``, critic ``f - r`` plus ``gp_lambda * (||grad D(x_hat)||_2 - 1)^2`` on random interpolates
  ``x_hat`` between each real and generated image (Gulrajani et al. 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import AdaptiveAugment
from ..nets import DCGANDiscriminator, DCGANGenerator, StyleDiscriminator, StyleGenerator

__all__ = ["ADVERSARIAL_LOSSES", "PHASES", "GANLoss", "LossStats", "StyleGAN2Loss", "adversarial_terms"]

# A phase is one optimiser step's worth of gradient: the main loss, its lazy
# regulariser, or both at once when regularisation is not lazy.
PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)

ADVERSARIAL_LOSSES: tuple[str, ...] = ("logistic", "minimax", "hinge", "wgan-gp")
"""The adversarial objectives :class:`StyleGAN2Loss` can train with (see the module description)."""


def _check_loss(loss: str) -> None:
    if loss not in ADVERSARIAL_LOSSES:
        raise ValueError(f"loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, got {loss!r}")


def adversarial_terms(loss: str, logits: torch.Tensor, role: str) -> torch.Tensor:
    """Per-sample adversarial loss of one set of logits.

    Parameters
    ----------
    loss : str
        One of :data:`ADVERSARIAL_LOSSES`.
    logits : torch.Tensor
        D's logits (critic values for ``"wgan-gp"``).
    role : {"G", "D_fake", "D_real"}
        The generator's loss on generated images, or the discriminator's on generated or on real images.

    Returns
    -------
    torch.Tensor
        The loss of every sample, the shape of ``logits``.
    """
    _check_loss(loss)
    if role == "G":
        if loss == "logistic":
            return F.softplus(-logits)
        return -F.softplus(logits) if loss == "minimax" else -logits
    if role == "D_fake":
        if loss == "hinge":
            return F.relu(1 + logits)
        return logits if loss == "wgan-gp" else F.softplus(logits)
    if role == "D_real":
        if loss == "hinge":
            return F.relu(1 - logits)
        return -logits if loss == "wgan-gp" else F.softplus(-logits)
    raise ValueError(f"role must be 'G', 'D_fake' or 'D_real', got {role!r}")


@dataclass
class LossStats:
    """Detached per-sample values of one :meth:`StyleGAN2Loss.accumulate_gradients` call (absent = not computed)."""

    loss_g: torch.Tensor | None = None
    loss_d_fake: torch.Tensor | None = None
    loss_d_real: torch.Tensor | None = None
    r1_penalty: torch.Tensor | None = None
    pl_penalty: torch.Tensor | None = None
    gp_penalty: torch.Tensor | None = None
    real_logits: torch.Tensor | None = None
    fake_logits: torch.Tensor | None = None


@runtime_checkable
class GANLoss(Protocol):
    """What :class:`~medgan_aug.train.GANTrainer` asks of a training objective (:class:`StyleGAN2Loss` is one).

    The trainer calls :meth:`accumulate_gradients` once per phase and minibatch chunk with the networks'
    ``requires_grad`` set for that phase, then steps the phase's optimiser. Phases follow :data:`PHASES`:
    ``"Gmain"``/``"Dmain"`` the adversarial terms, ``"Greg"``/``"Dreg"`` the lazy regularisers every
    ``config.G_reg_interval``/``config.D_reg_interval`` minibatches (``"Gboth"``/``"Dboth"`` when the interval is
    None). The returned :class:`LossStats` feed ``stats.jsonl`` (means of the per-sample values) and ADA (the
    ``real_logits`` of ``"Dmain"``/``"Dboth"``).
    """

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        gain: float = 1.0,
    ) -> LossStats: ...


class StyleGAN2Loss(nn.Module):
    """The StyleGAN2(-ADA) training objective, computed phase by phase.

    Parameters
    ----------
    G : StyleGenerator or DCGANGenerator
        Generator being trained.
    D : StyleDiscriminator or DCGANDiscriminator
        Discriminator being trained.
    augment : AdaptiveAugment, optional
        Applied to every image D sees, real or generated.
    r1_gamma : float
        Weight of the R1 penalty ``gamma / 2 * ||grad_x D(x)||^2`` on reals.
    style_mixing_prob : float
        Probability of generating a batch from two latents, switching at a random layer.
    pl_weight : float
        Weight of the path-length penalty (0 disables it).
    pl_batch_shrink : int
        The path-length penalty uses ``batch // pl_batch_shrink`` samples.
    pl_decay : float
        Decay of the running mean of path lengths.
    loss : str
        The adversarial objective, one of :data:`ADVERSARIAL_LOSSES`.
    gp_lambda : float
        Weight of the WGAN-GP gradient penalty (``loss="wgan-gp"`` only).
    """

    def __init__(
        self,
        G: StyleGenerator | DCGANGenerator,
        D: StyleDiscriminator | DCGANDiscriminator,
        augment: AdaptiveAugment | None = None,
        r1_gamma: float = 10.0,
        style_mixing_prob: float = 0.9,
        pl_weight: float = 2.0,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        loss: str = "logistic",
        gp_lambda: float = 10.0,
    ) -> None:
        super().__init__()
        _check_loss(loss)
        if not (math.isfinite(gp_lambda) and gp_lambda >= 0):
            raise ValueError(f"gp_lambda must be a finite number >= 0, got {gp_lambda!r}")
        if not isinstance(G, StyleGenerator) and (pl_weight != 0 or style_mixing_prob != 0):
            raise ValueError(
                f"path-length regularisation (pl_weight={pl_weight}) and style mixing "
                f"(style_mixing_prob={style_mixing_prob}) act on a StyleGenerator's w; a {type(G).__name__} "
                "needs both at 0"
            )
        if loss == "wgan-gp" and any(isinstance(m, _BATCH_NORMS) for m in D.modules()):
            raise ValueError(
                "loss='wgan-gp' penalises each sample's gradient, but the discriminator has batch norm, which "
                "mixes the samples of a batch: build it with norm='layer' or norm='none' (resolve_config does so "
                "for loss='wgan-gp')"
            )
        self.adversarial = loss
        self.gp_lambda = gp_lambda
        self.G = G
        self.D = D
        self.augment = augment
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight = pl_weight
        self.pl_batch_shrink = pl_batch_shrink
        self.pl_decay = pl_decay
        self.register_buffer("pl_mean", torch.zeros([]))

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generate images and their ``ws`` (None for a DCGAN), style-mixing with probability ``style_mixing_prob``."""
        if not isinstance(self.G, StyleGenerator):
            return self.G(z, c), None
        ws = self.G.mapping(z, c)
        if self.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, []).item()) if num_ws > 1 else num_ws
            if torch.rand([]).item() < self.style_mixing_prob and cutoff < num_ws:
                other = self.G.mapping(torch.randn_like(z), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cutoff], other[:, cutoff:]], dim=1)
        return self.G.synthesis(ws), ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """Discriminator logits of (augmented) images."""
        if self.augment is not None:
            img = self.augment(img)
        return self.D(img, c)

    def _gradient_penalty(
        self, real_img: torch.Tensor, gen_img: torch.Tensor, real_c: torch.Tensor | None
    ) -> torch.Tensor:
        """``(||grad D(x_hat)||_2 - 1)^2`` per sample, at uniform random points between real and generated images."""
        n = min(real_img.shape[0], gen_img.shape[0])
        eps = torch.rand(n, 1, 1, 1, device=real_img.device, dtype=real_img.dtype)
        mixed = (eps * real_img[:n].detach() + (1 - eps) * gen_img[:n].detach()).requires_grad_(True)
        logits = self.run_D(mixed, real_c[:n] if real_c is not None else None)
        (grads,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
        return (grads.flatten(1).norm(dim=1) - 1).square()

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        gain: float = 1.0,
    ) -> LossStats:
        """Backpropagate one phase's loss (times ``gain``) into the networks' ``.grad``.

        Parameters
        ----------
        phase : str
            One of :data:`PHASES`.
        real_img : torch.Tensor
            Real images ``[N, C, H, W]`` in [-1, 1].
        real_c : torch.Tensor, optional
            Their labels.
        gen_z : torch.Tensor
            Latents for generated images.
        gen_c : torch.Tensor, optional
            Labels for generated images.
        gain : float
            Multiplier of the loss: the regularisation interval for lazy phases.

        Returns
        -------
        LossStats
            Detached per-sample losses, penalties and logits for logging and ADA.
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        g_main = phase in ("Gmain", "Gboth")
        d_main = phase in ("Dmain", "Dboth")
        g_pl = phase in ("Greg", "Gboth") and self.pl_weight != 0
        d_r1 = phase in ("Dreg", "Dboth") and self.r1_gamma != 0
        stats = LossStats()

        if g_main:
            gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            loss = adversarial_terms(self.adversarial, gen_logits, "G")
            loss.mean().mul(gain).backward()
            stats.loss_g, stats.fake_logits = loss.detach(), gen_logits.detach()

        if g_pl:
            batch = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
            gen_img, gen_ws = self.run_G(gen_z[:batch], gen_c[:batch] if gen_c is not None else None)
            # Random image-space directions scaled so the expected length does not depend on the resolution.
            noise = torch.randn_like(gen_img) / math.sqrt(gen_img.shape[2] * gen_img.shape[3])
            (grads,) = torch.autograd.grad((gen_img * noise).sum(), gen_ws, create_graph=True)
            lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
            with torch.no_grad():
                self.pl_mean.copy_(self.pl_mean.lerp(lengths.mean(), self.pl_decay))
            penalty = (lengths - self.pl_mean).square()
            # Touch the image so every parameter of G is part of the graph (DDP needs it).
            (gen_img[:, 0, 0, 0] * 0 + penalty * self.pl_weight).mean().mul(gain).backward()
            stats.pl_penalty = penalty.detach()

        if d_main:
            with torch.no_grad():
                gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            loss = adversarial_terms(self.adversarial, gen_logits, "D_fake")
            total = loss
            if self.adversarial == "wgan-gp" and self.gp_lambda != 0:
                penalty = self._gradient_penalty(real_img, gen_img, real_c)
                total = loss + penalty.unsqueeze(1) * self.gp_lambda
                stats.gp_penalty = penalty.detach()
            total.mean().mul(gain).backward()
            stats.loss_d_fake, stats.fake_logits = loss.detach(), gen_logits.detach()

        if d_main or d_r1:
            real = real_img.detach().requires_grad_(d_r1)
            real_logits = self.run_D(real, real_c)
            total = real_logits * 0
            if d_main:
                loss = adversarial_terms(self.adversarial, real_logits, "D_real")
                total = total + loss
                stats.loss_d_real = loss.detach()
            if d_r1:
                (grads,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
                penalty = grads.square().sum(dim=[1, 2, 3])
                total = total + penalty.unsqueeze(1) * (self.r1_gamma / 2)
                stats.r1_penalty = penalty.detach()
            total.mean().mul(gain).backward()
            stats.real_logits = real_logits.detach()
        return stats
