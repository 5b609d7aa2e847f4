"""LevelSetROIHeads: detectron2's ``StandardROIHeads`` around LevelSet R-CNN's mask head (section 4, Fig. 1; the data
flow: docs/DESIGN.md, "One image through the model")."""
import logging

from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.roi_heads.mask_head import ROI_MASK_HEAD_REGISTRY

from .levelset_mask_head import LevelSetMaskHead
from .state_dict_upgrade import rename_keys

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
      ``roi_heads.feature_head.*``) load unchanged: its ``_load_from_state_dict`` (``_version`` 2) moves those keys
      into the mask head, which upgrades the rest of its own layout (:class:`LevelSetMaskHead`).

    A config written before ``LevelSetMaskHead`` existed (``ROI_MASK_HEAD.NAME "TSDFMaskHead"`` with these ROI heads)
    builds ``LevelSetMaskHead``, with a warning: that was its meaning.

    ``inference_levelsets`` (opt-in, e.g. ``tools/demo.py --levelset-view``) is the mask head's switch: inference
    also returns ``pred_levelsets`` ``(D, N + 1, S, S)``, φ0 … φN in the RoI frame.
    """

    #: 2 (issue 14): the hyperparameter and feature heads are parts of the mask head; 1: they were beside it
    _version = 2

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

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """Version < 2 (before issue 14, or no metadata): ``hyperparameter_head.*`` / ``feature_head.*`` were beside
        the mask head; they move into it (:mod:`levelset_rcnn.modeling.state_dict_upgrade`)."""
        version = local_metadata.get("version")
        if (version is None or version < 2) and self.mask_on:
            rename_keys(self, state_dict, prefix,
                        lambda k: "mask_head." + k if k.startswith(LevelSetMaskHead.CHAN_VESE_PARTS) else None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
