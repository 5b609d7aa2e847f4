"""Mask R-CNN mask heads for the paper's baselines and ablations (section 5, Table 3)."""
import math

from detectron2.config import configurable
from detectron2.layers import ConvTranspose2d
from detectron2.modeling.roi_heads.mask_head import (
    ROI_MASK_HEAD_REGISTRY,
    MaskRCNNConvUpsampleHead,
    mask_rcnn_inference,
    mask_rcnn_loss,
)
from fvcore.nn import weight_init
from torch import nn

from levelset_core.layers.level_set import chan_vese_energy

from .losses import gather_gt_masks
from .tsdf_head import select_class_channel

__all__ = ["HighResMaskRCNNConvUpsampleHead", "MaskRCNNLevelSetLossHead"]


@ROI_MASK_HEAD_REGISTRY.register()
class HighResMaskRCNNConvUpsampleHead(MaskRCNNConvUpsampleHead):
    """Mask R-CNN's head with extra 2× transposed convolutions up to ``ROI_MASK_HEAD.OUTPUT_RESOLUTION``
    (the "Higher Resolution Mask R-CNN" ablation: 112×112 masks, BCE loss at 112×112)."""

    @configurable
    def __init__(self, input_shape, *, num_extra_upsample, **kwargs):
        super().__init__(input_shape, **kwargs)
        channels = self.deconv.out_channels
        self.extra_upsample = nn.ModuleList()
        for _ in range(num_extra_upsample):
            deconv = ConvTranspose2d(channels, channels, kernel_size=2, stride=2)
            weight_init.c2_msra_fill(deconv)
            self.extra_upsample.append(deconv)

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        base = 2 * cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION
        factor = cfg.MODEL.ROI_MASK_HEAD.OUTPUT_RESOLUTION / base
        extra = int(round(math.log2(factor))) if factor >= 1 else -1
        if extra < 0 or base * 2 ** extra != cfg.MODEL.ROI_MASK_HEAD.OUTPUT_RESOLUTION:
            raise ValueError(
                f"MODEL.ROI_MASK_HEAD.OUTPUT_RESOLUTION = {cfg.MODEL.ROI_MASK_HEAD.OUTPUT_RESOLUTION} must be "
                f"2·POOLER_RESOLUTION ({base}) times a power of two"
            )
        ret["num_extra_upsample"] = extra
        return ret

    def layers(self, x):
        for layer in self.conv_norm_relus:
            x = layer(x)
        x = self.deconv_relu(self.deconv(x))
        for deconv in self.extra_upsample:
            x = self.deconv_relu(deconv(x))
        return self.predictor(x)


@ROI_MASK_HEAD_REGISTRY.register()
class MaskRCNNLevelSetLossHead(MaskRCNNConvUpsampleHead):
    """Mask R-CNN trained with BCE plus the Chan-Vese energy as a loss ("LS Loss" row of Table 3).

    φ = P − 0.5 from the mask probability P of the RoI's class, the tanh Heaviside H*, and the region means
    of the ground-truth mask G inside / outside (Level Set loss, Kim et al. Eqs. 4–6): the energy is
    Σ (G − c1)² H*(φ) + (G − c2)² (1 − H*(φ)) per RoI, averaged over RoIs and added with
    ``ROI_MASK_HEAD.LEVEL_SET_LOSS_WEIGHT`` as ``loss_level_set``.
    """

    @configurable
    def __init__(self, input_shape, *, level_set_weight, level_set_eps, **kwargs):
        super().__init__(input_shape, **kwargs)
        self.level_set_weight = level_set_weight
        self.level_set_eps = level_set_eps

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["level_set_weight"] = cfg.MODEL.ROI_MASK_HEAD.LEVEL_SET_LOSS_WEIGHT
        ret["level_set_eps"] = cfg.MODEL.ROI_MASK_HEAD.LEVEL_SET_LOSS_EPS
        return ret

    def forward(self, x, instances):
        logits = self.layers(x)
        if not self.training:
            mask_rcnn_inference(logits, instances)
            return instances
        losses = {"loss_mask": mask_rcnn_loss(logits, instances, self.vis_period) * self.loss_weight}
        selected = select_class_channel(logits, instances)
        side = selected.shape[-1]
        _, mask_gt = gather_gt_masks(instances, side)
        if selected.shape[0] == 0:
            losses["loss_level_set"] = selected.sum() * 0
            return losses
        phi = selected.float().sigmoid() - 0.5
        energy = chan_vese_energy(phi, mask_gt.unsqueeze(1), eps=self.level_set_eps, kind="tanh",
                                  normalize=False)
        losses["loss_level_set"] = self.level_set_weight * energy.mean()
        return losses
