"""The auxiliary losses a DeepLab head adds to its cross-entropy, and the head mixin that adds them."""
import logging

import torch.nn.functional as F
from torch import nn

from ..config import EXTRA_LOSS_NAMES
from .level_set_loss import LevelSetLoss
from .semeda_loss import SemedaLoss
from .sobel_loss import SobelEdgeLoss

__all__ = ["DeepLabAuxLosses", "build_aux_losses", "AuxLossesHeadMixin"]

logger = logging.getLogger(__name__)

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

    A batch whose pixels are all ``ignore_value`` (e.g. an image labelled void only) has no pixel to average the
    cross-entropy over (0/0 = NaN, which stops training): its ``loss_sem_seg`` is 0 (still in the graph), and
    such batches are counted in ``num_all_ignore_batches`` and logged.
    """

    num_all_ignore_batches = 0

    def losses(self, predictions, targets):
        predictions = F.interpolate(
            predictions, scale_factor=self.common_stride, mode="bilinear", align_corners=False
        )
        if targets.numel() and not bool((targets != self.ignore_value).any()):
            self.num_all_ignore_batches += 1
            logger.warning("A training batch has only ignore labels (%d): loss_sem_seg = 0 for it (%d such batches "
                           "so far)", self.ignore_value, self.num_all_ignore_batches)
            ce = predictions.sum() * 0.0  # zero, but every parameter keeps a gradient (DDP)
        else:
            ce = self.loss(predictions, targets)
        losses = {"loss_sem_seg": ce * self.loss_weight}
        losses.update(self.aux_losses(predictions, targets))
        return losses
