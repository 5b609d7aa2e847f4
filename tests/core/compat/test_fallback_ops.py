"""The stand-in ``detectron2._C`` (:mod:`levelset_core.compat.ops`), installed by ``levelset_core.compat.install()``."""
import sys

import pytest
import torch
import torchvision

import levelset_rcnn  # noqa: F401  (calls levelset_core.compat.install())
from levelset_core import compat
from levelset_core.compat import ops as _compat

fallback_only = pytest.mark.skipif(
    compat.has_compiled_ops(), reason="the compiled detectron2._C is installed: no fallback in use"
)


def _deform_inputs(seed=0, n=2, c_in=4, c_out=6, h=7, w=9, k=3, groups=1, offset_groups=1, stride=1,
                   padding=1, dilation=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(c_out, c_in // groups, k, k, generator=g, dtype=torch.float64)
    h_out = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    offset = 1.5 * torch.randn(n, 2 * offset_groups * k * k, h_out, w_out, generator=g, dtype=torch.float64)
    mask = torch.rand(n, offset_groups * k * k, h_out, w_out, generator=g, dtype=torch.float64)
    bias = torch.randn(c_out, generator=g, dtype=torch.float64)
    grad_out = torch.randn(n, c_out, h_out, w_out, generator=g, dtype=torch.float64)
    return x, weight, offset, mask, bias, grad_out


def _tv(x, weight, offset, mask=None, bias=None, stride=1, padding=1, dilation=1):
    return torchvision.ops.deform_conv2d(x, offset, weight, bias=bias, stride=(stride, stride),
                                         padding=(padding, padding), dilation=(dilation, dilation), mask=mask)


# --------------------------------------------------------------------------------------------------------
# detectron2._C stand-in
# --------------------------------------------------------------------------------------------------------
@fallback_only
def test_detectron2_C_is_the_fallback():
    import detectron2
    import detectron2._C as C

    assert sys.modules["detectron2._C"] is C
    assert detectron2._C is C
    assert getattr(C, _compat._FALLBACK_MARK, False) is True
    assert not compat.has_compiled_ops()
    assert _compat.ensure_detectron2_ops() is True  # idempotent, still the fallback
    assert compat.install() is True
    assert sys.modules["detectron2._C"] is C
    assert C.has_cuda() is False
    assert isinstance(C.get_compiler_version(), str)
    # dunder lookups must not be turned into "missing op" callables (pickling, copy, introspection)
    with pytest.raises(AttributeError):
        C.__wrapped__  # noqa: B018


@fallback_only
def test_box_iou_rotated_raises_clear_error():
    import detectron2._C as C

    boxes = torch.tensor([[10.0, 10.0, 4.0, 6.0, 30.0]])
    with pytest.raises(_compat.MissingCompiledOpError) as info:
        C.box_iou_rotated(boxes, boxes)
    message = str(info.value)
    assert "box_iou_rotated" in message
    assert "install_detectron2.py" in message and "--source" in message
    assert isinstance(info.value, RuntimeError)


@fallback_only
def test_pairwise_iou_rotated_raises_clear_error():
    from detectron2.layers.rotated_boxes import pairwise_iou_rotated

    boxes = torch.tensor([[10.0, 10.0, 4.0, 6.0, 30.0]])
    with pytest.raises(_compat.MissingCompiledOpError, match="box_iou_rotated"):
        pairwise_iou_rotated(boxes, boxes)


@fallback_only
def test_nms_rotated_raises_clear_error():
    from detectron2.layers import nms_rotated

    boxes = torch.tensor([[10.0, 10.0, 4.0, 6.0, 30.0], [11.0, 10.0, 4.0, 6.0, 20.0]])
    scores = torch.tensor([0.9, 0.8])
    with pytest.raises(_compat.MissingCompiledOpError) as info:
        nms_rotated(boxes, scores, 0.5)
    message = str(info.value)
    assert "nms_rotated" in message
    assert "install_detectron2.py" in message and "--source" in message


@fallback_only
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_deform_conv_forward_matches_torchvision(stride, padding, dilation):
    import detectron2._C as C

    x, weight, offset, _, _, _ = _deform_inputs(stride=stride, padding=padding, dilation=dilation)
    expected = _tv(x, weight, offset, stride=stride, padding=padding, dilation=dilation)
    output = x.new_empty(0)
    columns, ones = x.new_empty(0), x.new_empty(0)
    C.deform_conv_forward(x, weight, offset, output, columns, ones, 3, 3, stride, stride, padding, padding,
                          dilation, dilation, 1, 1, 1)
    assert output.shape == expected.shape
    torch.testing.assert_close(output, expected)


@fallback_only
def test_deform_conv_forward_groups_and_offset_groups():
    import detectron2._C as C

    x, weight, offset, _, _, _ = _deform_inputs(c_in=4, c_out=6, groups=2, offset_groups=2)
    expected = _tv(x, weight, offset)
    output = x.new_empty(0)
    C.deform_conv_forward(x, weight, offset, output, x.new_empty(0), x.new_empty(0), 3, 3, 1, 1, 1, 1, 1, 1,
                          2, 2, 1)
    torch.testing.assert_close(output, expected)


@fallback_only
def test_deform_conv_forward_rejects_wrong_groups():
    import detectron2._C as C

    x, weight, offset, _, _, _ = _deform_inputs(c_in=4, c_out=6, groups=1)
    with pytest.raises(ValueError, match="channels"):
        C.deform_conv_forward(x, weight, offset, x.new_empty(0), x.new_empty(0), x.new_empty(0), 3, 3, 1, 1, 1,
                              1, 1, 1, 2, 1, 1)


@fallback_only
def test_deform_conv_backward_matches_autograd():
    import detectron2._C as C

    x, weight, offset, _, _, grad_out = _deform_inputs(seed=1)
    xr, wr, orr = (t.clone().requires_grad_(True) for t in (x, weight, offset))
    _tv(xr, wr, orr).backward(grad_out)

    grad_input, grad_offset = x.new_empty(0), x.new_empty(0)
    C.deform_conv_backward_input(x, offset, grad_out, grad_input, grad_offset, weight, x.new_empty(0),
                                 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    torch.testing.assert_close(grad_input, xr.grad)
    torch.testing.assert_close(grad_offset, orr.grad)

    # detectron2 accumulates the filter gradient into grad_weight, scaled by `scale`
    grad_weight = torch.zeros_like(weight)
    C.deform_conv_backward_filter(x, offset, grad_out, grad_weight, x.new_empty(0), x.new_empty(0),
                                  3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1.0, 1)
    torch.testing.assert_close(grad_weight, wr.grad)
    C.deform_conv_backward_filter(x, offset, grad_out, grad_weight, x.new_empty(0), x.new_empty(0),
                                  3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 1)
    torch.testing.assert_close(grad_weight, 1.5 * wr.grad)
    # the inputs are left untouched
    assert not x.requires_grad and not offset.requires_grad


@fallback_only
@pytest.mark.parametrize("with_bias", [True, False])
def test_modulated_deform_conv_forward_matches_torchvision(with_bias):
    import detectron2._C as C

    x, weight, offset, mask, bias, _ = _deform_inputs(seed=2)
    expected = _tv(x, weight, offset, mask=mask, bias=bias if with_bias else None)
    output = x.new_empty(0)
    C.modulated_deform_conv_forward(x, weight, bias, x.new_empty(0), offset, mask, output, x.new_empty(0),
                                    3, 3, 1, 1, 1, 1, 1, 1, 1, 1, with_bias)
    torch.testing.assert_close(output, expected)


@fallback_only
@pytest.mark.parametrize("with_bias", [True, False])
def test_modulated_deform_conv_backward_matches_autograd(with_bias):
    import detectron2._C as C

    x, weight, offset, mask, bias, grad_out = _deform_inputs(seed=3, stride=1, padding=1)
    leaves = [t.clone().requires_grad_(True) for t in (x, weight, bias, offset, mask)]
    xr, wr, br, orr, mr = leaves
    _tv(xr, wr, orr, mask=mr, bias=br if with_bias else None).backward(grad_out)

    buffers = [x.new_empty(0) for _ in range(5)]
    grad_input, grad_weight, grad_bias, grad_offset, grad_mask = buffers
    grad_bias.resize_(bias.shape).fill_(123.0)  # must be overwritten (zeroed when there is no bias)
    C.modulated_deform_conv_backward(x, weight, bias, x.new_empty(0), offset, mask, x.new_empty(0),
                                     grad_input, grad_weight, grad_bias, grad_offset, grad_mask, grad_out,
                                     3, 3, 1, 1, 1, 1, 1, 1, 1, 1, with_bias)
    torch.testing.assert_close(grad_input, xr.grad)
    torch.testing.assert_close(grad_weight, wr.grad)
    torch.testing.assert_close(grad_offset, orr.grad)
    torch.testing.assert_close(grad_mask, mr.grad)
    if with_bias:
        torch.testing.assert_close(grad_bias, br.grad)
    else:
        assert torch.all(grad_bias == 0)
