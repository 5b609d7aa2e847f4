"""Chan-Vese feature head: output scale of the "tanh" and "unit_norm" outputs, guards and config errors."""
import pytest
import torch
from detectron2.layers import ShapeSpec

from levelset_core.layers import region_means, squared_distances_to_means
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


# ---------------------------------------------------------------------------------------------------------------
# FineGrainedChanVeseFeatureHead
# ---------------------------------------------------------------------------------------------------------------
def _fine_head(use_image=True, coarse=4, output="tanh", resolution=28, pooler_resolution=0, full_image=False):
    from levelset_rcnn.modeling.feature_head import FineGrainedChanVeseFeatureHead

    torch.manual_seed(0)
    return FineGrainedChanVeseFeatureHead(
        ShapeSpec(channels=16), in_feature="p2", in_channels=12, in_stride=4, reduced_channels=6,
        use_image=use_image, coarse_channels=coarse, hidden_dim=10, num_channels=8, resolution=resolution,
        pooler_type="ROIAlignV2", sampling_ratio=0, output=output, pooler_resolution=pooler_resolution,
        full_resolution_image=full_image)


def _fine_inputs(num_boxes=(3, 2)):
    from detectron2.structures import Boxes

    features = {"p2": torch.randn(2, 12, 16, 20, requires_grad=True),
                "image": torch.randn(2, 3, 64, 80, requires_grad=True)}
    boxes = [Boxes(torch.tensor([[4.0, 6.0, 40.0, 50.0]] * n) + torch.arange(n)[:, None] * 3.0) for n in num_boxes]
    x = torch.randn(sum(num_boxes), 16, 7, 7, requires_grad=True)
    return x, features, boxes


@pytest.mark.parametrize("use_image,coarse", [(True, 4), (False, 0), (True, 0)])
def test_fine_grained_head_shapes_and_gradients_to_the_fine_source(use_image, coarse):
    head = _fine_head(use_image, coarse)
    x, features, boxes = _fine_inputs()
    out = head(x, features, boxes)
    assert out.shape == (5, 8, 28, 28) and out.abs().max() <= 1
    # F is not tiny at initialisation (the paper head's tanh output starts at |F| ~ 0.01)
    assert out.abs().mean() > 0.05
    out.square().sum().backward()
    assert features["p2"].grad.abs().sum() > 0, "no gradient into the FPN level"
    assert head.reduce.weight.grad.abs().sum() > 0
    assert (features["image"].grad is not None) == use_image
    assert (x.grad is not None and x.grad.abs().sum() > 0) == (coarse > 0)


def test_fine_grained_head_detach_inputs_stops_gradients_at_the_shared_features():
    head = _fine_head(use_image=True, coarse=4)
    head.detach_inputs = True
    x, features, boxes = _fine_inputs()
    head(x, features, boxes).square().sum().backward()
    assert features["p2"].grad is None and x.grad is None, "gradient reached the shared backbone / FPN features"
    assert head.reduce.weight.grad.abs().sum() > 0 and head.coarse.weight.grad.abs().sum() > 0


def test_fine_grained_head_sees_detail_finer_than_the_pooled_grid():
    """A vertical edge in p2 inside the RoI appears as a sharp step across F's columns at S = 56: the evidence is
    sampled at S, not upsampled from 7x7 / 14x14 cells."""
    head = _fine_head(use_image=False, coarse=0, resolution=56)
    with torch.no_grad():
        p2 = torch.zeros(1, 12, 32, 32)
        p2[..., 16:] = 1.0  # edge at x = 64 px in the image (stride 4)
        from detectron2.structures import Boxes

        out = head(torch.zeros(1, 16, 7, 7), {"p2": p2}, [Boxes(torch.tensor([[32.0, 32.0, 96.0, 96.0]]))])
    profile = out[0, :, 28].abs().sum(0)  # one row across the edge (box x from 32 to 96: edge at column 28)
    left, right = profile[:24], profile[32:]
    assert torch.allclose(left, left[0].expand_as(left), atol=1e-5)
    assert torch.allclose(right, right[0].expand_as(right), atol=1e-5)
    assert (left[0] - right[0]).abs() > 1e-3


def test_fine_grained_head_empty_batch():
    head = _fine_head()
    x, features, boxes = _fine_inputs(num_boxes=(0, 0))
    out = head(x, features, boxes)
    assert out.shape == (0, 8, 28, 28)


def test_fine_grained_head_config_errors():
    from detectron2.config import get_cfg

    from levelset_rcnn.config import add_levelset_rcnn_config
    from levelset_rcnn.modeling.feature_head import build_chan_vese_feature_head

    cfg = add_levelset_rcnn_config(get_cfg())
    cfg.MODEL.LEVELSET.FEATURE_HEAD.NAME = "FineGrainedChanVeseFeatureHead"
    cfg.MODEL.LEVELSET.FEATURE_HEAD.IN_FEATURE = "p9"
    with pytest.raises(ValueError, match="'p9' is not a backbone output"):
        build_chan_vese_feature_head(cfg, ShapeSpec(channels=16), {"p2": ShapeSpec(channels=8, stride=4)})
    with pytest.raises(ValueError, match="needs the backbone's feature shapes"):
        build_chan_vese_feature_head(cfg, ShapeSpec(channels=16))
    # USE_IMAGE reads the image as a backbone output (levelset_rcnn/modeling/image_backbone.py): checked at build time
    cfg.MODEL.LEVELSET.FEATURE_HEAD.IN_FEATURE = "p2"
    with pytest.raises(ValueError, match="backbone output 'image', which MODEL.BACKBONE.NAME = .* does not return"):
        build_chan_vese_feature_head(cfg, ShapeSpec(channels=16), {"p2": ShapeSpec(channels=8, stride=4)})


# ---------------------------------------------------------------------------------------------------------------
# issue 29: the head's MLP on a coarser grid (POOLER_RESOLUTION)
# ---------------------------------------------------------------------------------------------------------------
def test_fine_grained_head_pooler_resolution_runs_the_mlp_on_the_coarser_grid():
    """P = 14 < S = 28: F at S is tanh of the bilinearly resized pre-activation that the same head computes at P
    (checked in float64 through atanh of the P = S = 14 head's output); P = S is the default P = 0."""
    import torch.nn.functional as F

    x, features, boxes = _fine_inputs()
    x = x.detach().double().requires_grad_()
    features = {k: v.detach().double().requires_grad_() for k, v in features.items()}
    at_14 = _fine_head(resolution=14).double()
    coarse_grid = _fine_head(resolution=28, pooler_resolution=14).double()
    assert coarse_grid.fine_pooler.output_size == (14, 14) and coarse_grid.pooler_resolution == 14
    out = coarse_grid(x, features, boxes)
    assert out.shape == (5, 8, 28, 28)
    pre = torch.atanh(at_14(x, features, boxes))
    expected = torch.tanh(F.interpolate(pre, size=(28, 28), mode="bilinear", align_corners=False))
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    out.square().sum().backward()
    assert features["p2"].grad.abs().sum() > 0 and x.grad.abs().sum() > 0
    same = _fine_head(resolution=28, pooler_resolution=28)
    default = _fine_head(resolution=28)
    x, features, boxes = _fine_inputs()
    torch.testing.assert_close(same(x, features, boxes), default(x, features, boxes), rtol=0, atol=0)
    empty = _fine_head(resolution=28, pooler_resolution=14)(*_fine_inputs(num_boxes=(0, 0)))
    assert empty.shape == (0, 8, 28, 28)


@pytest.mark.parametrize("value", [29, -1])
def test_fine_grained_head_pooler_resolution_out_of_range_is_named(value):
    with pytest.raises(ValueError, match=f"POOLER_RESOLUTION = {value}"):
        _fine_head(resolution=28, pooler_resolution=value)


def test_full_resolution_image_adds_the_s_by_s_image_to_the_coarse_grid_head():
    """FULL_RESOLUTION_IMAGE (P = 14, S = 28): F = tanh(resize_S(MLP_P(fine_P, mean_P(I_S), coarse_P)) + A · I_S),
    I_S the image RoIAligned at S with one sample per cell; recomputed here with torchvision / F.conv2d in float64.
    A starts at 0 and gets a gradient; the image gets one through both of its paths."""
    import torch.nn.functional as F
    from torchvision.ops import roi_align

    x, features, boxes = _fine_inputs()
    x = x.detach().double()
    features = {k: v.detach().double().requires_grad_() for k, v in features.items()}
    head = _fine_head(resolution=28, pooler_resolution=14, full_image=True).double()
    assert head.image_pooler.output_size == (28, 28) and head.fine_pooler.output_size == (14, 14)
    assert head.image_linear.weight.abs().sum() == 0
    out = head(x, features, boxes)
    out.square().sum().backward()
    assert head.image_linear.weight.grad.abs().sum() > 0 and features["image"].grad.abs().sum() > 0
    with torch.no_grad():
        head.image_linear.weight.normal_()
        rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i), dtype=torch.float64), b.tensor.double()], 1)
                          for i, b in enumerate(boxes)])
        image = roi_align(features["image"], rois, 28, 1.0, 1, aligned=True)
        fine = roi_align(F.conv2d(features["p2"], head.reduce.weight, head.reduce.bias), rois, 14, 0.25, 0,
                         aligned=True)
        coarse = F.interpolate(F.conv2d(x, head.coarse.weight, head.coarse.bias), size=(14, 14), mode="bilinear",
                               align_corners=False)
        inputs = torch.cat([fine, F.avg_pool2d(image, 2), coarse], 1)
        hidden = torch.relu(F.conv2d(inputs, head.mix.weight, head.mix.bias))
        pre = F.interpolate(F.conv2d(hidden, head.predictor.weight, head.predictor.bias), size=(28, 28),
                            mode="bilinear", align_corners=False)
        expected = torch.tanh(pre + F.conv2d(image, head.image_linear.weight))
        torch.testing.assert_close(head(x, features, boxes), expected, rtol=1e-9, atol=1e-9)
    empty = _fine_head(resolution=28, pooler_resolution=14, full_image=True)(*_fine_inputs(num_boxes=(0, 0)))
    assert empty.shape == (0, 8, 28, 28)


@pytest.mark.parametrize("use_image,pooler_resolution", [(True, 0), (True, 28), (False, 14)])
def test_full_resolution_image_without_a_coarser_grid_or_an_image_is_named(use_image, pooler_resolution):
    with pytest.raises(ValueError, match="FULL_RESOLUTION_IMAGE .*USE_IMAGE True .*POOLER_RESOLUTION"):
        _fine_head(use_image=use_image, resolution=28, pooler_resolution=pooler_resolution, full_image=True)


def test_full_resolution_image_from_the_config():
    """The key reaches the head built from a config (and a non-bool value is named)."""
    from detectron2.config import get_cfg

    from levelset_rcnn import add_levelset_rcnn_config
    from levelset_rcnn.modeling.feature_head import build_chan_vese_feature_head

    cfg = add_levelset_rcnn_config(get_cfg())
    cfg.MODEL.LEVELSET.FEATURE_HEAD.POOLER_RESOLUTION = 56
    cfg.MODEL.LEVELSET.FEATURE_HEAD.FULL_RESOLUTION_IMAGE = True
    shapes = {"p2": ShapeSpec(channels=8, stride=4), "image": ShapeSpec(channels=3, stride=1)}
    head = build_chan_vese_feature_head(cfg, ShapeSpec(channels=16), shapes)
    assert head.image_linear is not None and head.image_pooler.output_size == (112, 112)
    cfg.MODEL.LEVELSET.FEATURE_HEAD.FULL_RESOLUTION_IMAGE = "yes"
    with pytest.raises(ValueError, match="FULL_RESOLUTION_IMAGE"):
        build_chan_vese_feature_head(cfg, ShapeSpec(channels=16), shapes)
