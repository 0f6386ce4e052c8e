"""Winograd F(4x4, 3x3) convolution of the C++ CPU backend against float64 direct convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from medgan_aug.ops import conv2d_resample, extension, modulated_conv2d, resolve_impl
from medgan_aug.ops._backend import op_namespace
from medgan_aug.ops.winograd import CONV_ENV_VAR, weight_transform, winograd_conv3x3, winograd_enabled

CL = torch.channels_last
FORMATS = ["contiguous", "channels_last"]
# (N, C, O, H, W, padding): odd and tiny sizes, every padding a 3x3 kernel keeps, a partial last tile.
SHAPES = [
    (2, 5, 7, 9, 11, 1),
    (1, 3, 4, 4, 5, 0),
    (3, 8, 6, 13, 6, 2),
    (2, 4, 4, 1, 1, 1),
    (1, 2, 3, 3, 3, 0),
    (2, 6, 5, 8, 8, 1),
]


@pytest.fixture(scope="module")
def ops():
    if not extension.load("cpu"):
        pytest.skip(f"the C++ library does not build here: {extension.load_error('cpu')}")
    assert resolve_impl("cpp", torch.device("cpu")) == "cpp"
    return op_namespace("cpp")


def _in_format(x: torch.Tensor, memory_format: str) -> torch.Tensor:
    return x.contiguous(memory_format=CL) if memory_format == "channels_last" else x.contiguous()


def _inputs(shape, dtype=torch.float64, seed=0):
    n, c, o, h, w, pad = shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(o, c, 3, 3, generator=gen, dtype=dtype)
    return x, weight, pad


@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_direct_convolution_in_float64(ops, shape, memory_format):
    x, w, pad = _inputs(shape)
    x = _in_format(x, memory_format)
    y = winograd_conv3x3(x, w, (pad, pad))
    expected = F.conv2d(x, w, padding=pad)
    assert y.shape == expected.shape
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-11)
    assert y.is_contiguous(memory_format=CL if memory_format == "channels_last" else torch.contiguous_format)


def test_asymmetric_padding_per_axis(ops):
    x, w, _ = _inputs((2, 3, 4, 7, 10, 0))
    y = winograd_conv3x3(x, w, (0, 2))
    torch.testing.assert_close(y, F.conv2d(x, w, padding=(0, 2)), rtol=0, atol=1e-11)


@pytest.mark.parametrize("memory_format", FORMATS)
def test_float32_error_stays_near_direct_convolution(ops, memory_format):
    """Rounding only: within 20x the direct float32 convolution's error on a 256-channel layer."""
    gen = torch.Generator().manual_seed(1)
    x = _in_format(torch.randn(2, 256, 16, 16, generator=gen), memory_format)
    w = torch.randn(256, 256, 3, 3, generator=gen) / (256 * 9) ** 0.5
    exact = F.conv2d(x.double(), w.double(), padding=1)
    winograd = winograd_conv3x3(x, w, (1, 1)).double()
    direct = F.conv2d(x, w, padding=1).double()

    def rms(t):
        return t.pow(2).mean().sqrt().item()

    assert rms(winograd - exact) < 20 * rms(direct - exact)
    assert (winograd - exact).abs().max().item() < 1e-4 * exact.abs().max().item()


@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize("shape", [(2, 3, 2, 5, 6, 1), (1, 2, 3, 6, 4, 0), (1, 2, 2, 3, 5, 2)])
def test_gradients_to_second_order(ops, shape, memory_format):
    x, w, pad = _inputs(shape)
    x = _in_format(x, memory_format).requires_grad_(True)
    w.requires_grad_(True)

    def conv(a, b):
        return winograd_conv3x3(a, b, (pad, pad))

    assert torch.autograd.gradcheck(conv, (x, w))
    assert torch.autograd.gradgradcheck(conv, (x, w))


@pytest.mark.parametrize("memory_format", FORMATS)
def test_transforms_are_each_others_adjoints(ops, memory_format):
    """<input(x), v> = <x, input_backward(v)> and <output(m), y> = <m, output_backward(y)>."""
    n, c, h, w, pad = 2, 3, 9, 7, 1
    gen = torch.Generator().manual_seed(2)
    channels_last = memory_format == "channels_last"
    x = _in_format(torch.randn(n, c, h, w, generator=gen, dtype=torch.float64), memory_format)
    points = ops.winograd_input(x, pad, pad)
    v = torch.randn(points.shape, generator=gen, dtype=torch.float64)
    dx = ops.winograd_input_backward(v, n, h, w, pad, pad, channels_last)
    torch.testing.assert_close((points * v).sum(), (x * dx).sum())
    assert dx.is_contiguous(memory_format=CL if channels_last else torch.contiguous_format)

    y = _in_format(torch.randn(n, c, h, w, generator=gen, dtype=torch.float64), memory_format)
    dm = ops.winograd_output_backward(y)
    m = torch.randn(dm.shape, generator=gen, dtype=torch.float64)
    out = ops.winograd_output(m, n, h, w, channels_last)
    torch.testing.assert_close((out * y).sum(), (m * dm).sum())


def test_weight_transform_is_g_w_g_transposed():
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    # Points 0, 1, -1, 2, -1/2: row j is (1, p, p^2) / prod_{k != j} (p_j - p_k); then infinity.
    g = torch.tensor(
        [
            [1, 0, 0],
            [-1 / 3, -1 / 3, -1 / 3],
            [1 / 3, -1 / 3, 1 / 3],
            [1 / 15, 2 / 15, 4 / 15],
            [-16 / 15, 8 / 15, -4 / 15],
            [0, 0, 1],
        ],
        dtype=torch.float64,
    )
    expected = torch.einsum("ai,ocij,bj->aboc", g, w, g).reshape(36, 3, 2)
    torch.testing.assert_close(weight_transform(w), expected)


@pytest.mark.parametrize("memory_format", FORMATS)
def test_opcheck(ops, memory_format):
    x = _in_format(torch.randn(2, 3, 6, 5), memory_format).requires_grad_(True)
    torch.library.opcheck(ops.winograd_input, (x, 1, 1))
    points = ops.winograd_input(x.detach(), 1, 1).requires_grad_(True)
    channels_last = memory_format == "channels_last"
    torch.library.opcheck(ops.winograd_input_backward, (points, 2, 6, 5, 1, 1, channels_last))
    torch.library.opcheck(ops.winograd_output, (points, 2, 6, 5, channels_last))
    torch.library.opcheck(ops.winograd_output_backward, (x,))


class OpTrace(TorchDispatchMode):
    """Names of the operators called, below autograd."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def _layer(channels: int = 256, size: int = 16):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, channels, size, size, generator=gen)
    w = torch.randn(channels, channels, 3, 3, generator=gen) / (channels * 9) ** 0.5
    return x, w


def test_cpp_backend_runs_eligible_convolutions_by_winograd(ops, monkeypatch):
    monkeypatch.delenv(CONV_ENV_VAR, raising=False)
    x, w = _layer()
    with OpTrace() as trace:
        y = conv2d_resample(x, w, padding=1, impl="cpp")
    assert "medgan_aug.winograd_input" in trace.names
    torch.testing.assert_close(y, F.conv2d(x, w, padding=1), rtol=1e-4, atol=1e-4)
    with OpTrace() as trace:
        flipped = conv2d_resample(x, w, padding=1, flip_weight=False, impl="cpp")
    assert "medgan_aug.winograd_input" in trace.names
    torch.testing.assert_close(flipped, F.conv2d(x, w.flip([2, 3]), padding=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "case",
    ["ref_backend", "direct_requested", "small_image", "few_channels", "float64", "groups", "strided"],
)
def test_other_convolutions_stay_direct(ops, monkeypatch, case):
    monkeypatch.delenv(CONV_ENV_VAR, raising=False)
    x, w = _layer()
    kwargs = {"padding": 1, "impl": "cpp"}
    if case == "ref_backend":
        kwargs["impl"] = "ref"
    elif case == "direct_requested":
        monkeypatch.setenv(CONV_ENV_VAR, "direct")
    elif case == "small_image":
        x, w = _layer(size=8)
    elif case == "few_channels":
        x, w = _layer(channels=16)
    elif case == "float64":
        x, w = x.double(), w.double()
    elif case == "groups":
        kwargs["groups"] = 2
        w = w[:, :128]
    elif case == "strided":
        kwargs["down"] = 2
        kwargs["f"] = torch.ones(2, 2) / 4
    with OpTrace() as trace:
        conv2d_resample(x, w, **kwargs)
    assert "medgan_aug.winograd_input" not in trace.names


def test_modulated_conv2d_gradients_match_direct(ops, monkeypatch):
    """The networks' layer: style and weight gradients agree with the direct convolution's."""
    x, w = _layer()
    styles = torch.randn(2, 256, generator=torch.Generator().manual_seed(4)) + 1
    results = {}
    for algorithm in ("winograd", "direct"):
        monkeypatch.setenv(CONV_ENV_VAR, algorithm)
        inputs = [t.clone().requires_grad_(True) for t in (x, w, styles)]
        y = modulated_conv2d(*inputs, padding=1, fused_modconv=False, impl="cpp")
        y.square().sum().backward()
        results[algorithm] = (y, *(t.grad for t in inputs))
    for winograd, direct in zip(results["winograd"], results["direct"], strict=True):
        torch.testing.assert_close(winograd, direct, rtol=1e-4, atol=1e-4 * direct.abs().max().item())


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(CONV_ENV_VAR, "fft")
    with pytest.raises(ValueError, match=CONV_ENV_VAR):
        winograd_enabled()


def test_bad_inputs_name_the_operator(ops):
    with pytest.raises(RuntimeError, match="winograd_input: expected a 4-D"):
        ops.winograd_input(torch.randn(3, 4, 5), 1, 1)
    with pytest.raises(RuntimeError, match="winograd_input: only float32 and float64"):
        ops.winograd_input(torch.ones(1, 1, 4, 4, dtype=torch.float16), 1, 1)
    with pytest.raises(RuntimeError, match="winograd_input: padding must be >= 0"):
        ops.winograd_input(torch.randn(1, 1, 4, 4), -1, 1)
    with pytest.raises(RuntimeError, match="is empty"):
        ops.winograd_input(torch.randn(1, 1, 1, 1), 0, 0)
    with pytest.raises(RuntimeError, match="winograd_output: 4 tiles given, 2 expected"):
        ops.winograd_output(torch.randn(36, 3, 4), 1, 4, 8, False)
    with pytest.raises(RuntimeError, match="winograd_output: expected a \\[36, C, T\\]"):
        ops.winograd_output(torch.randn(16, 3, 4), 1, 4, 8, False)


def test_networks_agree_with_direct_convolutions(ops, monkeypatch):
    """A G+D step whose 16 and 32 px layers (256 channels) run by Winograd: images, logits and gradients."""
    from medgan_aug.nets import StyleDiscriminator, StyleGenerator

    monkeypatch.setenv("MEDGAN_AUG_OPS", "cpp")
    torch.manual_seed(0)
    widths = {"channel_base": 8192, "channel_max": 256}
    G = StyleGenerator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=1, synthesis_kwargs=widths)
    D = StyleDiscriminator(c_dim=0, img_resolution=32, img_channels=1, **widths)
    z = torch.randn(2, 32)
    results = {}
    for algorithm in ("winograd", "direct"):
        monkeypatch.setenv(CONV_ENV_VAR, algorithm)
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)
        with OpTrace() as trace:
            img = G(z, noise_mode="const")
            logits = D(img)
            logits.sum().backward()
        assert ("medgan_aug.winograd_input" in trace.names) == (algorithm == "winograd")
        grads = [p.grad for p in (*G.parameters(), *D.parameters())]
        results[algorithm] = (img, logits, *grads)
    for winograd, direct in zip(results["winograd"], results["direct"], strict=True):
        torch.testing.assert_close(winograd, direct, rtol=1e-3, atol=1e-4 * max(direct.abs().max().item(), 1.0))
