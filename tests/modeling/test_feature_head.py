"""Chan-Vese feature head: output scale of the "tanh" and "unit_norm" outputs, guards and config errors."""
import pytest
import torch
from detectron2.layers import ShapeSpec

from levelset_rcnn.layers import region_means, squared_distances_to_means
from levelset_rcnn.modeling.feature_head import ChanVeseFeatureHead


def _head(output, channels=8):
    torch.manual_seed(0)
    return ChanVeseFeatureHead(ShapeSpec(channels=16), num_channels=channels, conv_dims=[16, 8], resolution=28,
                               output=output)


def _data_term_at_init(head):
    x = torch.randn(4, 16, 7, 7)
    feats = head(x)
    inside = torch.zeros(4, 1, 28, 28)
    inside[..., 7:21, 7:21] = 1.0
    c1, c2 = region_means(feats, inside)
    d1, d2 = squared_distances_to_means(feats, c1, c2, normalize=True)
    return feats, (d1 + d2).mean().item()


def test_unit_norm_gives_every_pixel_squared_norm_c_and_an_o1_data_term_at_initialisation():
    feats, data_term = _data_term_at_init(_head("unit_norm"))
    assert feats.shape == (4, 8, 28, 28)
    sqnorm = feats.square().sum(1)
    nonzero = sqnorm > 0  # pixels whose 1x1-conv output is exactly 0 (all inputs ReLU'd away) stay 0
    assert nonzero.float().mean() > 0.9
    torch.testing.assert_close(sqnorm[nonzero], torch.full_like(sqnorm[nonzero], 8.0), rtol=1e-3, atol=0)
    assert data_term > 0.1
    # the tanh output starts with tiny features (predictor initialised with std 0.01): the data term is ~0
    feats_tanh, data_term_tanh = _data_term_at_init(_head("tanh"))
    assert feats_tanh.abs().max() <= 1 and data_term_tanh < 1e-2 < data_term


def test_unit_norm_is_finite_for_zero_features_and_empty_batches():
    head = _head("unit_norm")
    with torch.no_grad():
        head.predictor.weight.zero_()
    x = torch.randn(2, 16, 7, 7, requires_grad=True)
    out = head(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    empty = head(torch.zeros(0, 16, 7, 7))
    assert empty.shape == (0, 8, 28, 28)


def test_unknown_output_is_a_clear_error():
    with pytest.raises(ValueError, match="FEATURE_HEAD.OUTPUT"):
        _head("softmax")
