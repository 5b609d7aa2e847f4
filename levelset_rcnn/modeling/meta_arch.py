"""``MODEL.META_ARCHITECTURE "LevelSetRCNN"``: deprecated name of old configs (issue 24).

Until issue 24 ``LevelSetRCNN`` was a ``GeneralizedRCNN`` subclass that re-implemented inference with given boxes to
hand the normalised image to the mask head. The image is now a backbone output
(:mod:`levelset_rcnn.modeling.image_backbone`), so a LevelSet R-CNN is detectron2's stock ``GeneralizedRCNN``; the
name stays registered so that configs and release checkpoints' saved configs that use it still build the same model
(docs/DESIGN.md, "One image through the model").
"""
import logging

from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN

from .image_backbone import IMAGE_FEATURE_BACKBONE, upgrade_meta_architecture

__all__ = ["LevelSetRCNN"]

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
def LevelSetRCNN(cfg):  # noqa: N802  (the registered name old configs use)
    """Build detectron2's ``GeneralizedRCNN`` for a config that names ``"LevelSetRCNN"``, with the image-feature
    backbone around the configured one (:func:`~levelset_rcnn.modeling.image_backbone.upgrade_meta_architecture`),
    and a warning naming the keys to set. Same parameters as before: its checkpoints load unchanged."""
    new = upgrade_meta_architecture(cfg)
    logger.warning("MODEL.META_ARCHITECTURE 'LevelSetRCNN' is deprecated (the image is now a backbone output, the "
                   "model detectron2's GeneralizedRCNN): set MODEL.META_ARCHITECTURE 'GeneralizedRCNN', "
                   "MODEL.BACKBONE.NAME '%s' and MODEL.BACKBONE.WRAPPED_NAME '%s'; building exactly that model",
                   IMAGE_FEATURE_BACKBONE, new.MODEL.BACKBONE.WRAPPED_NAME)
    return GeneralizedRCNN(new)
