"""The TSDF loss of section 4.2 (levelset_rcnn.modeling.losses.tsdf_loss), plain and saturating L1."""
import math

import pytest
import torch

from levelset_core.layers.level_set import heaviside
from levelset_rcnn.modeling.losses import tsdf_loss


def _by_hand(phi, phi_gt, mask_gt, eps, saturate):
    l1 = ((phi.clamp(-1, 1) if saturate else phi) - phi_gt).abs().mean()
    p = heaviside(phi, eps).clamp(1e-6, 1 - 1e-6)
    bce = -(mask_gt * p.log() + (1 - mask_gt) * (1 - p).log()).mean()
    return float(l1 + bce)


def test_tsdf_loss_is_l1_plus_bce():
    g = torch.Generator().manual_seed(0)
    phi = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    phi_gt = torch.rand(3, 8, 8, generator=g) * 2 - 1
    mask_gt = (phi_gt > 0).float()
    assert math.isclose(float(tsdf_loss(phi, phi_gt, mask_gt)), _by_hand(phi[:, 0], phi_gt, mask_gt, 0.1, False),
                        rel_tol=1e-5)


def test_saturated_l1_does_not_penalise_overshoot_on_the_right_side():
    phi_gt = torch.tensor([[[1.0, -1.0, 0.5, 1.0]]])
    mask_gt = (phi_gt > 0).float()
    # beyond the truncation on the correct side: no L1 error when saturating, an error of 0.75 mean otherwise
    phi = torch.tensor([[[2.0, -3.0, 0.5, 1.0]]], requires_grad=True)
    plain = tsdf_loss(phi, phi_gt, mask_gt)
    saturated = tsdf_loss(phi, phi_gt, mask_gt, saturate=True)
    assert math.isclose(float(plain - saturated), (1.0 + 2.0) / 4, rel_tol=1e-5)
    assert math.isclose(float(saturated), _by_hand(phi.detach(), phi_gt, mask_gt, 0.1, True), rel_tol=1e-5)
    saturated.backward()
    # the L1 term gives no gradient to the overshooting pixels (it would be 1/4 each); only the tiny BCE one remains
    assert abs(float(phi.grad[0, 0, 0])) < 0.01 and abs(float(phi.grad[0, 0, 1])) < 0.01


@pytest.mark.parametrize("phi_value", [-2.0, -0.5, 0.3])
def test_saturated_l1_still_penalises_errors_inside_the_band_and_the_wrong_side(phi_value):
    phi_gt = torch.tensor([[[1.0]]])
    mask_gt = torch.ones(1, 1, 1)
    phi = torch.tensor([[[phi_value]]], requires_grad=True)
    loss = tsdf_loss(phi, phi_gt, mask_gt, saturate=True)
    loss.backward()
    assert float(loss) >= 1.0 - max(phi_value, -1.0) - 1e-6  # the L1 part alone
    assert float(phi.grad) < 0  # pulls phi up, towards the inside (at phi = -2 through the BCE term alone)


def test_tsdf_loss_empty_is_connected_zero():
    phi = torch.zeros(0, 1, 4, 4, requires_grad=True)
    loss = tsdf_loss(phi, torch.zeros(0, 4, 4), torch.zeros(0, 4, 4), saturate=True)
    assert float(loss) == 0.0 and loss.requires_grad


def test_tsdf_loss_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"phi \(2, 4, 4\).*phi_gt \(2, 5, 5\)"):
        tsdf_loss(torch.zeros(2, 4, 4), torch.zeros(2, 5, 5), torch.zeros(2, 5, 5))


def test_boundary_weight_zero_is_the_plain_loss_and_positive_weights_the_band():
    g = torch.Generator().manual_seed(1)
    phi = torch.rand(2, 1, 6, 6, generator=g) * 2 - 1
    phi_gt = torch.rand(2, 6, 6, generator=g) * 2 - 1
    mask_gt = (phi_gt > 0).float()
    plain = tsdf_loss(phi, phi_gt, mask_gt, saturate=True)
    assert torch.equal(tsdf_loss(phi, phi_gt, mask_gt, saturate=True, boundary_weight=0.0, boundary_band=0.3), plain)
    # by hand: w = 1 + beta * max(0, 1 - |phi_gt| / b); sum(w * (l1 + bce)) / sum(w)
    beta, band = 4.0, 0.5
    p = heaviside(phi[:, 0], 0.1).clamp(1e-6, 1 - 1e-6)
    per_pixel = (phi[:, 0] - phi_gt).abs() - (mask_gt * p.log() + (1 - mask_gt) * (1 - p).log())
    w = 1 + beta * (1 - phi_gt.abs() / band).clamp(min=0)
    weighted = tsdf_loss(phi, phi_gt, mask_gt, saturate=True, boundary_weight=beta, boundary_band=band)
    assert math.isclose(float(weighted), float((w * per_pixel).sum() / w.sum()), rel_tol=1e-5)


def test_uncertainty_weight_weights_the_predicted_contour_and_is_not_trained():
    g = torch.Generator().manual_seed(2)
    phi = (torch.rand(2, 6, 6, generator=g) * 2 - 1).requires_grad_(True)
    phi_gt = torch.rand(2, 6, 6, generator=g) * 2 - 1
    mask_gt = (phi_gt > 0).float()
    plain = tsdf_loss(phi, phi_gt, mask_gt, saturate=True)
    assert torch.equal(tsdf_loss(phi, phi_gt, mask_gt, saturate=True, uncertainty_weight=0.0, boundary_band=0.3), plain)
    # by hand: w = 1 + beta * band(phi_gt) + gamma * band(phi), the weights constant (phi detached)
    beta, gamma, band = 2.0, 5.0, 0.5
    w = (1 + beta * (1 - phi_gt.abs() / band).clamp(min=0) + gamma * (1 - phi.detach().abs() / band).clamp(min=0))
    p = heaviside(phi, 0.1).clamp(1e-6, 1 - 1e-6)
    per_pixel = (phi - phi_gt).abs() - (mask_gt * p.log() + (1 - mask_gt) * (1 - p).log())
    expected = (w * per_pixel).sum() / w.sum()
    loss = tsdf_loss(phi, phi_gt, mask_gt, saturate=True, boundary_weight=beta, boundary_band=band,
                     uncertainty_weight=gamma)
    assert math.isclose(float(loss), float(expected), rel_tol=1e-5)
    (grad,) = torch.autograd.grad(loss, phi)
    (expected_grad,) = torch.autograd.grad(expected, phi)
    assert torch.allclose(grad, expected_grad, atol=1e-6)


def test_uncertainty_weight_moves_the_loss_towards_errors_at_the_predicted_contour():
    # two pixels far from the true contour (phi_gt -1, outside) with the same target: the first predicted on the
    # contour (phi 0: a false boundary), the second confidently inside (phi 0.9): only the first is weighted
    phi_gt = torch.tensor([[[-1.0, -1.0]]])
    mask_gt = torch.tensor([[[0.0, 0.0]]])
    phi = torch.tensor([[[0.0, 0.9]]], requires_grad=True)
    tsdf_loss(phi, phi_gt, mask_gt, uncertainty_weight=9.0, boundary_band=0.25).backward()
    plain_grad = torch.autograd.grad(tsdf_loss(phi, phi_gt, mask_gt), phi)[0][0, 0].abs()
    g_contour, g_far = phi.grad[0, 0].abs().tolist()
    assert g_contour / g_far > 5 * float(plain_grad[0] / plain_grad[1])


def test_boundary_weight_moves_the_loss_towards_errors_at_the_contour():
    # two pixels with the same error: one on the contour (phi_gt 0), one far from it (phi_gt -1, outside)
    phi_gt = torch.tensor([[[0.0, -1.0]]])
    mask_gt = torch.tensor([[[1.0, 0.0]]])
    phi = torch.tensor([[[-0.5, -0.5]]], requires_grad=True)
    tsdf_loss(phi, phi_gt, mask_gt, boundary_weight=9.0, boundary_band=0.25).backward()
    g_contour, g_far = phi.grad[0, 0].abs().tolist()
    assert g_contour > 5 * g_far
