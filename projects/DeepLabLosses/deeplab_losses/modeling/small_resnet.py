"""A small ResNet backbone (BasicBlock stages of any width) for CPU-sized DeepLab runs trained from scratch.

detectron2's DeepLab builder (``build_resnet_deeplab_backbone``) only has bottleneck depths 50/101/152, and its
standard ResNet builder fixes R18/R34 at 64 channels; this one takes any ``RES2_OUT_CHANNELS``, depths
10/18/34, the ``basic`` or ``deeplab`` stem, BN / GN / SyncBN via ``MODEL.RESNETS.NORM``. No dilation (BasicBlock
has none): output strides are 4, 8, 16, 32 for res2..res5.
"""
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.resnet import BasicBlock, BasicStem, ResNet
from detectron2.projects.deeplab.resnet import DeepLabStem

__all__ = ["build_small_resnet_deeplab_backbone", "SMALL_RESNET_BLOCKS"]

SMALL_RESNET_BLOCKS = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}


@BACKBONE_REGISTRY.register()
def build_small_resnet_deeplab_backbone(cfg, input_shape):
    """Keys: MODEL.RESNETS.{DEPTH, STEM_TYPE, STEM_OUT_CHANNELS, RES2_OUT_CHANNELS, NORM, OUT_FEATURES},
    MODEL.BACKBONE.FREEZE_AT. Channels double per stage from RES2_OUT_CHANNELS."""
    r = cfg.MODEL.RESNETS
    depth = r.DEPTH
    if depth not in SMALL_RESNET_BLOCKS:
        raise ValueError(f"build_small_resnet_deeplab_backbone: MODEL.RESNETS.DEPTH = {depth}; expected one of "
                         f"{sorted(SMALL_RESNET_BLOCKS)} (use build_resnet_deeplab_backbone for 50/101/152)")
    if r.RES4_DILATION != 1 or r.RES5_DILATION != 1:
        raise ValueError("build_small_resnet_deeplab_backbone has no dilation: set MODEL.RESNETS.RES4_DILATION "
                         f"and RES5_DILATION to 1 (got {r.RES4_DILATION}, {r.RES5_DILATION})")
    if r.STEM_TYPE == "basic":
        stem = BasicStem(input_shape.channels, r.STEM_OUT_CHANNELS, norm=r.NORM)
    elif r.STEM_TYPE == "deeplab":
        stem = DeepLabStem(input_shape.channels, r.STEM_OUT_CHANNELS, norm=r.NORM)
    else:
        raise ValueError(f"MODEL.RESNETS.STEM_TYPE = {r.STEM_TYPE!r}; expected 'basic' or 'deeplab'")
    names = {"res2": 2, "res3": 3, "res4": 4, "res5": 5}
    unknown = [f for f in r.OUT_FEATURES if f not in names]
    if unknown:
        raise ValueError(f"MODEL.RESNETS.OUT_FEATURES: unknown {unknown}; expected from {list(names)}")
    max_stage = max(names[f] for f in r.OUT_FEATURES)
    in_channels, out_channels = r.STEM_OUT_CHANNELS, r.RES2_OUT_CHANNELS
    stages = []
    for idx, num_blocks in enumerate(SMALL_RESNET_BLOCKS[depth][: max_stage - 1]):
        first_stride = 1 if idx == 0 else 2
        stages.append(ResNet.make_stage(
            BasicBlock, num_blocks, stride_per_block=[first_stride] + [1] * (num_blocks - 1),
            in_channels=in_channels, out_channels=out_channels, norm=r.NORM,
        ))
        in_channels, out_channels = out_channels, out_channels * 2
    return ResNet(stem, stages, out_features=list(r.OUT_FEATURES)).freeze(cfg.MODEL.BACKBONE.FREEZE_AT)
