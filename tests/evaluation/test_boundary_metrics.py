"""AF1 / AF2 and Boundary AP on hand-made masks with known answers, and as detectron2 evaluators."""
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

import levelset_rcnn  # noqa: F401  (before detectron2.evaluation)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluators
from detectron2.structures import Boxes, Instances

from levelset_rcnn import add_levelset_rcnn_config
from levelset_rcnn.evaluation import (
    BoundaryAPEvaluator,
    BoundaryF1Evaluator,
    LevelSetCOCOEvaluator,
    average_boundary_f1,
    boundary_ap,
    boundary_f1,
    build_evaluator,
    mask_boundary,
)

H = W = 48


def _rect(y0, x0, y1, x1, shape=(H, W)):
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _coco(image_masks, categories=(1, 2)):
    """COCO gt dict from {image_id: [(category_id, mask, iscrowd), ...]}."""
    images, anns = [], []
    for image_id, objs in image_masks.items():
        images.append({"id": image_id, "height": H, "width": W, "file_name": f"{image_id}.png"})
        for cat, m, crowd in objs:
            box = mask_util.toBbox(_rle(m)).tolist()
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "segmentation": _rle(m),
                         "area": float(m.sum()), "bbox": box, "iscrowd": crowd})
    return {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in categories]}


def _res(image_id, cat, mask, score):
    return {"image_id": image_id, "category_id": cat, "segmentation": _rle(mask), "score": score}


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


# ---------------------------------------------------------------------------------------------------------
# boundary pixels and boundary F1
# ---------------------------------------------------------------------------------------------------------
def test_mask_boundary_square_hole_and_border():
    assert mask_boundary(_rect(2, 2, 7, 7)).sum() == 16  # 5x5 square: 25 - 9 interior
    ring = _rect(10, 10, 30, 30) & ~_rect(18, 18, 22, 22)
    # outer contour 76 px + the 6x6 - 4x4 = 20 px around the hole (8-neighbourhood)
    assert mask_boundary(ring).sum() == 76 + 20
    # outside the image is background: a mask filling the image has the image frame as boundary
    assert mask_boundary(np.ones((5, 6), bool)).sum() == 2 * 6 + 2 * 3
    with pytest.raises(ValueError, match="H x W"):
        mask_boundary(np.ones((2, 3, 4)))


def test_boundary_f1_known_answers():
    sq = _rect(10, 10, 30, 30)
    assert boundary_f1(sq, sq, (1, 2)) == [1.0, 1.0]  # identical
    # a one-pixel shift: every boundary pixel is 1 px from the other boundary
    # (at tolerance 0 only the 2 x 19 shared pixels of the top and bottom rows match: P = R = 38 / 76)
    assert boundary_f1(np.roll(sq, 1, axis=1), sq, (0, 1, 2)) == pytest.approx([0.5, 1.0, 1.0])
    # a two-pixel shift: exact at tolerance 2, not at 1
    f1, f2 = boundary_f1(np.roll(sq, 2, axis=1), sq, (1, 2))
    assert f1 < 0.9 and f2 == 1.0
    # a hole in the ground truth that the prediction fills: precision 1, recall 76 / 96
    gt = sq & ~_rect(18, 18, 22, 22)
    r = 76 / 96
    assert boundary_f1(sq, gt, (1, 2)) == pytest.approx([2 * r / (1 + r)] * 2)
    # empty masks
    empty = np.zeros_like(sq)
    assert boundary_f1(empty, empty, (1,)) == [1.0]
    assert boundary_f1(empty, sq, (1,)) == [0.0]
    with pytest.raises(ValueError, match="one shape"):
        boundary_f1(sq, sq[:10], (1,))


def test_boundary_f1_at_image_border():
    """A mask touching the image border: the border counts as boundary for both masks (symmetric)."""
    a = _rect(0, 0, 12, 12)
    assert boundary_f1(a, a, (1,)) == [1.0]
    assert boundary_f1(_rect(0, 0, 12, 13), a, (1,)) == [1.0]


# ---------------------------------------------------------------------------------------------------------
# AF aggregation over COCO matches
# ---------------------------------------------------------------------------------------------------------
def test_average_boundary_f1_aggregation():
    a, b = _rect(4, 4, 20, 24), _rect(28, 28, 40, 38)
    crowd = _rect(2, 30, 14, 46)
    gt = _coco({1: [(1, a, 0), (2, b, 0), (1, crowd, 1)]})
    b_pred = np.roll(b, 2, axis=1)  # 12 x 10 box shifted by 2: IoU 96/144, a true positive at 0.50 ... 0.65
    assert _iou(b_pred, b) == pytest.approx(96 / 144)
    results = [
        _res(1, 1, a, 0.9),  # exact: F = 1 at all 10 thresholds
        _res(1, 2, b_pred, 0.8),
        _res(1, 1, _rect(30, 2, 44, 16), 0.95),  # a false positive: ignored by AF
        _res(1, 1, crowd, 0.7),  # matches the crowd region: ignored
    ]
    f = boundary_f1(b_pred, b, (1, 2))
    out = average_boundary_f1(gt, results, (1, 2))
    n_b = 4
    for i, name in enumerate(("AF1", "AF2")):
        assert out[name] == pytest.approx(100 * (10 * 1.0 + n_b * f[i]) / (10 + n_b))
        assert out[f"{name}_50"] == pytest.approx(100 * (1.0 + f[i]) / 2)
        assert out[f"{name}_75"] == pytest.approx(100.0)
    assert out["num_true_positives"] == 10 + n_b


def test_average_boundary_f1_no_true_positive():
    gt = _coco({1: [(1, _rect(4, 4, 20, 24), 0)]})
    out = average_boundary_f1(gt, [_res(1, 1, _rect(30, 30, 40, 40), 0.9)], (1, 2))
    assert np.isnan(out["AF1"]) and out["num_true_positives"] == 0
    assert np.isnan(average_boundary_f1(gt, [], (1, 2))["AF2"])


# ---------------------------------------------------------------------------------------------------------
# Boundary AP (faster-coco-eval) against pycocotools
# ---------------------------------------------------------------------------------------------------------
def _pycocotools_segm_ap(gt, results):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return 100 * ev.stats[0], 100 * ev.stats[1], 100 * ev.stats[2]


def _thin_case():
    """Masks at most 3 px thick: with d = 0.02 * diag(48x48) -> 1-2 px, each mask is all boundary."""
    rng = np.random.default_rng(0)
    images, results = {}, []
    for image_id in range(1, 5):
        objs = []
        for k in range(3):
            y, x = int(rng.integers(2, 40)), int(rng.integers(2, 20))
            length, thick = int(rng.integers(12, 26)), int(rng.integers(1, 3))
            cat = 1 + (k % 2)
            m = _rect(y, x, y + thick, x + length)
            objs.append((cat, m, 0))
            shift = int(rng.integers(0, 6))
            results.append(_res(image_id, cat, np.roll(m, shift, axis=1), float(rng.uniform(0.1, 1.0))))
        results.append(_res(image_id, 1, _rect(44, 2, 46, 30), float(rng.uniform(0.1, 1.0))))  # FP
        images[image_id] = objs
    return _coco(images), results


def test_boundary_ap_equals_mask_ap_on_thin_masks():
    gt, results = _thin_case()
    ref = _pycocotools_segm_ap(gt, results)
    assert 5 < ref[0] < 95  # a non-trivial AP
    bap = boundary_ap(gt, results)
    assert (bap["AP"], bap["AP50"], bap["AP75"]) == pytest.approx(ref, abs=1e-6)
    # faster-coco-eval's own mask AP (the fast COCO path) agrees with pycocotools too
    segm = boundary_ap(gt, results, iou_type="segm")
    assert (segm["AP"], segm["AP50"], segm["AP75"]) == pytest.approx(ref, abs=1e-6)


def test_boundary_ap_known_answers():
    big = _rect(4, 4, 44, 44)
    gt = _coco({1: [(1, big, 0)]})
    assert boundary_ap(gt, [_res(1, 1, big, 0.9)])["AP"] == pytest.approx(100.0)
    # a one-pixel shift of a large mask: mask IoU 0.95 -> a TP up to 0.95; boundary IoU is lower
    shifted = [_res(1, 1, np.roll(big, 1, axis=1), 0.9)]
    mask_ap = boundary_ap(gt, shifted, iou_type="segm")["AP"]
    b_ap = boundary_ap(gt, shifted)["AP"]
    assert mask_ap == pytest.approx(100.0) and b_ap < mask_ap
    # a hole in the ground truth that the prediction fills: boundary AP penalises it more than mask AP
    holed = big & ~_rect(20, 20, 28, 28)
    gt_h = _coco({1: [(1, holed, 0)]})
    filled = [_res(1, 1, big, 0.9)]
    assert boundary_ap(gt_h, filled)["AP"] < boundary_ap(gt_h, filled, iou_type="segm")["AP"]
    assert boundary_ap(gt, [])["AP"] == 0.0


def _same_metrics(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert (np.isnan(a[k]) and np.isnan(b[k])) or a[k] == pytest.approx(b[k], abs=1e-9), (k, a[k], b[k])


def test_boundary_ap_does_not_modify_results_and_takes_numpy_boxes():
    """Regression (official detectron2 main, numpy 2): faster-coco-eval 1.8.0's loadRes writes
    ``bbox = toBbox(...)`` (a numpy array) into the caller's result dicts, and on a second evaluation of the same
    results its ``bbox == []`` test raised "operands could not be broadcast together with shapes (4,) (0,)".
    boundary_ap hands it private copies, so results are untouched, can be evaluated again, and may carry numpy
    boxes."""
    import copy

    gt, results = _thin_case()
    before = copy.deepcopy(results)
    first = boundary_ap(gt, results)
    assert results == before, "boundary_ap modified the caller's results"
    _same_metrics(boundary_ap(gt, results), first)  # the same list a second time
    _same_metrics(boundary_ap(gt, results, iou_type="segm"), boundary_ap(gt, before, iou_type="segm"))
    # numpy-array boxes (as pycocotools.mask.toBbox returns them): mask AP ignores boxes, the result is the same
    with_np_boxes = [dict(r, bbox=mask_util.toBbox(r["segmentation"])) for r in results]
    _same_metrics(boundary_ap(gt, with_np_boxes), first)
    assert all(isinstance(r["bbox"], np.ndarray) for r in with_np_boxes)


def test_faster_coco_eval_results():
    from levelset_rcnn.evaluation.boundary_ap import faster_coco_eval_results

    seg = _rle(_rect(2, 3, 12, 20))
    res = [{"image_id": 1, "category_id": 1, "score": 0.5, "segmentation": seg, "bbox": np.array([3, 2, 17, 10]),
            "area": 1.0, "id": 7}]
    boxes = faster_coco_eval_results(res, "bbox")
    assert boxes[0]["bbox"] == [3.0, 2.0, 17.0, 10.0] and type(boxes[0]["bbox"]) is list
    assert "area" not in boxes[0] and "id" not in boxes[0]  # loadRes computes them
    masks = faster_coco_eval_results(res, "segm")
    assert "bbox" not in masks[0] and masks[0]["segmentation"] is seg  # mask area, not box area
    assert isinstance(res[0]["bbox"], np.ndarray) and res[0]["id"] == 7  # the input is untouched
    with pytest.raises(ValueError, match="result 0 .*image_id 1.*'bbox'"):
        faster_coco_eval_results([{"image_id": 1, "segmentation": seg}], "bbox")
    with pytest.raises(ValueError, match="keypoints"):
        faster_coco_eval_results(res, "keypoints")


# ---------------------------------------------------------------------------------------------------------
# the evaluators and build_evaluator
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_dataset(tmp_path):
    from PIL import Image
    import json

    masks = {1: [(3, _rect(4, 4, 20, 24), 0), (7, _rect(28, 28, 40, 38), 0)], 2: [(3, _rect(10, 10, 30, 40), 0)]}
    gt = _coco(masks, categories=(3, 7))
    for im in gt["images"]:
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / im["file_name"])
    json_file = tmp_path / "gt.json"
    json_file.write_text(json.dumps(gt))
    from detectron2.data.datasets import register_coco_instances

    name = f"levelset_test_boundary_{uuid.uuid4().hex[:8]}"
    register_coco_instances(name, {}, str(json_file), str(tmp_path))
    DatasetCatalog.get(name)
    yield name, masks
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _outputs(masks, dataset_name, shift=0):
    to_contig = MetadataCatalog.get(dataset_name).thing_dataset_id_to_contiguous_id
    inputs, outputs = [], []
    for image_id, objs in masks.items():
        inst = Instances((H, W))
        ms = np.stack([np.roll(m, shift, axis=1) for _, m, _ in objs])
        boxes = [[m.nonzero()[1].min(), m.nonzero()[0].min(), m.nonzero()[1].max() + 1, m.nonzero()[0].max() + 1]
                 for m in ms]
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.scores = torch.full((len(objs),), 0.9)
        inst.pred_classes = torch.tensor([to_contig[c] for c, _, _ in objs])
        inst.pred_masks = torch.from_numpy(ms)
        inputs.append({"image_id": image_id, "height": H, "width": W})
        outputs.append({"instances": inst})
    return inputs, outputs


def test_evaluators_on_ground_truth(tiny_dataset):
    name, masks = tiny_dataset
    for evaluator, task, keys in ((BoundaryAPEvaluator(name, distributed=False), "boundary", ("AP",)),
                                  (BoundaryF1Evaluator(name, distributed=False), "boundary_f1", ("AF1", "AF2"))):
        evaluator.reset()
        evaluator.process(*_outputs(masks, name))
        res = evaluator.evaluate()
        for k in keys:
            assert res[task][k] == pytest.approx(100.0), (task, k)
    # shifted by 2 px: AF1 drops below 100, AF2 stays 100 (tolerance 2)
    ev = BoundaryF1Evaluator(name, distributed=False)
    ev.reset()
    ev.process(*_outputs(masks, name, shift=2))
    res = ev.evaluate()["boundary_f1"]
    assert res["AF1"] < 95 and res["AF2"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="tolerances"):
        BoundaryF1Evaluator(name, tolerances=())
    with pytest.raises(ValueError, match="dilation_ratio"):
        BoundaryAPEvaluator(name, dilation_ratio=0)


def test_build_evaluator_with_extra_evaluators(tiny_dataset, tmp_path):
    name, masks = tiny_dataset
    cfg = add_levelset_rcnn_config(get_cfg())
    cfg.MODEL.MASK_ON = True
    assert list(cfg.TEST.EXTRA_EVALUATORS) == [] and cfg.TEST.BOUNDARY_AP.DILATION_RATIO == 0.02
    assert isinstance(build_evaluator(cfg, name, str(tmp_path)), LevelSetCOCOEvaluator)
    cfg.TEST.EXTRA_EVALUATORS = ["boundary_ap", "boundary_f1"]
    evaluator = build_evaluator(cfg, name, str(tmp_path))
    assert isinstance(evaluator, DatasetEvaluators)
    evaluator.reset()
    evaluator.process(*_outputs(masks, name))
    res = evaluator.evaluate()
    assert {"bbox", "segm", "boundary", "boundary_f1"} <= set(res)
    assert res["segm"]["AP"] == pytest.approx(100.0) and res["boundary"]["AP"] == pytest.approx(100.0)
    assert (tmp_path / "boundary_f1_metrics.json").is_file()
    cfg.TEST.EXTRA_EVALUATORS = ["boundary_iou_typo"]
    with pytest.raises(ValueError, match="boundary_iou_typo"):
        build_evaluator(cfg, name, str(tmp_path))
