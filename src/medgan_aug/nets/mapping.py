"""The StyleGAN2 mapping network: latent z (and class label c) → intermediate latents w."""

from __future__ import annotations

import torch
from torch import nn

from .layers import FullyConnectedLayer, normalize_2nd_moment

__all__ = ["MappingNetwork", "check_labels", "check_mask_channels"]


def check_labels(c: torch.Tensor | None, c_dim: int, batch: int | None, other: str) -> None:
    """Raise a ValueError unless ``c`` fits a network with ``c_dim`` classes and a batch of ``batch`` items.

    Parameters
    ----------
    c : torch.Tensor or None
        Labels ``[N, c_dim]``; None (or an empty tensor) for an unconditional network.
    c_dim : int
        Label length of the network, 0 when unconditional.
    batch : int or None
        Batch size of the other input; None skips the comparison.
    other : str
        Name of the other input in the message, e.g. ``"z"`` or ``"img"``.
    """
    if c_dim == 0:
        if c is not None and (not isinstance(c, torch.Tensor) or c.numel() > 0):
            got = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
            raise ValueError(f"c was given ({got}) but the model is unconditional (c_dim=0); pass c=None")
        return
    if c is None:
        raise ValueError(f"the model is conditional (c_dim={c_dim}): c of shape [N, {c_dim}] is required")
    if not isinstance(c, torch.Tensor) or c.ndim != 2 or c.shape[1] != c_dim:
        got = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
        raise ValueError(f"c must have shape [N, {c_dim}] (one-hot or soft labels), got {got}")
    if batch is not None and c.shape[0] != batch:
        raise ValueError(f"{other} and c have different batch sizes: {batch} and {c.shape[0]}")


def check_mask_channels(mask_channels: int, img_channels: int | None = None) -> int:
    """Return ``mask_channels`` after checking that it is a count of mask channels.

    With ``img_channels`` (a generator's outputs, image and masks), at least one channel must remain for the image.
    """
    if isinstance(mask_channels, bool) or not isinstance(mask_channels, int) or mask_channels < 0:
        raise ValueError(f"mask_channels must be an integer >= 0, got {mask_channels!r}")
    if img_channels is not None and mask_channels >= img_channels:
        raise ValueError(
            f"mask_channels={mask_channels} leaves no image channel of img_channels={img_channels} "
            "(img_channels counts the image's channels plus the masks)"
        )
    return mask_channels


class MappingNetwork(nn.Module):
    """MLP from ``z`` and an embedded class label to ``w``, with a tracked average of ``w``.

    Parameters
    ----------
    z_dim : int
        Latent size (0 for a label-only mapping, as in the conditional discriminator).
    c_dim : int
        Number of classes (one-hot or soft labels), 0 for unconditional.
    w_dim : int
        Output size.
    num_ws : int, optional
        Copies of ``w`` to broadcast to ``[N, num_ws, w_dim]``; ``None`` returns ``[N, w_dim]``.
    num_layers : int
        Fully connected layers.
    embed_features : int, optional
        Size of the label embedding (default ``w_dim``; 0 when ``c_dim`` is 0).
    layer_features : int, optional
        Width of the hidden layers (default ``w_dim``).
    activation : str
        Hidden activation.
    lr_multiplier : float
        Learning-rate multiplier of the fully connected layers (0.01 in StyleGAN2).
    w_avg_beta : float, optional
        Decay of the running average of ``w`` used for truncation; ``None`` tracks none.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"mapping num_layers must be at least 1, got {num_layers}")
        if z_dim == 0 and c_dim == 0:
            raise ValueError("a mapping network needs z_dim > 0 or c_dim > 0")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta

        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]

        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_w_avg: bool = True,
    ) -> torch.Tensor:
        """Map latents (and labels) to ``w``.

        Parameters
        ----------
        z : torch.Tensor, optional
            ``[N, z_dim]``; ignored when ``z_dim`` is 0.
        c : torch.Tensor, optional
            ``[N, c_dim]``; ignored when ``c_dim`` is 0.
        truncation_psi : float
            Pull ``w`` towards its average: ``w_avg + psi * (w - w_avg)``.
        truncation_cutoff : int, optional
            Truncate only the first this many of the ``num_ws`` copies.
        update_w_avg : bool
            In training mode, fold this batch into the running average.

        Returns
        -------
        torch.Tensor
            ``[N, num_ws, w_dim]``, or ``[N, w_dim]`` when ``num_ws`` is ``None``.
        """
        self._check_inputs(z, c)
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y

        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        if update_w_avg and self.training and self.num_ws is not None and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])

        if truncation_psi != 1:
            if self.num_ws is None or self.w_avg_beta is None:
                raise ValueError("truncation needs a mapping network that tracks w_avg (num_ws and w_avg_beta set)")
            if truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                head = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x

    def _check_inputs(self, z: torch.Tensor | None, c: torch.Tensor | None) -> None:
        batch = None
        if self.z_dim > 0:
            if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.z_dim:
                got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                raise ValueError(f"z must have shape [N, {self.z_dim}], got {got}")
            batch = z.shape[0]
        check_labels(c, self.c_dim, batch, "z")

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"
