"""Every mask branch of the package on degenerate inputs (no annotations, empty / 1-pixel / outside boxes and masks,
zero detections): no crash and no NaN where the input is valid, a clear error naming the problem where it is not."""
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import SMALL_MODEL_OPTS, checked_train_step

import levelset_rcnn  # noqa: F401  (before detectron2.modeling)
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances, PolygonMasks
from detectron2.utils.events import EventStorage

from levelset_rcnn.engine.defaults import setup_cfg

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml"
H, W = 96, 128
BOX_LOSSES = {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}

SMALL = SMALL_MODEL_OPTS + [
    "MODEL.RPN.POST_NMS_TOPK_TEST", "32",
    "TEST.DETECTIONS_PER_IMAGE", "5",
]

# The mask branches of this package, on the quickstart model: name -> (extra options, mask loss names)
VARIANTS = {
    "levelset": ([], {"loss_tsdf_initial", "loss_tsdf_final"}),
    "levelset_no_chan_vese": (["MODEL.LEVELSET.CHAN_VESE_ON", "False"], {"loss_tsdf_initial"}),
    "tsdf_only_standard_roi_heads": (["MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.LEVELSET.CHAN_VESE_ON", "False"],
                                     {"loss_tsdf_initial"}),
    "ls_loss": (["MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.ROI_MASK_HEAD.NAME",
                 "MaskRCNNLevelSetLossHead"], {"loss_mask", "loss_level_set"}),
    "high_res": (["MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.ROI_MASK_HEAD.NAME",
                  "HighResMaskRCNNConvUpsampleHead", "MODEL.ROI_MASK_HEAD.OUTPUT_RESOLUTION", "56"],
                 {"loss_mask"}),
}

pytestmark = pytest.mark.usefixtures("one_thread")


def build(variant, *opts):
    extra, mask_losses = VARIANTS[variant]
    cfg = setup_cfg(str(QUICKSTART), SMALL + extra + [str(o) for o in opts])
    torch.manual_seed(0)
    return cfg, build_model(cfg), mask_losses


def instances(boxes, masks, classes):
    inst = Instances((H, W))
    inst.gt_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.as_tensor(classes, dtype=torch.int64).reshape(-1)
    inst.gt_masks = BitMasks(torch.as_tensor(np.asarray(masks, dtype=bool)).reshape(-1, H, W))
    return inst


def empty_instances():
    return instances(np.zeros((0, 4)), np.zeros((0, H, W)), [])


def normal_instances():
    m = np.zeros((2, H, W), dtype=bool)
    m[0, 12:70, 10:60] = True
    m[1, 20:50, 70:120] = True
    return instances([[10, 12, 60, 70], [70, 20, 120, 50]], m, [0, 1])


def degenerate_instances():
    """A zero-area box, a 1-pixel box with a 1-pixel mask, an empty mask in a non-empty box, a mask covering
    the whole image (it touches every RoI border)."""
    m = np.zeros((4, H, W), dtype=bool)
    m[1, 30, 30] = True
    m[3] = True
    return instances([[40, 40, 40, 40], [30, 30, 31, 31], [10, 10, 50, 60], [0, 0, W, H]], m, [0, 1, 2, 3])


def batch_of(*insts, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"image": torch.rand(3, H, W, generator=g) * 255, "instances": i, "height": H, "width": W}
            for i in insts]


# ----------------------------------------------------------------------------------------------------------
# training with missing / degenerate annotations
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_one_image_without_annotations(variant):
    _, model, mask_losses = build(variant)
    losses = checked_train_step(model, batch_of(empty_instances(), normal_instances()))
    assert set(losses) == BOX_LOSSES | mask_losses


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_image_with_annotations(variant):
    _, model, mask_losses = build(variant)
    model.train()
    with EventStorage(0):
        losses = model(batch_of(empty_instances(), empty_instances()))
    assert set(losses) == BOX_LOSSES | mask_losses
    for name, value in losses.items():
        assert torch.isfinite(value).all(), f"{name} = {value}"
    for name in mask_losses:
        # no foreground RoI: the mask losses are zero but still part of the graph (DDP needs every
        # parameter used, and backward must work)
        assert float(losses[name]) == 0.0, name
        assert losses[name].requires_grad, f"{name} is detached from the graph"
    total = sum(losses.values())
    total.backward()
    mask_params = [p for n, p in model.roi_heads.named_parameters() if "mask_head" in n and p.requires_grad]
    assert all(p.grad is not None for p in mask_params)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_degenerate_boxes_and_masks(variant):
    _, model, mask_losses = build(variant)
    losses = checked_train_step(model, batch_of(degenerate_instances(), normal_instances()))
    assert set(losses) == BOX_LOSSES | mask_losses
    losses = checked_train_step(model, batch_of(degenerate_instances(), degenerate_instances(), seed=1))
    assert set(losses) == BOX_LOSSES | mask_losses


def test_degenerate_polygons():
    _, model, mask_losses = build("levelset")
    inst = Instances((H, W))
    inst.gt_boxes = Boxes(torch.tensor([[30.0, 30, 31, 31], [0, 0, W, H], [10, 12, 60, 70]]))
    inst.gt_classes = torch.tensor([0, 1, 2])
    inst.gt_masks = PolygonMasks([
        [np.array([30, 30, 31, 30, 31, 31, 30, 31], dtype=np.float64)],
        [np.array([0, 0, W, 0, W, H, 0, H], dtype=np.float64)],
        [np.array([10, 12, 60, 12, 60, 70, 10, 70], dtype=np.float64)],
    ])
    losses = checked_train_step(model, batch_of(inst, normal_instances()))
    assert set(losses) == BOX_LOSSES | mask_losses


def test_missing_gt_masks_is_a_clear_error():
    _, model, _ = build("levelset")
    inst = normal_instances()
    inst.remove("gt_masks")
    model.train()
    with EventStorage(0), pytest.raises(ValueError, match="gt_masks"):
        model(batch_of(inst, normal_instances()))


# ----------------------------------------------------------------------------------------------------------
# inference without detections
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_inference_with_zero_detections(variant):
    cfg, model, _ = build(variant, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.1")
    model.eval()
    g = torch.Generator().manual_seed(0)
    inputs = [{"image": torch.rand(3, H, W, generator=g) * 255, "height": H, "width": W} for _ in range(2)]
    with torch.no_grad():
        outputs = model(inputs)
    for out in outputs:
        inst = out["instances"]
        assert len(inst) == 0
        assert tuple(inst.pred_boxes.tensor.shape) == (0, 4)
        assert tuple(inst.pred_masks.shape) == (0, H, W)
        if inst.has("pred_masks_initial"):
            s = cfg.MODEL.LEVELSET.RESOLUTION
            assert tuple(inst.pred_masks_initial.shape) == (0, 1, s, s)
        if inst.has("pred_levelset_hparams"):
            assert tuple(inst.pred_levelset_hparams.shape) == (0, 2 * cfg.MODEL.LEVELSET.NUM_ITERATIONS + 3)


def test_inference_with_zero_detections_in_one_image_only():
    """Image 1 gets detections, image 2 none (an image of a single colour still gets boxes, so drive it
    through forward_with_given_boxes with hand-made detections)."""
    _, model, _ = build("levelset")
    model.eval()
    g = torch.Generator().manual_seed(0)
    images = model.preprocess_image([{"image": torch.rand(3, H, W, generator=g) * 255} for _ in range(2)])
    with torch.no_grad():
        features = model.backbone(images.tensor)
        dets = []
        for boxes in ([[5.0, 5, 50, 40], [60, 10, 120, 90]], np.zeros((0, 4))):
            d = Instances((H, W))
            d.pred_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
            d.pred_classes = torch.zeros(len(d.pred_boxes), dtype=torch.int64)
            d.scores = torch.ones(len(d.pred_boxes))
            dets.append(d)
        # the default (fine-grained) feature head reads the normalised image: a backbone output
        assert features["image"] is images.tensor
        out = model.roi_heads.forward_with_given_boxes(features, dets)
        # detectron2's public path, GeneralizedRCNN.inference(inputs, detected_instances), unchanged
        public = model.inference([{"image": t, "height": H, "width": W} for t in
                                  (torch.rand(3, H, W, generator=g) * 255, torch.rand(3, H, W, generator=g) * 255)],
                                 detected_instances=dets)
    assert type(model).__name__ == "GeneralizedRCNN"
    assert tuple(public[0]["instances"].pred_masks.shape) == (2, H, W)
    assert len(public[1]["instances"]) == 0
    assert tuple(out[0].pred_masks.shape[:2]) == (2, 1)
    assert tuple(out[1].pred_masks.shape[:2]) == (0, 1)
    assert torch.isfinite(out[0].pred_masks).all()
