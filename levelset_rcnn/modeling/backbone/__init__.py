"""Backbones of LevelSet R-CNN: EfficientNet-Lite (:mod:`levelset_core.backbone`, shared with the DeepLabLosses
project), re-exported.

Importing this registers ``build_efficientnet_lite_backbone`` and ``build_efficientnet_lite_fpn_backbone`` in
detectron2's ``BACKBONE_REGISTRY`` and the ``efficientnet-lite://`` weights path on detectron2's PathManager.
"""
from levelset_core.backbone import *  # noqa: F401,F403
from levelset_core.backbone import __all__, register_efficientnet_lite

register_efficientnet_lite()
