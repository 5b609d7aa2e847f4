"""Truncated signed distance (TSDF) targets per RoI (LevelSet R-CNN section 4.1 "Initial TSDF head", 4.2).

The target of a RoI at side S (28 for φ0, 112 for φN) is the signed Euclidean distance, in pixels of the
S×S RoI grid, from each pixel centre to the ground-truth boundary, positive inside, truncated to [−T_S, T_S]
and divided by T_S, so it lies in [−1, 1]. T_S = T · S / S_ref: the truncation is a fixed fraction of the RoI
side (docs/DESIGN_NOTES.md, "One function, two resolutions"), so the 28×28 and the 112×112 targets describe the same
function and the bilinearly upsampled φ0 is comparable with the 112×112 target.

Pixel convention: for a pixel inside the mask, d_in is the distance from its centre to the nearest outside
pixel centre (≥ 1); the boundary lies half a pixel before that, so φ = d_in − ½ inside and φ = −(d_out − ½)
outside: the zero level passes between the last inside and the first outside pixel.

To get correct distances at the RoI border (masks touching or crossing it), the ground truth is cropped from
a box enlarged by P = ceil(T_S) + 1 pixels on each side, the distances are computed on that (S + 2P)² grid,
and the centre S×S is kept. The distance transform is exact (separable Euclidean distance transform,
restricted to the ±P window, which is enough for every distance ≤ T_S) and vectorised over RoIs: 2·(2P + 1)
shifted comparisons, no Python loop over RoIs or pixels.
"""
import math

import torch
import torch.nn.functional as F

__all__ = ["truncated_signed_distance", "tsdf_targets", "roi_padding"]


def roi_padding(truncation):
    """Extra pixels cropped around a RoI so that distances up to ``truncation`` are exact at its border."""
    return int(math.ceil(truncation)) + 1


def _shifted(x, shift, dim, pad_value):
    """x shifted by ``shift`` along ``dim`` (result[i] = x[i + shift]), filled with ``pad_value``."""
    if shift == 0:
        return x
    n = x.shape[dim]
    filler_shape = list(x.shape)
    filler_shape[dim] = min(abs(shift), n)
    filler = x.new_full(filler_shape, pad_value)
    if shift > 0:
        return torch.cat([x.narrow(dim, shift, n - shift), filler], dim=dim) if shift < n else filler
    shift = -shift
    return torch.cat([filler, x.narrow(dim, 0, n - shift)], dim=dim) if shift < n else filler


def _windowed_distance(target_set, window):
    """Exact Euclidean distance (in pixels) from every pixel to the nearest pixel of ``target_set``.

    Distances above ``window`` are reported as some value > ``window`` (the caller truncates).

    Args:
        target_set: ``(N, H, W)`` bool.
        window: int, the largest exact distance needed.
    Returns:
        ``(N, H, W)`` float32.
    """
    far = float(window + 1)
    # Pass 1: vertical distance g to the set within ±window rows (far when none).
    g = torch.where(target_set, 0.0, far).to(torch.float32)
    for dy in range(1, window + 1):
        for sign in (1, -1):
            hit = _shifted(target_set, sign * dy, 1, False)
            g = torch.where(hit, torch.minimum(g, torch.full_like(g, float(dy))), g)
    # Pass 2: d² = min over horizontal offsets dx of dx² + g(x + dx)².
    g2 = g * g
    d2 = g2
    for dx in range(1, window + 1):
        for sign in (1, -1):
            d2 = torch.minimum(d2, _shifted(g2, sign * dx, 2, far * far) + float(dx * dx))
    return torch.sqrt(d2)


def truncated_signed_distance(masks, truncation):
    """TSDF of binary masks, positive inside, truncated at ``truncation`` pixels and normalised to [−1, 1].

    Pixels beyond the array border are treated as unknown, i.e. the border does not count as a boundary:
    pass a crop padded by :func:`roi_padding` and keep its centre when that matters.

    Args:
        masks: ``(N, H, W)`` bool (or {0,1}) tensor.
        truncation: T > 0 in pixels.
    Returns:
        ``(N, H, W)`` float32 in [−1, 1]; a mask with no boundary within T of a pixel gives ±1 there.
    """
    if truncation <= 0:
        raise ValueError(f"truncated_signed_distance: truncation must be > 0, got {truncation}")
    masks = masks.bool()
    if masks.numel() == 0:
        return masks.new_zeros(masks.shape, dtype=torch.float32)
    window = int(math.ceil(truncation))
    dist = _windowed_distance(torch.cat([~masks, masks]), window)
    d_in, d_out = dist[: masks.shape[0]], dist[masks.shape[0]:]
    signed = torch.where(masks, d_in - 0.5, 0.5 - d_out)
    return (signed.clamp(-truncation, truncation) / truncation).to(torch.float32)


def _expand_boxes(boxes, side, pad):
    """Enlarge (R, 4) XYXY boxes so that ``pad`` extra pixels of a ``side``-pixel RoI grid fit on each side."""
    widths = (boxes[:, 2] - boxes[:, 0]).clamp_min(1e-3)
    heights = (boxes[:, 3] - boxes[:, 1]).clamp_min(1e-3)
    dx = widths * (pad / side)
    dy = heights * (pad / side)
    return torch.stack([boxes[:, 0] - dx, boxes[:, 1] - dy, boxes[:, 2] + dx, boxes[:, 3] + dy], dim=1)


def tsdf_targets(gt_masks, boxes, side, truncation):
    """TSDF and binary mask targets of RoIs at resolution ``side`` (section 4.2).

    Args:
        gt_masks: detectron2 ``BitMasks`` or ``PolygonMasks`` with one ground-truth mask per RoI
            (already matched to the RoIs, as in ``mask_rcnn_loss``).
        boxes: ``(R, 4)`` RoI boxes, XYXY in image pixels, on the device where the targets are wanted.
        side: S, the RoI grid side (28 or 112).
        truncation: T_S in pixels of that grid.
    Returns:
        ``(tsdf, mask)``: ``(R, S, S)`` float32 in [−1, 1] and ``(R, S, S)`` float32 {0, 1}.
    """
    pad = roi_padding(truncation)
    if boxes.shape[0] == 0:
        empty = torch.zeros((0, side, side), dtype=torch.float32, device=boxes.device)
        return empty, empty.clone()
    expanded = _expand_boxes(boxes.to(torch.float32), side, pad)
    crops = gt_masks.crop_and_resize(expanded, side + 2 * pad).to(device=boxes.device)
    tsdf = truncated_signed_distance(crops, truncation)[:, pad:pad + side, pad:pad + side]
    mask = crops[:, pad:pad + side, pad:pad + side].to(torch.float32)
    return tsdf.contiguous(), mask.contiguous()


def upsample_tsdf(phi, side):
    """Bilinear upsampling of ``(R, 1, s, s)`` φ to ``side``, align_corners=False (pixel-centre convention,
    the same as the crops of :func:`tsdf_targets`)."""
    if phi.shape[-1] == side:
        return phi
    return F.interpolate(phi, size=(side, side), mode="bilinear", align_corners=False)
