"""Config keys of the DeepLab-losses project, with their defaults and meaning."""
from detectron2.config import CfgNode as CN
from detectron2.projects.deeplab import add_deeplab_config
from levelset_core.backbone.config import add_efficientnet_lite_config

__all__ = ["add_deeplab_losses_config", "EXTRA_LOSS_NAMES"]

#: The auxiliary losses a head can add to the cross-entropy (``MODEL.DEEPLAB_LOSSES.EXTRA``).
EXTRA_LOSS_NAMES = ("level_set", "semeda", "sobel")

# The Level Set loss paper trains DeepLab-ResNet101 (DeepLab v2, output stride 8) with 321x321 crops and
# lambda = 4e-4 (its sections 4.2, 4.6): its energy is a sum over the 41x41 output grid (see LevelSetLoss).
PAPER_GRID_AREA = 41 * 41


def add_deeplab_losses_config(cfg):
    """Add every key of this project (and detectron2's DeepLab keys) to ``cfg``, in place.

    * ``MODEL.DEEPLAB_LOSSES.EXTRA``: list of losses added to the cross-entropy, from
      ``("level_set", "semeda", "sobel")``; empty = CE only. Any combination is allowed.
    * ``MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS``: one weight per class for the cross-entropy (``weight`` of
      ``torch.nn.CrossEntropyLoss``; with ``LOSS_TYPE hard_pixel_mining`` it weights DeepLabCE's per-pixel
      losses); empty (default) = unweighted. ``tools/class_weights.py`` computes median-frequency weights
      (Eigen & Fergus 2015, as SegNet uses on CamVid) from ``DATASETS.TRAIN``.
    * ``MODEL.LEVEL_SET_LOSS``: Kim et al. Eqs. 4-8.

      - ``WEIGHT`` (λ of Eq. 8, default 4e-4 as in the paper's section 4.6),
      - ``EPSILON`` (ε of Eq. 6, default 1/20),
      - ``HEAVISIDE``: ``"tanh"`` (H*, Eq. 6, default), ``"arctan"`` (AHF of Chan-Vese) or ``"hard"`` (HF, Eq. 2),
      - ``GRID``: where the energy is computed: ``"logits"`` (default: the head's output grid, labels taken at
        each cell's centre, as DeepLab v2 trains the paper's network) or ``"labels"`` (logits upsampled to the
        label grid),
      - ``NORMALIZATION``: ``"per_pixel"`` (default): each image's energy is divided by its number of valid
        pixels and multiplied by ``REFERENCE_AREA``, then averaged over the images of the batch, so that on the
        paper's grid (41x41, no ignored pixel) the loss is exactly the paper's summed energy and λ keeps
        the paper's balance at any crop size and grid; ``"sum"``: the raw sum over the grid's pixels.
      - ``REFERENCE_AREA``: pixels of the paper's grid (41² = 1681: DeepLab-ResNet101's output for a 321² crop;
        321² was this project's value before 2026-12-05, 61x the paper's scale; see the project README, CamVid).
    * ``MODEL.SEMEDA``: Chen et al. Eqs. 4-6.

      - ``WEIGHTS``: checkpoint of the pre-trained edge network g (``tools/pretrain_semeda.py``); training with
        ``"semeda"`` refuses to start without it (or with one of another class count),
      - ``LAYER_WEIGHTS``: λ_1, λ_2, λ_3 of Eq. 4 (default 1, 0.5, 0: a quarter of the paper's best Cityscapes row
        (4, 2, 0, Table 1), which on CamVid val beat CE where (4, 2, 0) fell below it; see the project README,
        "CamVid (issue 27)"; the Cityscapes / VOC configs keep the paper's rows),
      - ``CHANNELS``: hidden channels of g (16, 32; the last layer has 2), ``KERNEL_SIZE``: 3,
      - ``GRID``: ``"labels"`` (default: g sees the logits upsampled to the label grid, the resolution it was
        pre-trained on and the paper's 321x321 crops) or ``"logits"`` (the head's grid, labels brought down).
    * ``MODEL.SOBEL_LOSS.WEIGHT``: λ_1 of the paper's Sobel baseline (default 4, its best Sobel row).
    * ``SEMEDA_PRETRAIN``: pre-training of g (Algorithm 1, first loop) on ``DATASETS.TRAIN``'s label maps.
    * ``TEST.BOUNDARY_EVAL``: :class:`deeplab_losses.evaluation.BoundarySemSegEvaluator` settings.
    * ``MODEL.SEM_SEG_HEAD.ASPP_GLOBAL_POOLING``: global ASPP image pooling (test on any image size).
    * ``MODEL.RESNETS.*`` also drive the small backbone ``build_small_resnet_deeplab_backbone``.
    * ``MODEL.EFFICIENTNET_LITE.*``: the ImageNet-pretrained backbone ``build_efficientnet_lite_backbone``
      (:func:`levelset_core.backbone.add_efficientnet_lite_config`; the CamVid configs use lite0 with
      ``OUT_FEATURES ["res2", "res5"]`` and ``RES5_DILATION 2``: output stride 16 for ASPP, stride 4 for the decoder).
    """
    if not hasattr(cfg.MODEL.SEM_SEG_HEAD, "ASPP_CHANNELS"):
        add_deeplab_config(cfg)
    add_efficientnet_lite_config(cfg)
    # ASPP image pooling over the whole feature map instead of a window of the training crop's size
    # (detectron2's default when cropping): needed to test on images of varying size (VOC).
    cfg.MODEL.SEM_SEG_HEAD.ASPP_GLOBAL_POOLING = False
    cfg.MODEL.DEEPLAB_LOSSES = CN()
    cfg.MODEL.DEEPLAB_LOSSES.EXTRA = []
    cfg.MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS = []

    cfg.MODEL.LEVEL_SET_LOSS = CN()
    cfg.MODEL.LEVEL_SET_LOSS.WEIGHT = 4e-4
    cfg.MODEL.LEVEL_SET_LOSS.EPSILON = 1.0 / 20.0
    cfg.MODEL.LEVEL_SET_LOSS.HEAVISIDE = "tanh"
    cfg.MODEL.LEVEL_SET_LOSS.NORMALIZATION = "per_pixel"
    cfg.MODEL.LEVEL_SET_LOSS.REFERENCE_AREA = float(PAPER_GRID_AREA)
    cfg.MODEL.LEVEL_SET_LOSS.GRID = "logits"

    cfg.MODEL.SEMEDA = CN()
    cfg.MODEL.SEMEDA.WEIGHTS = ""
    cfg.MODEL.SEMEDA.LAYER_WEIGHTS = [1.0, 0.5, 0.0]
    cfg.MODEL.SEMEDA.CHANNELS = [16, 32]
    cfg.MODEL.SEMEDA.KERNEL_SIZE = 3
    cfg.MODEL.SEMEDA.GRID = "labels"

    cfg.MODEL.SOBEL_LOSS = CN()
    cfg.MODEL.SOBEL_LOSS.WEIGHT = 4.0

    cfg.SEMEDA_PRETRAIN = CN()
    cfg.SEMEDA_PRETRAIN.MAX_ITER = 600
    cfg.SEMEDA_PRETRAIN.BASE_LR = 1e-2  # Adam
    cfg.SEMEDA_PRETRAIN.IMS_PER_BATCH = 8
    cfg.SEMEDA_PRETRAIN.CROP_SIZE = 128  # random square crops of the label maps (0 = whole maps, batch of 1)
    cfg.SEMEDA_PRETRAIN.SEED = 0

    cfg.TEST.BOUNDARY_EVAL = CN()
    cfg.TEST.BOUNDARY_EVAL.ENABLED = True
    cfg.TEST.BOUNDARY_EVAL.TRIMAP_WIDTHS = [1, 2, 3, 5, 10]
    cfg.TEST.BOUNDARY_EVAL.F1_TOLERANCE = 2
    return cfg
