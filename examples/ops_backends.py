"""Compare the operator backends on a synthetic grayscale image.

Runs the StyleGAN2 resampling chain (upsample, modulated convolution, bias +
leaky ReLU, downsample) on every backend available on this machine, checks
that they agree with the pure PyTorch reference, and prints their speed.

    python examples/ops_backends.py
"""

from __future__ import annotations

import time

import torch

from medgan_aug.ops import available_impls, bias_act, downsample2d, modulated_conv2d, setup_filter, upsample2d


def phantom(size: int = 128) -> torch.Tensor:
    """A breast-like bright half-disc with a small dense lesion, as a [1, 1, H, W] image."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    tissue = ((xx + 1) ** 2 + yy**2 < 1.6).float() * 0.6
    lesion = torch.exp(-((xx + 0.3) ** 2 + (yy - 0.1) ** 2) / 0.005)
    return (tissue + 0.4 * lesion)[None, None] * 2 - 1


def chain(image: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, impl: str) -> torch.Tensor:
    f = setup_filter([1, 3, 3, 1])
    x = upsample2d(image.expand(4, 8, -1, -1), f, impl=impl)
    x = modulated_conv2d(x, weight, styles, padding=1, impl=impl)
    x = bias_act(x, torch.zeros(weight.shape[0]), act="lrelu", clamp=256, impl=impl)
    return downsample2d(x, f, impl=impl)


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    image = phantom()
    weight = torch.randn(16, 8, 3, 3, generator=gen)
    styles = torch.randn(4, 8, generator=gen)
    reference = chain(image, weight, styles, "ref")
    for impl in available_impls("cpu"):
        start = time.perf_counter()
        out = chain(image, weight, styles, impl)
        seconds = time.perf_counter() - start
        error = (out - reference).abs().max().item()
        print(f"{impl:14s} {seconds * 1e3:8.1f} ms   max |difference from ref| = {error:.2e}")


if __name__ == "__main__":
    main()
