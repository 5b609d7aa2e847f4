"""The paper-faithful configs (issue 25): configs/*/levelset_rcnn_R_50_FPN_*_paper.yaml reproduce section 5 of the
LevelSet R-CNN paper (Homayounfar et al., ECCV 2020): the paper's feature head with C = 64 at 112x112, N = 3, the
plain L1, and each dataset's schedule; they merge into the config and build (with a small backbone swapped in)."""
from pathlib import Path

import pytest
import torch
from detectron2.modeling import build_model
from model_helpers import SMALL_MODEL_OPTS
from repo_paths import REPO_ROOT

from levelset_rcnn.engine.defaults import setup_cfg

COCO = REPO_ROOT / "configs" / "COCO-InstanceSegmentation" / "levelset_rcnn_R_50_FPN_1x_paper.yaml"
CITYSCAPES = REPO_ROOT / "configs" / "Cityscapes" / "levelset_rcnn_R_50_FPN_24k_paper.yaml"

#: section 5, "Implementation Details", and section 4.1 (C = 64, H = W = 112)
PAPER_MASK_BRANCH = {
    ("MODEL", "LEVELSET", "FEATURE_HEAD", "NAME"): "ChanVeseFeatureHead",
    ("MODEL", "LEVELSET", "FEATURE_HEAD", "NUM_CHANNELS"): 64,
    ("MODEL", "LEVELSET", "RESOLUTION"): 112,
    ("MODEL", "LEVELSET", "NUM_ITERATIONS"): 3,
    ("MODEL", "LEVELSET", "LOSS_SATURATE_L1"): False,
    ("MODEL", "LEVELSET", "LOSS_BOUNDARY_WEIGHT"): 0.0,
    ("MODEL", "LEVELSET", "CHAN_VESE_ON"): True,
    ("MODEL", "RESNETS", "DEPTH"): 50,
    ("SOLVER", "WEIGHT_DECAY"): 0.0001,
    ("SOLVER", "IMS_PER_BATCH"): 8,
}
SCHEDULES = {
    COCO: {("MODEL", "LEVELSET", "LOSS_WEIGHT_INITIAL"): 0.2, ("MODEL", "LEVELSET", "LOSS_WEIGHT_FINAL"): 1.0,
           ("SOLVER", "BASE_LR"): 0.02, ("SOLVER", "STEPS"): (60000, 80000), ("SOLVER", "MAX_ITER"): 90000,
           ("INPUT", "MIN_SIZE_TRAIN"): (800,), ("DATASETS", "TRAIN"): ("coco_2017_train",)},
    CITYSCAPES: {("MODEL", "LEVELSET", "LOSS_WEIGHT_INITIAL"): 1.0, ("MODEL", "LEVELSET", "LOSS_WEIGHT_FINAL"): 5.0,
                 ("SOLVER", "BASE_LR"): 0.01, ("SOLVER", "STEPS"): (18000,), ("SOLVER", "MAX_ITER"): 24000,
                 ("INPUT", "MIN_SIZE_TRAIN"): (800, 1024), ("INPUT", "MIN_SIZE_TRAIN_SAMPLING"): "range",
                 ("SOLVER", "GAMMA"): 0.1, ("DATASETS", "TRAIN"): ("cityscapes_fine_instance_seg_train",)},
}


def _get(cfg, path):
    for key in path:
        cfg = cfg[key]
    return tuple(cfg) if isinstance(cfg, list) else cfg


@pytest.mark.parametrize("config", [COCO, CITYSCAPES], ids=["coco", "cityscapes"])
def test_paper_config_is_section_5(config):
    cfg = setup_cfg(str(config))
    expected = {**PAPER_MASK_BRANCH, **SCHEDULES[config]}
    wrong = {".".join(k): (_get(cfg, k), v) for k, v in expected.items() if _get(cfg, k) != v}
    assert not wrong, wrong


@pytest.mark.parametrize("config", [COCO, CITYSCAPES], ids=["coco", "cityscapes"])
def test_paper_config_builds_the_paper_mask_branch(config, one_thread):
    # a small backbone and small heads (the structure is the paper's: the ChanVeseFeatureHead at 112x112)
    small = [k_v for pair in zip(SMALL_MODEL_OPTS[::2], SMALL_MODEL_OPTS[1::2])
             if "FEATURE_HEAD.NUM_CHANNELS" not in pair[0] for k_v in pair]
    cfg = setup_cfg(str(config), small + ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", "18",
                                          "MODEL.RESNETS.RES2_OUT_CHANNELS", "64"])
    model = build_model(cfg)
    head = model.roi_heads.mask_head
    assert type(head).__name__ == "LevelSetMaskHead"
    assert type(head.feature_head).__name__ == "ChanVeseFeatureHead"
    with torch.no_grad():
        features = head.feature_head(torch.zeros(2, cfg.MODEL.FPN.OUT_CHANNELS, 14, 14))
    assert tuple(features.shape) == (2, 64, 112, 112)


def test_the_default_configs_are_not_the_paper_ones():
    """The project's defaults differ from the paper only where MODEL_ZOO.md says so (the mask branch and, on COCO,
    the batch of 16)."""
    coco = setup_cfg(str(Path(COCO).with_name("levelset_rcnn_R_50_FPN_1x.yaml")))
    assert coco.MODEL.LEVELSET.FEATURE_HEAD.NAME == "FineGrainedChanVeseFeatureHead"
    assert coco.MODEL.LEVELSET.LOSS_SATURATE_L1 and coco.SOLVER.IMS_PER_BATCH == 16
