"""Ground-truth helpers shared by the losses and the evaluator: one-hot maps and semantic edges.

Conventions: label maps are ``(N, H, W)`` integer tensors with classes ``0..C-1`` and ``ignore_value`` for
pixels that take no part in any loss term or metric.
"""
import torch
import torch.nn.functional as F

__all__ = ["one_hot_targets", "semantic_edges", "check_labels", "LOSS_GRIDS", "check_loss_grid", "labels_on_grid"]

#: Where an auxiliary loss is computed (``MODEL.LEVEL_SET_LOSS.GRID``, ``MODEL.SEMEDA.GRID``): ``"logits"`` = the
#: head's output grid (stride ``COMMON_STRIDE``), labels brought down to it by :func:`labels_on_grid`;
#: ``"labels"`` = the label grid, logits upsampled to it (bilinear, as detectron2's DeepLab ``losses()`` does).
LOSS_GRIDS = ("logits", "labels")

# The 8 neighbours (dy, dx) of a pixel.
_NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def check_labels(targets, num_classes, ignore_value, what="targets"):
    """Raise ``ValueError`` naming the offending value when a label is neither a class nor ``ignore_value``."""
    if targets.dim() != 3:
        raise ValueError(f"{what}: expected an (N, H, W) label map, got shape {tuple(targets.shape)}")
    if targets.numel() == 0:
        return
    bad = (targets != ignore_value) & ((targets < 0) | (targets >= num_classes))
    if bool(bad.any()):
        value = int(targets[bad][0])
        raise ValueError(
            f"{what}: label {value} is neither a class in [0, {num_classes - 1}] nor the ignore value "
            f"{ignore_value} (check MODEL.SEM_SEG_HEAD.NUM_CLASSES / IGNORE_VALUE and the dataset's label maps)"
        )


def one_hot_targets(targets, num_classes, ignore_value, dtype=torch.float32):
    """One-hot ground truth with all-zero vectors at ignored pixels.

    Args:
        targets: ``(N, H, W)`` integer labels.
    Returns:
        ``(onehot, valid)``: ``(N, C, H, W)`` in ``dtype`` and ``(N, 1, H, W)`` in ``dtype`` (1 = not ignored).
    """
    check_labels(targets, num_classes, ignore_value)
    valid = targets != ignore_value
    labels = torch.where(valid, targets, torch.zeros_like(targets)).long()
    onehot = F.one_hot(labels, num_classes).permute(0, 3, 1, 2).to(dtype)
    valid = valid.unsqueeze(1).to(dtype)
    return onehot * valid, valid


def semantic_edges(targets, ignore_value):
    """Ground-truth semantic edges of SEMEDA (Chen et al., section 3.3).

    A pixel is an edge if any of its 8 neighbours has another label. Ignore handling: a neighbour with the
    ignore label, or outside the image, does not count (a class next to void is not a semantic edge, the image
    border is not an edge), and an ignored pixel is never an edge and is flagged invalid (no loss, no metric).

    Args:
        targets: ``(N, H, W)`` integer labels.
    Returns:
        ``(edges, valid)``: both ``(N, H, W)`` bool.
    """
    if targets.dim() != 3:
        raise ValueError(f"semantic_edges: expected an (N, H, W) label map, got shape {tuple(targets.shape)}")
    n, h, w = targets.shape
    valid = targets != ignore_value
    padded = F.pad(targets.unsqueeze(1).float(), (1, 1, 1, 1), value=float(ignore_value)).squeeze(1)
    centre = targets.float()
    edges = torch.zeros_like(valid)
    for dy, dx in _NEIGHBOURS:  # 8 shifted views (not a loop over pixels)
        nb = padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        edges |= (nb != float(ignore_value)) & (nb != centre)
    return edges & valid, valid


def check_loss_grid(grid, key):
    """Return ``grid`` if it is one of :data:`LOSS_GRIDS`, else raise ``ValueError`` naming the config ``key``."""
    if grid not in LOSS_GRIDS:
        raise ValueError(f"{key} = {grid!r}; expected one of {LOSS_GRIDS}")
    return grid


def labels_on_grid(targets, size):
    """Label maps brought down to a coarser ``size`` the way DeepLab v2 shrinks its labels to its output grid.

    Each output cell takes the label at its centre (nearest neighbour with half-pixel centres, torch's
    ``"nearest-exact"``): no label is invented (no averaging across a boundary), the ignore value survives as
    itself, and on an exact stride s the cell (i, j) reads pixel (s·i + s/2, s·j + s/2). Thin structures narrower
    than the stride can vanish from the coarse map, as they do in DeepLab v2's training targets.

    Args:
        targets: ``(N, H, W)`` integer labels.
        size: ``(h, w)`` of the grid (e.g. the head's logits).
    Returns:
        ``(N, h, w)`` labels of the same dtype (``targets`` itself when the size already matches).
    """
    if targets.dim() != 3:
        raise ValueError(f"labels_on_grid: expected an (N, H, W) label map, got shape {tuple(targets.shape)}")
    h, w = int(size[0]), int(size[1])
    if tuple(targets.shape[-2:]) == (h, w):
        return targets
    # float32 represents every label value exactly (< 2**24); nearest-exact only copies values
    down = F.interpolate(targets.unsqueeze(1).float(), size=(h, w), mode="nearest-exact")
    return down.squeeze(1).to(targets.dtype)
