"""Built-in registration of the real dataset folders (balloon, coco_tiny) from $DETECTRON2_DATASETS / shared data."""
import json

import numpy as np
from PIL import Image

import levelset_rcnn  # noqa: F401  (before any detectron2 import)
from detectron2.data import DatasetCatalog, MetadataCatalog

from levelset_rcnn.data import builtin
from levelset_rcnn.data import register as register_module


def _tiny_coco(root):
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(root / "val2017" / "0.png")
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "0.png", "height": 20, "width": 30}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [2, 2, 10, 8],
                         "area": 80.0, "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10]]}],
        "categories": [{"id": 3, "name": "thing"}]}))


def test_folder_under_detectron2_datasets_is_registered(tmp_path, monkeypatch):
    prefix = "builtin_test_tiny"
    _tiny_coco(tmp_path / "tiny_folder")
    (tmp_path / "broken_folder").mkdir()  # present but no layout: logged and skipped, never raised
    monkeypatch.setattr(builtin, "BUILTIN_FOLDERS", {prefix: "tiny_folder", prefix + "_broken": "broken_folder"})
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    try:
        names = builtin.register_builtin_folders()
        assert names == [f"{prefix}_val2017", f"{prefix}_val"]
        (record,) = DatasetCatalog.get(f"{prefix}_val")
        assert record["annotations"][0]["category_id"] == 0
        assert MetadataCatalog.get(f"{prefix}_val").thing_classes == ["thing"]
        assert not [n for n in DatasetCatalog.list() if n.startswith(prefix + "_broken")]
    finally:
        for name in [n for n in DatasetCatalog.list() if n.startswith(prefix)]:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
            register_module._REGISTERED.pop(name, None)


def test_shared_balloon_and_coco_tiny_are_registered_on_import(shared_dataset):
    shared_dataset("balloon", "train/via_region_data.json")
    shared_dataset("coco_tiny", "annotations/instances_val2017.json")
    for name in ("balloon_train", "balloon_val", "coco_tiny_train2017", "coco_tiny_val2017"):
        assert name in DatasetCatalog.list(), name
    assert len(DatasetCatalog.get("balloon_val")) == 13
    assert MetadataCatalog.get("balloon_train").thing_classes == ["balloon"]
