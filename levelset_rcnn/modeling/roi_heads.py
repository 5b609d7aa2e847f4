"""LevelSetROIHeads: detectron2's ``StandardROIHeads`` around LevelSet R-CNN's mask head (section 4, Fig. 1)."""
import logging

from detectron2.config import configurable
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.roi_heads.mask_head import ROI_MASK_HEAD_REGISTRY

from .levelset_mask_head import LevelSetMaskHead

__all__ = ["LevelSetROIHeads"]

logger = logging.getLogger(__name__)


@ROI_HEADS_REGISTRY.register()
class LevelSetROIHeads(StandardROIHeads):
    """detectron2's ``StandardROIHeads`` (box branch and ``_forward_mask`` unchanged) whose mask head is
    :class:`~levelset_rcnn.modeling.LevelSetMaskHead` (``MODEL.ROI_MASK_HEAD.NAME "LevelSetMaskHead"``, the whole
    LevelSet mask branch). It adds only what detectron2's ROI heads cannot do:

    * the mask head gets the image-level feature dict (detectron2's ``mask_pooler = None`` mode: it pools its RoIs
      itself) with the levels its feature head reads (``mask_in_features``, e.g. ``["p2", "p3", "p4", "p5",
      "image"]``: ``"image"`` is the backbone's output of :mod:`levelset_rcnn.modeling.image_backbone`);
    * checkpoints written before the mask branch became one head (``roi_heads.hyperparameter_head.*``,
      ``roi_heads.feature_head.*``, ``roi_heads.mask_head.<TSDF layers>``) and before the TSDF predictor rename load
      unchanged: their keys are renamed on load (:func:`levelset_rcnn.checkpoint.upgrade_mask_branch_keys`); a
      renamed parameter whose shape differs from the model's (another number of classes) is skipped with a
      warning, as detectron2 does. Loading a checkpoint of the other Chan-Vese feature head logs a warning naming
      the config key to set.

    A config written before ``LevelSetMaskHead`` existed (``ROI_MASK_HEAD.NAME "TSDFMaskHead"`` with these ROI heads)
    builds ``LevelSetMaskHead``, with a warning: that was its meaning.

    ``inference_levelsets`` (opt-in, e.g. ``tools/demo.py --levelset-view``) is the mask head's switch: inference
    also returns ``pred_levelsets`` ``(D, N + 1, S, S)``, φ0 … φN in the RoI frame.
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._register_load_state_dict_pre_hook(self._upgrade_old_checkpoint, with_module=True)

    @classmethod
    def _init_mask_head(cls, cfg, input_shape):
        if not cfg.MODEL.MASK_ON:
            return {}
        name = cfg.MODEL.ROI_MASK_HEAD.NAME
        if name == "TSDFMaskHead":
            logger.warning("MODEL.ROI_MASK_HEAD.NAME 'TSDFMaskHead' with LevelSetROIHeads (a config written before "
                           "LevelSetMaskHead existed): building 'LevelSetMaskHead', the whole LevelSet mask branch; "
                           "set MODEL.ROI_MASK_HEAD.NAME 'LevelSetMaskHead' to silence this")
            head_class = LevelSetMaskHead
        else:
            head_class = ROI_MASK_HEAD_REGISTRY.get(name)
        if not (isinstance(head_class, type) and issubclass(head_class, LevelSetMaskHead)):
            raise ValueError("LevelSetROIHeads needs MODEL.ROI_MASK_HEAD.NAME = 'LevelSetMaskHead' (or a subclass), "
                             f"got {name!r}; for other mask heads use StandardROIHeads")
        mask_head = head_class(cfg, dict(input_shape))
        return {"mask_in_features": mask_head.required_features, "mask_pooler": None, "mask_head": mask_head}

    @property
    def inference_levelsets(self):
        """The mask head's opt-in switch for ``pred_levelsets`` (see :class:`LevelSetMaskHead`)."""
        return self.mask_on and self.mask_head.inference_levelsets

    @inference_levelsets.setter
    def inference_levelsets(self, value):
        if not self.mask_on:
            raise ValueError("inference_levelsets needs the mask branch (MODEL.MASK_ON True)")
        self.mask_head.inference_levelsets = bool(value)

    @staticmethod
    def _upgrade_old_checkpoint(module, state_dict, prefix, *args):
        from ..checkpoint import feature_head_mismatch, upgrade_mask_branch_keys

        renamed = upgrade_mask_branch_keys(state_dict, prefix)
        if renamed:
            logger.info("LevelSet R-CNN checkpoint of an older layout: loading %s as %s",
                        ", ".join(old for old, _ in renamed), ", ".join(new for _, new in renamed))
            own = module.state_dict()
            for _, new in renamed:
                name = new[len(prefix):]
                if name in own and tuple(state_dict[new].shape) != tuple(own[name].shape):
                    logger.warning("Skip loading parameter '%s' to the model due to incompatible shapes: %s in the "
                                   "checkpoint but %s in the model!", new, tuple(state_dict[new].shape),
                                   tuple(own[name].shape))
                    state_dict.pop(new)
        mask_head = getattr(module, "mask_head", None)
        mismatch = feature_head_mismatch(state_dict, prefix + "mask_head.", getattr(mask_head, "feature_head", None))
        if mismatch:
            logger.warning(mismatch)
