"""Run on detectron2 without its compiled extension (``detectron2._C``).

detectron2 v0.6 (``layers/deform_conv.py``, ``layers/rotated_boxes.py``, ``layers/roi_align_rotated.py``,
``evaluation/fast_eval_api.py``) does ``from detectron2 import _C`` at import time, so without the compiled
ops ``import detectron2.modeling`` fails. :func:`ensure_detectron2_ops` registers a stand-in module as
``detectron2._C`` **only when the real one is missing**:

* deformable convolution (plain and modulated, forward and backward) is backed by
  :func:`torchvision.ops.deform_conv2d`;
* every other op (rotated boxes, rotated RoIAlign, the C++ COCO evaluator, ...) raises
  :class:`MissingCompiledOpError` that names the op and how to get it.

Mask R-CNN and LevelSet R-CNN only need ``nms`` and ``roi_align``, which detectron2 takes from torchvision.
The COCO evaluators use pycocotools when :func:`has_compiled_ops` is false
(:func:`levelset_core.compat.evaluation.coco_eval_fast_impl`).

Called by :func:`levelset_core.compat.install`; nothing happens at import time.
"""
import importlib.util
import sys
import types

__all__ = ["ensure_detectron2_ops", "has_compiled_ops", "MissingCompiledOpError"]

_HOW_TO_GET = (
    "It needs detectron2's compiled extension (detectron2._C), which this installation lacks "
    "(pure-Python fallback). Build the official detectron2 from source: "
    "python tools/install_detectron2.py --force --source <detectron2 checkout or git URL>"
)

_FALLBACK_MARK = "__levelset_rcnn_fallback__"


class MissingCompiledOpError(RuntimeError):
    """An op of detectron2's compiled extension was called but only the fallback is installed."""


def has_compiled_ops():
    """True when the real, compiled ``detectron2._C`` is available."""
    module = sys.modules.get("detectron2._C")
    if module is not None:
        return not getattr(module, _FALLBACK_MARK, False)
    return importlib.util.find_spec("detectron2._C") is not None


def _missing(name):
    def op(*args, **kwargs):
        raise MissingCompiledOpError(f"detectron2._C.{name} is not available. {_HOW_TO_GET}")

    op.__name__ = name
    return op


def _deform_conv(input, weight, offset, mask, bias, stride, padding, dilation):
    from torchvision.ops import deform_conv2d

    return deform_conv2d(
        input, offset, weight, bias=bias, stride=stride, padding=padding, dilation=dilation, mask=mask
    )


def _grads(fn, inputs, grad_output):
    import torch

    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(True) for t in inputs]
        out = fn(*leaves)
        return torch.autograd.grad(out, leaves, grad_output, allow_unused=True)


def _check_groups(group, weight, input):
    if input.shape[1] != weight.shape[1] * group:
        raise ValueError(
            f"deform_conv: input has {input.shape[1]} channels but weight {tuple(weight.shape)} with "
            f"groups={group} expects {weight.shape[1] * group}"
        )


# Signatures follow detectron2/layers/csrc/vision.cpp (v0.6); the output tensors are filled in place.
def deform_conv_forward(input, weight, offset, output, columns, ones, kW, kH, dW, dH, padW, padH,
                        dilW, dilH, group, deformable_group, im2col_step):
    _check_groups(group, weight, input)
    out = _deform_conv(input, weight, offset, None, None, (dH, dW), (padH, padW), (dilH, dilW))
    output.resize_as_(out).copy_(out)


def deform_conv_backward_input(input, offset, grad_output, grad_input, grad_offset, weight, columns,
                               kW, kH, dW, dH, padW, padH, dilW, dilH, group, deformable_group,
                               im2col_step):
    def fn(x, off):
        return _deform_conv(x, weight, off, None, None, (dH, dW), (padH, padW), (dilH, dilW))

    gi, go = _grads(fn, (input, offset), grad_output)
    grad_input.resize_as_(input).copy_(gi)
    grad_offset.resize_as_(offset).copy_(go)


def deform_conv_backward_filter(input, offset, grad_output, grad_weight, columns, ones, kW, kH, dW, dH,
                                padW, padH, dilW, dilH, group, deformable_group, scale, im2col_step):
    # The convolution is linear in the weight, so its gradient does not depend on the weight's value.
    def fn(w):
        return _deform_conv(input, w, offset, None, None, (dH, dW), (padH, padW), (dilH, dilW))

    (gw,) = _grads(fn, (grad_weight.new_zeros(grad_weight.shape),), grad_output)
    grad_weight.add_(gw, alpha=scale)


def modulated_deform_conv_forward(input, weight, bias, ones, offset, mask, output, columns, kernel_h,
                                  kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
                                  group, deformable_group, with_bias):
    _check_groups(group, weight, input)
    out = _deform_conv(input, weight, offset, mask, bias if with_bias else None, (stride_h, stride_w),
                       (pad_h, pad_w), (dilation_h, dilation_w))
    output.resize_as_(out).copy_(out)


def modulated_deform_conv_backward(input, weight, bias, ones, offset, mask, columns, grad_input,
                                   grad_weight, grad_bias, grad_offset, grad_mask, grad_output, kernel_h,
                                   kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
                                   group, deformable_group, with_bias):
    def fn(x, w, b, off, m):
        return _deform_conv(x, w, off, m, b if with_bias else None, (stride_h, stride_w), (pad_h, pad_w),
                            (dilation_h, dilation_w))

    grads = _grads(fn, (input, weight, bias, offset, mask), grad_output)
    for buf, g in zip((grad_input, grad_weight, grad_bias, grad_offset, grad_mask), grads):
        if g is None:
            buf.zero_()
        else:
            buf.resize_as_(g).copy_(g)


_TORCHVISION_BACKED = {
    "deform_conv_forward": deform_conv_forward,
    "deform_conv_backward_input": deform_conv_backward_input,
    "deform_conv_backward_filter": deform_conv_backward_filter,
    "modulated_deform_conv_forward": modulated_deform_conv_forward,
    "modulated_deform_conv_backward": modulated_deform_conv_backward,
}


class _FallbackC(types.ModuleType):
    """Stand-in for ``detectron2._C``: torchvision-backed ops, clear errors for the rest."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _missing(name)


def _make_fallback():
    module = _FallbackC("detectron2._C")
    module.__doc__ = __doc__
    setattr(module, _FALLBACK_MARK, True)
    module.get_compiler_version = lambda: "none (pure-Python detectron2, levelset_rcnn fallback _C)"
    module.get_cuda_version = lambda: "none"
    module.has_cuda = lambda: False
    for name, fn in _TORCHVISION_BACKED.items():
        setattr(module, name, fn)
    return module


def _register_missing_torch_ops():
    """``detectron2.layers.nms_rotated`` calls ``torch.ops.detectron2.nms_rotated``; make it say why it fails."""
    import torch

    try:
        torch.ops.detectron2.nms_rotated  # noqa: B018
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("detectron2", "DEF")
    lib.define("nms_rotated(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor")

    def nms_rotated(boxes, scores, iou_threshold):
        raise MissingCompiledOpError(f"detectron2 op nms_rotated is not available. {_HOW_TO_GET}")

    lib.impl("nms_rotated", nms_rotated, "CompositeExplicitAutograd")
    _register_missing_torch_ops.library = lib  # keep the library alive


def ensure_detectron2_ops():
    """Register the fallback ``detectron2._C`` if, and only if, the compiled one is missing.

    Must run before ``detectron2.layers`` is imported; :func:`levelset_core.compat.install` calls it.
    Returns True when the fallback is in use.
    """
    if importlib.util.find_spec("detectron2") is None:
        raise ImportError(
            "levelset_rcnn / deeplab_losses need detectron2, which is not installed in this Python "
            f"({sys.executable}). Install it with: python tools/install_detectron2.py "
            "(see README.md, 'Installation')"
        )
    if has_compiled_ops():
        return False
    import detectron2

    if "detectron2._C" not in sys.modules:
        module = _make_fallback()
        sys.modules["detectron2._C"] = module
        detectron2._C = module
        _register_missing_torch_ops()
    return True
