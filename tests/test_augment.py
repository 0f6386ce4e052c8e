"""AdaptiveAugment and AdaController against ADA's formulas (Karras et al. 2020, Training GANs with Limited Data)."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

import medgan_aug
from medgan_aug.augment import PRESETS, AdaController, AdaptiveAugment, AugmentParams

TRANSFORMS = (
    *("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac"),
    *("brightness", "contrast", "lumaflip", "hue", "saturation"),
    *("imgfilter", "noise", "cutout"),
)
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
GEOMETRIC = TRANSFORMS[:7]
V = torch.ones(3, dtype=torch.float64) / math.sqrt(3)  # luma axis
VV = torch.outer(V, V)
I3 = torch.eye(3, dtype=torch.float64)
# Inverse (output -> input) matrix of torch.rot90(x, 1, dims=(2, 3)) in centred pixel coordinates.
ROT90_INV = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
STATS_BATCH = 20000


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def only(name: str, p: float, **kwargs) -> AdaptiveAugment:
    """An augmenter with every transform off except ``name`` (multiplier 1)."""
    multipliers = {n: 0.0 for n in TRANSFORMS}
    multipliers[name] = 1.0
    return AdaptiveAugment("bgcfnc", p=p, **{**multipliers, **kwargs})


def translate(tx: float, ty: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scale(sx: float, sy: float) -> torch.Tensor:
    return torch.tensor([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def rotate_inv(theta: float) -> torch.Tensor:
    """Inverse of the rotation of the content by ``theta`` (x right, y down)."""
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def with_geometry(*matrices: torch.Tensor) -> AugmentParams:
    params = AugmentParams.identity(len(matrices))
    params.geometry = torch.stack([m.float() for m in matrices])
    return params


def with_colour(*matrices3: torch.Tensor, offsets: list[float] | None = None) -> AugmentParams:
    """Colour params from 3x3 linear parts and per-sample offsets added to every channel."""
    params = AugmentParams.identity(len(matrices3))
    colour = torch.eye(4).repeat(len(matrices3), 1, 1)
    for i, m in enumerate(matrices3):
        colour[i, :3, :3] = m.float()
        colour[i, :3, 3] = 0.0 if offsets is None else offsets[i]
    params.color = colour
    return params


def hue_matrix(theta: float) -> torch.Tensor:
    """Rodrigues rotation by ``theta`` around the luma axis."""
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=torch.float64) / math.sqrt(3)
    return math.cos(theta) * I3 + math.sin(theta) * cross + (1 - math.cos(theta)) * VV


def saturation_matrix(s: float) -> torch.Tensor:
    return VV + s * (I3 - VV)


def centred_grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 (x, y) pixel coordinates centred on ((w-1)/2, (h-1)/2)."""
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64) - (h - 1) / 2,
        torch.arange(w, dtype=torch.float64) - (w - 1) / 2,
        indexing="ij",
    )
    return xs, ys


def gaussian(h: int, w: int, sx: float, sy: float, theta: float = 0.0) -> torch.Tensor:
    """[1, 1, h, w] centred Gaussian whose x-axis of width ``sx`` points at angle ``theta``."""
    xs, ys = centred_grid(h, w)
    u = math.cos(theta) * xs + math.sin(theta) * ys
    v = -math.sin(theta) * xs + math.cos(theta) * ys
    return torch.exp(-(u**2) / (2 * sx**2) - v**2 / (2 * sy**2))[None, None]


def is_changed(field: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    return (field - identity).abs().flatten(1).amax(dim=1) > 1e-6


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    return (actual.double() - expected.double()).abs().max().item()


# --- geometry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tx", "ty"), [(3, -2), (-1, 4), (0, 5), (-6, 0)])
def test_integer_shift_moves_content_and_reflects_the_border(tx, ty):
    x = torch.randn(2, 3, 16, 20, generator=seeded(1))
    out = AdaptiveAugment().apply(x, with_geometry(translate(-tx, -ty), translate(-tx, -ty)))
    # out(x, y) = in(x - tx, y - ty): the interior is the shifted input ...
    h, w = x.shape[-2:]
    interior = out[..., max(ty, 0) : h + min(ty, 0), max(tx, 0) : w + min(tx, 0)]
    shifted = x[..., max(-ty, 0) : h + min(-ty, 0), max(-tx, 0) : w + min(-tx, 0)]
    assert max_error(interior, shifted) < 1e-4
    # ... and the revealed border comes from the reflect-padded input.
    m = max(abs(tx), abs(ty))
    padded = F.pad(x, (m, m, m, m), mode="reflect")
    assert max_error(out, padded[..., m - ty : m - ty + h, m - tx : m - tx + w]) < 1e-4


@pytest.mark.parametrize(
    ("matrix", "reference", "size"),
    [
        pytest.param(scale(-1, 1), lambda x: torch.flip(x, [3]), (16, 16), id="xflip"),
        pytest.param(scale(-1, 1), lambda x: torch.flip(x, [3]), (12, 20), id="xflip-nonsquare"),
        pytest.param(scale(1, -1), lambda x: torch.flip(x, [2]), (12, 20), id="yflip-nonsquare"),
        pytest.param(ROT90_INV, lambda x: torch.rot90(x, 1, (2, 3)), (16, 16), id="rot90"),
        pytest.param(ROT90_INV @ ROT90_INV, lambda x: torch.rot90(x, 2, (2, 3)), (16, 16), id="rot180"),
        pytest.param(ROT90_INV @ ROT90_INV @ ROT90_INV, lambda x: torch.rot90(x, 3, (2, 3)), (16, 16), id="rot270"),
        pytest.param(ROT90_INV @ ROT90_INV, lambda x: torch.rot90(x, 2, (2, 3)), (12, 20), id="rot180-nonsquare"),
    ],
)
def test_flips_and_quarter_turns_are_exact(matrix, reference, size):
    x = torch.randn(2, 3, *size, generator=seeded(2))
    out = AdaptiveAugment().apply(x, with_geometry(matrix, matrix))
    assert max_error(out, reference(x)) < 1e-4


@pytest.mark.parametrize("mirror", [False, True], ids=["plain", "mirrored"])
@pytest.mark.parametrize(("tx", "ty"), [(0.5, 0.0), (0.0, -0.5), (0.5, 0.5), (0.25, -0.75)])
def test_fractional_shift_of_a_cosine_matches_the_shifted_cosine(tx, ty, mirror):
    xs, ys = centred_grid(32, 32)
    sx = -1 if mirror else 1

    def phantom(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (torch.cos(2 * math.pi * x / 20 + 0.3) * torch.cos(2 * math.pi * y / 20 + 1.0))[None, None]

    # out(x, y) = in(sx * (x - tx), y - ty); an x-flip composed with a shift is resampled as a whole.
    out = AdaptiveAugment().apply(phantom(xs, ys).float(), with_geometry(scale(sx, 1) @ translate(-tx, -ty)))
    expected = phantom(sx * (xs - tx), ys - ty)
    m = 6  # away from the reflected border
    assert max_error(out[..., m:-m, m:-m], expected[..., m:-m, m:-m]) < 1e-2


@pytest.mark.parametrize("theta", [0.5, -1.0, 2.0, 2.5])
def test_rotation_of_gaussian_blobs(theta):
    size, sigma = 40, 5.0
    xs, ys = centred_grid(size, size)
    disc = xs**2 + ys**2 < 14**2  # pre-image inside the image for every angle
    aug = AdaptiveAugment()
    iso = gaussian(size, size, sigma, sigma)
    out = aug.apply(iso.float(), with_geometry(rotate_inv(theta)))
    assert max_error(out[..., disc], iso[..., disc]) < 3e-2
    # An elongated blob turns with the content by +theta (x right, y down).
    aniso = gaussian(size, size, 1.5 * sigma, sigma / 1.5)
    out = aug.apply(aniso.float(), with_geometry(rotate_inv(theta)))
    rotated = gaussian(size, size, 1.5 * sigma, sigma / 1.5, theta)
    assert max_error(out[..., disc], rotated[..., disc]) < 3e-2


@pytest.mark.parametrize("s", [0.8, 1.25, 1.6])
def test_isotropic_scale_of_a_gaussian_blob(s):
    size, sigma = 40, 5.0
    xs, ys = centred_grid(size, size)
    disc = xs**2 + ys**2 < 14**2
    out = AdaptiveAugment().apply(gaussian(size, size, sigma, sigma).float(), with_geometry(scale(1 / s, 1 / s)))
    expected = gaussian(size, size, sigma * s, sigma * s)
    assert max_error(out[..., disc], expected[..., disc]) < 1e-2


WARPS = {
    "shift": translate(-0.5, 0.25),
    "mirrored-shift": scale(-1, 1) @ translate(-0.5, 0.25),
    "rotate": rotate_inv(2.5) @ translate(-0.5, 0.25),
    "scale": scale(1 / 1.3, 1 / 1.3) @ translate(-0.5, 0.25),
}
SHIFTS = ("shift", "mirrored-shift")


@pytest.mark.parametrize(
    ("geom_filter", "warp"),
    [
        pytest.param(taps, name, id=f"{'-'.join(map(str, taps)) if taps != 'sym6' else taps}-{name}")
        for taps, names in [("sym6", list(WARPS)), ((1, 3, 3, 1), SHIFTS)]
        for name in names
    ],
)
def test_warped_blob_centroid_lands_where_the_geometry_puts_it(geom_filter, warp):
    """The resampling filter may blur but must not displace the content."""
    size = 48
    xs, ys = centred_grid(size, size)
    disc = xs**2 + ys**2 < 20**2
    blob = gaussian(size, size, 3.0, 3.0).float()
    out = AdaptiveAugment(geom_filter=geom_filter).apply(blob, with_geometry(WARPS[warp]))
    weight = out[0, 0].double() * disc
    centroid = torch.stack([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
    expected = torch.linalg.inv(WARPS[warp].double())[:2, 2]  # where the input's centre goes
    assert max_error(centroid, expected) < 0.01, f"centroid {centroid.tolist()}, expected {expected.tolist()}"


def test_custom_geometry_filter_taps_are_used():
    x = gaussian(40, 40, 5.0, 5.0).float()
    params = with_geometry(translate(-0.5, 0.25))
    out = AdaptiveAugment(geom_filter=(1, 3, 3, 1)).apply(x, params)
    xs, ys = centred_grid(40, 40)
    expected = torch.exp(-((xs - 0.5) ** 2 + (ys + 0.25) ** 2) / 50)[None, None]
    assert max_error(out, expected) < 3e-2
    # The binomial filter blurs where the default wavelet does not.
    assert max_error(out, AdaptiveAugment().apply(x, params)) > 1e-3


@pytest.mark.parametrize("taps", [(1, 2, 1), (1,), "sym4"])
def test_geometry_filter_must_have_an_even_number_of_taps(taps):
    # upsample2d/downsample2d centre even-length filters; odd ones would shift every warped image.
    with pytest.raises(ValueError, match="geom_filter"):
        AdaptiveAugment(geom_filter=taps)


def test_identity_rows_are_untouched_in_a_transformed_batch():
    x = torch.randn(4, 3, 16, 16, generator=seeded(3))
    eye = torch.eye(3)
    aug = AdaptiveAugment()
    out = aug.apply(x, with_geometry(eye, rotate_inv(0.3), eye, translate(0.3, -0.7)))
    untouched = aug.apply(x, AugmentParams.identity(4))
    assert torch.equal(out[[0, 2]], untouched[[0, 2]])
    assert max_error(untouched, x) < 1e-5
    for row in (1, 3):
        assert max_error(out[row], x[row]) > 0.1


# --- colour -------------------------------------------------------------------------------------


def test_colour_matrix_acts_on_rgb1():
    x = torch.randn(3, 3, 6, 7, generator=seeded(4))
    colour = torch.eye(4).repeat(3, 1, 1)
    colour[:, :3, :] = torch.randn(3, 3, 4, generator=seeded(5))
    params = AugmentParams.identity(3)
    params.color = colour
    expected = torch.einsum("nij,njhw->nihw", colour[:, :3, :3], x) + colour[:, :3, 3, None, None]
    assert max_error(AdaptiveAugment().apply(x, params), expected) < 1e-5


def test_gray_uses_the_mean_of_the_rgb_rows():
    x = torch.randn(3, 1, 6, 7, generator=seeded(6))
    colour = torch.eye(4).repeat(3, 1, 1)
    colour[:, :3, :] = torch.randn(3, 3, 4, generator=seeded(7))
    params = AugmentParams.identity(3)
    params.color = colour
    row = colour[:, :3, :].mean(dim=1)
    expected = x * row[:, :3].sum(dim=1)[:, None, None, None] + row[:, 3, None, None, None]
    assert max_error(AdaptiveAugment().apply(x, params), expected) < 1e-5


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=1, keepdim=True)


COLOUR_CASES = [
    # (id, params, expected for RGB, expected for gray)
    (
        "brightness",
        with_colour(I3, I3, offsets=[0.3, -0.7]),
        lambda x: x + torch.tensor([0.3, -0.7])[:, None, None, None],
    ),
    ("contrast", with_colour(1.7 * I3, 0.4 * I3), lambda x: x * torch.tensor([1.7, 0.4])[:, None, None, None]),
    ("lumaflip", with_colour(I3 - 2 * VV, I3), None),
    ("hue120", with_colour(hue_matrix(2 * math.pi / 3), I3), None),
    ("hue", with_colour(hue_matrix(0.7), hue_matrix(-2.0)), None),
    ("saturation0", with_colour(saturation_matrix(0.0), saturation_matrix(0.0)), None),
    ("saturation", with_colour(saturation_matrix(2.5), saturation_matrix(0.3)), None),
]


@pytest.mark.parametrize(("params", "shared"), [pytest.param(p, e, id=i) for i, p, e in COLOUR_CASES])
def test_colour_transforms_on_rgb(params, shared, request):
    name = request.node.callspec.id
    x = torch.randn(2, 3, 5, 6, generator=seeded(8))
    out = AdaptiveAugment().apply(x, params)
    if shared is not None:
        expected = shared(x)
    elif name == "lumaflip":
        expected = torch.stack([x[0] - 2 * _mean(x[0:1])[0], x[1]])
        assert max_error(_mean(out[:1]), -_mean(x[:1])) < 1e-5  # luma negated
    elif name == "hue120":
        expected = torch.stack([x[0, [2, 0, 1]], x[1]])  # a cyclic permutation of the channels
    elif name == "hue":
        assert max_error(_mean(out), _mean(x)) < 1e-5  # luma preserved
        chroma = (x - _mean(x)).square().sum(dim=1)
        assert max_error((out - _mean(out)).square().sum(dim=1), chroma) < 1e-4  # a rotation
        expected = torch.einsum("nij,njhw->nihw", params.color[:, :3, :3], x)
    elif name == "saturation0":
        expected = _mean(x).expand_as(x)
    else:
        s = torch.tensor([2.5, 0.3])[:, None, None, None]
        expected = _mean(x) + s * (x - _mean(x))
    assert max_error(out, expected) < 1e-5


@pytest.mark.parametrize(("params", "shared"), [pytest.param(p, e, id=i) for i, p, e in COLOUR_CASES])
def test_colour_transforms_on_gray(params, shared, request):
    name = request.node.callspec.id
    x = torch.randn(2, 1, 5, 6, generator=seeded(9))
    out = AdaptiveAugment().apply(x, params)
    if shared is not None:
        expected = shared(x)
    elif name == "lumaflip":
        expected = torch.stack([-x[0], x[1]])
    else:
        expected = x  # hue and saturation do nothing on gray
    assert max_error(out, expected) < 1e-6


# --- image-space filter, noise, cutout ----------------------------------------------------------

GAINS = torch.tensor([[2.0, 0.5, 1.5, 0.25], [0.3, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]])


def with_gains(gains: torch.Tensor) -> AugmentParams:
    params = AugmentParams.identity(len(gains))
    params.filter_gains = gains.clone()
    return params


@pytest.mark.parametrize("channels", [1, 3])
def test_filter_with_unit_gains_is_identity(channels):
    x = torch.randn(2, channels, 24, 28, generator=seeded(10))
    assert max_error(AdaptiveAugment().apply(x, with_gains(torch.ones(2, 4))), x) < 1e-5


@pytest.mark.parametrize("channels", [1, 3])
def test_filter_gain_of_constant_and_nyquist_images(channels):
    h, w = 24, 28
    aug = AdaptiveAugment()
    constant = torch.full((3, channels, h, w), 0.7)
    # The band filter is separable: a pattern in band i along x and band j along y gets g_i * g_j.
    out = aug.apply(constant, with_gains(GAINS))
    assert max_error(out, constant * GAINS[:, 0, None, None, None] ** 2) < 1e-5
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    checker = ((-1.0) ** (i + j)).expand(3, channels, h, w)
    out = aug.apply(checker, with_gains(GAINS))
    assert max_error(out, checker * GAINS[:, 3, None, None, None] ** 2) < 1e-5
    stripes = ((-1.0) ** j).expand(3, channels, h, w)
    out = aug.apply(stripes, with_gains(GAINS))
    assert max_error(out, stripes * (GAINS[:, 0] * GAINS[:, 3])[:, None, None, None]) < 1e-5


def test_noise_has_the_requested_std():
    x = torch.randn(3, 3, 64, 64, generator=seeded(11))
    params = AugmentParams.identity(3)
    params.noise_std = torch.tensor([0.0, 0.1, 0.5])
    delta = AdaptiveAugment().apply(x, params) - x
    assert torch.equal(delta[0], torch.zeros_like(delta[0]))
    for row, sigma in ((1, 0.1), (2, 0.5)):
        assert delta[row].std().item() == pytest.approx(sigma, rel=0.05)
        assert abs(delta[row].mean().item()) < 0.05 * sigma


@pytest.mark.parametrize(
    "cutout",
    [(0.3, 0.6, 0.25, 0.5), (0.95, 0.05, 0.5, 0.5), (0.5, 0.5, 0.0, 0.0), (0.5, 0.5, 1.0, 1.0)],
    ids=["inside", "corner", "none", "everything"],
)
def test_cutout_zeroes_the_rectangle(cutout):
    h, w = 12, 16
    x = torch.rand(2, 3, h, w, generator=seeded(12)) + 1  # never 0
    params = AugmentParams.identity(2)
    params.cutout = torch.tensor([cutout, (0.5, 0.5, 0.0, 0.0)])
    out = AdaptiveAugment().apply(x, params)
    cx, cy, sx, sy = params.cutout[0].double().tolist()
    i, j = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    cut = (((j + 0.5) / w - cx).abs() < sx / 2) & (((i + 0.5) / h - cy).abs() < sy / 2)
    assert torch.equal(out[0], torch.where(cut, torch.zeros_like(x[0]), x[0]))
    assert torch.equal(out[1], x[1])


def test_apply_is_deterministic_and_keeps_shape_and_dtype():
    aug = AdaptiveAugment("bgcf", p=1.0)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(3, 3, 24, 20, generator=seeded(13), dtype=dtype)
        params = aug.sample_params(3, 3, 24, 20, generator=seeded(14))
        out = aug.apply(x, params)
        assert out.shape == x.shape and out.dtype == dtype
        assert torch.equal(out, aug.apply(x, params))


# --- the module: p, presets, multipliers, sampling ----------------------------------------------


def test_p_zero_returns_the_input_itself():
    x = torch.randn(2, 3, 8, 8)
    assert AdaptiveAugment("bgcfnc", p=0.0)(x) is x


def test_p_is_a_float32_scalar_buffer():
    aug = AdaptiveAugment("bgc", p=0.25)
    assert aug.p.dtype == torch.float32 and aug.p.dim() == 0
    assert aug.state_dict()["p"].item() == 0.25
    aug.set_p(0.0)
    assert aug.p.item() == 0.0
    assert torch.equal(aug.sample_params(64, 3, 16, 16).geometry, torch.eye(3).repeat(64, 1, 1))
    aug.p.fill_(1.0)
    assert is_changed(aug.sample_params(64, 3, 16, 16).geometry, torch.eye(3)).any()


def test_presets():
    blit = {"xflip", "rotate90", "xint"}
    geom = {"scale", "rotate", "aniso", "xfrac"}
    color = {"brightness", "contrast", "lumaflip", "hue", "saturation"}
    groups = {
        "blit": blit,
        "geom": geom,
        "color": color,
        "filter": {"imgfilter"},
        "noise": {"noise"},
        "cutout": {"cutout"},
        "bg": blit | geom,
        "bgc": blit | geom | color,
        "bgcf": blit | geom | color | {"imgfilter"},
        "bgcfn": blit | geom | color | {"imgfilter", "noise"},
        "bgcfnc": blit | geom | color | {"imgfilter", "noise", "cutout"},
    }
    expected = {name: dict.fromkeys(names, 1.0) for name, names in groups.items()}
    assert expected == PRESETS


def active(aug: AdaptiveAugment) -> dict[str, float]:
    return {name: value for name, value in aug.multipliers.items() if value != 0}


def test_multipliers_follow_preset_color_flag_and_explicit_values():
    assert active(AdaptiveAugment("bg")) == PRESETS["bg"]
    assert active(AdaptiveAugment("bgc", color=False)) == PRESETS["bg"]
    assert active(AdaptiveAugment("bgc", color=False, hue=0.5)) == {**PRESETS["bg"], "hue": 0.5}
    assert active(AdaptiveAugment("blit", xflip=0.0, noise=0.3)) == {"rotate90": 1.0, "xint": 1.0, "noise": 0.3}


def test_reexported_at_package_level():
    assert medgan_aug.AdaptiveAugment is AdaptiveAugment
    assert medgan_aug.AdaController is AdaController


def stage(name: str) -> str:
    return "geometry" if name in GEOMETRIC else "color" if name in COLOUR else name


def changed_fraction(name: str, params: AugmentParams) -> float:
    if name in GEOMETRIC:
        changed = is_changed(params.geometry, torch.eye(3))
    elif name in COLOUR:
        changed = is_changed(params.color, torch.eye(4))
    elif name == "imgfilter":
        changed = is_changed(params.filter_gains, torch.ones(4))
    elif name == "noise":
        changed = params.noise_std > 0
    else:
        changed = params.cutout[:, 2:].amax(dim=1) > 0
    return changed.double().mean().item()


@pytest.mark.parametrize(
    ("name", "p", "kwargs", "expected"),
    [
        ("xflip", 0.6, {}, 0.3),  # applied with p, then flip or not 50/50
        ("rotate90", 0.6, {}, 0.45),  # k uniform in {0, 1, 2, 3}
        ("xint", 0.6, {}, 0.6),
        ("scale", 0.6, {}, 0.6),
        ("rotate", 0.6, {}, 0.6),  # two rotations with 1 - sqrt(1 - p) each
        ("aniso", 0.6, {}, 0.6),
        ("xfrac", 0.6, {}, 0.6),
        ("brightness", 0.6, {}, 0.6),
        ("brightness", 0.8, {"brightness": 0.5}, 0.4),
        ("contrast", 0.6, {}, 0.6),
        ("lumaflip", 0.6, {}, 0.3),  # like xflip: i ~ U{0, 1} (ADA paper, appendix B)
        ("hue", 0.6, {}, 0.6),
        ("saturation", 0.6, {}, 0.6),
        ("imgfilter", 0.6, {"imgfilter_bands": (0, 0, 0, 1)}, 0.6),
        ("imgfilter", 0.2, {}, 1 - 0.8**4),  # each of the 4 bands independently (ADA paper, appendix B)
        ("noise", 0.6, {}, 0.6),
        ("cutout", 0.6, {}, 0.6),
    ],
)
def test_sampled_fraction_of_transformed_samples(name, p, kwargs, expected):
    aug = only(name, p, **kwargs)
    params = aug.sample_params(STATS_BATCH, 3, 256, 128, generator=seeded(15))
    assert changed_fraction(name, params) == pytest.approx(expected, abs=0.02)
    for other in TRANSFORMS:
        if stage(other) != stage(name):
            assert changed_fraction(other, params) == 0.0, f"{other} changed with only {name} active"


def test_sampled_parameter_distributions():
    n, h, w = STATS_BATCH, 128, 256

    def sample(name: str):
        return only(name, 1.0).sample_params(n, 3, h, w, generator=seeded(16))

    geometry = sample("xint").geometry
    t = geometry[:, :2, 2]
    assert torch.equal(geometry[:, :2, :2], torch.eye(2).expand(n, 2, 2))
    assert torch.equal(t, t.round())
    for axis, size in ((0, w), (1, h)):
        assert 0.125 * size - 1 <= t[:, axis].abs().max() <= 0.125 * size

    geometry = sample("scale").geometry
    assert torch.allclose(geometry, torch.diag_embed(geometry.diagonal(dim1=1, dim2=2)))
    assert torch.equal(geometry[:, 0, 0], geometry[:, 1, 1])
    assert geometry[:, 0, 0].log2().std().item() == pytest.approx(0.2, rel=0.05)

    linear = sample("rotate").geometry[:, :2, :2]
    assert torch.allclose(linear @ linear.mT, torch.eye(2).expand(n, 2, 2), atol=1e-5)
    assert torch.allclose(torch.linalg.det(linear), torch.ones(n), atol=1e-5)
    assert abs(linear[:, 0, 0].mean().item()) < 0.03  # angle uniform over the full circle

    geometry = sample("xfrac").geometry
    assert geometry[:, 0, 2].std().item() == pytest.approx(0.125 * w, rel=0.05)
    assert geometry[:, 1, 2].std().item() == pytest.approx(0.125 * h, rel=0.05)

    colour = sample("brightness").color
    b = colour[:, :3, 3]
    assert torch.equal(colour[:, :3, :3], torch.eye(3).expand(n, 3, 3))
    assert torch.equal(b, b[:, :1].expand(n, 3)) and b[:, 0].std().item() == pytest.approx(0.2, rel=0.05)

    colour = sample("contrast").color
    c = colour[:, 0, 0]
    assert torch.allclose(colour[:, :3, :3], c[:, None, None] * torch.eye(3), atol=1e-6)
    assert c.log2().std().item() == pytest.approx(0.5, rel=0.05)

    colour = sample("lumaflip").color.double()
    flip = torch.eye(4, dtype=torch.float64)
    flip[:3, :3] -= 2 * VV
    is_flip = (colour - flip).abs().flatten(1).amax(1) < 1e-6
    assert (is_flip | ((colour - torch.eye(4)).abs().flatten(1).amax(1) < 1e-6)).all()

    m = sample("hue").color.double()[:, :3, :3]
    assert torch.allclose(m @ m.mT, I3.expand(n, 3, 3), atol=1e-5)
    assert torch.allclose(m @ V, V.expand(n, 3), atol=1e-5)  # rotation around the luma axis
    cos = (m.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2
    assert abs(cos.mean().item()) < 0.03
    m = only("hue", 1.0, hue_max=0.25).sample_params(n, 3, h, w, generator=seeded(16)).color[:, :3, :3].double()
    assert ((m.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).min() > math.cos(math.pi / 4) - 1e-5

    m = sample("saturation").color.double()[:, :3, :3]
    s = (m - VV).diagonal(dim1=1, dim2=2).mean(1) / (1 - 1 / 3)
    assert torch.allclose(m, VV + s[:, None, None] * (I3 - VV), atol=1e-5)
    assert s.log2().std().item() == pytest.approx(1.0, rel=0.05)

    sigma = sample("noise").noise_std
    assert sigma.min() >= 0 and sigma.mean().item() == pytest.approx(0.1 * math.sqrt(2 / math.pi), rel=0.05)

    cutout = sample("cutout").cutout
    assert torch.equal(cutout[:, 2:], torch.full((n, 2), 0.5))
    assert cutout[:, :2].min() >= 0 and cutout[:, :2].max() <= 1


def test_p_zero_samples_identity_params():
    params = AdaptiveAugment("bgcfnc", p=0.0).sample_params(256, 3, 16, 16, generator=seeded(17))
    identity = AugmentParams.identity(256)
    for field in ("geometry", "color", "filter_gains", "noise_std"):
        assert torch.equal(getattr(params, field), getattr(identity, field)), field
    assert torch.equal(params.cutout[:, 2:], torch.zeros(256, 2))  # size 0: the centre does not matter


def test_color_false_leaves_colour_identity():
    params = AdaptiveAugment("bgc", p=1.0, color=False).sample_params(256, 3, 16, 16, generator=seeded(18))
    assert torch.equal(params.color, torch.eye(4).repeat(256, 1, 1))
    assert is_changed(params.geometry, torch.eye(3)).float().mean() > 0.5


def test_gray_images_ignore_hue_and_saturation():
    aug = AdaptiveAugment("color", p=1.0, brightness=0.0, contrast=0.0, lumaflip=0.0)
    rgb = torch.rand(8, 3, 8, 8, generator=seeded(19))
    assert max_error(aug.apply(rgb, aug.sample_params(8, 3, 8, 8, generator=seeded(20))), rgb) > 0.1
    gray = torch.rand(8, 1, 8, 8, generator=seeded(19))
    assert max_error(aug.apply(gray, aug.sample_params(8, 1, 8, 8, generator=seeded(20))), gray) < 1e-6
    assert max_error(aug(gray, generator=seeded(20)), gray) < 1e-6


def test_call_is_reproducible_with_a_generator():
    aug = AdaptiveAugment("bgcfnc", p=0.7)
    x = torch.randn(4, 3, 24, 24, generator=seeded(21))
    first = aug(x, generator=seeded(22))
    assert torch.equal(first, aug(x, generator=seeded(22)))
    assert not torch.equal(first, aug(x, generator=seeded(23)))


# --- gradients ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_gradcheck_of_the_full_pipeline(channels):
    aug = AdaptiveAugment("bgcfnc", p=1.0)
    params = aug.sample_params(2, channels, 8, 8, generator=seeded(24))
    x = torch.randn(2, channels, 8, 8, dtype=torch.float64, generator=seeded(25), requires_grad=True)

    def f(images: torch.Tensor) -> torch.Tensor:
        with torch.random.fork_rng():
            torch.manual_seed(0)  # the same noise on every evaluation
            return aug.apply(images, params)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,), fast_mode=True)


def test_gradients_reach_the_images_through_call():
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    out = AdaptiveAugment("bgcfnc", p=1.0)(x, generator=seeded(26))
    assert out.dtype == torch.float64
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    assert torch.isfinite(grad).all() and (grad.abs().flatten(1).amax(1) > 0).all()


def test_double_backward_for_r1():
    aug = AdaptiveAugment("bgcf", p=1.0)
    params = aug.sample_params(4, 3, 16, 16, generator=seeded(27))
    D = torch.nn.Conv2d(3, 1, 3)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(D(aug.apply(x, params)).sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert torch.isfinite(D.weight.grad).all() and D.weight.grad.abs().max() > 0


# --- bad input ----------------------------------------------------------------------------------


def test_rejects_images_that_are_not_4d():
    aug = AdaptiveAugment("bgc", p=0.5)
    with pytest.raises(ValueError):
        aug(torch.randn(3, 8, 8))
    with pytest.raises(ValueError):
        aug.apply(torch.randn(3, 8, 8), AugmentParams.identity(3))


@pytest.mark.parametrize("channels", [2, 4])
def test_colour_needs_one_or_three_channels(channels):
    x = torch.randn(2, channels, 8, 8)
    with pytest.raises(ValueError, match=str(channels)):
        AdaptiveAugment("bgc", p=0.5)(x)
    assert AdaptiveAugment("bg", p=1.0)(x).shape == x.shape


def test_hand_built_colour_params_need_one_or_three_channels():
    params = with_colour(hue_matrix(1.0), I3)
    with pytest.raises(ValueError, match="2"):
        AdaptiveAugment("bg").apply(torch.randn(2, 2, 8, 8), params)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError) as info:
        AdaptiveAugment("bgcx")
    assert all(name in str(info.value) for name in PRESETS)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_unit_interval(p):
    with pytest.raises(ValueError):
        AdaptiveAugment("bgc", p=p)
    aug = AdaptiveAugment("bgc", p=0.5)
    with pytest.raises(ValueError):
        aug.set_p(p)
    assert aug.p.item() == 0.5


def test_negative_multiplier():
    with pytest.raises(ValueError):
        AdaptiveAugment("bgc", hue=-0.5)


# --- controller ---------------------------------------------------------------------------------


def logits(*signs: float) -> torch.Tensor:
    """Logits with the given signs and varied magnitudes."""
    return torch.tensor(signs) * torch.linspace(0.5, 3.0, len(signs))


def controller(p: float, target: float | None = 0.6) -> AdaController:
    return AdaController(AdaptiveAugment("bgc", p=p), target=target, interval=4, speed_kimg=500.0)


STEP = 8 * 4 / (500.0 * 1000)  # batch * interval / (speed_kimg * 1000)


def test_controller_updates_exactly_every_interval():
    ctl = controller(0.5)
    window = [
        logits(*[1] * 8),
        logits(*[-1] * 8),
        logits(1, 1, -1, 1, 0, 1, 1, 1),
        logits(*[1] * 8)[:, None].requires_grad_(),  # D's [N, 1] output, still in the graph
    ]
    for i, batch in enumerate(window[:3]):
        assert ctl.observe(batch) is None
        assert ctl.r_t is None and ctl.p == 0.5, f"updated after {i + 1} calls"
    ctl.observe(window[3])
    assert ctl.r_t == pytest.approx(13 / 32)
    assert ctl.p == pytest.approx(0.5 - STEP, abs=1e-7)
    # The next window starts afresh.
    for _ in range(3):
        ctl.observe(logits(*[1] * 8))
    assert ctl.p == pytest.approx(0.5 - STEP, abs=1e-7)
    ctl.observe(logits(*[1] * 8))
    assert ctl.r_t == 1.0
    assert ctl.p == pytest.approx(0.5, abs=1e-7)


def test_controller_holds_p_when_r_t_equals_target():
    ctl = controller(0.5, target=0.5)
    for _ in range(4):
        ctl.observe(logits(1, 1, 1, 1, 1, 1, -1, -1))
    assert ctl.r_t == 0.5 and ctl.p == 0.5


@pytest.mark.parametrize(("p", "sign", "expected"), [(1e-5, -1, 0.0), (1 - 1e-5, 1, 1.0)])
def test_controller_clamps_p(p, sign, expected):
    ctl = controller(p)
    for _ in range(4):
        ctl.observe(logits(*[sign] * 8))
    assert ctl.p == expected


def test_controller_without_target_keeps_p():
    aug = AdaptiveAugment("bgc", p=0.3)
    ctl = AdaController(aug, target=None, interval=4, speed_kimg=500.0)
    for _ in range(4):
        ctl.observe(logits(*[1] * 8))
    assert ctl.r_t == 1.0 and ctl.p == pytest.approx(0.3) and aug.p.item() == pytest.approx(0.3)


def test_controller_state_dict_round_trip():
    window = [logits(1, -1, 1, 1), logits(-1, -1, -1, 1), logits(1, 1, 1, 1), logits(-1, 1, 1, 1)]
    aug = AdaptiveAugment("bgc", p=0.5)
    ctl = AdaController(aug, target=0.6, interval=4, speed_kimg=500.0)
    for batch in window[:2]:
        ctl.observe(batch)
    buffer = io.BytesIO()
    torch.save({"aug": aug.state_dict(), "ctl": ctl.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    aug2 = AdaptiveAugment("bgc", p=0.1)
    aug2.load_state_dict(state["aug"])
    ctl2 = AdaController(aug2, target=0.6, interval=4, speed_kimg=500.0)
    ctl2.load_state_dict(state["ctl"])
    for batch in window[2:]:
        ctl.observe(batch)
        ctl2.observe(batch)
    # The window spans the save: r_t over all 16 logits, 16 images.
    assert ctl2.r_t == ctl.r_t == pytest.approx(6 / 16)
    assert ctl2.p == ctl.p == pytest.approx(0.5 - 16 / 500000, abs=1e-7)
    assert aug2.p.item() == ctl2.p


def _distributed_worker(rank: int, store: str, out_dir: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        ctl = AdaController(AdaptiveAugment("bgc", p=0.5), target=0.6, interval=2, speed_kimg=500.0)
        batch = logits(1, 1, 1, 1) if rank == 0 else logits(-1, -1, -1, 1)
        for _ in range(2):
            ctl.observe(batch)
        torch.save({"p": ctl.p, "r_t": ctl.r_t}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_controller_all_reduces_over_ranks(tmp_path):
    torch.multiprocessing.spawn(_distributed_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    results = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    # Global r_t = (8 - 4) / 16; rank 0 alone (r_t = 1) would raise p.  The step counts the images
    # of both ranks, as ADA's batch size is the global one.
    for result in results:
        assert result["r_t"] == pytest.approx(0.25)
        assert result["p"] == pytest.approx(0.5 - 2 * 4 * 2 / 500000, abs=1e-7)
