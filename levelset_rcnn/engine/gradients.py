"""How strongly the mask branch trains the features it shares with the detector (issue 26's box-AP question).

:func:`gradient_share` puts a trained model in train mode on a few batches of its training loader and compares, on
the parameters of the backbone / FPN that every head reads, the gradient of the detector's losses (RPN and box head)
with the gradient of the mask losses (ℓ_TSDF of φ0 and φN, section 4.2; any other ``loss_mask*``), and counts the
parameter tensors that ``SOLVER.CLIP_GRADIENTS`` would scale (detectron2 clips each tensor on its own).
"""
import torch

__all__ = ["gradient_share", "MASK_LOSS_PREFIXES"]

#: losses of the mask branch (LevelSet R-CNN's ``loss_tsdf_*``; Mask R-CNN's / PointRend's ``loss_mask*``)
MASK_LOSS_PREFIXES = ("loss_tsdf", "loss_mask")


def _norm(grads):
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads)))


def gradient_share(cfg, num_batches=8):
    """Mean over ``num_batches`` training batches (``cfg.DATASETS.TRAIN``, the config's loader, ``cfg.SEED``) of
    the model of ``cfg`` with ``MODEL.WEIGHTS`` loaded, in train mode.

    Returns a dict: ``detector_grad_norm`` and ``mask_grad_norm`` (L2 norm over all shared tensors of the gradient
    of the summed detector / mask losses), ``mask_over_detector`` (the mean of the per-batch ratios), ``cosine``
    (between the two gradients), ``clipped_tensors`` (shared tensors whose summed gradient's norm exceeds
    ``SOLVER.CLIP_GRADIENTS.CLIP_VALUE``, 0 when clipping is off or not by norm), ``shared_tensors``, ``batches``
    and the mean of every loss.
    """
    from detectron2.utils.env import seed_all_rng
    from detectron2.utils.events import EventStorage

    from levelset_core.checkpoint import SafeCheckpointer
    from .trainer import Trainer

    if num_batches < 1:
        raise ValueError(f"gradient_share: num_batches must be >= 1, got {num_batches}")
    seed_all_rng(cfg.SEED if cfg.SEED >= 0 else 0)  # the same batches and RoI samples for every call
    model = Trainer.build_model(cfg)
    SafeCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.train()
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    if not params:
        raise ValueError("gradient_share: the backbone has no trainable parameters (MODEL.BACKBONE.FREEZE_AT?)")
    clip = cfg.SOLVER.CLIP_GRADIENTS
    clip_value = clip.CLIP_VALUE if clip.ENABLED and clip.CLIP_TYPE == "norm" else float("inf")
    batches = iter(Trainer.build_train_loader(cfg))
    rows = []
    with EventStorage(0):
        for _ in range(num_batches):
            losses = model(next(batches))
            is_mask = {k: k.startswith(MASK_LOSS_PREFIXES) for k in losses}
            if not any(is_mask.values()):
                raise ValueError(f"gradient_share: the model returns no mask loss (losses: {sorted(losses)})")
            total = {}
            for part in (False, True):
                loss = sum(v for k, v in losses.items() if is_mask[k] == part)
                grads = torch.autograd.grad(loss, params, retain_graph=not part, allow_unused=True)
                total[part] = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
            det, mask = total[False], total[True]
            det_norm, mask_norm = _norm(det), _norm(mask)
            dot = float(sum((a.float() * b.float()).sum() for a, b in zip(det, mask)))
            rows.append({
                "detector_grad_norm": det_norm, "mask_grad_norm": mask_norm,
                "mask_over_detector": mask_norm / max(det_norm, 1e-12),
                "cosine": dot / max(det_norm * mask_norm, 1e-12),
                "clipped_tensors": sum(float((a + b).norm()) > clip_value for a, b in zip(det, mask)),
                **{k: float(v.detach()) for k, v in losses.items()},
            })
    keys = dict.fromkeys(k for row in rows for k in row)
    out = {k: sum(row.get(k, 0.0) for row in rows) / len(rows) for k in keys}
    out.update(batches=len(rows), shared_tensors=len(params))
    return out
