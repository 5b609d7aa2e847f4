"""The Level Set loss of Kim et al., "CNN-based Semantic Segmentation using Level Set Loss" (WACV 2019).

All level-set math (the Heaviside H* of Eq. 6, the region means of Eq. 5, the energy of Eq. 4) comes from the
one implementation in :mod:`levelset_core.layers.level_set` (``chan_vese_energy`` with the ground truth as the
"image" and μ = 0, ν = 0, λ1 = λ2 = 1, as section 3.2 sets them).
"""
import math

import torch
from torch import nn

from levelset_core.layers.level_set import HEAVISIDE_KINDS, at_least_float32, chan_vese_energy, float32

from .targets import check_loss_grid, one_hot_targets

__all__ = ["level_set_energy", "LevelSetLoss", "LEVEL_SET_NORMALIZATIONS"]

LEVEL_SET_NORMALIZATIONS = ("per_pixel", "sum")


def level_set_energy(probs, targets, ignore_value, eps=1.0 / 20.0, kind="tanh"):
    """E_LS of Eq. 4 per image, summed over pixels and over the classes present in the image.

    For every image n and every class l present in it (at least one non-ignored pixel labelled l; background
    is a class like any other), G_l is the binary ground truth of l, φ_l = P_l − 0.5 (section 3.2), and

        E_n = Σ_l [ Σ_x |G_l − c_l1|² H*(φ_l) + Σ_x |G_l − c_l2|² (1 − H*(φ_l)) ]      (Eq. 4)

    with c_l1, c_l2 the H*-weighted means of G_l inside and outside (Eq. 5). Ignored pixels take no part in
    any sum, the region means included. Classes absent from an image are skipped (for them G_l ≡ 0, so
    c = 0 and their energy would be exactly 0 anyway). Because c_l1, c_l2 minimise the energy for fixed φ,
    the autograd gradient through them equals Eq. 7: ∂E/∂φ_l = δ*(φ_l) [(G_l − c_l1)² − (G_l − c_l2)²].

    Args:
        probs: ``(N, C, H, W)`` softmax probabilities P.
        targets: ``(N, H, W)`` integer labels (``ignore_value`` = ignored).
        eps: ε of Eq. 6 (> 0; unused by ``kind="hard"``).
        kind: ``"tanh"`` (H*, Eq. 6), ``"arctan"`` (Chan-Vese AHF) or ``"hard"`` (HF, Eq. 2, no gradient).
    Returns:
        ``(energy, valid_pixels)``: both ``(N,)`` float32; the energy is a sum over pixels.
    """
    if probs.dim() != 4:
        raise ValueError(f"level_set_energy: probs must be (N, C, H, W), got {tuple(probs.shape)}")
    n, c, h, w = probs.shape
    if targets.shape != (n, h, w):
        raise ValueError(
            f"level_set_energy: targets {tuple(targets.shape)} do not match predictions {tuple(probs.shape)}"
        )
    with float32(probs.device.type):
        probs = at_least_float32(probs)
        onehot, valid = one_hot_targets(targets, c, ignore_value, dtype=probs.dtype)
        valid_pixels = valid.flatten(1).sum(1)
        present = onehot.flatten(2).sum(2) > 0  # (N, C)
        img_idx, cls_idx = present.nonzero(as_tuple=True)  # the (image, class) pairs of L
        energy = probs.new_zeros(n)
        if img_idx.numel() == 0:
            return energy + 0.0 * probs.sum(), valid_pixels  # keep the graph connected
        phi = (probs[img_idx, cls_idx] - 0.5).unsqueeze(1)  # (R, 1, H, W)
        gt = onehot[img_idx, cls_idx].unsqueeze(1)  # (R, 1, H, W)
        per_region = chan_vese_energy(
            phi, gt, lambda1=1.0, lambda2=1.0, mu=0.0, eps=eps, kind=kind,
            valid=valid[img_idx], normalize=False, reduction="sum",
        )  # (R,)
        energy = energy.index_add(0, img_idx, per_region)
        if kind == "hard":  # H has no gradient: keep the loss in the graph (gradient exactly 0)
            energy = energy + 0.0 * probs.sum()
    return energy, valid_pixels


class LevelSetLoss(nn.Module):
    """λ · E_LS of Eq. 8, to be added to the cross-entropy.

    **Which grid the paper's energy lives on** (``grid``, ``MODEL.LEVEL_SET_LOSS.GRID``). Eq. 4 integrates over Ω,
    "the entire domain of G_l", and Eq. 8 adds λ·E_LS to the network's cross-entropy. The paper's λ = 4·10⁻⁴
    (section 4.6) is given for DeepLab-ResNet101 trained on 321×321 crops (section 4.2), i.e. DeepLab v2, whose
    training losses live on its 41×41 output grid (output stride 8: (321 − 1)/8 + 1 = 41) with the labels shrunk
    to it, and whose Caffe and PyTorch releases never upsample the logits for the loss. The paper names no other
    grid and shows no upsampling in its Fig. 2, so we read Ω as that output grid: E_LS is a sum over 41² = 1681
    pixels there, not over 321² (a factor 61 apart). ``"logits"`` (default) computes the energy on this head's
    output grid, the labels brought down to it by :func:`~.targets.labels_on_grid` (the label at each cell's
    centre); ``"labels"`` computes it on the logits upsampled to the label grid (what this project did before;
    sharper at thin structures, 16× more pixels at stride 4).

    **Normalisation** (``normalization``):

    * ``"per_pixel"`` (default): loss = λ · mean_n( A_ref · E_n / |valid pixels of image n| ). E_n / |valid| is the
      energy per pixel, which does not depend on the grid's resolution (the region terms are area fractions);
      multiplying by A_ref = 41² (``reference_area``: the pixels of the paper's grid) makes the loss equal to the
      paper's summed energy on the paper's grid, so the paper's λ keeps the paper's CE / LS balance at any crop
      size, stride or ``grid``, and images with many ignored pixels are not down-weighted.
    * ``"sum"``: loss = λ · mean_n(E_n), the literal integral over the chosen grid (depends on crop size and grid).

    The mean over images matches a batch-averaged cross-entropy. An image with no valid pixel contributes 0.
    """

    def __init__(self, weight=4e-4, eps=1.0 / 20.0, heaviside="tanh", normalization="per_pixel",
                 reference_area=41.0 * 41.0, ignore_value=255, grid="logits"):
        super().__init__()
        if heaviside not in HEAVISIDE_KINDS:
            raise ValueError(f"MODEL.LEVEL_SET_LOSS.HEAVISIDE = {heaviside!r}; expected one of {HEAVISIDE_KINDS}")
        if normalization not in LEVEL_SET_NORMALIZATIONS:
            raise ValueError(
                f"MODEL.LEVEL_SET_LOSS.NORMALIZATION = {normalization!r}; expected one of {LEVEL_SET_NORMALIZATIONS}"
            )
        if not float(eps) > 0:
            raise ValueError(f"MODEL.LEVEL_SET_LOSS.EPSILON must be > 0, got {eps}")
        if not (float(weight) >= 0 and math.isfinite(float(weight))):
            raise ValueError(f"MODEL.LEVEL_SET_LOSS.WEIGHT must be finite and >= 0, got {weight}")
        if not float(reference_area) > 0:
            raise ValueError(f"MODEL.LEVEL_SET_LOSS.REFERENCE_AREA must be > 0, got {reference_area}")
        self.weight = float(weight)
        self.eps = float(eps)
        self.heaviside = heaviside
        self.normalization = normalization
        self.reference_area = float(reference_area)
        self.ignore_value = int(ignore_value)
        self.grid = check_loss_grid(grid, "MODEL.LEVEL_SET_LOSS.GRID")

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.LEVEL_SET_LOSS
        return cls(weight=c.WEIGHT, eps=c.EPSILON, heaviside=c.HEAVISIDE, normalization=c.NORMALIZATION,
                   reference_area=c.REFERENCE_AREA, ignore_value=cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE, grid=c.GRID)

    def forward(self, logits, targets):
        """logits: ``(N, C, H, W)`` at the resolution of ``targets`` ``(N, H, W)`` (the caller picks the grid,
        :class:`~.aux_losses.DeepLabAuxLosses`). Returns a scalar."""
        with float32(logits.device.type):
            probs = torch.softmax(at_least_float32(logits), dim=1)
            energy, valid_pixels = level_set_energy(probs, targets, self.ignore_value, self.eps, self.heaviside)
            if self.normalization == "per_pixel":
                per_image = energy * (self.reference_area / valid_pixels.clamp_min(1.0))
            else:
                per_image = energy
            return self.weight * per_image.mean()

    def extra_repr(self):
        return (f"weight={self.weight}, eps={self.eps}, heaviside={self.heaviside!r}, "
                f"normalization={self.normalization!r}, reference_area={self.reference_area}, grid={self.grid!r}")
