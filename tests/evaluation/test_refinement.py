"""Paired mask IoU of the initial and final level sets per detection, and the inspection of what the refinement does
on a model (levelset_rcnn.evaluation.refinement; tools/inspect_refinement.py)."""
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util

from detectron2.structures import Boxes, BoxMode, Instances
from levelset_rcnn.evaluation.refinement import (
    inspect_refinement,
    match_detections,
    refinement_mask_ious,
    summarize_refinement_ious,
)

S = 16


def test_match_detections_is_greedy_one_to_one_by_score_and_class():
    pred = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50.]])
    gt = torch.tensor([[0, 0, 10, 11], [20, 20, 30, 30.]])
    scores = torch.tensor([0.6, 0.9, 0.8, 0.95])
    pairs = match_detections(pred, torch.tensor([0, 0, 1, 0]), scores, gt, torch.tensor([0, 0]))
    # detection 1 (0.9) takes gt 0 first; detection 0 finds it taken; detection 2 has the wrong class;
    # detection 3 overlaps nothing
    assert pairs == [(1, 0)]
    assert match_detections(pred, torch.zeros(4, dtype=torch.long), scores, gt, torch.zeros(2, dtype=torch.long),
                            score_thresh=0.7) == [(1, 0), (2, 1)]
    assert match_detections(pred[:0], torch.zeros(0), scores[:0], gt, torch.zeros(2)) == []


def _square_phi(lo, hi):
    """φ > 0 on RoI pixels [lo, hi) × [lo, hi) of an S×S grid."""
    phi = -torch.ones(S, S)
    phi[lo:hi, lo:hi] = 1.0
    return phi


def _instances(phi0, phin, box=(10.0, 10.0, 26.0, 26.0)):
    inst = Instances((40, 40))
    inst.pred_boxes = Boxes(torch.tensor([box]))
    inst.pred_classes = torch.tensor([0])
    inst.scores = torch.tensor([0.9])
    inst.pred_levelsets = torch.stack([phi0, phin])[None]
    return inst


@pytest.mark.parametrize("kind", ["polygon", "rle"])
def test_refinement_mask_ious_pairs_initial_and_final(kind):
    # ground truth: the box's whole area (RoI pixels 0..S), as a polygon or as an RLE of the 40x40 image
    if kind == "polygon":
        segm = [[10, 10, 26, 10, 26, 26, 10, 26]]
    else:
        bitmap = np.zeros((40, 40), dtype=np.uint8, order="F")
        bitmap[10:26, 10:26] = 1
        segm = mask_util.encode(bitmap)
    record = {"file_name": "a.jpg", "height": 40, "width": 40, "annotations": [
        {"bbox": [10, 10, 16, 16], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "segmentation": segm},
        {"bbox": [0, 0, 40, 40], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 1,
         "segmentation": [[0, 0, 40, 0, 40, 40, 0, 40]]},
    ]}
    phi0, phin = _square_phi(4, 12), _square_phi(0, S)  # initial: the central 8x8 of 16x16; final: all of it
    ious = refinement_mask_ious(_instances(phi0, phin), record)
    assert ious.shape == (1, 2)
    assert ious[0, 0].item() == pytest.approx(64 / 256, abs=0.03)
    assert ious[0, 1].item() == pytest.approx(1.0, abs=0.03)
    summary = summarize_refinement_ious(torch.cat([ious, ious.flip(1)]))
    assert summary["matched"] == 2 and summary["improved"] == 1 and summary["worse"] == 1
    assert summary["mask_iou_gain"] == pytest.approx(0.0, abs=1e-6)


def test_refinement_mask_ious_needs_levelsets_and_known_segmentation():
    inst = _instances(_square_phi(0, S), _square_phi(0, S))
    record = {"file_name": "b.jpg", "annotations": [
        {"bbox": [10, 10, 26, 26], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0, "segmentation": "oops"}]}
    with pytest.raises(ValueError, match=r"b\.jpg.*segmentation"):
        refinement_mask_ious(inst, record)
    inst.remove("pred_levelsets")
    with pytest.raises(ValueError, match="inference_levelsets"):
        refinement_mask_ious(inst, record)
    assert summarize_refinement_ious(torch.zeros(0, 2)) == {"matched": 0}


def test_inspect_refinement_reports_initial_hyperparameters_and_phi_change(tmp_path, one_thread):
    from tiny_model import save_tiny_model

    from levelset_rcnn.engine import setup_cfg

    _, model, config, weights = save_tiny_model(tmp_path / "tiny")
    cfg = setup_cfg(config, ["MODEL.WEIGHTS", weights, "DATASETS.TEST", "('levelset_shapes_val',)"])
    stats = inspect_refinement(cfg, num_images=2)
    assert stats["images"] == 2 and stats["detections"] > 0
    # the hyperparameter head's last layer starts at zero: every hyperparameter is exactly 2·sigmoid(0) = 1
    assert stats["lambda1"] == pytest.approx(1.0) and stats["mu"] == pytest.approx(1.0)
    assert stats["eps"] == pytest.approx([1.0] * len(stats["dt"])) and len(stats["dt"]) >= 1
    assert len(stats["dt"]) == model.roi_heads.mask_head.num_iterations == cfg.MODEL.LEVELSET.NUM_ITERATIONS
    assert stats["feature_abs_mean"] > 0 and stats["max_phi_change"] >= stats["mean_phi_change"] > 0
    assert 0 <= stats["flipped_pixel_fraction"] <= 1
    # paired IoUs of phi0 / phiN with the ground truth, for the detections matched to it
    assert stats["matched"] >= 0
    if stats["matched"]:
        assert 0 <= stats["mask_iou_initial"] <= 1 and 0 <= stats["mask_iou_final"] <= 1
        assert stats["improved"] + stats["worse"] <= stats["matched"]


def test_inspect_refinement_rejects_a_model_without_refinement(tmp_path, one_thread):
    from tiny_model import save_tiny_model

    from levelset_rcnn.engine import setup_cfg

    _, _, config, weights = save_tiny_model(tmp_path / "tiny", ["MODEL.LEVELSET.CHAN_VESE_ON", "False"])
    with pytest.raises(ValueError, match="CHAN_VESE_ON"):
        inspect_refinement(setup_cfg(config, ["MODEL.WEIGHTS", weights, "MODEL.LEVELSET.CHAN_VESE_ON", "False"]))
