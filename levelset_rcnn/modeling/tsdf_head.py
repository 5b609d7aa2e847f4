"""Initial TSDF head (section 4.1): Mask R-CNN's mask head with a TSDF output instead of a binary one."""
import torch
from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling.roi_heads.mask_head import ROI_MASK_HEAD_REGISTRY, MaskRCNNConvUpsampleHead

from ..layers.level_set import heaviside
from .losses import roi_tsdf_loss

__all__ = ["TSDFMaskHead", "select_class_channel"]


def select_class_channel(pred, instances):
    """Pick each RoI's class channel of ``(R, K, S, S)`` predictions → ``(R, 1, S, S)``.

    The class is ``gt_classes`` in training and ``pred_classes`` at inference; K = 1 is class-agnostic.
    """
    if pred.shape[1] == 1 or pred.shape[0] == 0:
        return pred[:, :1]
    field = "gt_classes" if instances and instances[0].has("gt_classes") else "pred_classes"
    classes = cat([x.get(field) for x in instances]).to(pred.device)
    return pred[torch.arange(pred.shape[0], device=pred.device), classes].unsqueeze(1)


@ROI_MASK_HEAD_REGISTRY.register()
class TSDFMaskHead(MaskRCNNConvUpsampleHead):
    """The mask head of Mask R-CNN whose 28×28 output is a TSDF in [−1, 1] (tanh), one per class.

    Used alone with detectron2's ``StandardROIHeads`` it is the "TSDF-only mask head" ablation (section 5:
    ℓ_TSDF instead of BCE, mask = H(φ0)); inside :class:`~levelset_rcnn.modeling.LevelSetMaskHead` (as its
    ``tsdf_head``) it provides φ0.
    The truncation at its side S is ``MODEL.LEVELSET.TRUNCATION · S / MODEL.LEVELSET.RESOLUTION``.

    Its last 1×1 conv is ``tsdf_predictor`` (not Mask R-CNN's ``predictor``), so a Mask R-CNN checkpoint's mask
    logits never load as distances: a state dict with ``mask_head.predictor.*`` is refused when loaded into
    this head (LevelSet R-CNN checkpoints written before the rename are renamed on load by
    :class:`~levelset_rcnn.modeling.LevelSetROIHeads`; see :mod:`levelset_rcnn.checkpoint`).
    """

    @configurable
    def __init__(self, input_shape, *, truncation_ratio, loss_heaviside_eps, inference_heaviside_eps=0.1, **kwargs):
        super().__init__(input_shape, **kwargs)
        # rename the parent's last layer (registration order, hence layers(), is unchanged: it stays last)
        predictor = self.predictor
        del self.predictor
        self.tsdf_predictor = predictor
        self.truncation_ratio = truncation_ratio
        self.loss_heaviside_eps = loss_heaviside_eps
        self.inference_heaviside_eps = inference_heaviside_eps
        self._register_load_state_dict_pre_hook(self._refuse_mask_predictor)

    @staticmethod
    def _refuse_mask_predictor(state_dict, prefix, *args):
        if any(k.startswith(prefix + "predictor.") for k in state_dict) and not any(
            k.startswith(prefix + "tsdf_predictor.") for k in state_dict
        ):
            from ..checkpoint import mask_predictor_refusal

            raise mask_predictor_refusal(prefix)

    @classmethod
    def from_config(cls, cfg, input_shape):
        from ..config import validate_levelset_config

        validate_levelset_config(cfg)
        ret = super().from_config(cfg, input_shape)
        ret["truncation_ratio"] = cfg.MODEL.LEVELSET.TRUNCATION / cfg.MODEL.LEVELSET.RESOLUTION
        ret["loss_heaviside_eps"] = cfg.MODEL.LEVELSET.LOSS_HEAVISIDE_EPS
        ret["inference_heaviside_eps"] = cfg.MODEL.LEVELSET.INFERENCE_HEAVISIDE_EPS
        return ret

    def layers(self, x):
        """``(R, C_in, 14, 14)`` → ``(R, K, 28, 28)`` TSDF in [−1, 1]."""
        return torch.tanh(super().layers(x))

    def loss(self, phi0, instances):
        """ℓ_TSDF of class-selected ``(R, 1, S, S)`` φ0 against targets at its own side S."""
        return roi_tsdf_loss(phi0, instances, self.truncation_ratio, self.loss_heaviside_eps)

    def forward(self, x, instances):
        phi0 = select_class_channel(self.layers(x), instances)
        if self.training:
            return {"loss_tsdf": self.loss(phi0, instances) * self.loss_weight}
        masks = heaviside(phi0, self.inference_heaviside_eps)
        for inst, m in zip(instances, masks.split([len(i) for i in instances])):
            inst.pred_masks = m
        return instances
