"""The auxiliary losses a DeepLab head adds to its cross-entropy, and the head mixin that adds them."""
import logging
import math

import torch
import torch.nn.functional as F
from detectron2.projects.deeplab.loss import DeepLabCE
from torch import nn

from ..config import EXTRA_LOSS_NAMES
from .level_set_loss import LevelSetLoss
from .semeda_loss import SemedaLoss
from .sobel_loss import SobelEdgeLoss
from .targets import labels_on_grid

__all__ = ["DeepLabAuxLosses", "build_aux_losses", "set_class_weights", "AuxLossesHeadMixin"]

logger = logging.getLogger(__name__)

_BUILDERS = {"level_set": LevelSetLoss, "semeda": SemedaLoss, "sobel": SobelEdgeLoss}


class DeepLabAuxLosses(nn.Module):
    """A named set of auxiliary losses; ``forward`` returns ``{"loss_<name>": scalar}``."""

    def __init__(self, losses=None):
        super().__init__()
        self.losses = nn.ModuleDict(losses or {})

    def forward(self, predictions, targets, upsample):
        """Each loss on its own grid (its ``grid`` attribute, :data:`~.targets.LOSS_GRIDS`; ``"labels"`` if it has none).

        Args:
            predictions: ``(N, C, h, w)`` logits on the head's output grid.
            targets: ``(N, H, W)`` labels at the input resolution.
            upsample: callable taking ``predictions`` to ``(N, C, H, W)`` (the head's own upsampling).
        Returns:
            ``{"loss_<name>": scalar}``. The upsampled logits and the coarse labels are each computed at most once.
        """
        upsampled, coarse = None, None
        out = {}
        for name, loss in self.losses.items():
            if getattr(loss, "grid", "labels") == "logits":
                if coarse is None:
                    coarse = labels_on_grid(targets, predictions.shape[-2:])
                out[f"loss_{name}"] = loss(predictions, coarse)
            else:
                if upsampled is None:
                    upsampled = upsample(predictions)
                out[f"loss_{name}"] = loss(upsampled, targets)
        return out

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


def set_class_weights(loss, class_weights, num_classes):
    """Give the head's own cross-entropy (``loss``, as detectron2's head built it) one weight per class, in place.

    ``loss`` is ``nn.CrossEntropyLoss`` (``LOSS_TYPE cross_entropy``: mean over the weights of the valid pixels) or
    detectron2's ``DeepLabCE`` (``hard_pixel_mining``: top 20 % of the weighted per-pixel losses); the weights go
    into its criterion's ``weight`` buffer (so they follow ``.to(device)``). Empty ``class_weights`` = no change.
    ``class_weights``: ``num_classes`` finite positive floats (``MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS``).
    """
    weights = [float(w) for w in class_weights]
    if not weights:
        return
    if len(weights) != num_classes:
        raise ValueError(f"MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS has {len(weights)} values; "
                         f"MODEL.SEM_SEG_HEAD.NUM_CLASSES is {num_classes}")
    bad = [w for w in weights if not (math.isfinite(w) and w > 0)]
    if bad:
        raise ValueError(f"MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS must be finite and > 0; got {bad}")
    criterion = loss.criterion if isinstance(loss, DeepLabCE) else loss
    if not isinstance(criterion, nn.CrossEntropyLoss):
        raise ValueError(f"MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS: the head's loss {type(loss).__name__} takes no class "
                         "weights (expected LOSS_TYPE 'cross_entropy' or 'hard_pixel_mining')")
    criterion.weight = torch.tensor(weights, dtype=torch.float32)


class AuxLossesHeadMixin:
    """Extends a DeepLab head's ``losses()``: detectron2's (the head's own cross-entropy, ``loss_sem_seg``) plus
    ``self.aux_losses``, each on its own grid: the head's logits with the labels brought down to them, or the
    logits upsampled to the labels as detectron2's ``losses()`` upsamples them (bilinear, ``common_stride``).

    A batch whose pixels are all ``ignore_value`` (e.g. an image labelled void only) has no pixel to average the
    cross-entropy over (0/0 = NaN, which stops training): its ``loss_sem_seg`` is 0 (still in the graph), and
    such batches are counted in ``num_all_ignore_batches`` and logged.
    """

    num_all_ignore_batches = 0

    def _use_class_weights(self, class_weights, num_classes):
        """Weight the parent's ``self.loss`` per class (:func:`set_class_weights`; no-op when empty)."""
        set_class_weights(self.loss, class_weights, num_classes)

    def _upsample(self, predictions):
        return F.interpolate(predictions, scale_factor=self.common_stride, mode="bilinear", align_corners=False)

    def losses(self, predictions, targets):
        if targets.numel() and not bool((targets != self.ignore_value).any()):
            self.num_all_ignore_batches += 1
            logger.warning("A training batch has only ignore labels (%d): loss_sem_seg = 0 for it (%d such batches "
                           "so far)", self.ignore_value, self.num_all_ignore_batches)
            losses = {"loss_sem_seg": predictions.sum() * 0.0}  # zero, but every parameter keeps a gradient (DDP)
        else:
            losses = super().losses(predictions, targets)
        if len(self.aux_losses.losses):
            losses.update(self.aux_losses(predictions, targets, self._upsample))
        return losses
