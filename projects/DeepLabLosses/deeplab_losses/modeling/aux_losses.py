"""The auxiliary losses a DeepLab head adds to its cross-entropy, and the head mixin that adds them."""
import torch.nn.functional as F
from torch import nn

from ..config import EXTRA_LOSS_NAMES
from .level_set_loss import LevelSetLoss
from .semeda_loss import SemedaLoss
from .sobel_loss import SobelEdgeLoss

__all__ = ["DeepLabAuxLosses", "build_aux_losses", "AuxLossesHeadMixin"]

_BUILDERS = {"level_set": LevelSetLoss, "semeda": SemedaLoss, "sobel": SobelEdgeLoss}


class DeepLabAuxLosses(nn.Module):
    """A named set of auxiliary losses; ``forward`` returns ``{"loss_<name>": scalar}``."""

    def __init__(self, losses=None):
        super().__init__()
        self.losses = nn.ModuleDict(losses or {})

    def forward(self, logits, targets):
        """logits ``(N, C, H, W)`` upsampled to the ``(N, H, W)`` targets."""
        return {f"loss_{name}": loss(logits, targets) for name, loss in self.losses.items()}

    def check_ready(self):
        """Raise if a loss cannot train (an untrained SEMEDA g)."""
        for loss in self.losses.values():
            if hasattr(loss, "check_ready"):
                loss.check_ready()


def build_aux_losses(cfg):
    """The losses named in ``cfg.MODEL.DEEPLAB_LOSSES.EXTRA``, each built from its config node."""
    names = list(cfg.MODEL.DEEPLAB_LOSSES.EXTRA)
    unknown = [n for n in names if n not in _BUILDERS]
    if unknown:
        raise ValueError(f"MODEL.DEEPLAB_LOSSES.EXTRA: unknown loss {unknown}; expected names from {EXTRA_LOSS_NAMES}")
    if len(set(names)) != len(names):
        raise ValueError(f"MODEL.DEEPLAB_LOSSES.EXTRA lists a loss twice: {names}")
    return DeepLabAuxLosses({n: _BUILDERS[n].from_config(cfg) for n in names})


class AuxLossesHeadMixin:
    """Replaces a DeepLab head's ``losses()``: the head's own cross-entropy plus ``self.aux_losses``.

    As in detectron2's heads, the stride-``common_stride`` logits are upsampled bilinearly to the target
    resolution first; every loss sees the same upsampled logits.
    """

    def losses(self, predictions, targets):
        predictions = F.interpolate(
            predictions, scale_factor=self.common_stride, mode="bilinear", align_corners=False
        )
        losses = {"loss_sem_seg": self.loss(predictions, targets) * self.loss_weight}
        losses.update(self.aux_losses(predictions, targets))
        return losses
