"""LevelSet R-CNN modeling: importing this registers every head in detectron2's registries."""
from levelset_core.backbone import register_efficientnet_lite

register_efficientnet_lite()  # EfficientNet-Lite backbones and the efficientnet-lite:// weights (levelset_core.backbone)

from .chan_vese import ChanVeseRefinement, split_hyperparameters
from .feature_head import CHAN_VESE_FEATURE_HEAD_REGISTRY, ChanVeseFeatureHead, build_chan_vese_feature_head
from .image_backbone import build_image_feature_backbone, with_image_feature
from .hyperparameter_head import (
    HYPERPARAMETER_HEAD_REGISTRY,
    GlobalHyperparameters,
    InstanceHyperparameterHead,
    build_hyperparameter_head,
)
from .levelset_mask_head import LevelSetMaskHead, TSDFMaskHead, levelset_mask_inference, levelset_mask_losses
from .losses import gather_gt_masks, tsdf_loss
from .mask_heads import HighResMaskRCNNConvUpsampleHead, MaskRCNNLevelSetLossHead
from .meta_arch import LevelSetRCNN
from .roi_heads import LevelSetROIHeads
from .test_time_augmentation import LevelSetRCNNWithTTA, build_tta_model
from .tsdf import truncated_signed_distance, tsdf_targets, upsample_tsdf
from .tsdf_head import TSDFHead

__all__ = [k for k in globals().keys() if not k.startswith("_")]
