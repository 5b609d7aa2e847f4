"""draw_instance_predictions / save_prediction_images with a fake model on a tiny COCO-format dataset."""
import json
import os
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

import levelset_rcnn  # noqa: F401
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import Boxes, Instances

from levelset_rcnn.utils.visualizer import draw_instance_predictions, save_prediction_images

HEIGHT, WIDTH = 48, 64


def _mask(y0, x0, y1, x1):
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture
def dataset(tmp_path):
    images, annotations = [], []
    for image_id in range(3):
        file_name = f"img_{image_id}.png"
        pixels = np.full((HEIGHT, WIDTH, 3), 30 * image_id, dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / file_name)
        images.append({"id": image_id + 1, "file_name": file_name, "height": HEIGHT, "width": WIDTH})
        mask = _mask(5, 5 + 5 * image_id, 30, 40)
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        annotations.append({
            "id": image_id + 1, "image_id": image_id + 1, "category_id": 1 + image_id % 2, "iscrowd": 0,
            "segmentation": rle, "area": float(mask.sum()),
            "bbox": [5 + 5 * image_id, 5, 35 - 5 * image_id, 25],
        })
    categories = [{"id": 1, "name": "rect"}, {"id": 2, "name": "square"}]
    json_file = tmp_path / "annotations.json"
    json_file.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    name = f"levelset_test_vis_{uuid.uuid4().hex[:8]}"
    register_coco_instances(name, {}, str(json_file), str(tmp_path))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _predictions(height, width, scores=(0.9, 0.2), roi_masks=False):
    instances = Instances((height, width))
    boxes = torch.tensor([[4.0, 4.0, 40.0, 30.0], [30.0, 20.0, 60.0, 44.0]])
    instances.pred_boxes = Boxes(boxes[: len(scores)])
    instances.scores = torch.tensor(scores, dtype=torch.float32)
    instances.pred_classes = torch.tensor([0, 1])[: len(scores)]
    if roi_masks:
        instances.pred_masks = torch.ones(len(scores), 1, 28, 28)
    else:
        masks = torch.zeros(len(scores), height, width, dtype=torch.bool)
        masks[:, 10:20, 10:30] = True
        instances.pred_masks = masks
    instances.pred_masks_initial = torch.rand(len(scores), 1, 28, 28)
    return instances


class FakeModel(torch.nn.Module):
    """Returns fixed predictions in the requested output size; records what it was given."""

    def __init__(self, num_detections=2):
        super().__init__()
        self.num_detections = num_detections
        self.calls = []

    def forward(self, batched_inputs):
        outputs = []
        for x in batched_inputs:
            self.calls.append((tuple(x["image"].shape), self.training, torch.is_grad_enabled()))
            scores = (0.9, 0.2)[: self.num_detections]
            outputs.append({"instances": _predictions(x["height"], x["width"], scores)})
        return outputs


def test_save_prediction_images(dataset, tmp_path):
    model = FakeModel()
    model.train()
    output_dir = tmp_path / "vis" / "nested"
    paths = save_prediction_images(model, dataset, str(output_dir), num_images=2)
    assert len(paths) == 2
    for path in paths:
        assert path.endswith(".png") and os.path.isfile(path)
        with Image.open(path) as image:
            assert image.size == (2 * WIDTH, HEIGHT)
            assert image.mode == "RGB"
    # eval mode and no grad while running, training mode restored afterwards
    assert model.calls == [((3, HEIGHT, WIDTH), False, False)] * 2
    assert model.training


def test_save_prediction_images_resize_and_all_images(dataset, tmp_path):
    model = FakeModel()
    paths = save_prediction_images(
        model, dataset, str(tmp_path), num_images=10, min_size_test=24, max_size_test=1000
    )
    assert len(paths) == 3 and len(set(paths)) == 3
    assert all(call[0] == (3, 24, 32) for call in model.calls)  # the model sees the resized image
    with Image.open(paths[0]) as image:
        assert image.size == (2 * WIDTH, HEIGHT)  # drawn in the original frame


def test_save_prediction_images_no_detections(dataset, tmp_path):
    model = FakeModel(num_detections=0)
    paths = save_prediction_images(model, dataset, str(tmp_path / "empty"), num_images=1)
    assert len(paths) == 1
    with Image.open(paths[0]) as image:
        assert image.size == (2 * WIDTH, HEIGHT)


def test_draw_instance_predictions_threshold(dataset):
    metadata = MetadataCatalog.get(dataset)
    image = np.full((HEIGHT, WIDTH, 3), 128, dtype=np.uint8)
    empty = draw_instance_predictions(image, _predictions(HEIGHT, WIDTH, scores=()), metadata)
    assert empty.shape == (HEIGHT, WIDTH, 3) and empty.dtype == np.uint8
    low = draw_instance_predictions(image, _predictions(HEIGHT, WIDTH, scores=(0.3,)), metadata)
    np.testing.assert_array_equal(low, empty)  # below the threshold: nothing drawn
    high = draw_instance_predictions(image, _predictions(HEIGHT, WIDTH, scores=(0.3,)), metadata, 0.1)
    assert high.shape == (HEIGHT, WIDTH, 3) and np.any(high != empty)


def test_draw_instance_predictions_roi_frame_masks(dataset):
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    drawn = draw_instance_predictions(
        image, _predictions(HEIGHT, WIDTH, roi_masks=True), MetadataCatalog.get(dataset)
    )
    assert drawn.shape == (HEIGHT, WIDTH, 3)


def test_save_prediction_images_scale(dataset, tmp_path):
    paths = save_prediction_images(FakeModel(), dataset, str(tmp_path), num_images=1, scale=3.0)
    with Image.open(paths[0]) as image:
        assert image.size == (2 * 3 * WIDTH, 3 * HEIGHT)
