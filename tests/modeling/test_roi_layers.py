"""levelset_rcnn.modeling.roi_layers: the per-pixel layers as matrix products equal the nn layers they replace
(values and gradients, empty batches), refuse what they cannot replace; the TSDF head's one-class predictor."""
import pytest
import torch
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec

from levelset_rcnn.modeling.roi_layers import class_channel_conv, deconv2x2_relu, pointwise_conv


def test_pointwise_conv_equals_conv2d_in_values_and_gradients():
    torch.manual_seed(0)
    conv = Conv2d(5, 7, kernel_size=1)
    x = torch.randn(3, 5, 9, 11, requires_grad=True)
    ours = pointwise_conv(x, conv)
    grads = torch.autograd.grad(ours.square().sum(), [x, conv.weight, conv.bias])
    ref = conv(x)
    ref_grads = torch.autograd.grad(ref.square().sum(), [x, conv.weight, conv.bias])
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # channels-last input, empty batch, no bias
    torch.testing.assert_close(pointwise_conv(x.detach().to(memory_format=torch.channels_last), conv), ref.detach(),
                               rtol=1e-5, atol=1e-5)
    assert pointwise_conv(torch.zeros(0, 5, 9, 11), conv).shape == (0, 7, 9, 11)
    no_bias = Conv2d(5, 7, kernel_size=1, bias=False)
    torch.testing.assert_close(pointwise_conv(x.detach(), no_bias), no_bias(x.detach()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv_kwargs", [dict(kernel_size=3, padding=1), dict(kernel_size=1, stride=2),
                                         dict(kernel_size=1, activation=torch.nn.ReLU())])
def test_pointwise_conv_refuses_what_is_not_a_plain_1x1_conv(conv_kwargs):
    with pytest.raises(ValueError, match="plain 1x1 convolution"):
        pointwise_conv(torch.zeros(1, 4, 6, 6), Conv2d(4, 4, **conv_kwargs))


def test_deconv2x2_relu_as_matrix_product_matches_conv_transpose():
    """ReLU(ConvTranspose2d(k=2, s=2)) as a per-pixel linear map + pixel shuffle (feature heads, TSDF head): same
    values and gradients as the transposed convolution (also for zero RoIs)."""
    torch.manual_seed(0)
    deconv = ConvTranspose2d(6, 5, kernel_size=2, stride=2).double()
    for r in (3, 0):
        x = torch.randn(r, 6, 7, 7, dtype=torch.float64, requires_grad=True)
        fast = deconv2x2_relu(deconv, x)
        plain = torch.relu(deconv(x))
        assert fast.shape == plain.shape == (r, 5, 14, 14) and torch.allclose(fast, plain)
        weights = torch.randn_like(plain)
        g_fast = torch.autograd.grad((fast * weights).sum(), [x, deconv.weight, deconv.bias], allow_unused=True)
        g_plain = torch.autograd.grad((plain * weights).sum(), [x, deconv.weight, deconv.bias], allow_unused=True)
        for a, b in zip(g_fast, g_plain):
            assert torch.allclose(a, b)


def test_class_channel_conv_equals_the_selected_channel_of_the_full_conv():
    torch.manual_seed(0)
    conv = Conv2d(6, 5, kernel_size=1)
    x = torch.randn(4, 6, 7, 7, requires_grad=True)
    classes = torch.tensor([3, 0, 4, 3])
    ours = class_channel_conv(x, conv, classes)
    ref = conv(x)[torch.arange(4), classes].unsqueeze(1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g_ours = torch.autograd.grad(ours.square().sum(), [x, conv.weight, conv.bias])
    g_ref = torch.autograd.grad(ref.square().sum(), [x, conv.weight, conv.bias])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert g_ours[1][[1, 2]].abs().sum() == 0  # classes no RoI has get no gradient, as with the full conv
    assert class_channel_conv(torch.zeros(0, 6, 7, 7), conv, torch.zeros(0, dtype=torch.long)).shape == (0, 1, 7, 7)
    with pytest.raises(ValueError, match="class_channel_conv needs a plain 1x1 convolution"):
        class_channel_conv(x, Conv2d(6, 5, kernel_size=3, padding=1), classes)


@pytest.mark.parametrize("num_classes", [1, 7])
def test_tsdf_head_with_classes_equals_the_class_channel_of_its_full_output(num_classes):
    """LevelSetMaskHead calls the TSDF head with each RoI's class: the same φ0 as selecting that channel of the
    K-channel output (what the head computed before issue 29), for 0 and 5 RoIs."""
    from detectron2.structures import Instances

    from levelset_rcnn.modeling.tsdf_head import TSDFHead, instance_classes, select_class_channel

    torch.manual_seed(0)
    head = TSDFHead(ShapeSpec(channels=8), num_classes=num_classes, conv_dims=[8, 8, 6])
    with torch.no_grad():  # the initialisation (std 0.001) makes every φ0 ~ 0; larger weights test the values
        head.tsdf_predictor.weight.normal_()
    for n in (5, 0):
        inst = Instances((32, 32), pred_classes=torch.randint(0, num_classes, (n,)))
        x = torch.randn(n, 8, 7, 7)
        full = head(x)
        assert full.shape == (n, num_classes, 14, 14)
        # the layers run one by one as the nn.Sequential they are (the ConvTranspose2d itself): the same φ0
        torch.testing.assert_close(full, torch.tanh(torch.nn.Sequential.forward(head, x)), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(head(x, instance_classes([inst])), select_class_channel(full, [inst]),
                                   rtol=1e-5, atol=1e-6)
