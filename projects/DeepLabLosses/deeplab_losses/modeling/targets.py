"""Ground-truth helpers shared by the losses and the evaluator: one-hot maps and semantic edges.

Conventions: label maps are ``(N, H, W)`` integer tensors with classes ``0..C-1`` and ``ignore_value`` for
pixels that take no part in any loss term or metric.
"""
import torch
import torch.nn.functional as F

__all__ = ["one_hot_targets", "semantic_edges", "check_labels"]

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
