"""BoundarySemSegEvaluator / SemSegStats: hand-made cases with known answers; evaluator next to SemSegEvaluator."""
import math

import numpy as np
import pytest
import torch
from PIL import Image
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluators, SemSegEvaluator

from deeplab_losses.evaluation import BoundarySemSegEvaluator, SemSegStats

IGN = 255


def square(shift=0, size=20):
    lab = torch.zeros(size, size, dtype=torch.long)
    lab[5:15, 5 + shift:15 + shift] = 1
    return lab


def test_perfect_prediction_scores_100():
    s = SemSegStats(2, IGN, trimap_widths=(1, 3), f1_tolerance=0)
    gt = square()
    s.add(gt.clone(), gt)
    res, per_class = s.summary()
    for key in ("mIoU", "mF1", "mBF", "trimap1-mIoU", "trimap3-mIoU", "nontrimap3-mIoU"):
        assert res[key] == pytest.approx(100.0), key


def test_shift_hurts_boundary_metrics_more_than_miou_and_tolerance_helps():
    gt, pred = square(size=40), square(shift=1, size=40)
    strict = SemSegStats(2, IGN, trimap_widths=(1, 5), f1_tolerance=0)
    strict.add(pred, gt)
    res, per_class = strict.summary()
    assert res["trimap1-mIoU"] < res["trimap5-mIoU"] < res["mIoU"] < 100
    assert res["nontrimap5-mIoU"] == pytest.approx(100.0)
    # region F1 is Dice: 2 IoU / (1 + IoU)
    iou = per_class["IoU"][1]
    assert per_class["F1"][1] == pytest.approx(2 * iou / (1 + iou))
    loose = SemSegStats(2, IGN, trimap_widths=(1,), f1_tolerance=1)
    loose.add(pred, gt)
    assert loose.summary()[0]["mBF"] == pytest.approx(100.0)
    assert res["mBF"] < 100.0


def test_ignore_pixels_never_count():
    gt = square()
    gt[:, :3] = IGN
    pred = square()
    pred[:, :3] = 1  # wrong only where ignored
    s = SemSegStats(2, IGN, trimap_widths=(1,), f1_tolerance=0)
    s.add(pred, gt)
    assert s.summary()[0]["mIoU"] == pytest.approx(100.0)
    assert s.summary()[0]["mBF"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="label 7"):
        s.add(pred, torch.full_like(gt, 7))


def test_evaluator_next_to_semseg_evaluator(tmp_path):
    name = "dll_test_eval_tiny"
    files = []
    for i, shift in enumerate((0, 2)):
        gt = square().numpy().astype(np.uint8)
        gt[0, :] = IGN
        gt_path = tmp_path / f"{i}.png"
        Image.fromarray(gt).save(gt_path)
        files.append({"file_name": f"img{i}.png", "sem_seg_file_name": str(gt_path), "shift": shift})
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [{k: v for k, v in d.items() if k != "shift"} for d in files])
        MetadataCatalog.get(name).set(stuff_classes=["bg", "square"], ignore_label=IGN)
    evaluator = DatasetEvaluators([SemSegEvaluator(name, distributed=False),
                                   BoundarySemSegEvaluator(name, distributed=False, trimap_widths=(1, 2))])
    evaluator.reset()
    for d in files:
        pred = torch.nn.functional.one_hot(square(d["shift"]), 2).permute(2, 0, 1).float()
        evaluator.process([{"file_name": d["file_name"]}], [{"sem_seg": pred}])
    res = evaluator.evaluate()
    ours, d2 = res["sem_seg_boundary"], res["sem_seg"]
    assert ours["mIoU"] == pytest.approx(d2["mIoU"])
    assert ours["IoU-square"] == pytest.approx(d2["IoU-square"])
    assert ours["trimap1-mIoU"] < ours["mIoU"]
    assert all(math.isfinite(ours[k]) for k in ("mBF", "mF1", "trimap2-mIoU", "BF-square", "F1-bg"))
