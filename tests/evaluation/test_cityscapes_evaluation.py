"""Cityscapes instance segmentation on a tiny generated Cityscapes-layout folder: loading (detectron2's converter
from gtFine *_instanceIds.png), evaluation with cityscapesscripts through build_evaluator, and the quirks handled."""
import json
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

import levelset_rcnn  # noqa: F401  (before detectron2.evaluation)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.builtin_meta import _get_builtin_metadata
from detectron2.data.datasets.cityscapes import load_cityscapes_instances
from detectron2.structures import Boxes, Instances

from levelset_rcnn.evaluation import CityscapesInstanceEvaluator, build_evaluator

H, W = 64, 128
PERSON, CAR, ROAD = 24, 26, 7  # Cityscapes label ids
FRAMES = {
    "frankfurt_000000_000001": [(PERSON, (4, 10, 40, 30)), (CAR, (20, 50, 60, 110))],
    "lindau_000000_000002": [(CAR, (10, 5, 50, 60)), (CAR, (8, 70, 44, 120)), (PERSON, (30, 62, 62, 69))],
}


def _make_cityscapes(root, split="val"):
    """<root>/cityscapes/{leftImg8bit,gtFine}/<split>/<city>/... with instanceIds, labelIds and polygons json."""
    base = root / "cityscapes"
    for frame, objs in FRAMES.items():
        city = frame.split("_")[0]
        img_dir = base / "leftImg8bit" / split / city
        gt_dir = base / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(img_dir / f"{frame}_leftImg8bit.png")
        inst = np.full((H, W), ROAD, np.uint16)
        label = np.full((H, W), ROAD, np.uint8)
        polygons = []
        for k, (label_id, (y0, x0, y1, x1)) in enumerate(objs):
            inst[y0:y1, x0:x1] = label_id * 1000 + k
            label[y0:y1, x0:x1] = label_id
            polygons.append({"label": "person" if label_id == PERSON else "car",
                             "polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]})
        Image.fromarray(inst).save(gt_dir / f"{frame}_gtFine_instanceIds.png")
        Image.fromarray(label).save(gt_dir / f"{frame}_gtFine_labelIds.png")
        (gt_dir / f"{frame}_gtFine_polygons.json").write_text(
            json.dumps({"imgHeight": H, "imgWidth": W, "objects": polygons}))
    return base / "leftImg8bit" / split, base / "gtFine" / split


@pytest.fixture
def cityscapes(tmp_path):
    image_dir, gt_dir = _make_cityscapes(tmp_path)
    name = f"levelset_test_cityscapes_{uuid.uuid4().hex[:8]}"
    DatasetCatalog.register(name, lambda: load_cityscapes_instances(str(image_dir), str(gt_dir), from_json=False,
                                                                     to_polygons=True))
    MetadataCatalog.get(name).set(image_dir=str(image_dir), gt_dir=str(gt_dir), evaluator_type="cityscapes_instance",
                                  **_get_builtin_metadata("cityscapes"))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _frame(d):
    return "_".join(d["image_id"].split("_")[:3])


def _outputs(dicts, keep=None):
    """Predictions equal to the generated ground-truth rectangles (exact pixels); ``keep``: frame -> indices."""
    inputs, outputs = [], []
    for d in dicts:
        frame = _frame(d)
        objs = FRAMES[frame]
        idx = list(range(len(objs))) if keep is None or frame not in keep else keep[frame]
        inst = Instances((H, W))
        masks = np.zeros((len(idx), H, W), bool)
        boxes = []
        for j, k in enumerate(idx):
            y0, x0, y1, x1 = objs[k][1]
            masks[j, y0:y1, x0:x1] = True
            boxes.append([x0, y0, x1, y1])
        inst.pred_masks = torch.from_numpy(masks)
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        inst.scores = torch.full((len(idx),), 0.9)
        inst.pred_classes = torch.tensor([0 if objs[k][0] == PERSON else 2 for k in idx], dtype=torch.int64)
        inputs.append({"file_name": d["file_name"], "image_id": d["image_id"]})
        outputs.append({"instances": inst})
    return inputs, outputs


def test_cityscapes_conversion(cityscapes):
    dicts = DatasetCatalog.get(cityscapes)
    assert len(dicts) == 2
    classes = MetadataCatalog.get(cityscapes).thing_classes
    by_frame = {_frame(d): d for d in dicts}
    d = by_frame["lindau_000000_000002"]
    assert (d["height"], d["width"]) == (H, W)
    assert sorted(classes[a["category_id"]] for a in d["annotations"]) == ["car", "car", "person"]
    # polygons traced from the instanceIds png cover the generated rectangles
    for a in d["annotations"]:
        m = mask_util.decode(mask_util.merge(mask_util.frPyObjects(a["segmentation"], H, W))).astype(bool)
        ious = []
        for _, (y0, x0, y1, x1) in FRAMES["lindau_000000_000002"]:
            r = np.zeros((H, W), bool)
            r[y0:y1, x0:x1] = True
            ious.append((m & r).sum() / (m | r).sum())
        assert max(ious) > 0.8  # contour polygons lose about half a pixel along the border


def test_cityscapes_evaluation_through_build_evaluator(cityscapes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # cityscapesscripts would write matches.json here
    cfg = get_cfg()
    cfg.MODEL.MASK_ON = True
    evaluator = build_evaluator(cfg, cityscapes)
    assert isinstance(evaluator, CityscapesInstanceEvaluator)
    dicts = DatasetCatalog.get(cityscapes)
    evaluator.reset()
    evaluator.process(*_outputs(dicts))
    res = evaluator.evaluate()["segm"]
    assert res["AP"] == pytest.approx(100.0) and res["AP50"] == pytest.approx(100.0)
    assert res["AP-car"] == pytest.approx(100.0) and res["AP-person"] == pytest.approx(100.0)
    assert "AP-bus" not in res  # no ground truth: left out
    assert not (tmp_path / "matches.json").exists()

    # only the processed image is evaluated (detectron2's evaluator would look for predictions of all of them)
    evaluator.reset()
    lindau = [d for d in dicts if d["image_id"].startswith("lindau")]
    evaluator.process(*_outputs(lindau))
    assert evaluator.evaluate()["segm"]["AP"] == pytest.approx(100.0)
    # a missed car lowers car AP, not person AP
    evaluator.reset()
    evaluator.process(*_outputs(lindau, keep={"lindau_000000_000002": [0, 2]}))
    res = evaluator.evaluate()["segm"]
    assert res["AP-person"] == pytest.approx(100.0) and res["AP-car"] < 100.0


def test_cityscapes_evaluator_errors(cityscapes, tmp_path):
    bad = f"levelset_test_cs_bad_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(bad).set(thing_classes=["car", "balloon"], gt_dir=str(tmp_path))
    with pytest.raises(ValueError, match="balloon"):
        CityscapesInstanceEvaluator(bad)
    MetadataCatalog.remove(bad)
    missing = f"levelset_test_cs_missing_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(missing).set(thing_classes=["car"], gt_dir=str(tmp_path / "nope"))
    ev = CityscapesInstanceEvaluator(missing)
    ev.reset()
    with pytest.raises(ValueError, match="predicted class 2"):
        ev.process(*_outputs(DatasetCatalog.get(cityscapes)[:1]))
    MetadataCatalog.remove(missing)
    MetadataCatalog.get(missing).set(thing_classes=MetadataCatalog.get(cityscapes).thing_classes,
                                     gt_dir=str(tmp_path / "nope"))
    ev = CityscapesInstanceEvaluator(missing)
    ev.reset()
    ev.process(*_outputs(DatasetCatalog.get(cityscapes)[:1]))
    with pytest.raises(FileNotFoundError, match="nope"):
        ev.evaluate()
    MetadataCatalog.remove(missing)


def test_builtin_cityscapes_registration():
    """detectron2 registers cityscapes_fine_instance_seg_val under $DETECTRON2_DATASETS/cityscapes."""
    meta = MetadataCatalog.get("cityscapes_fine_instance_seg_val")
    assert meta.gt_dir.replace("\\", "/").rstrip("/").endswith("cityscapes/gtFine/val")
    assert meta.evaluator_type == "cityscapes_instance"
