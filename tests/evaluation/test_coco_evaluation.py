"""LevelSetCOCOEvaluator and build_evaluator on a tiny COCO-format dataset built in tmp_path."""
import json
import math
import os
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

import levelset_rcnn  # noqa: F401  (must come before detectron2.evaluation)
import detectron2.utils.comm as comm
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.evaluation import CityscapesInstanceEvaluator, COCOEvaluator
from detectron2.structures import Boxes, Instances
from torchvision.ops import roi_align

from levelset_core.compat import has_compiled_ops
from levelset_rcnn.evaluation import INITIAL_MASK_TASK, LevelSetCOCOEvaluator, build_evaluator
from levelset_rcnn.evaluation import coco_evaluation

SIZE = 64
# Non-contiguous category ids, to check that predicted (contiguous) classes are mapped back.
CATEGORIES = [{"id": 3, "name": "rect"}, {"id": 7, "name": "circle"}]
EMPTY_CATEGORY = {"id": 5, "name": "unused"}  # a class without any ground truth
METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl"]


def _rect(y0, x0, y1, x1):
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _circle(cy, cx, r):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


# image id -> list of (category id, mask)
SHAPES = {
    10: [(3, _rect(4, 6, 24, 34)), (7, _circle(44, 44, 11))],
    11: [(3, _rect(20, 20, 54, 54)), (3, _rect(2, 2, 14, 16)), (7, _circle(10, 50, 7))],
    12: [(7, _circle(30, 20, 14)), (3, _rect(40, 40, 60, 62))],
}


def _box_xywh(mask):
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def _make_dataset(root, with_empty_class=False):
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for image_id, shapes in SHAPES.items():
        file_name = f"img_{image_id}.png"
        pixels = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
        for category_id, mask in shapes:
            pixels[mask] = (200, 80, 40) if category_id == 3 else (40, 80, 200)
        Image.fromarray(pixels).save(os.path.join(root, file_name))
        images.append({"id": image_id, "file_name": file_name, "height": SIZE, "width": SIZE})
        for category_id, mask in shapes:
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
                "segmentation": rle, "area": float(mask.sum()), "bbox": _box_xywh(mask), "iscrowd": 0,
            })
    categories = CATEGORIES + ([EMPTY_CATEGORY] if with_empty_class else [])
    json_file = os.path.join(root, "annotations.json")
    with open(json_file, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return json_file


@pytest.fixture
def register(tmp_path, temporary_datasets):
    """Factory: register a tiny dataset under a unique name; unregistered at teardown."""
    def _register(with_empty_class=False, load=True):
        name = f"levelset_test_coco_{uuid.uuid4().hex[:8]}"
        root = tmp_path / name
        root.mkdir()
        json_file = _make_dataset(str(root), with_empty_class)
        register_coco_instances(name, {}, json_file, str(root))
        if load:
            DatasetCatalog.get(name)  # fills thing_classes / thing_dataset_id_to_contiguous_id
        temporary_datasets.append(name)
        return name

    return _register


@pytest.fixture
def dataset(register):
    return register()


def _initial_masks(masks, boxes, resolution):
    """GT masks cropped into their boxes (N x 1 x M x M probabilities), like RoI mask targets."""
    if len(masks) == 0:
        return torch.zeros(0, 1, resolution, resolution)
    rois = torch.cat([torch.arange(len(boxes), dtype=torch.float32)[:, None], boxes], dim=1)
    return roi_align(masks[:, None].float(), rois, resolution, 1.0, 0, aligned=True).clamp(0, 1)


def _instances(boxes, scores, classes, masks, initial=None):
    instances = Instances((SIZE, SIZE))
    instances.pred_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.scores = torch.as_tensor(scores, dtype=torch.float32)
    instances.pred_classes = torch.as_tensor(classes, dtype=torch.int64)
    instances.pred_masks = torch.as_tensor(np.asarray(masks, dtype=bool).reshape(-1, SIZE, SIZE))
    if initial is not None:
        instances.pred_masks_initial = initial
    return instances


def _inputs(dataset_name):
    return [
        {"image_id": d["image_id"], "height": d["height"], "width": d["width"], "file_name": d["file_name"]}
        for d in DatasetCatalog.get(dataset_name)
    ]


def _gt_predictions(dataset_name, resolution=28, initial="gt", noise=None, drop_images=()):
    """Per-image model outputs made from the ground truth (optionally perturbed)."""
    to_contiguous = MetadataCatalog.get(dataset_name).thing_dataset_id_to_contiguous_id
    rng = np.random.default_rng(noise) if noise is not None else None
    outputs = []
    for image_id in sorted(SHAPES):
        shapes = [] if image_id in drop_images else SHAPES[image_id]
        boxes, classes, masks = [], [], []
        for category_id, mask in shapes:
            x, y, w, h = _box_xywh(mask)
            box = np.array([x, y, x + w, y + h], dtype=np.float32)
            if rng is not None:
                shift = rng.integers(-2, 3, size=2)
                mask = np.roll(mask, shift=tuple(shift), axis=(0, 1))
                box = box + np.array([shift[1], shift[0], shift[1], shift[0]]) + rng.normal(0, 1.0, 4)
            boxes.append(box)
            classes.append(to_contiguous[category_id])
            masks.append(mask)
        if rng is not None:  # a false positive
            boxes.append(np.array([30, 2, 50, 20], dtype=np.float32))
            classes.append(int(rng.integers(0, len(CATEGORIES))))
            masks.append(_rect(2, 30, 20, 50))
        scores = np.ones(len(boxes)) if rng is None else rng.uniform(0.3, 1.0, len(boxes))
        boxes_t = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
        masks_t = torch.as_tensor(np.asarray(masks, dtype=bool).reshape(-1, SIZE, SIZE))
        if initial == "gt":
            initial_masks = _initial_masks(masks_t, boxes_t, resolution)
        elif initial == "zeros":
            initial_masks = torch.zeros(len(boxes), 1, resolution, resolution)
        else:
            initial_masks = None
        outputs.append({"instances": _instances(boxes_t, scores, classes, masks_t, initial_masks)})
    return outputs


def _run(evaluator, inputs, outputs, batch_size=2):
    evaluator.reset()
    for start in range(0, len(inputs), batch_size):
        evaluator.process(inputs[start:start + batch_size], outputs[start:start + batch_size])
    return evaluator.evaluate()


def _assert_same(a, b, rel=0.0):
    """Same metric names; same values (NaN equals NaN), exactly or up to the relative tolerance ``rel``."""
    assert a.keys() == b.keys()
    for key in a:
        same = a[key] == pytest.approx(b[key], rel=rel, abs=0.0) if rel else a[key] == b[key]
        assert (math.isnan(a[key]) and math.isnan(b[key])) or same, (key, a[key], b[key])


#: Relative tolerance between two COCO AP implementations. With detectron2's compiled ops (official main),
#: LevelSetCOCOEvaluator uses detectron2's C++ COCOeval_opt while the reference below is pycocotools' COCOeval:
#: the same matching and precision/recall arrays, summed in a different order, so the APs differ in the last
#: bits (seen: APm 70.0 vs 69.99999999999999). 1e-6 relative is far below any real difference (one AP point of
#: one category changes a value by more than 1e-3 relative) and far above float64 rounding.
AP_IMPLEMENTATIONS_REL_TOL = 1e-6


def test_uses_pycocotools_without_compiled_ops(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, distributed=False)
    assert evaluator._use_fast_impl == has_compiled_ops()
    if not has_compiled_ops():
        assert not LevelSetCOCOEvaluator(dataset, distributed=False, use_fast_impl=True)._use_fast_impl


@pytest.mark.parametrize("resolution", [28, 112])
def test_ground_truth_as_predictions(dataset, resolution):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset, resolution))
    assert list(results) == ["bbox", "segm", INITIAL_MASK_TASK]
    for task in ("bbox", "segm"):
        for metric in ("AP", "AP50", "AP75", "AP-rect", "AP-circle"):
            assert results[task][metric] == pytest.approx(100.0), (task, metric)
    initial = results[INITIAL_MASK_TASK]
    assert set(initial) == set(results["segm"])  # same metric names
    assert set(METRICS) <= set(initial) and {"AP-rect", "AP-circle"} <= set(initial)
    assert initial["AP"] >= 90.0
    assert initial["AP50"] == pytest.approx(100.0)


def test_tasks_inferred_from_predictions(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, distributed=False)
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset))
    assert set(results) == {"bbox", "segm", INITIAL_MASK_TASK}


def test_wrong_initial_masks(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset, initial="zeros"))
    assert results["segm"]["AP"] == pytest.approx(100.0)
    assert results["bbox"]["AP"] == pytest.approx(100.0)
    assert results[INITIAL_MASK_TASK]["AP"] < 10.0


def test_no_initial_masks_no_initial_task(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset, initial=None))
    assert set(results) == {"bbox", "segm"}


def test_bbox_only_task_skips_initial_masks(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox",), distributed=False)
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset))
    assert set(results) == {"bbox"}


@pytest.mark.parametrize("with_empty_class", [False, True])
def test_same_as_detectron2_coco_evaluator(register, with_empty_class):
    dataset = register(with_empty_class)
    inputs = _inputs(dataset)
    outputs = _gt_predictions(dataset, noise=1)
    ours = _run(LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False), inputs, outputs)
    plain_outputs = _gt_predictions(dataset, noise=1, initial=None)
    plain_evaluator = COCOEvaluator(dataset, ("bbox", "segm"), distributed=False, use_fast_impl=False)
    plain = _run(plain_evaluator, inputs, plain_outputs)
    assert 0 < ours["bbox"]["AP"] < 100 and 0 < ours["segm"]["AP"] < 100
    for task in ("bbox", "segm"):
        _assert_same(ours[task], plain[task], rel=AP_IMPLEMENTATIONS_REL_TOL)
    # the tolerance still tells a real difference: one AP value off by 1e-4 relative
    off = dict(plain["segm"], AP=plain["segm"]["AP"] * (1 + 1e-4))
    with pytest.raises(AssertionError):
        _assert_same(ours["segm"], off, rel=AP_IMPLEMENTATIONS_REL_TOL)
    if with_empty_class:
        assert math.isnan(ours["segm"]["AP-unused"]) and math.isnan(ours[INITIAL_MASK_TASK]["AP-unused"])


def test_loads_class_metadata_of_unloaded_dataset(register):
    """Without the id mapping in the metadata, contiguous class ids would be taken as dataset ids."""
    dataset = register(load=False)
    assert not hasattr(MetadataCatalog.get(dataset), "thing_dataset_id_to_contiguous_id")
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    assert MetadataCatalog.get(dataset).thing_dataset_id_to_contiguous_id == {3: 0, 7: 1}
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset))
    assert results["segm"]["AP"] == pytest.approx(100.0)


def test_no_predictions_at_all(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    evaluator.reset()
    assert evaluator.evaluate() == {}


def test_zero_detections_everywhere(dataset, tmp_path):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False, output_dir=str(tmp_path))
    outputs = _gt_predictions(dataset, drop_images=tuple(SHAPES))
    assert all(len(o["instances"]) == 0 for o in outputs)
    results = _run(evaluator, _inputs(dataset), outputs)
    assert set(results) == {"bbox", "segm", INITIAL_MASK_TASK}
    assert all(math.isnan(v) for v in results[INITIAL_MASK_TASK].values())


def test_some_images_without_detections(dataset):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    results = _run(evaluator, _inputs(dataset), _gt_predictions(dataset, drop_images=(11,)))
    for task in ("bbox", "segm", INITIAL_MASK_TASK):
        assert 0 < results[task]["AP"] < 100  # 3 of the 7 objects are missed
    assert results["segm"]["AP"] == pytest.approx(results["bbox"]["AP"])


def test_output_files(dataset, tmp_path):
    evaluator = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False, output_dir=str(tmp_path))
    _run(evaluator, _inputs(dataset), _gt_predictions(dataset))
    for name in ("instances_predictions.pth", "coco_instances_results.json",
                 "coco_instances_initial_results.json"):
        assert (tmp_path / name).is_file(), name
    initial = json.loads((tmp_path / "coco_instances_initial_results.json").read_text())
    assert len(initial) == sum(len(v) for v in SHAPES.values())
    assert {r["category_id"] for r in initial} == {c["id"] for c in CATEGORIES}  # dataset ids
    final = json.loads((tmp_path / "coco_instances_results.json").read_text())
    assert {r["category_id"] for r in final} == {c["id"] for c in CATEGORIES}


def test_distributed_gather(dataset, monkeypatch):
    """Predictions (initial masks included) gathered from two ranks give the single-process result."""
    inputs, outputs = _inputs(dataset), _gt_predictions(dataset, noise=2)
    single = _run(LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False), inputs, outputs)

    other_rank = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=False)
    other_rank.reset()
    other_rank.process(inputs[1:], outputs[1:])
    monkeypatch.setattr(comm, "gather", lambda data, dst=0: [data, other_rank._predictions])
    main_rank = LevelSetCOCOEvaluator(dataset, ("bbox", "segm"), distributed=True)
    main_rank.reset()
    main_rank.process(inputs[:1], outputs[:1])
    gathered = main_rank.evaluate()
    assert set(gathered) == {"bbox", "segm", INITIAL_MASK_TASK}
    for task in gathered:
        _assert_same(gathered[task], single[task])


def _cfg(mask_on=True):
    cfg = get_cfg()
    cfg.MODEL.MASK_ON = mask_on
    return cfg


@pytest.mark.parametrize("mask_on,tasks", [(True, ("bbox", "segm")), (False, ("bbox",))])
def test_build_evaluator_coco(dataset, tmp_path, mask_on, tasks):
    evaluator = build_evaluator(_cfg(mask_on), dataset, str(tmp_path))
    assert isinstance(evaluator, LevelSetCOCOEvaluator)
    assert tuple(evaluator._tasks) == tasks
    assert evaluator._output_dir == str(tmp_path)


@pytest.fixture
def metadata_only():
    """Factory: a metadata-only dataset name with the given fields; removed at teardown."""
    names = []

    def _make(**fields):
        name = f"levelset_test_meta_{uuid.uuid4().hex[:8]}"
        MetadataCatalog.get(name).set(**fields)
        names.append(name)
        return name

    yield _make
    for name in names:
        MetadataCatalog.remove(name)


def test_build_evaluator_other_types(dataset, metadata_only, monkeypatch, tmp_path):
    cityscapes = metadata_only(evaluator_type="cityscapes_instance", thing_classes=["car"], gt_dir=str(tmp_path))
    assert isinstance(build_evaluator(_cfg(), cityscapes, str(tmp_path)), CityscapesInstanceEvaluator)

    calls = []

    class FakeLVISEvaluator:
        def __init__(self, *args, **kwargs):
            calls.append((args, kwargs))

    monkeypatch.setattr(coco_evaluation, "LevelSetLVISEvaluator", FakeLVISEvaluator)
    lvis = metadata_only(evaluator_type="lvis")
    assert isinstance(build_evaluator(_cfg(), lvis, str(tmp_path)), FakeLVISEvaluator)
    assert calls and calls[0][0][0] == lvis

    # any other type with a COCO json file
    custom = metadata_only(evaluator_type="my_type", json_file=MetadataCatalog.get(dataset).json_file)
    assert isinstance(build_evaluator(_cfg(), custom, str(tmp_path)), LevelSetCOCOEvaluator)


def test_build_evaluator_unknown(metadata_only, tmp_path):
    unknown = metadata_only(evaluator_type="sem_seg")
    with pytest.raises(ValueError, match=f"{unknown}.*sem_seg"):
        build_evaluator(_cfg(), unknown, str(tmp_path))
    no_type = metadata_only()
    with pytest.raises(ValueError, match=no_type):
        build_evaluator(_cfg(), no_type, str(tmp_path))
