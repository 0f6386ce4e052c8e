"""Independent float64 reference for the StyleGAN2-ADA generator and discriminator forward passes.

Purely functional: every function reads the parameters it needs from a state dict in the key layout
that StyleGAN2-ADA checkpoints use, together with the reference constructor kwargs, and computes the
forward pass in float64 with plain ``torch.nn.functional`` calls. It is written from the published
architecture (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" and "Training
Generative Adversarial Networks with Limited Data") and deliberately does not import ``medgan_aug``,
so tests can use it as an oracle for the library's network modules.

Clarity is preferred over speed: resampling uses explicit zero insertion and padding, modulated
convolutions loop over the batch, and blocks are evaluated in plain loops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["discriminator_forward", "generator_forward", "mapping_forward", "synthesis_forward"]

DTYPE = torch.float64

# Activation name -> default gain (the gain that keeps the output variance ~ the input variance).
_DEF_GAIN = {
    "linear": 1.0,
    "relu": math.sqrt(2.0),
    "lrelu": math.sqrt(2.0),
    "tanh": 1.0,
    "sigmoid": 1.0,
    "elu": 1.0,
    "selu": 1.0,
    "softplus": 1.0,
    "swish": math.sqrt(2.0),
}
_LRELU_ALPHA = 0.2


# ----------------------------------------------------------------------------------------------------
# Small helpers.


def _t(state: dict[str, torch.Tensor], key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Fetch ``state[key]`` as float64, optionally checking its shape."""
    if key not in state:
        raise KeyError(f"state dict has no entry {key!r}")
    value = state[key].detach().to(DTYPE)
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(f"{key}: expected shape {tuple(shape)}, got {tuple(value.shape)}")
    return value


def _activation(x: torch.Tensor, act: str) -> torch.Tensor:
    """Apply the named activation function with its default parameters."""
    if act == "linear":
        return x
    if act == "relu":
        return F.relu(x)
    if act == "lrelu":
        return F.leaky_relu(x, _LRELU_ALPHA)
    if act == "tanh":
        return torch.tanh(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "elu":
        return F.elu(x)
    if act == "selu":
        return F.selu(x)
    if act == "softplus":
        return F.softplus(x)
    if act == "swish":
        return torch.sigmoid(x) * x
    raise ValueError(f"unknown activation {act!r}")


def _bias_act(
    x: torch.Tensor, b: torch.Tensor | None, act: str, gain: float, clamp: float | None = None
) -> torch.Tensor:
    """``clamp(act(x + b) * gain, -clamp, clamp)`` with ``b`` broadcast along dim 1."""
    if b is not None:
        x = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    x = _activation(x, act)
    x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def _normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x**2 over dim 1) + eps)``."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _filter2d(f: torch.Tensor) -> torch.Tensor:
    """Return a 2-D FIR filter (a 1-D filter is taken as separable: its outer product with itself)."""
    f = f.to(DTYPE)
    if f.ndim == 0:
        f = f.reshape(1, 1)
    if f.ndim == 1:
        f = torch.outer(f, f)
    return f


def _upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample, FIR-filter and downsample ``x`` [N, C, H, W] per channel.

    Steps: insert ``up - 1`` zeros after every pixel; pad by ``pad = (x0, x1, y0, y1)`` (negative
    values crop); convolve with ``f`` (i.e. correlate with the flipped filter) scaled by ``gain``;
    keep every ``down``-th pixel. ``f`` is the 2-D filter as stored (``gain`` is applied once).
    """
    n, ch, h, w = x.shape
    if up > 1:
        z = x.new_zeros(n, ch, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    px0, px1, py0, py1 = pad
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    f2 = _filter2d(f) * gain
    kernel = f2.flip([0, 1])[None, None].repeat(ch, 1, 1, 1)  # correlation with flipped f == convolution
    x = F.conv2d(x, kernel, groups=ch)
    return x[:, :, ::down, ::down]


def _upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """2x FIR upsampling that keeps the image centred: pad ((fw+up-1)//2, (fw-up)//2), gain up**2."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return _upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def _downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """2x FIR downsampling: pad ((fw-down+1)//2, (fw-down)//2), filter, keep every ``down``-th pixel."""
    fw = f.shape[-1]
    p0, p1 = (fw - down + 1) // 2, (fw - down) // 2
    return _upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1))


def _conv2d_up(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, padding: int, up: int = 2) -> torch.Tensor:
    """Upsampling convolution: stride-``up`` transposed convolution with ``w``, then the FIR filter.

    The transposed convolution is written out explicitly: the input pixels are placed ``up`` apart
    (``up - 1`` zeros *between* them), padded by ``k - 1`` on every side and correlated with the
    spatially flipped kernel -- i.e. a true convolution with ``w`` (this is the reference's
    ``flip_weight=False`` for up-sampling layers). The result, of size ``(H - 1) * up + k``, is then
    low-pass filtered with ``f * up**2`` and padding ``(padding + (fw+up-1)//2 - (k-1),
    padding + (fw-up)//2 - (k-up))`` (negative crops) so the output is ``H * up`` for odd ``k``.
    """
    n, ch, h, wd = x.shape
    k = w.shape[-1]
    z = x.new_zeros(n, ch, (h - 1) * up + 1, (wd - 1) * up + 1)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, [k - 1] * 4)
    y = F.conv2d(z, w.flip([2, 3]))
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2 - (k - 1)
    p1 = padding + (fw - up) // 2 - (k - up)
    return _upfirdn2d(y, f, pad=(p0, p1, p0, p1), gain=up * up)


def _conv2d_down(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, padding: int, down: int = 2) -> torch.Tensor:
    """Downsampling convolution: FIR filter with padding ``padding + ((fw-down+1)//2, (fw-down)//2)``,
    then a stride-``down`` correlation with ``w`` (no further padding)."""
    fw = f.shape[-1]
    p0 = padding + (fw - down + 1) // 2
    p1 = padding + (fw - down) // 2
    x = _upfirdn2d(x, f, pad=(p0, p1, p0, p1))
    return F.conv2d(x, w, stride=down)


# ----------------------------------------------------------------------------------------------------
# Layers.


def _fc(
    state: dict[str, torch.Tensor],
    prefix: str,
    x: torch.Tensor,
    out_features: int,
    act: str = "linear",
    lr_mul: float = 1.0,
) -> torch.Tensor:
    """Equalised-LR fully connected layer: ``act(x @ (W * lr_mul / sqrt(in)).T + b * lr_mul) * def_gain``."""
    in_features = x.shape[1]
    w = _t(state, prefix + "weight", (out_features, in_features)) * (lr_mul / math.sqrt(in_features))
    b = _t(state, prefix + "bias", (out_features,)) * lr_mul if prefix + "bias" in state else None
    return _bias_act(x @ w.T, b, act, gain=_DEF_GAIN[act])


def _conv2d_layer(
    state: dict[str, torch.Tensor],
    prefix: str,
    x: torch.Tensor,
    out_channels: int,
    kernel_size: int,
    act: str = "linear",
    up: int = 1,
    down: int = 1,
    gain: float = 1.0,
    clamp: float | None = None,
) -> torch.Tensor:
    """Equalised-LR convolution (weight gain ``1/sqrt(in*k*k)``), optional up/down resampling,
    bias, activation with gain ``def_gain * gain`` and clamp ``conv_clamp * gain``."""
    in_channels = x.shape[1]
    w = _t(state, prefix + "weight", (out_channels, in_channels, kernel_size, kernel_size))
    w = w / math.sqrt(in_channels * kernel_size * kernel_size)
    b = _t(state, prefix + "bias", (out_channels,)) if prefix + "bias" in state else None
    padding = kernel_size // 2
    if up > 1:
        x = _conv2d_up(x, w, _t(state, prefix + "resample_filter"), padding, up)
    elif down > 1:
        x = _conv2d_down(x, w, _t(state, prefix + "resample_filter"), padding, down)
    else:
        x = F.conv2d(x, w, padding=padding)  # plain correlation
    act_clamp = None if clamp is None else clamp * gain
    return _bias_act(x, b, act, gain=_DEF_GAIN[act] * gain, clamp=act_clamp)


def _modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    padding: int,
    up: int = 1,
    f: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample modulated convolution.

    For sample ``n``: ``w'[o,i,:,:] = weight[o,i,:,:] * styles[n,i]``; with demodulation
    ``w'' = w' / sqrt(sum_{i,kh,kw} w'**2 + 1e-8)`` per output channel. Same-resolution layers correlate
    with the kernel; upsampling layers use :func:`_conv2d_up`.
    """
    outs = []
    for n in range(x.shape[0]):
        wn = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            wn = wn * (wn.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        xn = x[n : n + 1]
        if up > 1:
            assert f is not None
            outs.append(_conv2d_up(xn, wn, f, padding, up))
        else:
            outs.append(F.conv2d(xn, wn, padding=padding))
    return torch.cat(outs, dim=0)


def _synthesis_layer(
    state: dict[str, torch.Tensor],
    prefix: str,
    x: torch.Tensor,
    w: torch.Tensor,
    out_channels: int,
    resolution: int,
    cfg: dict,
    noise_mode: str,
    noise: dict[str, torch.Tensor] | None,
    up: int = 1,
    gain: float = 1.0,
) -> torch.Tensor:
    """Modulated conv (+ noise) + bias + activation, as in a StyleGAN2 synthesis layer.

    ``styles = affine(w)``; ``x = demod_conv(x, weight * styles) + noise * noise_strength``;
    ``x = clamp(act(x + bias) * def_gain * gain, +-conv_clamp * gain)``. The raw weight is used (the
    equalised-LR weight gain would cancel in the demodulation, apart from the 1e-8 epsilon).
    """
    in_channels = x.shape[1]
    k = cfg["kernel_size"]
    weight = _t(state, prefix + "weight", (out_channels, in_channels, k, k))
    styles = _fc(state, prefix + "affine.", w, in_channels)
    f = _t(state, prefix + "resample_filter") if up > 1 else None
    x = _modulated_conv2d(x, weight, styles, demodulate=True, padding=k // 2, up=up, f=f)
    if cfg["use_noise"] and noise_mode != "none":
        strength = _t(state, prefix + "noise_strength")
        if noise_mode == "const":
            n = _t(state, prefix + "noise_const", (resolution, resolution))
        else:  # "random": caller-supplied
            name = prefix.rstrip(".")
            if noise is None or name not in noise:
                raise KeyError(f"noise_mode='random' needs noise[{name!r}] of shape [N, 1, {resolution}, {resolution}]")
            n = noise[name].to(DTYPE)
            if tuple(n.shape) != (x.shape[0], 1, resolution, resolution):
                expected = (x.shape[0], 1, resolution, resolution)
                raise ValueError(f"noise[{name!r}]: expected {expected}, got {tuple(n.shape)}")
        x = x + n * strength
    b = _t(state, prefix + "bias", (out_channels,))
    clamp = None if cfg["conv_clamp"] is None else cfg["conv_clamp"] * gain
    return _bias_act(x, b, cfg["activation"], gain=_DEF_GAIN[cfg["activation"]] * gain, clamp=clamp)


def _torgb_layer(
    state: dict[str, torch.Tensor], prefix: str, x: torch.Tensor, w: torch.Tensor, img_channels: int, cfg: dict
) -> torch.Tensor:
    """ToRGB: 1x1 modulated conv without demodulation, styles scaled by ``1/sqrt(in*1*1)``; linear bias,
    clamped to ``+-conv_clamp``."""
    in_channels = x.shape[1]
    weight = _t(state, prefix + "weight", (img_channels, in_channels, 1, 1))
    styles = _fc(state, prefix + "affine.", w, in_channels) / math.sqrt(in_channels)
    x = _modulated_conv2d(x, weight, styles, demodulate=False, padding=0)
    b = _t(state, prefix + "bias", (img_channels,))
    return _bias_act(x, b, "linear", gain=1.0, clamp=cfg["conv_clamp"])


def _minibatch_std(x: torch.Tensor, group_size: int | None, num_channels: int) -> torch.Tensor:
    """Minibatch standard deviation layer.

    ``G = min(group_size, N)`` (``N`` if None); sample ``i`` belongs to group ``i % (N // G)`` (the batch
    is viewed as [G, N//G, ...]). Channels are split into ``num_channels`` chunks; for each group and
    chunk the biased std over the group (``sqrt(var + 1e-8)``) is averaged over the chunk's channels
    and all pixels and appended as a constant feature map.
    """
    n, ch, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    fc = num_channels
    y = x.reshape(g, n // g, fc, ch // fc, h, w)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [n/G, F, c, H, W]
    y = y.mean(dim=[2, 3, 4])  # [n/G, F]
    y = y.reshape(-1, fc, 1, 1).repeat(g, 1, h, w)  # row g*(n/G) + j gets group j's statistics
    return torch.cat([x, y], dim=1)


# ----------------------------------------------------------------------------------------------------
# Configuration.


def _mapping_config(kwargs: dict) -> dict:
    """Flatten MappingNetwork settings from Generator kwargs, Discriminator kwargs or flat mapping kwargs."""
    if "z_dim" not in kwargs and "img_resolution" in kwargs:  # Discriminator kwargs -> its cmap network
        d = _discriminator_config(kwargs)
        return _mapping_defaults(
            dict(z_dim=0, c_dim=d["c_dim"], w_dim=d["cmap_dim"], w_avg_beta=None, **d["mapping_kwargs"])
        )
    flat = {k: v for k, v in kwargs.items() if k not in ("mapping_kwargs", "synthesis_kwargs")}
    flat.update(kwargs.get("mapping_kwargs", {}))
    return _mapping_defaults(flat)


def _mapping_defaults(m: dict) -> dict:
    w_dim, c_dim = m["w_dim"], m["c_dim"]
    embed = m.get("embed_features")
    embed = w_dim if embed is None else embed
    if c_dim == 0:
        embed = 0
    layer = m.get("layer_features")
    return dict(
        z_dim=m["z_dim"],
        c_dim=c_dim,
        w_dim=w_dim,
        num_layers=m.get("num_layers", 8),
        embed_features=embed,
        layer_features=w_dim if layer is None else layer,
        activation=m.get("activation", "lrelu"),
        lr_multiplier=m.get("lr_multiplier", 0.01),
        w_avg_beta=m.get("w_avg_beta", 0.995),
    )


def _synthesis_config(kwargs: dict) -> dict:
    """Block list and layer settings of the reference SynthesisNetwork for Generator kwargs."""
    s = kwargs.get("synthesis_kwargs", {})
    res = kwargs["img_resolution"]
    log2 = int(res).bit_length() - 1
    if res < 4 or 2**log2 != res:
        raise ValueError(f"img_resolution must be a power of two >= 4, got {res}")
    base, cmax = s.get("channel_base", 32768), s.get("channel_max", 512)
    channels = {r: min(base // r, cmax) for r in (2**i for i in range(2, log2 + 1))}
    arch = s.get("architecture", "skip")
    if arch not in ("orig", "skip", "resnet"):
        raise ValueError(f"unknown synthesis architecture {arch!r}")
    blocks = []
    num_ws = 0
    for r in channels:
        in_ch = channels[r // 2] if r > 4 else 0
        is_last = r == res
        num_conv = 1 if in_ch == 0 else 2
        num_torgb = 1 if (is_last or arch == "skip") else 0
        blocks.append(
            dict(res=r, in_ch=in_ch, out_ch=channels[r], is_last=is_last, num_conv=num_conv, num_torgb=num_torgb)
        )
        num_ws += num_conv + (num_torgb if is_last else 0)
    return dict(
        blocks=blocks,
        num_ws=num_ws,
        w_dim=kwargs["w_dim"],
        img_channels=kwargs["img_channels"],
        architecture=arch,
        conv_clamp=s.get("conv_clamp"),
        kernel_size=s.get("kernel_size", 3),
        use_noise=s.get("use_noise", True),
        activation=s.get("activation", "lrelu"),
    )


def _discriminator_config(kwargs: dict) -> dict:
    res = kwargs["img_resolution"]
    log2 = int(res).bit_length() - 1
    if res < 8 or 2**log2 != res:
        raise ValueError(f"img_resolution must be a power of two >= 8, got {res}")
    base, cmax = kwargs.get("channel_base", 32768), kwargs.get("channel_max", 512)
    resolutions = [2**i for i in range(log2, 2, -1)]
    channels = {r: min(base // r, cmax) for r in [*resolutions, 4]}
    c_dim = kwargs["c_dim"]
    cmap_dim = kwargs.get("cmap_dim")
    if cmap_dim is None:
        cmap_dim = channels[4]
    if c_dim == 0:
        cmap_dim = 0
    arch = kwargs.get("architecture", "resnet")
    if arch not in ("orig", "skip", "resnet"):
        raise ValueError(f"unknown discriminator architecture {arch!r}")
    block_kwargs = kwargs.get("block_kwargs", {})
    epilogue_kwargs = kwargs.get("epilogue_kwargs", {})
    return dict(
        img_resolution=res,
        img_channels=kwargs["img_channels"],
        resolutions=resolutions,
        channels=channels,
        c_dim=c_dim,
        cmap_dim=cmap_dim,
        architecture=arch,
        conv_clamp=kwargs.get("conv_clamp"),
        block_activation=block_kwargs.get("activation", "lrelu"),
        mapping_kwargs=dict(kwargs.get("mapping_kwargs", {})),
        mbstd_group_size=epilogue_kwargs.get("mbstd_group_size", 4),
        mbstd_num_channels=epilogue_kwargs.get("mbstd_num_channels", 1),
        epilogue_activation=epilogue_kwargs.get("activation", "lrelu"),
    )


# ----------------------------------------------------------------------------------------------------
# Public API.


def mapping_forward(
    state: dict[str, torch.Tensor],
    kwargs: dict,
    z: torch.Tensor | None,
    c: torch.Tensor | None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    prefix: str = "mapping.",
    num_ws: int | None = None,
) -> torch.Tensor:
    """Mapping network z (+ c) -> w in float64.

    Parameters
    ----------
    state : dict
        State dict holding ``{prefix}fc{i}.*``, ``{prefix}embed.*`` (if ``c_dim > 0``), ``{prefix}w_avg``.
    kwargs : dict
        Generator kwargs (``z_dim, c_dim, w_dim, mapping_kwargs, ...``), flat MappingNetwork kwargs, or
        Discriminator kwargs (then the conditioning network ``z_dim=0, w_dim=cmap_dim`` is used).
    z, c : torch.Tensor or None
        Latents [N, z_dim] (ignored when ``z_dim == 0``) and labels [N, c_dim] (ignored when ``c_dim == 0``).
    truncation_psi, truncation_cutoff : float, int or None
        ``w <- w_avg + psi * (w - w_avg)``, for the first ``truncation_cutoff`` ws only when given.
    num_ws : int or None
        Broadcast count. None: inferred from the synthesis settings for Generator kwargs, else no broadcast.

    Returns
    -------
    torch.Tensor
        [N, num_ws, w_dim], or [N, w_dim] without broadcast.
    """
    m = _mapping_config(kwargs)
    if num_ws is None and "img_resolution" in kwargs and "z_dim" in kwargs:
        num_ws = _synthesis_config(kwargs)["num_ws"]
    parts = []
    if m["z_dim"] > 0:
        assert z is not None and z.shape[1] == m["z_dim"], "z must be [N, z_dim]"
        parts.append(_normalize_2nd_moment(z.to(DTYPE)))
    if m["c_dim"] > 0:
        assert c is not None and c.shape[1] == m["c_dim"], "c must be [N, c_dim]"
        # Label embedding: linear equalised-LR FC (lr multiplier 1), then normalised like z.
        y = _fc(state, prefix + "embed.", c.to(DTYPE), m["embed_features"])
        parts.append(_normalize_2nd_moment(y))
    if not parts:
        raise ValueError("mapping network needs z_dim > 0 or c_dim > 0")
    x = torch.cat(parts, dim=1)
    for i in range(m["num_layers"]):
        out = m["w_dim"] if i == m["num_layers"] - 1 else m["layer_features"]
        x = _fc(state, f"{prefix}fc{i}.", x, out, act=m["activation"], lr_mul=m["lr_multiplier"])
    if num_ws is not None:
        x = x.unsqueeze(1).repeat(1, num_ws, 1)
    if truncation_psi != 1:
        if m["w_avg_beta"] is None or prefix + "w_avg" not in state:
            raise ValueError("truncation needs the tracked w_avg")
        w_avg = _t(state, prefix + "w_avg", (m["w_dim"],))
        if num_ws is None or truncation_cutoff is None:
            x = w_avg + truncation_psi * (x - w_avg)
        else:
            x = x.clone()
            x[:, :truncation_cutoff] = w_avg + truncation_psi * (x[:, :truncation_cutoff] - w_avg)
    return x


def synthesis_forward(
    state: dict[str, torch.Tensor],
    kwargs: dict,
    ws: torch.Tensor,
    noise_mode: str = "const",
    noise: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Synthesis network ws [N, num_ws, w_dim] -> image [N, img_channels, R, R] in float64.

    ``kwargs`` are the Generator kwargs; parameters are read from ``synthesis.b{res}.*``.
    ``noise_mode``: 'const' (stored ``noise_const`` x ``noise_strength``), 'none', or 'random' (caller's
    ``noise["synthesis.b{res}.conv{0,1}"]`` [N, 1, res, res] x ``noise_strength``).
    """
    if noise_mode not in ("const", "none", "random"):
        raise ValueError(f"unknown noise_mode {noise_mode!r}")
    cfg = _synthesis_config(kwargs)
    ws = ws.to(DTYPE)
    if ws.ndim != 3 or ws.shape[1] != cfg["num_ws"] or ws.shape[2] != cfg["w_dim"]:
        raise ValueError(f"ws must be [N, {cfg['num_ws']}, {cfg['w_dim']}], got {tuple(ws.shape)}")
    n = ws.shape[0]
    arch = cfg["architecture"]
    x: torch.Tensor | None = None
    img: torch.Tensor | None = None
    w_idx = 0
    for blk in cfg["blocks"]:
        res, out_ch = blk["res"], blk["out_ch"]
        p = f"synthesis.b{res}."
        # Each block consumes num_conv ws; its ToRGB reads the next one (shared with the next block's conv0).
        bws = ws[:, w_idx : w_idx + blk["num_conv"] + blk["num_torgb"]]
        w_idx += blk["num_conv"]
        layer = dict(state=state, cfg=cfg, noise_mode=noise_mode, noise=noise, out_channels=out_ch, resolution=res)
        if blk["in_ch"] == 0:
            x = _t(state, p + "const", (out_ch, res, res)).unsqueeze(0).repeat(n, 1, 1, 1)
            x = _synthesis_layer(prefix=p + "conv1.", x=x, w=bws[:, 0], **layer)
        elif arch == "resnet":
            # x <- sqrt(.5) * up(1x1 conv(x)) + conv1(conv0(x)) (conv1's activation gain includes sqrt(.5)).
            y = _conv2d_layer(state, p + "skip.", x, out_ch, 1, up=2, gain=math.sqrt(0.5))
            x = _synthesis_layer(prefix=p + "conv0.", x=x, w=bws[:, 0], up=2, **layer)
            x = _synthesis_layer(prefix=p + "conv1.", x=x, w=bws[:, 1], gain=math.sqrt(0.5), **layer)
            x = y + x
        else:
            x = _synthesis_layer(prefix=p + "conv0.", x=x, w=bws[:, 0], up=2, **layer)
            x = _synthesis_layer(prefix=p + "conv1.", x=x, w=bws[:, 1], **layer)
        if img is not None:
            img = _upsample2d(img, _t(state, p + "resample_filter"))
        if blk["num_torgb"]:
            y = _torgb_layer(state, p + "torgb.", x, bws[:, blk["num_conv"]], cfg["img_channels"], cfg)
            img = y if img is None else img + y
    assert img is not None
    return img


def generator_forward(
    state: dict[str, torch.Tensor],
    kwargs: dict,
    z: torch.Tensor,
    c: torch.Tensor | None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    noise: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full generator: mapping then synthesis.

    Returns
    -------
    tuple of torch.Tensor
        ``(ws [N, num_ws, w_dim], img [N, C, H, W])`` in float64.
    """
    num_ws = _synthesis_config(kwargs)["num_ws"]
    ws = mapping_forward(state, kwargs, z, c, truncation_psi, truncation_cutoff, prefix="mapping.", num_ws=num_ws)
    img = synthesis_forward(state, kwargs, ws, noise_mode=noise_mode, noise=noise)
    return ws, img


def discriminator_forward(
    state: dict[str, torch.Tensor], kwargs: dict, img: torch.Tensor, c: torch.Tensor | None
) -> torch.Tensor:
    """Discriminator image [N, C, R, R] (+ labels [N, c_dim]) -> logits [N, 1] in float64.

    ``kwargs`` are the reference Discriminator kwargs. Blocks ``b{R}`` ... ``b8`` each map
    ``channels[res]`` to ``channels[res // 2]`` at half resolution; ``b4`` is the epilogue
    (minibatch std, 3x3 conv, fc, out, optional projection onto the label embedding ``cmap``).
    """
    d = _discriminator_config(kwargs)
    arch = d["architecture"]
    act = d["block_activation"]
    clamp = d["conv_clamp"]
    img = img.to(DTYPE)
    x: torch.Tensor | None = None
    for res in d["resolutions"]:
        p = f"b{res}."
        tmp_ch, out_ch = d["channels"][res], d["channels"][res // 2]
        first = res == d["img_resolution"]
        if first or arch == "skip":
            y = _conv2d_layer(state, p + "fromrgb.", img, tmp_ch, 1, act=act, clamp=clamp)
            x = y if x is None else x + y
            img = _downsample2d(img, _t(state, p + "resample_filter")) if arch == "skip" else None
        assert x is not None
        if arch == "resnet":
            # x <- sqrt(.5) * 1x1 conv(down(x)) + conv1(conv0(x)); the skip has no bias and no clamp.
            y = _conv2d_layer(state, p + "skip.", x, out_ch, 1, down=2, gain=math.sqrt(0.5))
            x = _conv2d_layer(state, p + "conv0.", x, tmp_ch, 3, act=act, clamp=clamp)
            x = _conv2d_layer(state, p + "conv1.", x, out_ch, 3, act=act, down=2, gain=math.sqrt(0.5), clamp=clamp)
            x = y + x
        else:
            x = _conv2d_layer(state, p + "conv0.", x, tmp_ch, 3, act=act, clamp=clamp)
            x = _conv2d_layer(state, p + "conv1.", x, out_ch, 3, act=act, down=2, clamp=clamp)
    assert x is not None

    cmap = None
    if d["c_dim"] > 0:
        mk = dict(z_dim=0, c_dim=d["c_dim"], w_dim=d["cmap_dim"], w_avg_beta=None, **d["mapping_kwargs"])
        cmap = mapping_forward(state, mk, None, c, prefix="mapping.")

    # Epilogue at 4x4.
    ch4 = d["channels"][4]
    eact = d["epilogue_activation"]
    if arch == "skip":
        assert img is not None
        x = x + _conv2d_layer(state, "b4.fromrgb.", img, ch4, 1, act=eact)  # no conv_clamp here
    if d["mbstd_num_channels"] > 0:
        x = _minibatch_std(x, d["mbstd_group_size"], d["mbstd_num_channels"])
    x = _conv2d_layer(state, "b4.conv.", x, ch4, 3, act=eact, clamp=clamp)
    x = _fc(state, "b4.fc.", x.flatten(1), ch4, act=eact)
    x = _fc(state, "b4.out.", x, 1 if d["cmap_dim"] == 0 else d["cmap_dim"])
    if cmap is not None:
        # Projection discriminator: <out, cmap> / sqrt(cmap_dim).
        x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(d["cmap_dim"])
    return x
