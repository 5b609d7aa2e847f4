"""Heads (registered in SEM_SEG_HEADS_REGISTRY), losses and the backbones (BACKBONE_REGISTRY): the small ResNet and
the shared EfficientNet-Lite (:func:`levelset_core.backbone.register_efficientnet_lite`)."""
from levelset_core.backbone import register_efficientnet_lite

from .targets import check_labels, one_hot_targets, semantic_edges
from .level_set_loss import LevelSetLoss, level_set_energy
from .semeda_loss import SemedaLoss, SemedaNet, load_semeda_net, save_semeda_checkpoint
from .sobel_loss import SobelEdgeLoss
from .aux_losses import AuxLossesHeadMixin, DeepLabAuxLosses, build_aux_losses
from .deeplab_v3_head import DeepLabV3LossesHead
from .deeplab_v3_plus_head import DeepLabV3PlusLossesHead
from .small_resnet import build_small_resnet_deeplab_backbone

register_efficientnet_lite()

__all__ = [
    "check_labels", "one_hot_targets", "semantic_edges",
    "LevelSetLoss", "level_set_energy",
    "SemedaLoss", "SemedaNet", "load_semeda_net", "save_semeda_checkpoint",
    "SobelEdgeLoss", "AuxLossesHeadMixin", "DeepLabAuxLosses", "build_aux_losses",
    "DeepLabV3LossesHead", "DeepLabV3PlusLossesHead", "build_small_resnet_deeplab_backbone",
]
