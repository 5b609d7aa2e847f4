"""LevelSetROIHeads: Mask R-CNN's ROI heads with the LevelSet R-CNN mask branch (section 4, Fig. 1)."""
import logging

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.roi_heads.roi_heads import select_foreground_proposals

from ..layers.level_set import heaviside
from .chan_vese import ChanVeseRefinement
from .feature_head import build_chan_vese_feature_head
from .hyperparameter_head import build_hyperparameter_head
from .losses import tsdf_loss
from .tsdf import upsample_tsdf
from .tsdf_head import TSDFMaskHead, gather_gt_masks, select_class_channel

__all__ = ["LevelSetROIHeads"]

logger = logging.getLogger(__name__)


@ROI_HEADS_REGISTRY.register()
class LevelSetROIHeads(StandardROIHeads):
    """Box branch of Mask R-CNN unchanged; the mask branch is LevelSet R-CNN's:

    RoIAlign features r_m feed three heads — the initial TSDF head (``ROI_MASK_HEAD.NAME`` must be
    :class:`TSDFMaskHead`, 28×28 φ0), the hyperparameter head (2N + 3 values) and the Chan-Vese feature head
    (C×S×S) — then φ0, upsampled to S×S, is refined by N unrolled Chan-Vese steps (Eqs. 6–9).

    Training losses (section 4.2): ``loss_tsdf_initial`` = w0·ℓ_TSDF(φ0 at 28×28) and ``loss_tsdf_final`` =
    wN·ℓ_TSDF(φN at S×S). Inference: ``pred_masks`` = H(φN) at S×S, pasted into the image by detectron2's
    ``detector_postprocess``; with ``INFERENCE_INITIAL_MASKS`` also ``pred_masks_initial`` = H(φ0) at S×S
    (not pasted: RoI frame, ``(N, 1, S, S)``) and ``pred_levelset_hparams`` ``(N, 2N + 3)``.
    With ``MODEL.LEVELSET.CHAN_VESE_ON = False`` only φ0 is used (TSDF-only ablation).

    Opt-in (for visualisation, e.g. ``tools/demo.py --levelset-view``): set ``roi_heads.inference_levelsets =
    True`` and inference also returns ``pred_levelsets`` ``(N, N_iter + 1, S, S)``: φ0, φ1, …, φN in the RoI
    frame (float32 TSDFs, φ > 0 inside).

    Loading a state dict: a LevelSet R-CNN checkpoint written before the TSDF predictor was renamed
    (``mask_head.predictor`` → ``mask_head.tsdf_predictor``) is recognised by its hyperparameter / feature head keys
    and renamed (:func:`levelset_rcnn.checkpoint.upgrade_tsdf_predictor_keys`); if the renamed predictor's shape
    differs from the model's (another number of classes) it is skipped with a warning, as detectron2 does.
    """

    #: opt-in: return every level set φ0 … φN at inference as ``pred_levelsets`` (off: no extra memory)
    inference_levelsets = False

    @configurable
    def __init__(self, *, hyperparameter_head=None, feature_head=None, refinement=None, resolution=112,
                 detach_phi0=False, loss_weight_initial=0.2, loss_weight_final=1.0, loss_heaviside_eps=0.1,
                 inference_initial_masks=True, loss_saturate_l1=False, **kwargs):
        super().__init__(**kwargs)
        self.hyperparameter_head = hyperparameter_head
        self.feature_head = feature_head
        self.refinement = refinement
        self.resolution = resolution
        self.detach_phi0 = detach_phi0
        self.loss_weight_initial = loss_weight_initial
        self.loss_weight_final = loss_weight_final
        self.loss_heaviside_eps = loss_heaviside_eps
        self.inference_initial_masks = inference_initial_masks
        self.loss_saturate_l1 = loss_saturate_l1
        self._register_load_state_dict_pre_hook(self._upgrade_old_checkpoint, with_module=True)

    @staticmethod
    def _upgrade_old_checkpoint(module, state_dict, prefix, *args):
        from ..checkpoint import feature_head_mismatch, upgrade_tsdf_predictor_keys

        mismatch = feature_head_mismatch(state_dict, prefix, getattr(module, "feature_head", None))
        if mismatch:
            logger.warning(mismatch)
        renamed = upgrade_tsdf_predictor_keys(state_dict, prefix)
        if not renamed:
            return
        logger.info("LevelSet R-CNN checkpoint written before the TSDF predictor rename: loading %s as %s",
                    ", ".join(old for old, _ in renamed), ", ".join(new for _, new in renamed))
        mask_head = getattr(module, "mask_head", None)
        own = dict(mask_head.tsdf_predictor.named_parameters()) if hasattr(mask_head, "tsdf_predictor") else {}
        for _, new in renamed:
            name = new[len(prefix + "mask_head.tsdf_predictor."):]
            if name in own and tuple(state_dict[new].shape) != tuple(own[name].shape):
                logger.warning("Skip loading parameter '%s' to the model due to incompatible shapes: %s in the "
                               "checkpoint but %s in the model!", new, tuple(state_dict[new].shape),
                               tuple(own[name].shape))
                state_dict.pop(new)

    @classmethod
    def from_config(cls, cfg, input_shape):
        from ..config import validate_levelset_config

        validate_levelset_config(cfg)
        ret = super().from_config(cfg, input_shape)
        ls = cfg.MODEL.LEVELSET
        ret.update(
            resolution=ls.RESOLUTION,
            detach_phi0=ls.DETACH_PHI0,
            loss_weight_initial=ls.LOSS_WEIGHT_INITIAL,
            loss_weight_final=ls.LOSS_WEIGHT_FINAL,
            loss_heaviside_eps=ls.LOSS_HEAVISIDE_EPS,
            inference_initial_masks=ls.INFERENCE_INITIAL_MASKS,
            loss_saturate_l1=ls.LOSS_SATURATE_L1,
        )
        return ret

    @classmethod
    def _init_mask_head(cls, cfg, input_shape):
        ret = super()._init_mask_head(cfg, input_shape)
        if not cfg.MODEL.MASK_ON:
            return ret
        if not isinstance(ret["mask_head"], TSDFMaskHead):
            raise ValueError(
                "LevelSetROIHeads needs MODEL.ROI_MASK_HEAD.NAME = 'TSDFMaskHead' (or a subclass), got "
                f"{cfg.MODEL.ROI_MASK_HEAD.NAME!r}"
            )
        if cfg.MODEL.LEVELSET.CHAN_VESE_ON:
            in_channels = input_shape[cfg.MODEL.ROI_HEADS.IN_FEATURES[0]].channels
            side = cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION
            shape = ShapeSpec(channels=in_channels, width=side, height=side)
            ls = cfg.MODEL.LEVELSET
            ret["hyperparameter_head"] = build_hyperparameter_head(cfg, shape)
            ret["feature_head"] = build_chan_vese_feature_head(cfg, shape, feature_shapes=input_shape)
            ret["refinement"] = ChanVeseRefinement(
                num_iterations=ls.NUM_ITERATIONS,
                min_eps=ls.MIN_EPS,
                gradient_stabilizer=ls.GRADIENT_STABILIZER,
                normalize_data_term=ls.NORMALIZE_DATA_TERM,
                region_means_gradient=ls.REGION_MEANS_GRADIENT,
            )
        return ret

    @property
    def _feature_head_uses_image_features(self):
        return getattr(self.feature_head, "uses_image_features", False)

    def forward(self, images, features, proposals, targets=None):
        """detectron2's ROI heads forward; a fine-grained feature head also gets the normalised images as
        ``features["image"]`` (the RoI heads' only access to them)."""
        if self.mask_on and self._feature_head_uses_image_features:
            features = dict(features, image=images.tensor)
        return super().forward(images, features, proposals, targets)

    def levelset_forward(self, x, instances, features=None, boxes=None):
        """Run the three heads and the refinement on pooled RoI features ``x``. ``features`` (the image-level
        feature dict) and ``boxes`` (the RoI boxes per image) are needed by a feature head with
        ``uses_image_features`` (:class:`~levelset_rcnn.modeling.feature_head.FineGrainedChanVeseFeatureHead`).

        Returns ``(phi0_small, phi0, phis, hparams)``: φ0 at the TSDF head's side ``(R, 1, 28, 28)``, φ0
        upsampled to ``(R, 1, S, S)``, the list [φ1 … φN] (empty without Chan-Vese) and ``(R, 2N + 3)``
        hyperparameters (None without Chan-Vese).
        """
        phi0_small = select_class_channel(self.mask_head.layers(x), instances)
        phi0 = upsample_tsdf(phi0_small, self.resolution)
        if self.refinement is None:
            return phi0_small, phi0, [], None
        hparams = self.hyperparameter_head(x)
        if self._feature_head_uses_image_features:
            if features is None or boxes is None:
                raise ValueError(f"{type(self.feature_head).__name__} needs the image features and RoI boxes")
            embedding = self.feature_head(x, features, boxes)
        else:
            embedding = self.feature_head(x)
        phis = self.refinement(phi0.detach() if self.detach_phi0 else phi0, embedding, hparams)
        return phi0_small, phi0, phis, hparams

    def _forward_mask(self, features, instances):
        if not self.mask_on:
            return {} if self.training else instances
        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
        boxes = [x.proposal_boxes if self.training else x.pred_boxes for x in instances]
        x = self.mask_pooler([features[f] for f in self.mask_in_features], boxes)
        phi0_small, phi0, phis, hparams = self.levelset_forward(x, instances, features, boxes)

        if self.training:
            losses = {"loss_tsdf_initial": self.loss_weight_initial * self.mask_head.loss(phi0_small, instances)}
            if phis:
                truncation = self.mask_head.truncation(self.resolution)
                phi_gt, mask_gt = gather_gt_masks(instances, self.resolution, truncation)
                losses["loss_tsdf_final"] = self.loss_weight_final * tsdf_loss(
                    phis[-1], phi_gt, mask_gt, self.loss_heaviside_eps, saturate=self.loss_saturate_l1
                )
            return losses

        counts = [len(i) for i in instances]
        final = phis[-1] if phis else phi0
        for inst, mask in zip(instances, heaviside(final, self.loss_heaviside_eps).split(counts)):
            inst.pred_masks = mask
        if self.inference_initial_masks:
            for inst, mask in zip(instances, heaviside(phi0, self.loss_heaviside_eps).split(counts)):
                inst.pred_masks_initial = mask
            if hparams is not None:
                for inst, hp in zip(instances, hparams.split(counts)):
                    inst.pred_levelset_hparams = hp
        if self.inference_levelsets:
            levelsets = torch.cat([phi0.float()] + [p.float() for p in phis], dim=1)  # (R, N + 1, S, S): φ0 … φN
            for inst, phi in zip(instances, levelsets.split(counts)):
                inst.pred_levelsets = phi
        return instances
