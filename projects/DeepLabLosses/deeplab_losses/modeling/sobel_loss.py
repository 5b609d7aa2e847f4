"""The Sobel baseline of the SEMEDA paper (Chen et al., section 4.1): g replaced by Sobel kernels that process
each class map independently. Sobel derivatives come from :func:`levelset_core.layers.level_set.sobel_gradients`
(the project's one implementation)."""
import torch
from torch import nn

from levelset_core.layers.level_set import at_least_float32, float32, sobel_gradients

from .targets import one_hot_targets

__all__ = ["SobelEdgeLoss"]


class SobelEdgeLoss(nn.Module):
    """λ_1 · mean |S(P̂) − S(Y*)| over the x and y Sobel derivatives of every class map and the valid pixels.

    S is the 3x3 Sobel operator divided by 8 (a per-pixel derivative; replicate padding at the border); P̂ are
    the softmax probabilities, Y* the one-hot ground truth, both zero at ignored pixels, which are left out of
    the mean. The paper's Sobel rows use a single weight λ_1 (best: 4, Table 1).
    """

    def __init__(self, weight=4.0, ignore_value=255):
        super().__init__()
        if not float(weight) >= 0:
            raise ValueError(f"MODEL.SOBEL_LOSS.WEIGHT must be >= 0, got {weight}")
        self.weight = float(weight)
        self.ignore_value = int(ignore_value)

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.MODEL.SOBEL_LOSS.WEIGHT, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE)

    def forward(self, logits, targets):
        """logits: ``(N, C, H, W)`` at the resolution of ``targets`` ``(N, H, W)``. Returns a scalar."""
        with float32(logits.device.type):
            probs = torch.softmax(at_least_float32(logits), dim=1)
            n, c, h, w = probs.shape
            onehot, valid = one_hot_targets(targets, c, self.ignore_value, dtype=probs.dtype)
            gx_hat, gy_hat = sobel_gradients((probs * valid).reshape(n * c, 1, h, w))
            with torch.no_grad():
                gx, gy = sobel_gradients(onehot.reshape(n * c, 1, h, w))
            diff = ((gx_hat - gx).abs() + (gy_hat - gy).abs()).reshape(n, c, h, w)
            l1 = (diff * valid).sum() / (valid.sum() * 2 * c).clamp_min(1.0)
            return self.weight * l1

    def extra_repr(self):
        return f"weight={self.weight}"
