"""Chan-Vese feature head (section 4.1): RoI features → a C×S×S embedding F that replaces the image in Eq. 6."""
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, get_norm
from detectron2.utils.registry import Registry
from fvcore.nn import weight_init
from torch import nn

__all__ = ["CHAN_VESE_FEATURE_HEAD_REGISTRY", "ChanVeseFeatureHead", "build_chan_vese_feature_head"]

CHAN_VESE_FEATURE_HEAD_REGISTRY = Registry("LEVELSET_CHAN_VESE_FEATURE_HEAD")
CHAN_VESE_FEATURE_HEAD_REGISTRY.__doc__ = """
Registry for heads that map pooled RoI features ``(R, C_in, s, s)`` to Chan-Vese features
``(R, C, S, S)``, S = ``MODEL.LEVELSET.RESOLUTION``. Selected by ``MODEL.LEVELSET.FEATURE_HEAD.NAME``.
"""


@CHAN_VESE_FEATURE_HEAD_REGISTRY.register()
class ChanVeseFeatureHead(nn.Module):
    """A 3×3 conv at the pooled resolution, then one 2× transposed-conv stage per ``CONV_DIMS`` entry
    (14 → 28 → 56 → 112 with the default three), bilinear resizing to S if needed, and a 1×1 conv to C.

    ``output="tanh"``: F = tanh(x) of the 1×1 conv output x, each channel in [−1, 1], so ‖F − c‖²/C ≤ 4 (an
    upper bound only: with the predictor's small initialisation |F| ≈ 0.01 at the start). ``output="unit_norm"``:
    F = √C · x / ‖x‖ per pixel (norm over the C channels, guarded by 1e-6), so every pixel has ‖F‖² = C and
    ‖F − c‖²/C is O(1) from the first iteration (DESIGN_NOTES "Keep every term O(1)"). The expensive work is
    kept at low resolution: at S×S there is only a transposed conv and a 1×1 conv.
    """

    OUTPUTS = ("tanh", "unit_norm")

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, num_channels, conv_dims, resolution, norm="", output="tanh"):
        super().__init__()
        if output not in self.OUTPUTS:
            raise ValueError(f"MODEL.LEVELSET.FEATURE_HEAD.OUTPUT = {output!r}; expected one of {self.OUTPUTS}")
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
        head = cfg.MODEL.LEVELSET.FEATURE_HEAD
        if len(head.CONV_DIMS) == 0:
            raise ValueError("MODEL.LEVELSET.FEATURE_HEAD.CONV_DIMS must have at least one entry")
        return {
            "input_shape": input_shape,
            "num_channels": head.NUM_CHANNELS,
            "conv_dims": list(head.CONV_DIMS),
            "resolution": cfg.MODEL.LEVELSET.RESOLUTION,
            "norm": head.NORM,
            "output": head.OUTPUT,
        }

    def forward(self, x):
        """``(R, C_in, s, s)`` → ``(R, C, S, S)``: in [−1, 1] (tanh) or with ‖F‖² = C per pixel (unit_norm)."""
        x = self.stem(x)
        for deconv in self.upsample:
            x = deconv2x2_relu(deconv, x)
        if x.shape[-1] != self.resolution and x.shape[0] > 0:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        elif x.shape[0] == 0:
            x = x.new_zeros((0, x.shape[1], self.resolution, self.resolution)) + x.sum() * 0
        x = self.predictor(x)
        if self.output == "tanh":
            return torch.tanh_(x)
        x = x.float()  # the norm in float32 also under autocast
        norm = torch.sqrt(x.square().sum(dim=1, keepdim=True) + 1e-12)
        return x * (float(x.shape[1]) ** 0.5 / norm)


def deconv2x2_relu(deconv, x):
    """ReLU(ConvTranspose2d(kernel 2, stride 2)(x)) computed as one 1×1 convolution to 4·C_out channels, an
    in-place ReLU and a pixel shuffle: the same weights and the same result (out[o, 2i+a, 2j+b] =
    Σ_c W[c, o, a, b] x[c, i, j] + b[o]), but a plain matrix product instead of the CPU's slow transposed
    convolution, and no extra full-size temporaries at the output resolution (benchmarks/benchmark.py)."""
    weight = deconv.weight  # (C_in, C_out, 2, 2)
    if (x.shape[0] == 0  # pixel_shuffle's backward mis-shapes empty batches; the plain path handles R = 0
            or tuple(deconv.kernel_size) != (2, 2) or tuple(deconv.stride) != (2, 2) or tuple(deconv.padding) != (0, 0)):
        return torch.relu(deconv(x))
    c_in, c_out = weight.shape[:2]
    as_conv = weight.permute(1, 2, 3, 0).reshape(c_out * 4, c_in, 1, 1)
    bias = deconv.bias.repeat_interleave(4) if deconv.bias is not None else None
    return F.pixel_shuffle(torch.relu_(F.conv2d(x, as_conv, bias)), 2)


def build_chan_vese_feature_head(cfg, input_shape):
    return CHAN_VESE_FEATURE_HEAD_REGISTRY.get(cfg.MODEL.LEVELSET.FEATURE_HEAD.NAME)(cfg, input_shape)
