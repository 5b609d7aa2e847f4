"""``LevelSetMaskHead``: LevelSet R-CNN's whole mask branch as one ROI mask head (section 4, Fig. 1).

One head in detectron2's ``ROI_MASK_HEAD_REGISTRY`` owns the four parts of the branch and runs them on each RoI:

1. the initial TSDF head (:class:`~levelset_rcnn.modeling.tsdf_head.TSDFHead`): 28×28 φ0 per class;
2. the hyperparameter head: ``(R, 2N + 3)`` values λ1, λ2, μ, ε_1…ε_N, Δt_1…Δt_N (section 4.1);
3. the Chan-Vese feature head: a ``(R, C, S, S)`` embedding F that replaces the image of Eq. 6;
4. the unrolled Chan-Vese refinement: N steps (Eqs. 6–9) from φ0 upsampled to S×S (S = ``MODEL.LEVELSET.RESOLUTION``).

Losses and inference are the module functions :func:`levelset_mask_losses` and :func:`levelset_mask_inference`,
as detectron2 keeps ``mask_rcnn_loss`` / ``mask_rcnn_inference`` next to its mask head.

Inputs. The head pools its own RoI features (detectron2's "dict mode", ``mask_pooler = None``): it is called as
``head(features, instances)`` with the image-level feature dict, so that a feature head that reads the full-resolution
evidence (:class:`~levelset_rcnn.modeling.feature_head.FineGrainedChanVeseFeatureHead`: an FPN level and the
normalised image ``features["image"]``, a backbone output: :mod:`~levelset_rcnn.modeling.image_backbone`) gets it;
:class:`~levelset_rcnn.modeling.roi_heads.LevelSetROIHeads` builds it that way (docs/DESIGN.md, "One image through the
model"). With a feature head that needs only the pooled RoI features (the paper's ``ChanVeseFeatureHead``) it also
works inside detectron2's plain ``StandardROIHeads``, called with pooled features.

``MODEL.LEVELSET.CHAN_VESE_ON = False`` keeps only the TSDF head: the TSDF-only ablation, the paper's Table 2 row
"initial TSDF" as a model of its own (``configs/Ablations/tsdf_only_R_50_FPN.yaml``): φ0 at 28×28 trained with
``loss_tsdf_initial`` = w0 · ℓ_TSDF at 28×28 (section 4.2), mask H_ε(φ0) bilinearly upsampled to S×S — exactly the
``pred_masks_initial`` / ``segm_initial`` of the full model.
"""
import logging

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads.mask_head import ROI_MASK_HEAD_REGISTRY
from torch import nn

from levelset_core.layers.level_set import heaviside

from .chan_vese import ChanVeseRefinement
from .config_checks import check_bool, check_float, check_int, fail
from .feature_head import CHAN_VESE_FEATURE_HEAD_REGISTRY, build_chan_vese_feature_head
from .hyperparameter_head import build_hyperparameter_head
from .losses import roi_tsdf_loss
from .tsdf import upsample_tsdf
from .state_dict_upgrade import rename_keys
from .tsdf_head import TSDFHead, instance_classes, mask_predictor_refusal

__all__ = ["LevelSetMaskHead", "levelset_mask_losses", "levelset_mask_inference"]

logger = logging.getLogger(__name__)


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def scale_gradient(x, scale):
    """``x`` unchanged in the forward pass; its gradient multiplied by ``scale`` in the backward pass
    (MODEL.LEVELSET.FEATURE_GRADIENT_SCALE)."""
    return _ScaleGradient.apply(x, scale)


def levelset_mask_losses(phi0_small, phis, instances, *, truncation_ratio, weight_initial, weight_final,
                         heaviside_eps, saturate_l1, boundary_weight=0.0, boundary_width=2.0,
                         uncertainty_weight=0.0):
    """The training losses of section 4.2.

    ``loss_tsdf_initial`` = w0 · ℓ_TSDF(φ0 at its own side, 28×28) and, with Chan-Vese steps, ``loss_tsdf_final`` =
    wN · ℓ_TSDF(φN at S×S) (:func:`~levelset_rcnn.modeling.losses.tsdf_loss`; ``saturate_l1`` takes the final L1 on
    clamp(φN, −1, 1); ``boundary_weight`` / ``boundary_width`` weight the final loss's pixels near the contour,
    ``uncertainty_weight`` those near φN's own contour,
    :func:`~levelset_rcnn.modeling.losses.roi_tsdf_loss`). Targets are the truncated TSDFs of the ground-truth masks
    cropped to the proposal boxes, with the truncation ``truncation_ratio · side`` pixels
    (``MODEL.LEVELSET.TRUNCATION / RESOLUTION``).

    Args:
        phi0_small: ``(R, 1, s, s)`` class-selected φ0 of the TSDF head.
        phis: list [φ1 … φN] of ``(R, 1, S, S)`` (empty without Chan-Vese).
        instances: the foreground proposals (``proposal_boxes``, ``gt_masks``, ``gt_classes``) per image.
    Returns:
        dict of scalar losses.
    """
    losses = {"loss_tsdf_initial": weight_initial * roi_tsdf_loss(phi0_small, instances, truncation_ratio,
                                                                  heaviside_eps)}
    if phis:
        losses["loss_tsdf_final"] = weight_final * roi_tsdf_loss(
            phis[-1], instances, truncation_ratio, heaviside_eps, saturate=saturate_l1,
            boundary_weight=boundary_weight, boundary_width=boundary_width, uncertainty_weight=uncertainty_weight)
    return losses


def levelset_mask_inference(phi0, phis, hparams, instances, *, heaviside_eps, initial_masks=True, levelsets=False):
    """Set the inference outputs on ``instances`` (one ``Instances`` per image, in place).

    * ``pred_masks`` ``(D, 1, S, S)``: H_ε(φN) (H_ε(φ0) without Chan-Vese steps), in the RoI frame; detectron2's
      ``detector_postprocess`` pastes it into the image;
    * with ``initial_masks``: ``pred_masks_initial`` = H_ε(φ0) ``(D, 1, S, S)`` (not pasted) and, with a refinement,
      ``pred_levelset_hparams`` ``(D, 2N + 3)``;
    * with ``levelsets``: ``pred_levelsets`` ``(D, N + 1, S, S)``, the float32 level sets φ0 … φN (φ > 0 inside).
    """
    counts = [len(i) for i in instances]
    final = phis[-1] if phis else phi0
    for inst, mask in zip(instances, heaviside(final, heaviside_eps).split(counts)):
        inst.pred_masks = mask
    if initial_masks:
        for inst, mask in zip(instances, heaviside(phi0, heaviside_eps).split(counts)):
            inst.pred_masks_initial = mask
        if hparams is not None:
            for inst, hp in zip(instances, hparams.split(counts)):
                inst.pred_levelset_hparams = hp
    if levelsets:
        stacked = torch.cat([phi0.float()] + [p.float() for p in phis], dim=1)  # (D, N + 1, S, S): φ0 … φN
        for inst, phi in zip(instances, stacked.split(counts)):
            inst.pred_levelsets = phi
    return instances


@ROI_MASK_HEAD_REGISTRY.register()
class LevelSetMaskHead(nn.Module):
    """LevelSet R-CNN's mask branch (``MODEL.ROI_MASK_HEAD.NAME "LevelSetMaskHead"``): the initial TSDF head, the
    hyperparameter head, the Chan-Vese feature head and N unrolled Chan-Vese steps (see the module docstring).

    Sub-modules (their parameters are ``roi_heads.mask_head.<name>.*`` in a checkpoint): ``tsdf_head``,
    ``hyperparameter_head``, ``feature_head`` and the parameter-free ``refinement`` (the last three None with
    ``CHAN_VESE_ON = False``).

    ``forward(features, instances)``: ``features`` is the image-level feature dict (the head pools RoIs at
    ``ROI_MASK_HEAD.POOLER_RESOLUTION`` from ``MODEL.ROI_HEADS.IN_FEATURES``) or already pooled ``(R, C, s, s)`` RoI
    features. Training returns :func:`levelset_mask_losses`; inference sets the fields of
    :func:`levelset_mask_inference` and returns the instances.

    Opt-in (visualisation, ``tools/demo.py --levelset-view``): ``inference_levelsets = True`` also returns
    ``pred_levelsets`` (φ0 … φN in the RoI frame).
    """

    #: opt-in: return every level set φ0 … φN at inference as ``pred_levelsets`` (off: no extra memory)
    inference_levelsets = False
    #: checkpoint layout: 2 (issue 14): the TSDF layers under ``tsdf_head.`` (predictor ``tsdf_predictor``), the
    #: Chan-Vese heads beside it; 1: this head was the TSDF head itself (``mask_fcn*``, ``deconv``, ``predictor`` or
    #: ``tsdf_predictor``), upgraded on load by :meth:`_load_from_state_dict`
    _version = 2
    #: the sub-modules (relative key prefixes) of layout 2; the Chan-Vese ones existed in LevelSet R-CNN only
    PARTS = ("tsdf_head.", "hyperparameter_head.", "feature_head.", "refinement.", "pooler.")
    CHAN_VESE_PARTS = ("hyperparameter_head.", "feature_head.")

    @configurable
    def __init__(self, *, tsdf_head, pooler=None, in_features=(), hyperparameter_head=None, feature_head=None,
                 refinement=None, resolution=112, truncation_ratio=8.0 / 112, detach_phi0=False,
                 feature_gradient_scale=1.0,
                 loss_weight_initial=0.2, loss_weight_final=1.0, loss_heaviside_eps=0.1, loss_saturate_l1=False,
                 loss_boundary_weight=0.0, loss_boundary_width=2.0, loss_uncertainty_weight=0.0,
                 inference_heaviside_eps=0.1,
                 inference_initial_masks=True):
        """
        Args:
            tsdf_head: the initial TSDF head (:class:`~levelset_rcnn.modeling.tsdf_head.TSDFHead`: φ0, ``(R, K, s, s)``).
            pooler: the RoI pooler for feature dicts; ``in_features``: the feature names it pools.
            hyperparameter_head, feature_head, refinement: the Chan-Vese parts (all three, or none).
            resolution: S, the side of F, φ1 … φN and the final masks.
            truncation_ratio: TSDF truncation in pixels per pixel of side (T / S).
            detach_phi0: no gradient of the final loss into φ0 (Table 4 ablation).
            feature_gradient_scale: factor on the gradient into the input features (backbone / FPN) in training.
            loss_*: the weights, Heaviside ε, saturating L1 and boundary weighting of :func:`levelset_mask_losses`.
            inference_heaviside_eps: ε of the soft masks H_ε(φ) returned at inference.
            inference_initial_masks: also return H(φ0) and the hyperparameters at inference.
        """
        super().__init__()
        parts = (hyperparameter_head, feature_head, refinement)
        if any(p is None for p in parts) and not all(p is None for p in parts):
            raise ValueError("LevelSetMaskHead needs the hyperparameter head, the feature head and the refinement "
                             "together (or none of them: TSDF only)")
        # the order of assignment is the order of the parameters in the state dict / optimizer
        self.tsdf_head = tsdf_head
        self.hyperparameter_head = hyperparameter_head
        self.feature_head = feature_head
        self.refinement = refinement
        self.pooler = pooler
        self.in_features = tuple(in_features)
        self.resolution = resolution
        self.truncation_ratio = truncation_ratio
        self.detach_phi0 = detach_phi0
        self.feature_gradient_scale = feature_gradient_scale
        self.loss_weight_initial = loss_weight_initial
        self.loss_weight_final = loss_weight_final
        self.loss_heaviside_eps = loss_heaviside_eps
        self.loss_saturate_l1 = loss_saturate_l1
        self.loss_boundary_weight = loss_boundary_weight
        self.loss_boundary_width = loss_boundary_width
        self.loss_uncertainty_weight = loss_uncertainty_weight
        self.inference_heaviside_eps = inference_heaviside_eps
        self.inference_initial_masks = inference_initial_masks

    @classmethod
    def from_config(cls, cfg, input_shape):
        """``input_shape``: the backbone's output shapes (dict, the head pools) or one ``ShapeSpec`` of pooled
        RoI features (detectron2's ``StandardROIHeads`` with ``ROI_MASK_HEAD.POOLER_TYPE`` set)."""
        ls = cfg.MODEL.LEVELSET
        truncation_ratio = cls._checked_truncation_ratio(ls)
        for key in ("CHAN_VESE_ON", "DETACH_PHI0", "LOSS_SATURATE_L1", "INFERENCE_INITIAL_MASKS"):
            check_bool(f"MODEL.LEVELSET.{key}", ls[key])
        for key in ("LOSS_WEIGHT_INITIAL", "LOSS_WEIGHT_FINAL", "LOSS_BOUNDARY_WEIGHT", "LOSS_UNCERTAINTY_WEIGHT",
                    "FEATURE_GRADIENT_SCALE"):
            check_float(f"MODEL.LEVELSET.{key}", ls[key], strict=False)
        for key in ("LOSS_HEAVISIDE_EPS", "INFERENCE_HEAVISIDE_EPS", "LOSS_BOUNDARY_WIDTH"):
            check_float(f"MODEL.LEVELSET.{key}", ls[key])
        side = cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION
        ret = {}
        if isinstance(input_shape, dict):
            in_features = list(cfg.MODEL.ROI_HEADS.IN_FEATURES)
            missing = [f for f in in_features if f not in input_shape]
            if missing:
                raise ValueError(f"MODEL.ROI_HEADS.IN_FEATURES {missing} are not backbone outputs; available: "
                                 f"{sorted(input_shape)}")
            ret["in_features"] = in_features
            ret["pooler"] = ROIPooler(
                output_size=side,
                scales=tuple(1.0 / input_shape[f].stride for f in in_features),
                sampling_ratio=cfg.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO,
                pooler_type=cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE,
            )
            pooled = ShapeSpec(channels=input_shape[in_features[0]].channels, width=side, height=side)
            feature_shapes = input_shape
        else:
            pooled, feature_shapes = input_shape, None
        # The refinement (no parameters, no random numbers) first: it checks MODEL.LEVELSET.NUM_ITERATIONS, which
        # also sizes the hyperparameter head. Then tsdf, hyperparameter, feature head in this order: the random
        # initialisation of each is the one the model had before the mask branch became one head, so a seed gives
        # the same model.
        refinement = ChanVeseRefinement(cfg) if ls.CHAN_VESE_ON else None
        ret["tsdf_head"] = TSDFHead(cfg, pooled)
        if ls.CHAN_VESE_ON:
            ret["hyperparameter_head"] = build_hyperparameter_head(cfg, pooled)
            ret["feature_head"] = build_chan_vese_feature_head(cfg, pooled, feature_shapes=feature_shapes)
            ret["refinement"] = refinement
        ret.update(
            resolution=ls.RESOLUTION,
            truncation_ratio=truncation_ratio,
            detach_phi0=ls.DETACH_PHI0,
            feature_gradient_scale=ls.FEATURE_GRADIENT_SCALE,
            loss_weight_initial=ls.LOSS_WEIGHT_INITIAL,
            loss_weight_final=ls.LOSS_WEIGHT_FINAL,
            loss_heaviside_eps=ls.LOSS_HEAVISIDE_EPS,
            loss_saturate_l1=ls.LOSS_SATURATE_L1,
            loss_boundary_weight=ls.LOSS_BOUNDARY_WEIGHT,
            loss_boundary_width=ls.LOSS_BOUNDARY_WIDTH,
            loss_uncertainty_weight=ls.LOSS_UNCERTAINTY_WEIGHT,
            inference_heaviside_eps=ls.INFERENCE_HEAVISIDE_EPS,
            inference_initial_masks=ls.INFERENCE_INITIAL_MASKS,
        )
        return ret

    @staticmethod
    def _checked_truncation_ratio(ls):
        """T / S from ``MODEL.LEVELSET.TRUNCATION`` (T, pixels of the S×S grid) and ``RESOLUTION`` (S), checked: the
        one place the ratio is computed; the targets at a grid of side s are truncated at ratio · s pixels
        (:meth:`truncation`; docs/DESIGN_NOTES.md, "One function, two resolutions")."""
        resolution = check_int("MODEL.LEVELSET.RESOLUTION", ls.RESOLUTION, 1)
        truncation = check_float("MODEL.LEVELSET.TRUNCATION", ls.TRUNCATION)
        if truncation >= resolution:
            fail("MODEL.LEVELSET.TRUNCATION", truncation, f"must be smaller than MODEL.LEVELSET.RESOLUTION = "
                                                           f"{resolution} (it is in pixels of the RESOLUTION grid)")
        return truncation / resolution

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """Upgrades checkpoints of layout 1 (``_version``; the keys of the Chan-Vese heads were moved in by
        :class:`~levelset_rcnn.modeling.LevelSetROIHeads` already), and warns when the checkpoint holds another
        Chan-Vese feature head than the config builds."""
        version = local_metadata.get("version")
        if version is None or version < 2:
            self._upgrade_layout_1(state_dict, prefix)
        mismatch = self._feature_head_mismatch(state_dict, prefix)
        if mismatch:
            logger.warning(mismatch)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _upgrade_layout_1(self, state_dict, prefix):
        """Layout 1: the TSDF layers at ``<prefix>*`` → ``<prefix>tsdf_head.*``. Their predictor was ``predictor``
        before it was renamed ``tsdf_predictor``: renamed when the checkpoint is LevelSet R-CNN's (it has a Chan-Vese
        head's key); without one, ``predictor`` is Mask R-CNN's mask logits and the checkpoint is refused
        (:func:`~levelset_rcnn.modeling.tsdf_head.mask_predictor_refusal`, which names the converting command)."""
        keys = [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
        levelset = any(k.startswith(self.CHAN_VESE_PARTS) for k in keys)
        has_tsdf_predictor = any(k.startswith(("tsdf_predictor.", "tsdf_head.tsdf_predictor.")) for k in keys)
        if any(k.startswith("predictor.") for k in keys) and not (levelset or has_tsdf_predictor):
            raise mask_predictor_refusal(prefix)

        def rename(key):
            if key.startswith(self.PARTS):
                return None
            if key.startswith("predictor.") and not has_tsdf_predictor:
                return "tsdf_head.tsdf_" + key
            return "tsdf_head." + key

        rename_keys(self, state_dict, prefix, rename)

    def _feature_head_mismatch(self, state_dict, prefix):
        """A message when ``state_dict`` holds another registered Chan-Vese feature head than the model's (told apart
        by each head's ``CHECKPOINT_MARKER``), else None. The default head changed in issue 15; a checkpoint of the
        paper's head loaded with the new default would leave F at its random initialisation, silently."""
        ours = getattr(type(self.feature_head), "CHECKPOINT_MARKER", None)
        if ours is None:
            return None
        for name, head in CHAN_VESE_FEATURE_HEAD_REGISTRY:
            marker = getattr(head, "CHECKPOINT_MARKER", None)
            if marker and marker != ours and any(k.startswith(prefix + "feature_head." + marker) for k in state_dict):
                return (f"the checkpoint holds a {name} Chan-Vese feature head but the config builds "
                        f"{type(self.feature_head).__name__}: its feature head will not load. To use the checkpoint as "
                        f"trained, add MODEL.LEVELSET.FEATURE_HEAD.NAME {name} (and its FEATURE_HEAD.NUM_CHANNELS) to "
                        "the config")
        return None

    @property
    def num_iterations(self):
        """N, the number of Chan-Vese steps (0 without the refinement)."""
        return 0 if self.refinement is None else self.refinement.num_iterations

    @property
    def uses_image_features(self):
        """True when the feature head reads image-level features (an FPN level, ``features["image"]``)."""
        return getattr(self.feature_head, "uses_image_features", False)

    @property
    def required_features(self):
        """The names the head reads from the feature dict: the pooled levels, plus the feature head's
        ``required_features`` (e.g. ``["p2", "image"]``) when it uses image-level features."""
        names = list(self.in_features)
        if self.uses_image_features:
            names += [f for f in self.feature_head.required_features if f not in names]
        return names

    def truncation(self, side):
        """The TSDF truncation in pixels at a grid of ``side`` pixels."""
        return self.truncation_ratio * side

    def levelset_forward(self, x, instances, features=None, boxes=None):
        """Run the TSDF, hyperparameter and feature heads and the refinement on pooled RoI features ``x``
        ``(R, C, s, s)``. ``features`` (image-level dict) and ``boxes`` (RoI ``Boxes`` per image) are needed by a
        feature head with ``uses_image_features``.

        Returns ``(phi0_small, phi0, phis, hparams)``: φ0 at the TSDF head's side ``(R, 1, 28, 28)``, φ0 upsampled
        to ``(R, 1, S, S)``, the list [φ1 … φN] (empty without Chan-Vese) and ``(R, 2N + 3)`` hyperparameters
        (None without Chan-Vese).
        """
        phi0_small = self.tsdf_head(x, instance_classes(instances))  # (R, 1, s, s): each RoI's class only
        phi0 = upsample_tsdf(phi0_small, self.resolution)
        if self.refinement is None:
            return phi0_small, phi0, [], None
        hparams = self.hyperparameter_head(x)
        if self.uses_image_features:  # built with the backbone's feature shapes: called with the feature dict
            embedding = self.feature_head(x, features, boxes)
        else:
            embedding = self.feature_head(x)
        phis = self.refinement(phi0.detach() if self.detach_phi0 else phi0, embedding, hparams)
        return phi0_small, phi0, phis, hparams

    def forward(self, features, instances):
        """``features``: image-level feature dict or pooled ``(R, C, s, s)`` RoI features; ``instances``: the
        foreground proposals (training) or the detections (inference) per image."""
        boxes = [i.proposal_boxes if self.training else i.pred_boxes for i in instances]
        if self.training and self.feature_gradient_scale != 1.0:
            features = ({k: scale_gradient(v, self.feature_gradient_scale) for k, v in features.items()}
                        if isinstance(features, dict) else scale_gradient(features, self.feature_gradient_scale))
        if isinstance(features, dict):
            if self.pooler is None:
                raise ValueError("LevelSetMaskHead was built for pooled RoI features but got a feature dict")
            x = self.pooler([features[f] for f in self.in_features], boxes)
            phi0_small, phi0, phis, hparams = self.levelset_forward(x, instances, features, boxes)
        else:
            phi0_small, phi0, phis, hparams = self.levelset_forward(features, instances)
        if self.training:
            return levelset_mask_losses(
                phi0_small, phis, instances, truncation_ratio=self.truncation_ratio,
                weight_initial=self.loss_weight_initial, weight_final=self.loss_weight_final,
                heaviside_eps=self.loss_heaviside_eps, saturate_l1=self.loss_saturate_l1,
                boundary_weight=self.loss_boundary_weight, boundary_width=self.loss_boundary_width,
                uncertainty_weight=self.loss_uncertainty_weight,
            )
        return levelset_mask_inference(
            phi0, phis, hparams, instances, heaviside_eps=self.inference_heaviside_eps,
            initial_masks=self.inference_initial_masks, levelsets=self.inference_levelsets,
        )


@ROI_MASK_HEAD_REGISTRY.register()
def TSDFMaskHead(cfg, input_shape):  # noqa: N802  (the registered name of old configs)
    """Deprecated ``MODEL.ROI_MASK_HEAD.NAME "TSDFMaskHead"`` (a stand-alone mask head until issue 24) with detectron2's
    ``StandardROIHeads``: the TSDF-only ablation, now :class:`LevelSetMaskHead` with ``MODEL.LEVELSET.CHAN_VESE_ON
    False`` (same layers; loss ``loss_tsdf_initial`` at 28×28 weighted by ``LOSS_WEIGHT_INITIAL``, mask H(φ0) at S×S).
    Builds that, with a warning naming the keys to set."""
    logger.warning("MODEL.ROI_MASK_HEAD.NAME 'TSDFMaskHead' is deprecated: the TSDF-only ablation is MODEL.ROI_HEADS.NAME "
                   "'LevelSetROIHeads', MODEL.ROI_MASK_HEAD.NAME 'LevelSetMaskHead', MODEL.LEVELSET.CHAN_VESE_ON False "
                   "(configs/Ablations/tsdf_only_R_50_FPN.yaml); building LevelSetMaskHead with CHAN_VESE_ON False")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.LEVELSET.CHAN_VESE_ON = False
    return LevelSetMaskHead(cfg, input_shape)
