"""Initial TSDF head (section 4.1): φ0, a TSDF in [−1, 1] per class on a 28×28 RoI grid.

:class:`TSDFHead` is a plain module built inside :class:`~levelset_rcnn.modeling.LevelSetMaskHead` (as its
``tsdf_head``); its loss and inference are the mask head's (:func:`~levelset_rcnn.modeling.levelset_mask_losses`,
:func:`~levelset_rcnn.modeling.levelset_mask_inference`). The TSDF-only ablation is ``LevelSetMaskHead`` with
``MODEL.LEVELSET.CHAN_VESE_ON False`` (``configs/Ablations/tsdf_only_R_50_FPN.yaml``).
"""
import logging

import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, cat, get_norm
from fvcore.nn import weight_init
from torch import nn

from .roi_layers import class_channel_conv

__all__ = ["TSDFHead", "instance_classes", "select_class_channel"]

logger = logging.getLogger(__name__)


def instance_classes(instances):
    """``(R,)`` class of every RoI: ``gt_classes`` in training, ``pred_classes`` at inference (empty without RoIs)."""
    if not instances:
        return torch.zeros(0, dtype=torch.long)
    field = "gt_classes" if instances[0].has("gt_classes") else "pred_classes"
    return cat([x.get(field) for x in instances])


def select_class_channel(pred, instances):
    """Pick each RoI's class channel of ``(R, K, S, S)`` predictions → ``(R, 1, S, S)``.

    The class is ``gt_classes`` in training and ``pred_classes`` at inference; K = 1 is class-agnostic.
    """
    if pred.shape[1] == 1 or pred.shape[0] == 0:
        return pred[:, :1]
    classes = instance_classes(instances).to(pred.device)
    return pred[torch.arange(pred.shape[0], device=pred.device), classes].unsqueeze(1)


class TSDFHead(nn.Sequential):
    """Mask R-CNN's mask-head layers (``ROI_MASK_HEAD.NUM_CONV`` 3×3 convs of ``CONV_DIM`` channels, a 2× transposed
    conv, a 1×1 conv to K classes) with a tanh: ``(R, C_in, 14, 14)`` → ``(R, K, 28, 28)`` TSDF φ0 in [−1, 1].

    Layers, parameter names and initialisation are those of detectron2's ``MaskRCNNConvUpsampleHead`` (so a seed
    builds the same φ0 head as before it became a plain module), except that the last 1×1 conv is ``tsdf_predictor``:
    Mask R-CNN's ``predictor`` (mask logits, same shape) never loads into it as distances. A state dict with
    ``predictor.*`` and no ``tsdf_predictor.*`` is refused on load, with the command that converts the file
    (:func:`mask_predictor_refusal`; LevelSet R-CNN checkpoints of older layouts are renamed before this runs, by
    :class:`~levelset_rcnn.modeling.LevelSetMaskHead`; docs: :mod:`levelset_rcnn.modeling.state_dict_upgrade`).
    """

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, num_classes, conv_dims, conv_norm=""):
        super().__init__()
        if len(conv_dims) < 1:
            raise ValueError("TSDFHead needs at least the transposed conv's width in conv_dims")
        convs = []
        channels = input_shape.channels
        for k, dim in enumerate(conv_dims[:-1]):
            conv = Conv2d(channels, dim, kernel_size=3, stride=1, padding=1, bias=not conv_norm,
                          norm=get_norm(conv_norm, dim), activation=nn.ReLU())
            self.add_module(f"mask_fcn{k + 1}", conv)
            convs.append(conv)
            channels = dim
        self.deconv = ConvTranspose2d(channels, conv_dims[-1], kernel_size=2, stride=2, padding=0)
        self.add_module("deconv_relu", nn.ReLU())
        self.tsdf_predictor = Conv2d(conv_dims[-1], num_classes, kernel_size=1, stride=1, padding=0)
        for layer in convs + [self.deconv]:
            weight_init.c2_msra_fill(layer)
        nn.init.normal_(self.tsdf_predictor.weight, std=0.001)
        nn.init.constant_(self.tsdf_predictor.bias, 0)

    @classmethod
    def from_config(cls, cfg, input_shape):
        """``MODEL.ROI_MASK_HEAD.{NUM_CONV, CONV_DIM, NORM, CLS_AGNOSTIC_MASK}`` and ``MODEL.ROI_HEADS.NUM_CLASSES``,
        as for Mask R-CNN's mask head."""
        head = cfg.MODEL.ROI_MASK_HEAD
        return {
            "input_shape": input_shape,
            "num_classes": 1 if head.CLS_AGNOSTIC_MASK else cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "conv_dims": [head.CONV_DIM] * (head.NUM_CONV + 1),
            "conv_norm": head.NORM,
        }

    def forward(self, x, classes=None):
        """``(R, C_in, s, s)`` pooled RoI features → ``(R, K, 2s, 2s)`` φ0 in [−1, 1]; with ``classes`` ``(R,)``
        (each RoI's class) only that channel, ``(R, 1, 2s, 2s)``: the same values as :func:`select_class_channel` of
        the full output, but the K-class predictor computes one channel per RoI (:func:`class_channel_conv`;
        issue 29)."""
        for layer in list(self.children())[:-1]:  # mask_fcn*, deconv, deconv_relu: as nn.Sequential runs them
            x = layer(x)
        if classes is None or self.tsdf_predictor.out_channels == 1:
            return torch.tanh(self.tsdf_predictor(x))
        return torch.tanh(class_channel_conv(x, self.tsdf_predictor, classes))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        if any(k.startswith(prefix + "predictor.") for k in state_dict) and not any(
                k.startswith(prefix + "tsdf_predictor.") for k in state_dict):
            raise mask_predictor_refusal(prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


def mask_predictor_refusal(prefix):
    """The error for a state dict whose ``<prefix>predictor.*`` would land in a TSDF head."""
    return ValueError(
        f"this checkpoint has '{prefix}predictor.*' but LevelSet R-CNN's TSDF head names its predictor "
        "'tsdf_predictor', and the checkpoint has no LevelSet-only key (a Chan-Vese head's hyperparameter_head.* / "
        "feature_head.*): it is a Mask R-CNN checkpoint, whose mask predictor outputs logits, not distances, "
        "so it is not loaded. To start LevelSet R-CNN from it, drop that predictor once: "
        "'python -m levelset_rcnn.checkpoint drop-mask-predictor IN OUT.pth' and use OUT.pth. If it is a LevelSet "
        "R-CNN TSDF-only / CHAN_VESE_ON False checkpoint saved before the rename: "
        "'python -m levelset_rcnn.checkpoint rename-tsdf-predictor IN OUT.pth'."
    )
