"""Test-time augmentation (multi-scale + horizontal flip, paper Table 1) for LevelSet R-CNN.

detectron2's :class:`~detectron2.modeling.GeneralizedRCNNWithTTA` (``TEST.AUG.ENABLED``, ``MIN_SIZES``, ``MAX_SIZE``,
``FLIP``) detects boxes in every augmented view, merges them (NMS over the union), then runs the mask branch of
every view on the merged boxes (mapped into that view) and averages the views' RoI-frame masks, un-flipping the
flipped ones. :class:`LevelSetRCNNWithTTA` keeps that procedure and adapts the mask step to LevelSet R-CNN:

* in every view the *whole* LevelSet mask branch runs on the merged boxes: the TSDF head, the hyperparameter head,
  the Chan-Vese feature head and the N Chan-Vese steps (detectron2's ``model.inference(inputs, detected_instances)``;
  the fine-grained feature head reads the view's normalised image, a backbone output:
  :mod:`~levelset_rcnn.modeling.image_backbone`);
* the views are combined per RoI in the RoI frame (a horizontally flipped view's RoI grid is flipped back).
  ``TEST.AUG.LEVELSET_AVERAGE`` chooses what is averaged: ``"mask"`` averages the soft masks H_ε(φN) (and H_ε(φ0));
  ``"phi"`` averages the level sets φN (and φ0) and applies H_ε to the mean. Measured on balloon
  (docs/RESULTS.md, "Test-time augmentation") — the default is the better of the two there;
* the initial masks H(φ0) get the same treatment, so ``segm_initial`` is still reported;
* ``pred_levelset_hparams`` is the mean over views.

:func:`build_tta_model` picks this class for LevelSet R-CNN and detectron2's own for the Mask R-CNN baselines.
"""
import torch
from detectron2.data.transforms import HFlipTransform
from detectron2.modeling import GeneralizedRCNNWithTTA
from detectron2.modeling.postprocessing import detector_postprocess

from levelset_core.layers.level_set import heaviside

from .levelset_mask_head import LevelSetMaskHead

__all__ = ["LevelSetRCNNWithTTA", "build_tta_model", "check_tta_config", "LEVELSET_AVERAGES"]

LEVELSET_AVERAGES = ("mask", "phi")


def check_tta_config(cfg):
    """Raise ValueError naming the key when ``TEST.AUG.MIN_SIZES`` is empty or holds a size that is not an integer
    > 0, or ``TEST.AUG.MAX_SIZE`` is smaller than one of the sizes (detectron2 would stop in the middle of the
    evaluation, e.g. at a bare ``torch.cat(): expected a non-empty list of Tensors``)."""
    sizes, max_size = cfg.TEST.AUG.MIN_SIZES, cfg.TEST.AUG.MAX_SIZE
    if not isinstance(sizes, (list, tuple)) or not sizes:
        raise ValueError(f"TEST.AUG.MIN_SIZES = {sizes!r}: test-time augmentation needs at least one size (shorter "
                         "image edge in pixels), e.g. (800, 1000)")
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, int) or s <= 0]
    if bad:
        raise ValueError(f"TEST.AUG.MIN_SIZES = {tuple(sizes)!r}: every size must be an integer > 0, not {bad}")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < max(sizes):
        raise ValueError(f"TEST.AUG.MAX_SIZE = {max_size!r}: must be an integer >= every TEST.AUG.MIN_SIZES "
                         f"(the largest is {max(sizes)})")


def _is_levelset_model(model):
    return isinstance(getattr(getattr(model, "roi_heads", None), "mask_head", None), LevelSetMaskHead)


class LevelSetRCNNWithTTA(GeneralizedRCNNWithTTA):
    """:class:`~detectron2.modeling.GeneralizedRCNNWithTTA` whose mask step runs LevelSet R-CNN's mask branch in
    every view and averages H_ε(φ) or φ over the views (see the module docstring)."""

    def __init__(self, cfg, model, tta_mapper=None, batch_size=3):
        check_tta_config(cfg)
        super().__init__(cfg, model, tta_mapper=tta_mapper, batch_size=batch_size)
        average = cfg.TEST.AUG.LEVELSET_AVERAGE
        if average not in LEVELSET_AVERAGES:
            raise ValueError(f"TEST.AUG.LEVELSET_AVERAGE = {average!r}; expected one of {LEVELSET_AVERAGES}")
        if not _is_levelset_model(self.model):
            raise ValueError("LevelSetRCNNWithTTA needs a model whose mask head is LevelSetMaskHead; use "
                             "build_tta_model(cfg, model) to get detectron2's TTA for other models")
        self.average = average

    def _combine_views(self, outputs, tfms, merged):
        """Average the views' RoI-frame predictions into ``merged`` (flipped views flipped back)."""
        eps = self.model.roi_heads.mask_head.inference_heaviside_eps
        flipped = [any(isinstance(t, HFlipTransform) for t in tfm.transforms) for tfm in tfms]

        def mean_over_views(field):
            maps = [o.get(field).flip(dims=[3]) if f else o.get(field) for o, f in zip(outputs, flipped)]
            return torch.stack(maps, dim=0).mean(dim=0)

        if self.average == "phi":
            levelsets = mean_over_views("pred_levelsets")  # (R, N + 1, S, S): φ0 … φN
            merged.pred_masks = heaviside(levelsets[:, -1:], eps)
            if outputs[0].has("pred_masks_initial"):
                merged.pred_masks_initial = heaviside(levelsets[:, :1], eps)
        else:
            merged.pred_masks = mean_over_views("pred_masks")
            if outputs[0].has("pred_masks_initial"):
                merged.pred_masks_initial = mean_over_views("pred_masks_initial")
        if outputs[0].has("pred_levelset_hparams"):
            merged.pred_levelset_hparams = torch.stack([o.pred_levelset_hparams for o in outputs]).mean(dim=0)
        return merged

    def _inference_one_image(self, input):
        orig_shape = (input["height"], input["width"])
        augmented_inputs, tfms = self._get_augmented_inputs(input)
        with self._turn_off_roi_heads(["mask_on", "keypoint_on"]):
            all_boxes, all_scores, all_classes = self._get_augmented_boxes(augmented_inputs, tfms)
        merged = self._merge_detections(all_boxes, all_scores, all_classes, orig_shape)
        if self.cfg.MODEL.MASK_ON:
            augmented_instances = self._rescale_detected_boxes(augmented_inputs, merged, tfms)
            heads = self.model.roi_heads
            previous = heads.inference_levelsets
            heads.inference_levelsets = previous or self.average == "phi"
            try:
                outputs = self._batch_inference(augmented_inputs, augmented_instances)
            finally:
                heads.inference_levelsets = previous
            del augmented_inputs, augmented_instances
            merged = self._combine_views(outputs, tfms, merged)
        return {"instances": detector_postprocess(merged, *orig_shape)}


def build_tta_model(cfg, model):
    """The TTA wrapper for ``model`` (a DDP wrapper is unwrapped): :class:`LevelSetRCNNWithTTA` for LevelSet R-CNN,
    detectron2's :class:`~detectron2.modeling.GeneralizedRCNNWithTTA` for the Mask R-CNN baselines; both after
    :func:`check_tta_config`."""
    model = getattr(model, "module", model)
    if _is_levelset_model(model):
        return LevelSetRCNNWithTTA(cfg, model)
    check_tta_config(cfg)
    return GeneralizedRCNNWithTTA(cfg, model)
