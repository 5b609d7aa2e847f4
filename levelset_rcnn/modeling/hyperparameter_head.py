"""Hyperparameter head (section 4.1): per-RoI λ1, λ2, μ and ε_n, Δt_n for each of the N iterations."""
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.utils.registry import Registry
from fvcore.nn import weight_init
from torch import nn

from .config_checks import check_int, check_norm, check_registered

__all__ = ["HYPERPARAMETER_HEAD_REGISTRY", "InstanceHyperparameterHead", "GlobalHyperparameters",
           "build_hyperparameter_head"]

HYPERPARAMETER_HEAD_REGISTRY = Registry("LEVELSET_HYPERPARAMETER_HEAD")
HYPERPARAMETER_HEAD_REGISTRY.__doc__ = """
Registry for heads that map pooled RoI features ``(R, C, S, S)`` to ``(R, 2N + 3)`` positive
Chan-Vese hyperparameters ``[λ1, λ2, μ, ε_1..ε_N, Δt_1..Δt_N]``. Selected by
``MODEL.LEVELSET.HYPERPARAMETER_HEAD.NAME``.
"""


def _positive(raw):
    """2·sigmoid: positive values in (0, 2), 1 at a zero input (section 4.1)."""
    return 2.0 * torch.sigmoid(raw)


@HYPERPARAMETER_HEAD_REGISTRY.register()
class InstanceHyperparameterHead(nn.Module):
    """Convolutions, average pooling and two fully connected layers → 2·sigmoid, size 2N + 3 (section 4.1).

    The last layer starts at zero, so every hyperparameter starts at 1.
    """

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, num_iterations, num_conv, conv_dim, fc_dim, norm=""):
        super().__init__()
        self.num_outputs = 2 * num_iterations + 3
        channels = input_shape.channels
        convs = []
        for k in range(num_conv):
            conv = Conv2d(channels, conv_dim, kernel_size=3, padding=1, bias=not norm,
                          norm=get_norm(norm, conv_dim), activation=nn.ReLU())
            weight_init.c2_msra_fill(conv)
            self.add_module(f"conv{k + 1}", conv)
            convs.append(conv)
            channels = conv_dim
        self.convs = convs
        self.fc1 = nn.Linear(channels, fc_dim)
        self.fc2 = nn.Linear(fc_dim, self.num_outputs)
        weight_init.c2_xavier_fill(self.fc1)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    @classmethod
    def from_config(cls, cfg, input_shape):
        """``MODEL.LEVELSET.HYPERPARAMETER_HEAD.{NUM_CONV, CONV_DIM, FC_DIM, NORM}``, checked; N is
        ``MODEL.LEVELSET.NUM_ITERATIONS`` (checked by the refinement, built first by the mask head)."""
        hp = cfg.MODEL.LEVELSET.HYPERPARAMETER_HEAD
        key = "MODEL.LEVELSET.HYPERPARAMETER_HEAD."
        return {
            "input_shape": input_shape,
            "num_iterations": cfg.MODEL.LEVELSET.NUM_ITERATIONS,
            "num_conv": check_int(key + "NUM_CONV", hp.NUM_CONV, 0),
            "conv_dim": check_int(key + "CONV_DIM", hp.CONV_DIM, 1),
            "fc_dim": check_int(key + "FC_DIM", hp.FC_DIM, 1),
            "norm": check_norm(key + "NORM", hp.NORM),
        }

    def forward(self, x):
        """``(R, C, S, S)`` → ``(R, 2N + 3)``."""
        for conv in self.convs:
            x = conv(x)
        x = x.mean(dim=(2, 3))
        return _positive(self.fc2(torch.relu(self.fc1(x))))


@HYPERPARAMETER_HEAD_REGISTRY.register()
class GlobalHyperparameters(nn.Module):
    """Ablation (section 5, "Effect of the Hyperparameter Head"): one learned set for the whole dataset."""

    @configurable
    def __init__(self, *, num_iterations):
        super().__init__()
        self.raw = nn.Parameter(torch.zeros(2 * num_iterations + 3))

    @classmethod
    def from_config(cls, cfg, input_shape):
        return {"num_iterations": cfg.MODEL.LEVELSET.NUM_ITERATIONS}

    def forward(self, x):
        return _positive(self.raw).unsqueeze(0).expand(x.shape[0], -1)


def build_hyperparameter_head(cfg, input_shape):
    """The head named by ``MODEL.LEVELSET.HYPERPARAMETER_HEAD.NAME`` (checked: a registered name)."""
    head = check_registered("MODEL.LEVELSET.HYPERPARAMETER_HEAD.NAME", cfg.MODEL.LEVELSET.HYPERPARAMETER_HEAD.NAME,
                            HYPERPARAMETER_HEAD_REGISTRY)
    return head(cfg, input_shape)
