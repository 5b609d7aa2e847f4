"""Per-pixel layers of the mask branch computed as matrix products (issue 29): the same weights and results as the
``nn`` layers they replace (up to float rounding), but on the CPU several times faster for the R RoIs × S×S pixels of
LevelSet R-CNN's heads, whose ``conv2d`` / ``conv_transpose2d`` calls take slow paths (docs/BENCHMARKS.md).

Used by the Chan-Vese feature heads (:mod:`.feature_head`) and the initial TSDF head (:mod:`.tsdf_head`).
"""
import torch
import torch.nn.functional as F

__all__ = ["pixelwise_linear", "pointwise_conv", "deconv2x2_relu", "resize_rois", "class_channel_conv"]


def pointwise_conv(x, conv):
    """A 1×1 ``Conv2d`` (no norm, no activation) applied to ``(R, C_in, H, W)`` as one batched matrix product
    ``W (C_out × C_in) @ x (C_in × HW)`` per RoI → ``(R, C_out, H, W)``: the same weights and the same result up to
    float rounding, but on the CPU 2–4× faster than ``conv2d`` for the per-pixel MLP of a feature head at 112×112
    (docs/BENCHMARKS.md, issue 29). Empty batches and channels-last inputs work (``reshape`` copies when needed)."""
    return pixelwise_linear(x, _plain_1x1_weight(conv, "pointwise_conv"), conv.bias)


def class_channel_conv(x, conv, classes):
    """Output channel ``classes[r]`` of a plain 1×1 ``Conv2d`` for each RoI r: ``(R, C_in, H, W)`` and ``(R,)`` class
    indices → ``(R, 1, H, W)``, equal to ``conv(x)[arange(R), classes].unsqueeze(1)`` up to float rounding, but only
    that channel is computed (a K-class predictor does 1 / K of the work; the TSDF head keeps one class per RoI)."""
    weight = _plain_1x1_weight(conv, "class_channel_conv")
    classes = classes.to(device=weight.device, dtype=torch.long)
    bias = None if conv.bias is None else conv.bias[classes].unsqueeze(1)  # (R, 1)
    return pixelwise_linear(x, weight[classes].unsqueeze(1), bias)  # weight rows (R, 1, C_in)


def _plain_1x1_weight(conv, caller):
    """``(C_out, C_in)`` weight of a 1×1 ``Conv2d`` without stride, padding, groups, norm or activation."""
    weight = conv.weight
    if tuple(weight.shape[2:]) != (1, 1) or tuple(conv.stride) != (1, 1) or tuple(conv.padding) != (0, 0) \
            or conv.groups != 1 or getattr(conv, "norm", None) is not None or getattr(conv, "activation", None):
        raise ValueError(f"{caller} needs a plain 1x1 convolution, got {conv}")
    return weight.reshape(weight.shape[0], -1)


def pixelwise_linear(x, weight, bias=None):
    """``out[r, o, i, j] = Σ_c weight[o, c] · x[r, c, i, j] + bias[o]``: ``(R, C_in, H, W)`` × ``(C_out, C_in)`` →
    ``(R, C_out, H, W)`` as a batched matrix product (:func:`pointwise_conv`). A per-RoI ``weight`` ``(R, C_out, C_in)``
    with ``bias`` ``(R, C_out)`` maps each RoI with its own rows (:func:`class_channel_conv`)."""
    r, c_in, h, w = x.shape
    weight = weight.to(x.dtype).expand(r, -1, -1)
    flat = x.reshape(r, c_in, h * w)
    if bias is None:
        out = torch.bmm(weight, flat)
    else:
        out = torch.baddbmm(bias.to(x.dtype).view(-1 if bias.dim() == 2 else 1, weight.shape[1], 1), weight, flat)
    return out.view(r, weight.shape[1], h, w)


def resize_rois(x, side):
    """Bilinear resizing (align_corners=False) of ``(R, C, s, s)`` RoI maps to ``(R, C, side, side)``; R = 0 gives an
    empty tensor connected to ``x``'s graph (``F.interpolate`` refuses empty batches in some torch versions)."""
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    if x.shape[0] == 0:
        return x.new_zeros((0, x.shape[1], side, side)) + x.sum() * 0
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


def deconv2x2_relu(deconv, x):
    """ReLU(ConvTranspose2d(kernel 2, stride 2)(x)) computed as one per-pixel linear map to 4·C_out channels, an
    in-place ReLU and a pixel shuffle: the same weights and the same result (out[o, 2i+a, 2j+b] =
    Σ_c W[c, o, a, b] x[c, i, j] + b[o]), but a plain matrix product instead of the CPU's slow transposed
    convolution, and no extra full-size temporaries at the output resolution (benchmarks/benchmark.py)."""
    weight = deconv.weight  # (C_in, C_out, 2, 2)
    if (x.shape[0] == 0  # pixel_shuffle's backward mis-shapes empty batches; the plain path handles R = 0
            or tuple(deconv.kernel_size) != (2, 2) or tuple(deconv.stride) != (2, 2) or tuple(deconv.padding) != (0, 0)):
        return torch.relu(deconv(x))
    c_in, c_out = weight.shape[:2]
    as_linear = weight.permute(1, 2, 3, 0).reshape(c_out * 4, c_in)
    bias = deconv.bias.repeat_interleave(4) if deconv.bias is not None else None
    return F.pixel_shuffle(torch.relu_(pixelwise_linear(x, as_linear, bias)), 2)
