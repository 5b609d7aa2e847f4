"""The shared level-set math: Heaviside, Dirac, Sobel, curvature, region means, Chan-Vese energy."""
import math

import numpy as np
import pytest
import torch

from levelset_core.layers import (
    chan_vese_energy,
    curvature,
    dirac,
    heaviside,
    region_means,
    sobel_gradients,
    squared_distances_to_means,
)


@pytest.mark.parametrize("kind", ["arctan", "tanh"])
@pytest.mark.parametrize("eps", [0.05, 0.1, 1.0])
def test_heaviside_values_and_dirac_is_its_derivative(kind, eps):
    z = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    h = heaviside(z, eps, kind)
    assert torch.all((h >= 0) & (h <= 1)) and 0 < h[250].item() < 0.5
    assert h[300].item() == pytest.approx(0.5)
    assert torch.all(h[1:] >= h[:-1])  # monotone
    (grad,) = torch.autograd.grad(h.sum(), z)
    assert torch.allclose(grad, dirac(z.detach(), eps, kind), rtol=1e-10, atol=1e-12)


def test_heaviside_closed_forms():
    z = torch.tensor([-1.0, 0.0, 0.1, 1.0], dtype=torch.float64)
    expected = 0.5 * (1 + (2 / math.pi) * torch.atan(z / 0.1))
    assert torch.allclose(heaviside(z, 0.1), expected)
    assert torch.allclose(heaviside(z, 0.05, "tanh"), 0.5 * (1 + torch.tanh(z / 0.05)))
    assert heaviside(z, 0.1, "hard").tolist() == [0.0, 0.0, 1.0, 1.0]
    # Dirac of Eq. 4 peaks at 1 / (pi * eps).
    assert dirac(torch.zeros(1), 0.1).item() == pytest.approx(1 / (math.pi * 0.1))
    with pytest.raises(ValueError, match="kind"):
        heaviside(z, 0.1, "nope")
    with pytest.raises(ValueError, match="hard"):
        dirac(z, 0.1, "hard")


def test_per_region_eps_broadcasts():
    z = torch.zeros(3, 1, 4, 4) + 0.2
    eps = torch.tensor([0.1, 0.5, 1.0]).reshape(3, 1, 1, 1)
    h = heaviside(z, eps)
    assert h[0].mean() > h[1].mean() > h[2].mean() > 0.5


def test_sobel_is_a_per_pixel_derivative():
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    ramp = (0.7 * xx - 0.3 * yy)[None, None]
    gx, gy = sobel_gradients(ramp)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert torch.allclose(gx[inner], torch.full_like(gx[inner], 0.7), atol=1e-5)
    assert torch.allclose(gy[inner], torch.full_like(gy[inner], -0.3), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(R, 1, H, W\)"):
        sobel_gradients(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("radius", [15.0, 25.0])
def test_curvature_of_a_circle_is_one_over_r(radius):
    size = 96
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    rho = torch.sqrt((xx - 47.5) ** 2 + (yy - 47.5) ** 2)
    inside_positive = (radius - rho)[None, None]
    kappa = curvature(inside_positive)[0, 0]
    # On the contour (away from the centre and the border): div(grad phi / |grad phi|) = -1 / rho.
    band = (rho - radius).abs() < 1.0
    assert torch.allclose(kappa[band], -1.0 / rho[band], rtol=0.05)
    kappa_out = curvature(-inside_positive)[0, 0]
    assert torch.allclose(kappa_out[band], 1.0 / rho[band], rtol=0.05)


def test_curvature_is_finite_on_a_flat_function():
    kappa = curvature(torch.zeros(2, 1, 16, 16))
    assert torch.isfinite(kappa).all() and kappa.abs().max() == 0


def _direct_means(features, h):
    c1 = (features * h).sum((2, 3)) / h.sum((2, 3))
    c2 = (features * (1 - h)).sum((2, 3)) / (1 - h).sum((2, 3))
    return c1, c2


def test_region_means_match_direct_sums():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 5, 12, 10, generator=g, dtype=torch.float64)
    h = torch.rand(3, 1, 12, 10, generator=g, dtype=torch.float64)
    c1, c2 = region_means(features, h)
    e1, e2 = _direct_means(features, h)
    assert torch.allclose(c1, e1) and torch.allclose(c2, e2)
    d1, d2 = squared_distances_to_means(features, c1, c2, normalize=False)
    assert torch.allclose(d1, ((features - c1[..., None, None]) ** 2).sum(1, keepdim=True))
    assert torch.allclose(d2, ((features - c2[..., None, None]) ** 2).sum(1, keepdim=True))
    dn, _ = squared_distances_to_means(features, c1, c2, normalize=True)
    assert torch.allclose(dn * 5, d1)


def test_region_means_with_valid_mask_ignore_pixels():
    features = torch.arange(8.0).reshape(1, 1, 2, 4)
    h = torch.tensor([[1.0, 1, 0, 0], [1, 1, 0, 0]]).reshape(1, 1, 2, 4)
    valid = torch.tensor([[1.0, 0, 1, 1], [1, 1, 1, 0]]).reshape(1, 1, 2, 4)
    c1, c2 = region_means(features, h, valid)
    assert c1.item() == pytest.approx((0 + 4 + 5) / 3)
    assert c2.item() == pytest.approx((2 + 3 + 6) / 3)


def test_region_means_of_empty_regions_are_finite():
    features = torch.randn(2, 4, 8, 8)
    all_in = torch.ones(2, 1, 8, 8)
    c1, c2 = region_means(features, all_in)
    assert torch.isfinite(c1).all() and torch.isfinite(c2).all()
    assert torch.allclose(c2, torch.zeros_like(c2))
    energy = chan_vese_energy(torch.full((2, 1, 8, 8), 5.0), features, mu=1.0)
    assert torch.isfinite(energy).all()


def test_chan_vese_energy_matches_a_loop_evaluation_and_prefers_the_true_partition():
    rng = np.random.default_rng(0)
    mask = np.zeros((16, 16))
    mask[4:12, 5:13] = 1
    image = mask + 0.1 * rng.standard_normal((16, 16))
    feats = torch.from_numpy(image)[None, None]
    phi = torch.from_numpy(mask - 0.5)[None, None]
    energy = chan_vese_energy(phi, feats, eps=0.1, normalize=False).item()
    h = 0.5 + np.arctan(phi.numpy()[0, 0] / 0.1) / math.pi
    c1 = (image * h).sum() / h.sum()
    c2 = (image * (1 - h)).sum() / (1 - h).sum()
    loop = 0.0
    for i in range(16):
        for j in range(16):
            loop += (image[i, j] - c1) ** 2 * h[i, j] + (image[i, j] - c2) ** 2 * (1 - h[i, j])
    assert energy == pytest.approx(loop, rel=1e-12)
    shifted = torch.roll(phi, 3, dims=3)
    assert chan_vese_energy(shifted, feats, eps=0.1).item() > chan_vese_energy(phi, feats, eps=0.1).item()


def test_energy_runs_in_float32_under_autocast():
    phi = torch.randn(2, 1, 8, 8).bfloat16()
    feats = torch.randn(2, 3, 8, 8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        energy = chan_vese_energy(phi, feats, mu=0.5)
    assert energy.dtype == torch.float32 and torch.isfinite(energy).all()
