"""The TSDF loss of LevelSet R-CNN (section 4.2) and its targets for a batch of RoIs."""
import torch
import torch.nn.functional as F

from levelset_core.layers.level_set import at_least_float32, float32, heaviside

from .tsdf import tsdf_targets

__all__ = ["tsdf_loss", "roi_tsdf_loss", "gather_gt_masks"]


def tsdf_loss(phi, phi_gt, mask_gt, heaviside_eps=0.1, saturate=False, boundary_weight=0.0, boundary_band=1.0,
              uncertainty_weight=0.0):
    """ℓ_TSDF(φ, φ_GT, M_GT) = ‖φ − φ_GT‖₁ + BCE(H_ε(φ), M_GT) (section 4.2), each a mean over pixels and RoIs.

    H_ε is the arctan Heaviside of Eq. 4 with ε = 0.1; its output is clamped to [1e-6, 1 − 1e-6] before the
    log. Computed in float32 under autocast.

    ``saturate=True`` takes the L1 term on clamp(φ, −1, 1): the target is truncated (φ_GT = ±1 means "at least
    T from the contour"), so a φ beyond ±1 on the right side is not an error. Chan-Vese steps (Eq. 7) push φ past
    ±1 wherever the data term is confident; the plain L1 penalises exactly that (MODEL.LEVELSET.LOSS_SATURATE_L1).
    The clamp is two-sided: a φ beyond ±1 on the *wrong* side still counts its (capped) L1 error but gets its
    gradient from the BCE term only; an L1 saturating only on the target's side is untested (docs/RESULTS.md).

    ``boundary_weight`` = β > 0 turns both means into weighted means with the per-pixel weight
    w = 1 + β · max(0, 1 − |φ_GT| / b), b = ``boundary_band`` (in units of φ_GT: the band's half-width over the
    truncation T): pixels near the ground-truth contour count up to 1 + β times as much as the rest, the role that
    PointRend's importance-sampled point loss plays for its point head (not in the LevelSet R-CNN paper; issue 26,
    MODEL.LEVELSET.LOSS_BOUNDARY_WEIGHT). Σ w·ℓ / Σ w keeps the loss on the scale of the plain mean; β = 0 is
    exactly the plain mean.

    ``uncertainty_weight`` = γ > 0 adds γ · max(0, 1 − |φ| / b) to w, with the *prediction* φ (detached: the
    weight is not trained) in place of φ_GT: pixels near the predicted contour count more, wherever it is, the
    criterion PointRend samples its points by (the uncertain points, |logit| small). Where the predicted contour
    is far from the true one, those pixels are errors the ground-truth band does not weight
    (MODEL.LEVELSET.LOSS_UNCERTAINTY_WEIGHT). β = γ = 0 is exactly the plain mean.

    Args:
        phi: ``(R, 1, S, S)`` or ``(R, S, S)`` predicted TSDF.
        phi_gt: ``(R, S, S)`` TSDF target in [−1, 1]; mask_gt: ``(R, S, S)`` {0, 1}.
        boundary_weight: β ≥ 0; boundary_band: b > 0; uncertainty_weight: γ ≥ 0.
    Returns:
        scalar tensor; ``phi.sum() * 0`` (connected to the graph) when R = 0.
    """
    if phi.dim() == 4:
        phi = phi[:, 0]
    if phi.shape != phi_gt.shape or phi.shape != mask_gt.shape:
        raise ValueError(
            f"tsdf_loss: shapes differ: phi {tuple(phi.shape)}, phi_gt {tuple(phi_gt.shape)}, "
            f"mask_gt {tuple(mask_gt.shape)}"
        )
    if phi.numel() == 0:
        return phi.sum() * 0
    with float32(phi.device.type):
        phi = at_least_float32(phi)
        phi_gt = phi_gt.to(phi.dtype)
        l1 = ((phi.clamp(-1.0, 1.0) if saturate else phi) - phi_gt).abs()
        prob = heaviside(phi, heaviside_eps).clamp(1e-6, 1.0 - 1e-6)
        if boundary_weight == 0 and uncertainty_weight == 0:
            return l1.mean() + F.binary_cross_entropy(prob, mask_gt.to(prob.dtype), reduction="mean")
        bce = F.binary_cross_entropy(prob, mask_gt.to(prob.dtype), reduction="none")
        def band(level_set):  # 1 on the contour of the level set, falling linearly to 0 at b
            return (1.0 - level_set.abs() / boundary_band).clamp_(min=0.0)

        weight = 1.0 + boundary_weight * band(phi_gt)
        if uncertainty_weight != 0:
            weight = weight + uncertainty_weight * band(phi.detach())
        return ((l1 + bce) * weight).sum() / weight.sum()  # weight ≥ 1 everywhere: the sum is ≥ the pixel count


def gather_gt_masks(instances, side, truncation=None):
    """Targets at ``side`` for the foreground proposals of a batch.

    Returns ``(tsdf, mask)``, each ``(R, S, S)``: the TSDF targets of :func:`tsdf_targets` and the binary
    mask crops. With ``truncation=None`` only the mask crops are computed and ``tsdf`` is None.
    """
    tsdfs, masks = [], []
    for inst in instances:
        if len(inst) == 0:
            continue
        if not inst.has("gt_masks"):
            raise ValueError("training this mask head needs 'gt_masks' in the instances (MODEL.MASK_ON data)")
        boxes = inst.proposal_boxes.tensor
        if truncation is None:
            masks.append(inst.gt_masks.crop_and_resize(boxes, side).to(device=boxes.device, dtype=torch.float32))
        else:
            t, m = tsdf_targets(inst.gt_masks, boxes, side, truncation)
            tsdfs.append(t)
            masks.append(m)
    if not masks:
        device = instances[0].proposal_boxes.device if instances else torch.device("cpu")
        masks = [torch.zeros((0, side, side), device=device)]
        tsdfs = None if truncation is None else [masks[0].clone()]
    return (torch.cat(tsdfs) if tsdfs else None), torch.cat(masks)


def roi_tsdf_loss(phi, instances, truncation_ratio, heaviside_eps=0.1, saturate=False, boundary_weight=0.0,
                  boundary_width=2.0, uncertainty_weight=0.0):
    """ℓ_TSDF (:func:`tsdf_loss`) of class-selected RoI level sets ``phi`` ``(R, 1, S, S)`` against their targets at
    the same side S: the ground-truth masks of ``instances`` (the foreground proposals, with ``gt_masks``) cropped
    to the proposal boxes, as TSDFs truncated at ``truncation_ratio · S`` pixels (:func:`gather_gt_masks`).
    ``boundary_weight`` weights the pixels within ``boundary_width`` pixels (of the S×S grid) of the contour up to
    1 + β times, and ``uncertainty_weight`` those within that width of the predicted contour up to 1 + γ times
    (:func:`tsdf_loss`)."""
    side = phi.shape[-1]
    truncation = truncation_ratio * side
    phi_gt, mask_gt = gather_gt_masks(instances, side, truncation)
    return tsdf_loss(phi, phi_gt, mask_gt, heaviside_eps, saturate=saturate, boundary_weight=boundary_weight,
                     boundary_band=boundary_width / truncation, uncertainty_weight=uncertainty_weight)
