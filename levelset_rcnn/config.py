"""Config keys of LevelSet R-CNN: ``add_levelset_rcnn_config(cfg)`` adds them, each with its default.

Which module reads each key: docs/DESIGN.md, "Where each config key lives".
"""
from detectron2.config import CfgNode as CN
from levelset_core.backbone.config import add_efficientnet_lite_config  # noqa: F401  (re-exported)
from levelset_core.compat.pointrend import add_pointrend_config


def build_levelset_config(config_file=None, opts=(), *, output_dir=None, freeze=True):
    """A LevelSet R-CNN config: detectron2's ``get_cfg()`` + :func:`add_levelset_rcnn_config` + ``config_file`` +
    ``KEY VALUE`` ``opts``, with the errors and the CUDA -> CPU fallback of
    :func:`levelset_core.engine.config.build_config` (frozen unless ``freeze=False``). The one config builder of the
    package: the engine's ``setup_cfg``, the model zoo, the publisher and the benchmarks call it."""
    from levelset_core.engine.config import build_config  # lazy: importing config.py must stay light

    return build_config(config_file, opts, add_config=(add_levelset_rcnn_config,), output_dir=output_dir,
                        freeze=freeze)


def add_levelset_rcnn_config(cfg):
    """Add the LevelSet R-CNN keys to a detectron2 config (in place) and return it.

    Calling it twice is harmless. Defaults follow the paper (section 4 and 5, COCO setting) except where a comment
    says why not. Values are not checked here: each module checks the keys it reads when the model is built,
    naming the key and the value (docs/DESIGN.md, "Where each config key lives").
    """
    if "LEVELSET" in cfg.MODEL:
        return cfg
    cfg.MODEL.LEVELSET = CN()
    _C = cfg.MODEL.LEVELSET
    # Run the unrolled Chan-Vese refinement (hyperparameter head + Chan-Vese feature head + N iterations).
    # False gives the "TSDF-only mask head" ablation: the mask head predicts a 28x28 TSDF phi0, trained with
    # loss_tsdf_initial (LOSS_WEIGHT_INITIAL x l_TSDF at 28x28), and the mask is H(phi0) upsampled to RESOLUTION.
    _C.CHAN_VESE_ON = True
    # N, the number of unrolled Chan-Vese iterations (Eq. 7).
    _C.NUM_ITERATIONS = 3
    # Side of the RoI grid of the Chan-Vese features, phi_n and the final mask (paper: 112).
    _C.RESOLUTION = 112
    # Truncation T of the TSDF in pixels of the RESOLUTION grid (T = 8 at 112 is 2 px at 28).
    _C.TRUNCATION = 8.0
    # Detach phi0 before the Chan-Vese iterations (Table 4 ablation: no final-loss gradient into phi0).
    _C.DETACH_PHI0 = False
    # Multiply the gradient that the mask branch's losses send into the backbone / FPN features it reads (shared with
    # the detector) by this factor in the backward pass; the heads of the mask branch still get their full gradient,
    # the forward pass is unchanged. 1 = plain backpropagation, 0 = the mask branch does not train the shared
    # features (issue 26: box AP falls when that gradient outgrows the detector's, docs/RESULTS.md).
    _C.FEATURE_GRADIENT_SCALE = 1.0
    # Let gradients flow through the closed-form region means c1, c2 (Eq. 9).
    _C.REGION_MEANS_GRADIENT = True
    # Loss weights of l_TSDF on phi0 (28x28) and phiN (RESOLUTION) (COCO: 0.2 / 1; Cityscapes: 1 / 5).
    _C.LOSS_WEIGHT_INITIAL = 0.2
    _C.LOSS_WEIGHT_FINAL = 1.0
    # epsilon of the soft Heaviside that maps phi to [0, 1] for the BCE term of l_TSDF (section 4.2).
    _C.LOSS_HEAVISIDE_EPS = 0.1
    # epsilon of the soft Heaviside of the masks returned at inference, H(phi) (pred_masks, pred_masks_initial, TTA's
    # "phi" average). H(phi) > 0.5 exactly where phi > 0 for every epsilon; epsilon sets how soft the mask is where
    # detectron2's paste interpolates it into the image (the boundary pixels). 0.1 = LOSS_HEAVISIDE_EPS's default,
    # what every result in docs/ was measured with.
    _C.INFERENCE_HEAVISIDE_EPS = 0.1
    # Take the L1 term of the final loss on clamp(phiN, -1, 1) (losses.tsdf_loss(saturate=True)): the target is a
    # truncated TSDF, so phiN beyond +-1 on the right side is correct, and the plain L1 penalises the Chan-Vese steps
    # for pushing phi past +-1 where the data term is confident (phi0 is a tanh output, unaffected).
    # Default True: with the plain L1 training shrank lambda / dt and the steps barely moved phi (lambda 0.67 / 0.52,
    # mean |phi3 - phi0| 0.034); saturated, lambda stays ~1, phi moves twice as far and the per-detection mask IoU
    # gain doubles (docs/RESULTS.md, "A refinement that refines", balloon, lite0-FPN, fine head at 56x56, 2 seeds).
    _C.LOSS_SATURATE_L1 = True
    # Weight of the pixels near the ground-truth contour in the final loss (not in the paper; issue 26): each pixel's
    # L1 + BCE of l_TSDF(phiN) counts 1 + LOSS_BOUNDARY_WEIGHT * max(0, 1 - d / LOSS_BOUNDARY_WIDTH) times, d its
    # distance to the contour in pixels of the RESOLUTION grid (from the TSDF target), normalised by the sum of the
    # weights: the boundary emphasis that PointRend's point loss gets from sampling uncertain points. 0 = the plain
    # mean of section 4.2. The initial loss (phi0 at 28x28) is unweighted.
    _C.LOSS_BOUNDARY_WEIGHT = 0.0
    _C.LOSS_BOUNDARY_WIDTH = 2.0
    # Weight of the pixels near the *predicted* contour of phiN (not in the paper; issue 26): adds
    # LOSS_UNCERTAINTY_WEIGHT * max(0, 1 - |phiN| T / LOSS_BOUNDARY_WIDTH) to each pixel's weight above (phiN
    # detached), PointRend's criterion for the points its loss is taken on. 0 = off.
    _C.LOSS_UNCERTAINTY_WEIGHT = 0.0
    # Lower bound of the learned epsilon_n: the soft Dirac is at most 1 / (pi * MIN_EPS).
    _C.MIN_EPS = 0.05
    # eta in |grad phi| = sqrt(gx^2 + gy^2 + eta^2) for the curvature (|grad phi| ~ 1/T per pixel).
    _C.GRADIENT_STABILIZER = 1e-3
    # Divide ||F - c||^2 by the number of feature channels C so the data terms are O(1).
    _C.NORMALIZE_DATA_TERM = True
    # At inference also return the initial masks H(phi0) as instances.pred_masks_initial (Table 2).
    _C.INFERENCE_INITIAL_MASKS = True

    _C.HYPERPARAMETER_HEAD = CN()
    # "InstanceHyperparameterHead" (per RoI, section 4.1) or "GlobalHyperparameters" (ablation).
    _C.HYPERPARAMETER_HEAD.NAME = "InstanceHyperparameterHead"
    # The paper leaves the head sizes to its supplementary material, which we do not have. These defaults are
    # sized for speed: with 100 detections the extra heads run on 100 RoIs, and 2 convs of 256 channels here
    # plus [256, 128, 64] in the feature head made LevelSet R-CNN 1.4-1.5x slower than Mask R-CNN at inference
    # on the CPU (docs/BENCHMARKS.md). The larger heads are a config override away.
    _C.HYPERPARAMETER_HEAD.NUM_CONV = 1
    _C.HYPERPARAMETER_HEAD.CONV_DIM = 64
    _C.HYPERPARAMETER_HEAD.FC_DIM = 256
    _C.HYPERPARAMETER_HEAD.NORM = ""

    _C.FEATURE_HEAD = CN()
    # "FineGrainedChanVeseFeatureHead" (issue 15, default): F from the stride-4 FPN level and the image, sampled at
    # RESOLUTION; or "ChanVeseFeatureHead" (the paper's: 14x14 RoI features upsampled). Evidence for the default
    # (docs/RESULTS.md, "A refinement that refines": balloon, ImageNet lite0-FPN, 500 iterations, 3 seeds): with the
    # saturating L1 at 112x112 final - initial mask AP +0.88 +- 0.28, mask AP 49.1 +- 0.7, Boundary AP 37.1 +- 1.9, box
    # AP 44.0 +- 0.4 (Mask R-CNN 43.1 +- 1.0); the paper head at 56x56: +0.17 +- 0.15, 48.3 +- 1.3, 37.9 +- 1.7,
    # 44.2 +- 2.3. At R50-FPN inference the fine head is 1.194x Mask R-CNN on a quiet machine (1.08-1.09x measured
    # under load), the paper head 1.18-1.30x under load (docs/BENCHMARKS.md).
    _C.FEATURE_HEAD.NAME = "FineGrainedChanVeseFeatureHead"
    # C, the number of Chan-Vese feature channels (paper: 64, with its head). 8 is what docs/RESULTS.md measured on
    # balloon and is the cheaper head at R50-FPN inference (1.194x Mask R-CNN quiet; docs/BENCHMARKS.md, issue 29).
    _C.FEATURE_HEAD.NUM_CHANNELS = 8
    # Keys of "ChanVeseFeatureHead" only (the paper's head; the default fine-grained head reads neither): channels
    # of its conv + 2x-upsampling stages from the pooled RoI features (14x14) upwards, the remaining factor to
    # RESOLUTION being bilinear upsampling followed by a 1x1 conv to NUM_CHANNELS (sized for speed, see
    # HYPERPARAMETER_HEAD; the stages at 56x56 and 112x112 dominate its cost), and the norm of those convs.
    _C.FEATURE_HEAD.CONV_DIMS = [64, 64, 64]
    _C.FEATURE_HEAD.NORM = ""
    # Both heads: how the last 1x1 conv output x becomes F. "tanh": F = tanh(x), each channel in [-1, 1]; the
    # fine-grained head initialises that conv with unit variance, so F starts O(1), while the paper head's small
    # initialisation (std 0.01) starts F near 0. "unit_norm": F = sqrt(C) * x / |x| per pixel (|x| over the C
    # channels, guarded by 1e-12 under the square root), so |F - c|^2 / C is O(1) from the first iteration whatever
    # the initialisation (docs/RESULTS.md, "Why the Chan-Vese steps change nothing yet").
    _C.FEATURE_HEAD.OUTPUT = "tanh"
    # Keys of "FineGrainedChanVeseFeatureHead" only (the default; issue 15: evidence at the Chan-Vese resolution instead of upsampled
    # 14x14 RoI features): the FPN level RoIAligned at RESOLUTION after a once-per-image 1x1 reduction to
    # REDUCED_CHANNELS; the normalised image RoIAligned too (USE_IMAGE); COARSE_CHANNELS > 0 adds the pooled RoI
    # features through a 1x1 conv, bilinearly resized; a per-pixel MLP with HIDDEN_DIM maps them to NUM_CHANNELS.
    _C.FEATURE_HEAD.IN_FEATURE = "p2"
    _C.FEATURE_HEAD.REDUCED_CHANNELS = 16
    _C.FEATURE_HEAD.USE_IMAGE = True
    _C.FEATURE_HEAD.COARSE_CHANNELS = 8
    _C.FEATURE_HEAD.HIDDEN_DIM = 32
    # The side of the grid on which the fine-grained head samples its inputs and runs its MLP; its output is then
    # bilinearly resized to RESOLUTION (before the tanh / unit-norm), where the Chan-Vese steps run. 0 = RESOLUTION
    # (every RoI pixel computed; the code default and what every model before issue 29 used). A smaller side costs
    # ~(side / RESOLUTION)^2 of the head's time, the largest part of LevelSet R-CNN's extra cost on images with many
    # objects; alone, 56 lowered quality on balloon (2 seeds: mask AP -1.4, Boundary AP -1.7); with
    # FULL_RESOLUTION_IMAGE it did not (balloon 4 seeds, nuclei 2), and the shipped configs
    # (configs/Base-LevelSet-RCNN-FPN.yaml) use 56 with it (docs/RESULTS.md, issue 29).
    _C.FEATURE_HEAD.POOLER_RESOLUTION = 0
    # With POOLER_RESOLUTION < RESOLUTION (and USE_IMAGE): sample the image at RESOLUTION (one bilinear sample per
    # cell), give the MLP its cell means on the coarser grid, and add a per-pixel linear map of the full-resolution
    # image (3 -> NUM_CHANNELS, initialised to 0) to the resized MLP output before the tanh / unit norm: image edges
    # at full resolution for about the cost of the coarse head (issue 29). An error without a coarser grid.
    _C.FEATURE_HEAD.FULL_RESOLUTION_IMAGE = False
    # Stop the fine-grained head's gradient at its inputs (the FPN level and the pooled RoI features): the final
    # loss then trains the head's own layers but does not reach the backbone / FPN that the detector shares.
    _C.FEATURE_HEAD.DETACH_INPUTS = False

    # Keys for the Mask R-CNN baselines and ablations (levelset_rcnn.modeling.mask_heads):
    # output side of "HighResMaskRCNNConvUpsampleHead" (the 112x112 Mask R-CNN ablation).
    cfg.MODEL.ROI_MASK_HEAD.OUTPUT_RESOLUTION = 28
    # Weight and epsilon of the Chan-Vese energy loss on Mask R-CNN's masks ("LS Loss" row of Table 3,
    # "MaskRCNNLevelSetLossHead"): phi = P - 0.5, tanh Heaviside, region means of the ground-truth mask.
    cfg.MODEL.ROI_MASK_HEAD.LEVEL_SET_LOSS_WEIGHT = 1e-3
    cfg.MODEL.ROI_MASK_HEAD.LEVEL_SET_LOSS_EPS = 0.05

    # The backbone that MODEL.BACKBONE.NAME "build_image_feature_backbone" (configs/Base-LevelSet-RCNN-FPN.yaml) builds
    # and returns with the normalised image as one more output, features["image"] at stride 1, which the default
    # Chan-Vese feature head reads (levelset_rcnn/modeling/image_backbone.py).
    cfg.MODEL.BACKBONE.WRAPPED_NAME = "build_resnet_fpn_backbone"

    add_boundary_eval_config(cfg)
    add_efficientnet_lite_config(cfg)
    # detectron2's PointRend keys (MODEL.POINT_HEAD, ROI_MASK_HEAD.FC_DIM, ...) for the PointRend baselines
    # (configs/*/pointrend_rcnn_*.yaml); none where detectron2 has no PointRend (levelset_core.compat.pointrend)
    add_pointrend_config(cfg)
    # Test-time augmentation (detectron2's TEST.AUG.ENABLED / MIN_SIZES / MAX_SIZE / FLIP; paper Table 1): what
    # LevelSetRCNNWithTTA averages over the views, "mask" = the soft masks H(phiN) (and H(phi0)), "phi" = the level
    # sets, then H. Measured on balloon: docs/RESULTS.md, "Test-time augmentation".
    cfg.TEST.AUG.LEVELSET_AVERAGE = "mask"
    # Annotations a model cannot train on (no segmentation next to masks, a degenerate polygon, a box of zero area
    # or entirely outside its image) are dropped with a warning per dataset that counts them and names the first
    # ids (levelset_rcnn.data.register.drop_invalid_annotations); True makes that an error before training.
    cfg.DATASETS.STRICT_ANNOTATIONS = False
    return cfg


def add_boundary_eval_config(cfg):
    """Keys of the boundary metrics (levelset_rcnn.evaluation), under ``TEST.*``; harmless to call twice.

    ``TEST.EXTRA_EVALUATORS`` lists evaluators that ``build_evaluator`` runs next to the dataset's own
    (COCO / LVIS / Cityscapes) evaluator, on the same predictions:

    * ``"boundary_ap"``: Boundary AP (Cheng et al., CVPR 2021), COCO AP whose match criterion is
      min(mask IoU, boundary IoU), computed by faster-coco-eval (``iouType="boundary"``);
    * ``"boundary_f1"``: AF1 / AF2 of LevelSet R-CNN (section 5, Table 5): boundary F1 of the true positives
      at IoU 0.50:0.05:0.95, averaged over matches, classes and thresholds.
    """
    if "EXTRA_EVALUATORS" in cfg.TEST:
        return cfg
    cfg.TEST.EXTRA_EVALUATORS = []
    cfg.TEST.BOUNDARY_AP = CN()
    # Boundary width as a fraction of the image diagonal (Cheng et al.: 0.02).
    cfg.TEST.BOUNDARY_AP.DILATION_RATIO = 0.02
    cfg.TEST.BOUNDARY_F1 = CN()
    # Pixel tolerances of the boundary F1 (paper: 1 and 2 -> AF1, AF2).
    cfg.TEST.BOUNDARY_F1.TOLERANCES = [1, 2]
    return cfg
