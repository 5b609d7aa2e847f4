"""levelset_core.data.mapper: unbiased coordinates after a resize; unreadable images are named."""
import numpy as np
import pytest
import torch
from PIL import Image
from repo_paths import REPO_ROOT

import levelset_rcnn  # noqa: F401
from detectron2.structures import BoxMode

from levelset_core.data.mapper import ImageReadError, LevelSetDatasetMapper, read_image
from levelset_rcnn.engine.defaults import setup_cfg

QUICKSTART = str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml")


def _cfg(*opts):
    # 128 x 128 images resized to 64 (scale 0.5), no flip
    return setup_cfg(QUICKSTART, ["INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
                                  "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64",
                                  "INPUT.RANDOM_FLIP", "none", "INPUT.MASK_FORMAT", "polygon"] + list(opts))


def _image(path, size=128):
    Image.fromarray(np.full((size, size, 3), 100, np.uint8)).save(path)
    return str(path)


def test_integer_coco_coordinates_are_not_floored(tmp_path):
    """An integer bbox / polygon (as most COCO exporters write) scaled by 0.5 keeps its .5 coordinates."""
    record = {
        "file_name": _image(tmp_path / "a.png"), "height": 128, "width": 128, "image_id": 0,
        "annotations": [{"bbox": [11, 13, 10, 4], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 1, "iscrowd": 0,
                         "segmentation": [[11, 13, 21, 13, 21, 17, 11, 17]]},
                        # 1 px wide at scale 0.5: flooring makes it 0 px wide (it vanishes)
                        {"bbox": [41, 41, 1, 1], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0,
                         "segmentation": [[41, 41, 42, 41, 42, 42, 41, 42]]}],
    }
    out = LevelSetDatasetMapper(_cfg(), is_train=True)(record)
    boxes = out["instances"].gt_boxes.tensor
    torch.testing.assert_close(boxes, torch.tensor([[5.5, 6.5, 10.5, 8.5], [20.5, 20.5, 21.0, 21.0]]))
    polygon = out["instances"].gt_masks.polygons[0][0]
    np.testing.assert_allclose(polygon, [5.5, 6.5, 10.5, 6.5, 10.5, 8.5, 5.5, 8.5])
    # the dataset record itself is left as it was
    assert record["annotations"][0]["bbox"] == [11, 13, 10, 4]


def _truncated_jpeg(path):
    Image.fromarray((np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.mark.parametrize("is_train", [True, False])
def test_truncated_jpeg_is_named_by_the_mapper(tmp_path, is_train):
    bad = _truncated_jpeg(tmp_path / "photo_0042.jpg")
    record = {"file_name": bad, "height": 96, "width": 96, "image_id": 42, "annotations": []}
    with pytest.raises(ImageReadError) as info:
        LevelSetDatasetMapper(_cfg(), is_train=is_train)(record)
    assert bad in str(info.value) and "truncated" in str(info.value)


def test_trainer_loaders_use_the_mapper(tmp_path):
    """Train and test loaders of the trainers (tools/train_net.py training and --eval-only) name the file."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from levelset_rcnn.engine import Trainer

    bad = _truncated_jpeg(tmp_path / "broken.jpg")
    name = "levelset_test_truncated_jpeg"
    DatasetCatalog.register(name, lambda: [{"file_name": bad, "height": 96, "width": 96, "image_id": 0,
                                            "annotations": [{"bbox": [1, 1, 9, 9], "bbox_mode": BoxMode.XYWH_ABS,
                                                             "category_id": 0, "iscrowd": 0}]}])
    MetadataCatalog.get(name).thing_classes = ["a", "b", "c", "d"]
    try:
        cfg = _cfg("DATASETS.TRAIN", f"('{name}',)", "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "1")
        for loader in (Trainer.build_train_loader(cfg), Trainer.build_test_loader(cfg, name)):
            with pytest.raises(ImageReadError, match="broken.jpg"):
                next(iter(loader))
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_read_image_names_the_file(tmp_path):
    bad = _truncated_jpeg(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_image(bad, format="BGR")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.png"):
        read_image(str(not_an_image))
    assert read_image(_image(tmp_path / "ok.png"), format="BGR").shape == (128, 128, 3)
