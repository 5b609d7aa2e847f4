"""Initial TSDF head (section 4.1): Mask R-CNN's mask head with a TSDF output instead of a binary one."""
import torch
from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling.roi_heads.mask_head import ROI_MASK_HEAD_REGISTRY, MaskRCNNConvUpsampleHead

from ..layers.level_set import heaviside
from .losses import tsdf_loss
from .tsdf import tsdf_targets

__all__ = ["TSDFMaskHead", "select_class_channel", "gather_gt_masks"]


def select_class_channel(pred, instances):
    """Pick each RoI's class channel of ``(R, K, S, S)`` predictions → ``(R, 1, S, S)``.

    The class is ``gt_classes`` in training and ``pred_classes`` at inference; K = 1 is class-agnostic.
    """
    if pred.shape[1] == 1 or pred.shape[0] == 0:
        return pred[:, :1]
    field = "gt_classes" if instances and instances[0].has("gt_classes") else "pred_classes"
    classes = cat([x.get(field) for x in instances]).to(pred.device)
    return pred[torch.arange(pred.shape[0], device=pred.device), classes].unsqueeze(1)


def gather_gt_masks(instances, side, truncation=None):
    """Targets at ``side`` for the foreground proposals of a batch.

    Returns ``(tsdf, mask)``, each ``(R, S, S)``: the TSDF targets of :func:`tsdf_targets` and the binary
    mask crops. With ``truncation=None`` only the mask crops are computed and ``tsdf`` is None.
    """
    tsdfs, masks = [], []
    for inst in instances:
        if len(inst) == 0:
            continue
        if not inst.has("gt_masks"):
            raise ValueError("training this mask head needs 'gt_masks' in the instances (MODEL.MASK_ON data)")
        boxes = inst.proposal_boxes.tensor
        if truncation is None:
            masks.append(inst.gt_masks.crop_and_resize(boxes, side).to(device=boxes.device, dtype=torch.float32))
        else:
            t, m = tsdf_targets(inst.gt_masks, boxes, side, truncation)
            tsdfs.append(t)
            masks.append(m)
    if not masks:
        device = instances[0].proposal_boxes.device if instances else torch.device("cpu")
        masks = [torch.zeros((0, side, side), device=device)]
        tsdfs = None if truncation is None else [masks[0].clone()]
    return (torch.cat(tsdfs) if tsdfs else None), torch.cat(masks)


@ROI_MASK_HEAD_REGISTRY.register()
class TSDFMaskHead(MaskRCNNConvUpsampleHead):
    """The mask head of Mask R-CNN whose 28×28 output is a TSDF in [−1, 1] (tanh), one per class.

    Used alone with detectron2's ``StandardROIHeads`` it is the "TSDF-only mask head" ablation (section 5:
    ℓ_TSDF instead of BCE, mask = H(φ0)); inside :class:`LevelSetROIHeads` it provides φ0.
    The truncation at its side S is ``MODEL.LEVELSET.TRUNCATION · S / MODEL.LEVELSET.RESOLUTION``.

    Its last 1×1 conv is ``tsdf_predictor`` (not Mask R-CNN's ``predictor``), so a Mask R-CNN checkpoint's mask
    logits never load as distances: a state dict with ``mask_head.predictor.*`` is refused when loaded into
    this head (LevelSet R-CNN checkpoints written before the rename are renamed on load by
    :class:`LevelSetROIHeads`; see :mod:`levelset_rcnn.checkpoint`).
    """

    @configurable
    def __init__(self, input_shape, *, truncation_ratio, loss_heaviside_eps, **kwargs):
        super().__init__(input_shape, **kwargs)
        # rename the parent's last layer (registration order, hence layers(), is unchanged: it stays last)
        predictor = self.predictor
        del self.predictor
        self.tsdf_predictor = predictor
        self.truncation_ratio = truncation_ratio
        self.loss_heaviside_eps = loss_heaviside_eps
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
        return ret

    def layers(self, x):
        """``(R, C_in, 14, 14)`` → ``(R, K, 28, 28)`` TSDF in [−1, 1]."""
        return torch.tanh(super().layers(x))

    def truncation(self, side):
        return self.truncation_ratio * side

    def loss(self, phi0, instances):
        """ℓ_TSDF of class-selected ``(R, 1, S, S)`` φ0 against targets at its own side S."""
        side = phi0.shape[-1]
        phi_gt, mask_gt = gather_gt_masks(instances, side, self.truncation(side))
        return tsdf_loss(phi0, phi_gt, mask_gt, self.loss_heaviside_eps)

    def forward(self, x, instances):
        phi0 = select_class_channel(self.layers(x), instances)
        if self.training:
            return {"loss_tsdf": self.loss(phi0, instances) * self.loss_weight}
        masks = heaviside(phi0, self.loss_heaviside_eps)
        for inst, m in zip(instances, masks.split([len(i) for i in instances])):
            inst.pred_masks = m
        return instances
