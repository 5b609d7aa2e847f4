"""Chan-Vese feature heads (section 4.1): a C×S×S embedding F per RoI that replaces the image in Eq. 6.

* :class:`ChanVeseFeatureHead` (the paper's): upsamples the 14×14 pooled RoI features to S×S.
* :class:`FineGrainedChanVeseFeatureHead`: RoIAligns the stride-4 FPN level (reduced to a few channels once per
  image) and the normalised image directly at S×S, so F carries boundary detail that a 14×14 grid cannot hold.
"""
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, get_norm
from detectron2.modeling.poolers import ROIPooler
from detectron2.utils.registry import Registry
from fvcore.nn import weight_init
from torch import nn

from .config_checks import check_bool, check_int, check_norm, check_positive_ints, check_registered
from .image_backbone import IMAGE_FEATURE, IMAGE_FEATURE_BACKBONE
from .roi_layers import deconv2x2_relu, pixelwise_linear, pointwise_conv, resize_rois

__all__ = [
    "CHAN_VESE_FEATURE_HEAD_REGISTRY",
    "ChanVeseFeatureHead",
    "FineGrainedChanVeseFeatureHead",
    "build_chan_vese_feature_head",
    "feature_output",
]
OUTPUTS = ("tanh", "unit_norm")
#: the config node of the feature heads' keys
KEY = "MODEL.LEVELSET.FEATURE_HEAD."

CHAN_VESE_FEATURE_HEAD_REGISTRY = Registry("LEVELSET_CHAN_VESE_FEATURE_HEAD")
CHAN_VESE_FEATURE_HEAD_REGISTRY.__doc__ = """
Registry for heads that map pooled RoI features ``(R, C_in, s, s)`` to Chan-Vese features
``(R, C, S, S)``, S = ``MODEL.LEVELSET.RESOLUTION``. Selected by ``MODEL.LEVELSET.FEATURE_HEAD.NAME``.
A head whose class has ``uses_image_features = True`` is built with ``feature_shapes`` (the backbone's output
shapes), lists the feature-dict entries it reads as ``required_features`` (e.g. ``["p2", "image"]``; ``"image"`` is the
normalised input batch) and is called as ``head(x, features, boxes)`` with the image-level features and the RoI
boxes.
"""


def feature_output(x, output):
    """The last step of every feature head: ``"tanh"``: F = tanh(x), each channel in [−1, 1];
    ``"unit_norm"``: F = √C · x / ‖x‖ per pixel (norm over the C channels in float32, guarded by 1e-12 under the
    square root), so that ‖F‖² = C and the data term ‖F − c‖²/C is O(1) (docs/DESIGN_NOTES.md, "Keep every term
    O(1)")."""
    if output == "tanh":
        return torch.tanh_(x)  # x is a fresh conv output: in place is safe for autograd
    x = x.float()
    norm = torch.sqrt(x.square().sum(dim=1, keepdim=True) + 1e-12)
    return x * (float(x.shape[1]) ** 0.5 / norm)


def _check_output(output):
    if output not in OUTPUTS:
        raise ValueError(f"MODEL.LEVELSET.FEATURE_HEAD.OUTPUT = {output!r}; expected one of {OUTPUTS}")


@CHAN_VESE_FEATURE_HEAD_REGISTRY.register()
class ChanVeseFeatureHead(nn.Module):
    """A 3×3 conv at the pooled resolution, then one 2× transposed-conv stage per ``CONV_DIMS`` entry
    (14 → 28 → 56 → 112 with the default three), bilinear resizing to S if needed, and a 1×1 conv to C.

    ``output="tanh"``: F = tanh(x) of the 1×1 conv output x, each channel in [−1, 1], so ‖F − c‖²/C ≤ 4 (an
    upper bound only: this head's predictor starts small, std 0.01, so F starts near 0). ``output="unit_norm"``:
    F = √C · x / ‖x‖ per pixel (:func:`feature_output`: norm over the C channels, guarded by 1e-12 under the square
    root), so every pixel has ‖F‖² = C and ‖F − c‖²/C is O(1) from the first iteration (docs/DESIGN_NOTES.md, "Keep
    every term O(1)"). The expensive work is kept at low resolution: at S×S there is only a transposed conv and a 1×1
    conv.
    """

    OUTPUTS = OUTPUTS
    #: a parameter-name prefix only this head has: tells its checkpoints apart (LevelSetMaskHead warns on a mismatch)
    CHECKPOINT_MARKER = "stem."

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, num_channels, conv_dims, resolution, norm="", output="tanh"):
        super().__init__()
        _check_output(output)
        self.output = output
        channels = input_shape.channels
        self.resolution = resolution
        self.stem = Conv2d(channels, conv_dims[0], kernel_size=3, padding=1, bias=not norm,
                           norm=get_norm(norm, conv_dims[0]), activation=nn.ReLU())
        weight_init.c2_msra_fill(self.stem)
        channels = conv_dims[0]
        self.upsample = nn.ModuleList()
        for dim in conv_dims:
            deconv = ConvTranspose2d(channels, dim, kernel_size=2, stride=2)
            weight_init.c2_msra_fill(deconv)
            self.upsample.append(deconv)
            channels = dim
        self.predictor = Conv2d(channels, num_channels, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape):
        """``MODEL.LEVELSET.FEATURE_HEAD.{NUM_CHANNELS, CONV_DIMS, NORM, OUTPUT}`` (checked; ``OUTPUT`` by
        ``__init__``) and ``MODEL.LEVELSET.RESOLUTION``."""
        head = cfg.MODEL.LEVELSET.FEATURE_HEAD
        return {
            "input_shape": input_shape,
            "num_channels": check_int(KEY + "NUM_CHANNELS", head.NUM_CHANNELS, 1),
            "conv_dims": check_positive_ints(KEY + "CONV_DIMS", head.CONV_DIMS, "[64, 64, 64]"),
            "resolution": cfg.MODEL.LEVELSET.RESOLUTION,
            "norm": check_norm(KEY + "NORM", head.NORM),
            "output": head.OUTPUT,
        }

    def forward(self, x):
        """``(R, C_in, s, s)`` → ``(R, C, S, S)``: in [−1, 1] (tanh) or with ‖F‖² = C per pixel (unit_norm)."""
        x = self.stem(x)
        for deconv in self.upsample:
            x = deconv2x2_relu(deconv, x)
        return feature_output(pointwise_conv(resize_rois(x, self.resolution), self.predictor), self.output)


@CHAN_VESE_FEATURE_HEAD_REGISTRY.register()
class FineGrainedChanVeseFeatureHead(nn.Module):
    """F from fine-grained evidence, sampled directly at the Chan-Vese resolution S (no upsampling of 14×14 cells;
    or at ``POOLER_RESOLUTION``, below).

    Inputs, concatenated per pixel of the S×S RoI grid:

    * **fine**: the FPN level ``IN_FEATURE`` (default ``p2``, stride 4) reduced by one 1×1 conv to
      ``REDUCED_CHANNELS`` **once per image** (cheap: a matrix product over the map), then RoIAligned at S×S;
    * **image** (``USE_IMAGE``): the normalised input image RoIAligned at S×S, the intensities of Eq. 1;
    * **coarse** (``COARSE_CHANNELS`` > 0): the 14×14 pooled RoI features of the mask branch through a 1×1 conv,
      bilinearly resized to S×S (object-level context at the cost of a bilinear resize, no deconvolution).

    A per-pixel MLP (1×1 conv to ``HIDDEN_DIM``, ReLU, 1×1 conv to C; computed as matrix products,
    :func:`pointwise_conv`) maps them to F, finished as ``OUTPUT`` (:func:`feature_output`). Every operation at S×S is
    a 1×1 conv or a RoIAlign: no 3×3 conv at 112×112.

    ``POOLER_RESOLUTION`` = P < S (issue 29): the three inputs are sampled on a P×P grid and the MLP runs there; its
    output (the pre-activation of F, C channels) is bilinearly resized to S×S before ``OUTPUT``, so F, φ and the
    Chan-Vese steps stay at S×S while the head's work shrinks by ~(P / S)². P = 0 (the default) means P = S.
    ``FULL_RESOLUTION_IMAGE`` (with P < S and ``USE_IMAGE``; issue 29): the image is sampled at S×S instead (one
    bilinear sample per cell, RoIAlign with sampling ratio 1), averaged down to P×P for the MLP, and also enters F
    directly: a per-pixel linear map A (3 → C, initialised to 0) of the S×S image is added to the resized
    pre-activation, F = OUTPUT(resize_S(MLP_P) + A · I_S). Image edges then reach F at the full resolution of
    Eq. 1's intensities for about the cost of the P×P head.
    RoIAlign uses the mask pooler's type and the same boxes, so F lives in the same RoI frame as φ0 and the TSDF
    targets. Gradients flow into the FPN level (and so into the backbone) through RoIAlign, unless
    ``DETACH_INPUTS`` stops them there (and at the pooled RoI features): then the Chan-Vese losses train only the
    head's own layers and cannot disturb the features that the RPN and the box head share.

    ``forward(x, features, boxes)``: ``x`` ``(R, C_in, s, s)`` pooled RoI features, ``features`` the image-level
    feature dict (with ``"image"`` ``(B, 3, H, W)`` when ``USE_IMAGE``: the backbone's output of
    :mod:`~levelset_rcnn.modeling.image_backbone`; docs/DESIGN.md, "One image through the model"), ``boxes`` a list
    of B ``Boxes``; returns ``(R, C, S, S)``.
    """

    uses_image_features = True
    #: a parameter-name prefix only this head has: tells its checkpoints apart (LevelSetMaskHead warns on a mismatch)
    CHECKPOINT_MARKER = "reduce."

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, in_feature, in_channels, in_stride, reduced_channels, use_image,
                 coarse_channels, hidden_dim, num_channels, resolution, pooler_type, sampling_ratio, output="tanh",
                 detach_inputs=False, pooler_resolution=0, full_resolution_image=False):
        super().__init__()
        _check_output(output)
        self.in_feature, self.use_image, self.output, self.resolution = in_feature, use_image, output, resolution
        self.detach_inputs = detach_inputs
        #: the side of the grid the inputs are sampled on and the MLP runs at (``POOLER_RESOLUTION``; ≤ S)
        self.pooler_resolution = pooler_resolution or resolution
        if not 0 < self.pooler_resolution <= resolution:
            raise ValueError(f"{KEY}POOLER_RESOLUTION = {pooler_resolution} must be 0 (= MODEL.LEVELSET.RESOLUTION) "
                             f"or between 1 and MODEL.LEVELSET.RESOLUTION = {resolution}")
        side = self.pooler_resolution
        if full_resolution_image and not (use_image and side < resolution):
            raise ValueError(f"{KEY}FULL_RESOLUTION_IMAGE adds the image sampled at MODEL.LEVELSET.RESOLUTION to a "
                             f"head whose MLP runs on a coarser grid: it needs {KEY}USE_IMAGE True (got {use_image}) "
                             f"and {KEY}POOLER_RESOLUTION between 1 and {resolution - 1} (got {pooler_resolution})")
        self.reduce = Conv2d(in_channels, reduced_channels, kernel_size=1)
        weight_init.c2_msra_fill(self.reduce)
        self.fine_pooler = ROIPooler(side, (1.0 / in_stride,), sampling_ratio, pooler_type)
        self.image_pooler = None
        #: A of ``FULL_RESOLUTION_IMAGE``: the S×S image's own per-pixel linear term in F's pre-activation
        self.image_linear = None
        if full_resolution_image:
            self.image_pooler = ROIPooler(resolution, (1.0,), 1, pooler_type)
            self.image_linear = Conv2d(3, num_channels, kernel_size=1, bias=False)  # the predictor has the bias
            nn.init.zeros_(self.image_linear.weight)  # starts as the P×P head; learns what the S×S image adds
        elif use_image:
            self.image_pooler = ROIPooler(side, (1.0,), sampling_ratio, pooler_type)
        self.coarse = None
        if coarse_channels > 0:
            self.coarse = Conv2d(input_shape.channels, coarse_channels, kernel_size=1)
            weight_init.c2_msra_fill(self.coarse)
        mixed = reduced_channels + (3 if use_image else 0) + max(coarse_channels, 0)
        self.mix = Conv2d(mixed, hidden_dim, kernel_size=1)  # ReLU applied in place in forward (no 2nd R×h×S×S)
        weight_init.c2_msra_fill(self.mix)
        self.predictor = Conv2d(hidden_dim, num_channels, kernel_size=1)
        # unit_norm makes the scale irrelevant; for tanh a unit-variance init keeps F out of tanh's tiny linear
        # range (with std 0.01, |F| ~ 0.01 and the data term never acts: docs/RESULTS.md)
        nn.init.normal_(self.predictor.weight, std=(1.0 / hidden_dim) ** 0.5)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape, feature_shapes):
        """``MODEL.LEVELSET.FEATURE_HEAD.{IN_FEATURE, REDUCED_CHANNELS, USE_IMAGE, COARSE_CHANNELS, HIDDEN_DIM,
        NUM_CHANNELS, OUTPUT, DETACH_INPUTS, POOLER_RESOLUTION, FULL_RESOLUTION_IMAGE}`` (checked; ``OUTPUT``, the
        range of ``POOLER_RESOLUTION`` and what ``FULL_RESOLUTION_IMAGE`` needs by ``__init__``),
        ``MODEL.LEVELSET.RESOLUTION`` and
        the mask pooler's ``MODEL.ROI_MASK_HEAD.POOLER_TYPE`` / ``POOLER_SAMPLING_RATIO``."""
        head = cfg.MODEL.LEVELSET.FEATURE_HEAD
        check_bool(KEY + "USE_IMAGE", head.USE_IMAGE)
        check_bool(KEY + "DETACH_INPUTS", head.DETACH_INPUTS)
        check_bool(KEY + "FULL_RESOLUTION_IMAGE", head.FULL_RESOLUTION_IMAGE)
        if head.IN_FEATURE not in feature_shapes:
            raise ValueError(f"MODEL.LEVELSET.FEATURE_HEAD.IN_FEATURE = {head.IN_FEATURE!r} is not a backbone output; "
                             f"available: {sorted(feature_shapes)}")
        if head.USE_IMAGE and IMAGE_FEATURE not in feature_shapes:
            raise ValueError(
                f"MODEL.LEVELSET.FEATURE_HEAD.USE_IMAGE reads the normalised image as the backbone output "
                f"{IMAGE_FEATURE!r}, which MODEL.BACKBONE.NAME = {cfg.MODEL.BACKBONE.NAME!r} does not return: set "
                f"MODEL.BACKBONE.NAME {IMAGE_FEATURE_BACKBONE!r} and MODEL.BACKBONE.WRAPPED_NAME "
                f"{cfg.MODEL.BACKBONE.NAME!r} (or MODEL.LEVELSET.FEATURE_HEAD.USE_IMAGE False)")
        shape = feature_shapes[head.IN_FEATURE]
        return {
            "input_shape": input_shape,
            "in_feature": head.IN_FEATURE,
            "in_channels": shape.channels,
            "in_stride": shape.stride,
            "reduced_channels": check_int(KEY + "REDUCED_CHANNELS", head.REDUCED_CHANNELS, 1),
            "use_image": head.USE_IMAGE,
            "coarse_channels": check_int(KEY + "COARSE_CHANNELS", head.COARSE_CHANNELS, 0),
            "hidden_dim": check_int(KEY + "HIDDEN_DIM", head.HIDDEN_DIM, 1),
            "num_channels": check_int(KEY + "NUM_CHANNELS", head.NUM_CHANNELS, 1),
            "resolution": cfg.MODEL.LEVELSET.RESOLUTION,
            "pooler_type": cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE,
            "sampling_ratio": cfg.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO,
            "output": head.OUTPUT,
            "detach_inputs": head.DETACH_INPUTS,
            "pooler_resolution": check_int(KEY + "POOLER_RESOLUTION", head.POOLER_RESOLUTION, 0),
            "full_resolution_image": head.FULL_RESOLUTION_IMAGE,
        }

    @property
    def required_features(self):
        """The image-level inputs it reads: its FPN level and, with ``USE_IMAGE``, ``"image"``."""
        return [self.in_feature] + ([IMAGE_FEATURE] if self.use_image else [])

    def forward(self, x, features, boxes):
        fine = features[self.in_feature]
        if self.detach_inputs:  # the head trains its own layers; the shared backbone / FPN get no gradient from it
            fine, x = fine.detach(), x.detach()
        parts = [self.fine_pooler([self.reduce(fine)], boxes)]
        image = None
        if self.use_image:
            image = self.image_pooler([features[IMAGE_FEATURE].to(parts[0].dtype)], boxes)
            # FULL_RESOLUTION_IMAGE: sampled at S, the MLP reads its P×P cell means
            parts.append(image if self.image_linear is None else F.adaptive_avg_pool2d(image, self.pooler_resolution))
        if self.coarse is not None:
            parts.append(resize_rois(self.coarse(x), self.pooler_resolution))
        # the first layer's bias as the weight of a constant-1 input channel: one pass over the R×h×P×P hidden
        # activations less than adding it to the product's output (same values up to float rounding)
        parts.append(parts[0].new_ones((parts[0].shape[0], 1) + parts[0].shape[2:]))
        weight = torch.cat([self.mix.weight.flatten(1), self.mix.bias[:, None]], dim=1)
        hidden = torch.relu_(pixelwise_linear(torch.cat(parts, dim=1), weight))
        pre = resize_rois(pointwise_conv(hidden, self.predictor), self.resolution)
        if self.image_linear is not None:  # + A · I_S in one batched product over the resized map
            weight = self.image_linear.weight.flatten(1).to(pre.dtype).expand(pre.shape[0], -1, -1)
            pre = torch.baddbmm(pre.flatten(2), weight, image.flatten(2)).view_as(pre)
        return feature_output(pre, self.output)



def build_chan_vese_feature_head(cfg, input_shape, feature_shapes=None):
    """The head named by ``MODEL.LEVELSET.FEATURE_HEAD.NAME`` (checked: a registered name); ``input_shape`` is the
    pooled RoI features' shape, ``feature_shapes`` the backbone's output shapes (needed by heads with
    ``uses_image_features``)."""
    head = check_registered(KEY + "NAME", cfg.MODEL.LEVELSET.FEATURE_HEAD.NAME, CHAN_VESE_FEATURE_HEAD_REGISTRY)
    if getattr(head, "uses_image_features", False):
        if feature_shapes is None:
            raise ValueError(f"{cfg.MODEL.LEVELSET.FEATURE_HEAD.NAME} needs the backbone's feature shapes")
        return head(cfg, input_shape, feature_shapes=feature_shapes)
    return head(cfg, input_shape)
