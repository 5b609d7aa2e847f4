"""build_evaluator's COCO evaluation keeps as many detections per image as the model (TEST.DETECTIONS_PER_IMAGE):
an image with more objects than COCO's maxDets 100 (nuclei: up to 168 per val image) is scored in full."""
import json
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

import levelset_rcnn  # noqa: F401  (before detectron2.evaluation)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluators
from detectron2.structures import Boxes, Instances

from levelset_rcnn.config import add_levelset_rcnn_config
from levelset_rcnn.data import register_coco_dataset
from levelset_rcnn.evaluation import build_evaluator

H, W = 96, 160
NUM_OBJECTS = 150  # 10 x 15 squares of 6 x 6 px, like nuclei


def _squares():
    masks = []
    for row in range(10):
        for col in range(15):
            mask = np.zeros((H, W), dtype=bool)
            mask[2 + 9 * row: 8 + 9 * row, 2 + 10 * col: 8 + 10 * col] = True
            masks.append(mask)
    return masks


@pytest.fixture
def dense_image(tmp_path, temporary_datasets):
    """One image with NUM_OBJECTS nuclei-like squares (COCO RLE), registered with the project's COCO loader."""
    (tmp_path / "val").mkdir()
    Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(tmp_path / "val" / "dense.png")
    annotations = []
    for i, mask in enumerate(_squares()):
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        ys, xs = np.nonzero(mask)
        annotations.append({"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": rle,
                            "area": float(mask.sum()), "bbox": [int(xs.min()), int(ys.min()), 6, 6]})
    json_file = tmp_path / "instances_val.json"
    json_file.write_text(json.dumps({"images": [{"id": 1, "file_name": "dense.png", "height": H, "width": W}],
                                     "annotations": annotations, "categories": [{"id": 1, "name": "nucleus"}]}))
    name = register_coco_dataset(f"dense_{uuid.uuid4().hex[:8]}", json_file, tmp_path / "val")
    temporary_datasets.append(name)
    return name


def _perfect_outputs():
    masks = _squares()
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    instances = Instances((H, W))
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    instances.scores = torch.linspace(0.99, 0.5, NUM_OBJECTS)
    instances.pred_classes = torch.zeros(NUM_OBJECTS, dtype=torch.int64)
    instances.pred_masks = torch.from_numpy(np.stack(masks))
    return [{"instances": instances}]


@pytest.mark.parametrize("detections_per_image, expected_ap", [(200, 100.0), (100, 100.0 * 100 / NUM_OBJECTS)])
def test_coco_max_detections_follow_the_config(dense_image, tmp_path, detections_per_image, expected_ap):
    cfg = add_levelset_rcnn_config(get_cfg())
    cfg.MODEL.MASK_ON = True
    cfg.TEST.DETECTIONS_PER_IMAGE = detections_per_image
    cfg.TEST.EXTRA_EVALUATORS = ["boundary_ap"]
    evaluator = build_evaluator(cfg, dense_image, str(tmp_path / "eval"))
    assert isinstance(evaluator, DatasetEvaluators)
    evaluator.reset()
    (record,) = DatasetCatalog.get(dense_image)
    inputs = [{"image_id": record["image_id"], "height": H, "width": W, "file_name": record["file_name"]}]
    evaluator.process(inputs, _perfect_outputs())
    results = evaluator.evaluate()
    # COCO's maxDets 100 keeps 100 of the 150 perfect detections: recall, and AP, at most 100 / 150
    for task in ("bbox", "segm", "boundary"):
        assert results[task]["AP"] == pytest.approx(expected_ap, abs=1.0), task
