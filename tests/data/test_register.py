"""Registering VIA / COCO datasets and dataset folders, and the errors for broken ones."""
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import levelset_rcnn  # noqa: F401  (before any detectron2 import)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from levelset_rcnn.data import (
    find_dataset_splits,
    register_coco_dataset,
    register_dataset_folder,
    register_dataset_folders,
    register_via_dataset,
)
from levelset_rcnn.data import register as register_module

REPO_ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture
def prefix():
    """A unique name prefix; everything registered under it is removed afterwards."""
    value = "test_" + uuid.uuid4().hex[:8]
    yield value
    for name in [n for n in DatasetCatalog.list() if n.startswith(value)]:
        DatasetCatalog.remove(name)
        register_module._REGISTERED.pop(name, None)
    for name in [n for n in list(MetadataCatalog.keys()) if n.startswith(value)]:
        MetadataCatalog.remove(name)


def _coco_folder(root, split="train", category_ids=(1, 2), ann_category=1, image_names=("0.png", "1.png")):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(exist_ok=True)
    images, annotations = [], []
    for i, name in enumerate(image_names):
        Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(root / split / name)
        images.append({"id": 10 + i, "file_name": name, "height": 20, "width": 30})
        annotations.append({"id": 100 + i, "image_id": 10 + i, "category_id": ann_category, "iscrowd": 0,
                            "bbox": [2, 2, 10, 8], "area": 80.0,
                            "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10]]})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": f"class{c}"} for c in category_ids]}
    json_file = root / "annotations" / f"instances_{split}.json"
    json_file.write_text(json.dumps(coco))
    return json_file


# ----------------------------------------------------------------------------------------------------------
# the shared real datasets
# ----------------------------------------------------------------------------------------------------------
def test_register_balloon_folder(prefix, shared_dataset):
    folder = shared_dataset("balloon", "train/via_region_data.json")
    names = register_dataset_folder(prefix, folder)
    assert names == [f"{prefix}_train", f"{prefix}_val"]
    train, val = DatasetCatalog.get(names[0]), DatasetCatalog.get(names[1])
    assert (len(train), len(val)) == (61, 13)
    assert train[0]["annotations"][0]["bbox_mode"] == BoxMode.XYXY_ABS
    meta = MetadataCatalog.get(names[0])
    assert meta.thing_classes == ["balloon"] and meta.evaluator_type == "coco"
    # registering the same folder again is harmless
    assert register_dataset_folder(prefix, folder) == names


def test_register_coco_tiny_folder(prefix, shared_dataset):
    folder = shared_dataset("coco_tiny", "annotations/instances_val2017.json")
    names = register_dataset_folder(prefix, folder)
    assert names == [f"{prefix}_train2017", f"{prefix}_train", f"{prefix}_val2017", f"{prefix}_val"]
    meta = MetadataCatalog.get(f"{prefix}_val")
    assert len(meta.thing_classes) == 80 and meta.thing_classes[0] == "person"
    assert meta.json_file == str(folder / "annotations" / "instances_val2017.json")
    assert meta.thing_dataset_id_to_contiguous_id[90] == 79
    dicts = DatasetCatalog.get(f"{prefix}_val")
    assert len(dicts) == 80 and all(os.path.isfile(d["file_name"]) for d in dicts)
    assert all(0 <= a["category_id"] < 80 for d in dicts for a in d["annotations"])
    assert len(DatasetCatalog.get(f"{prefix}_train2017")) == len(DatasetCatalog.get(f"{prefix}_train"))


def test_register_via_and_coco_single(prefix, tmp_path, shared_dataset):
    folder = shared_dataset("balloon", "val/via_region_data.json")
    name = register_via_dataset(f"{prefix}_balloon", folder / "val" / "via_region_data.json")
    assert len(DatasetCatalog.get(name)) == 13
    json_file = _coco_folder(tmp_path)
    name = register_coco_dataset(f"{prefix}_coco", json_file, tmp_path / "train")
    dicts = DatasetCatalog.get(name)
    assert [d["image_id"] for d in dicts] == [10, 11] and dicts[0]["annotations"][0]["category_id"] == 0
    assert MetadataCatalog.get(name).thing_classes == ["class1", "class2"]
    assert register_coco_dataset(name, json_file, tmp_path / "train") == name  # same data: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_coco_dataset(name, json_file, tmp_path)


# ----------------------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------------------
def test_missing_folder(prefix, tmp_path):
    missing = tmp_path / "does_not_exist"
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        register_dataset_folder(prefix, missing)


def test_command_line_folder_specs(prefix, tmp_path):
    """``--dataset-folder PREFIX=PATH`` specs (tools, demo, compare): every split registered, a spec without '='
    named in the error; a PATH that contains '=' keeps it."""
    root = tmp_path / "a=b"
    _coco_folder(root, "train")
    _coco_folder(root, "val")
    assert sorted(register_dataset_folders([f"{prefix}={root}"])) == [f"{prefix}_train", f"{prefix}_val"]
    assert register_dataset_folders([]) == []
    with pytest.raises(SystemExit, match="PREFIX=PATH, got 'just_a_path'"):
        register_dataset_folders(["just_a_path"])


def test_unrecognised_layout(prefix, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "labels.txt").write_text("x")
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(ValueError) as err:
        register_dataset_folder(prefix, tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "via_region_data.json" in message
    assert "instances_<split>.json" in message and "notes.json" in message
    assert not [n for n in DatasetCatalog.list() if n.startswith(prefix)]


def test_bad_category_id(prefix, tmp_path):
    _coco_folder(tmp_path, ann_category=7)
    with pytest.raises(ValueError) as err:
        register_dataset_folder(prefix, tmp_path)
    message = str(err.value)
    assert "instances_train.json" in message and "category_id 7" in message
    assert "annotation id 100" in message and "image id 10" in message
    assert not [n for n in DatasetCatalog.list() if n.startswith(prefix)]


def test_bad_category_id_found_when_loading(prefix, tmp_path):
    """Large files are checked on loading only (validate=False here): the error is as clear."""
    json_file = _coco_folder(tmp_path, ann_category=7)
    name = register_coco_dataset(f"{prefix}_lazy", json_file, tmp_path / "train", validate=False)
    with pytest.raises(ValueError, match=r"annotation id 100 of image id 10 has category_id 7"):
        DatasetCatalog.get(name)


def test_unparsable_json(prefix, tmp_path):
    json_file = _coco_folder(tmp_path)
    json_file.write_text('{"images": [')
    with pytest.raises(ValueError, match="instances_train.json"):
        register_dataset_folder(prefix, tmp_path)
    name = register_coco_dataset(f"{prefix}_lazy", json_file, tmp_path / "train", validate=False)
    with pytest.raises(ValueError, match="Failed to parse.*instances_train.json"):
        DatasetCatalog.get(name)


def test_missing_image_file(prefix, tmp_path):
    _coco_folder(tmp_path)
    os.remove(tmp_path / "train" / "1.png")
    with pytest.raises(FileNotFoundError, match=r"1\.png.*image id 11"):
        register_dataset_folder(prefix, tmp_path)
    name = register_coco_dataset(f"{prefix}_lazy", tmp_path / "annotations" / "instances_train.json",
                                 tmp_path / "train", validate=False)
    with pytest.raises(FileNotFoundError, match=r"1\.png"):
        DatasetCatalog.get(name)


def test_missing_image_folder_and_json(prefix, tmp_path):
    _coco_folder(tmp_path, split="val2017")
    os.rename(tmp_path / "val2017", tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="val2017"):
        register_dataset_folder(prefix, tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        register_coco_dataset(f"{prefix}_x", tmp_path / "nothing.json", tmp_path)


def test_coco_folder_with_year_alias(prefix, tmp_path):
    _coco_folder(tmp_path, split="val2017")
    splits = find_dataset_splits(tmp_path)
    assert [(s, kind) for s, kind, _, _ in splits] == [("val2017", "coco")]
    names = register_dataset_folder(prefix, tmp_path)
    assert names == [f"{prefix}_val2017", f"{prefix}_val"]
    assert len(DatasetCatalog.get(f"{prefix}_val")) == 2


def test_via_folder_with_class_key(prefix, tmp_path):
    for split, kinds in (("train", ["cat", "dog"]), ("val", ["dog"])):
        (tmp_path / split).mkdir()
        Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(tmp_path / split / "x.jpg")
        regions = [{"shape_attributes": {"name": "polygon", "all_points_x": [1, 8, 8], "all_points_y": [1, 1, 9]},
                    "region_attributes": {"kind": k}} for k in kinds]
        (tmp_path / split / "via_region_data.json").write_text(
            json.dumps({"x": {"filename": "x.jpg", "regions": regions}}))
    names = register_dataset_folder(prefix, tmp_path, class_key="kind")
    assert MetadataCatalog.get(names[0]).thing_classes == ["cat", "dog"]
    assert [a["category_id"] for a in DatasetCatalog.get(names[1])[0]["annotations"]] == [1]


def test_empty_segmentation_is_dropped_with_a_logged_count(prefix, tmp_path, caplog):
    """``"segmentation": []`` next to annotations with masks: dropped, and the json, image and annotation ids
    are logged (detectron2 keeps it without a mask, and training fails on it with KeyError: 'segmentation')."""
    import logging

    json_file = _coco_folder(tmp_path, image_names=("0.png", "1.png", "2.png"))
    coco = json.loads(json_file.read_text())
    coco["annotations"][1]["segmentation"] = []
    coco["annotations"].append({"id": 205, "image_id": 10, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 4, 4],
                                "area": 16.0, "segmentation": []})
    json_file.write_text(json.dumps(coco))
    name = register_coco_dataset(f"{prefix}_empty_segm", json_file, tmp_path / "train")
    with caplog.at_level(logging.WARNING, logger="levelset_rcnn.data.register"):
        dicts = DatasetCatalog.get(name)
    counts = {d["image_id"]: len(d["annotations"]) for d in dicts}
    assert counts == {10: 1, 11: 0, 12: 1}
    assert all("segmentation" in a and "id" not in a for d in dicts for a in d["annotations"])
    assert "dropped 2 annotation(s)" in caplog.text and str(json_file) in caplog.text
    assert "image id 11" in caplog.text and "annotation id 101" in caplog.text and "annotation id 205" in caplog.text


def test_annotations_that_cannot_be_trained_on_are_counted_named_and_strict_mode_refuses_them(prefix, tmp_path,
                                                                                                  caplog):
    """A box entirely outside its image, a box of zero area, a polygon of 2 points (detectron2's loader leaves it
    out with only a count) and one of zero area: dropped, and a warning per reason counts them and names the json,
    image and annotation ids; with DATASETS.STRICT_ANNOTATIONS the Trainer refuses the dataset, naming them."""
    import logging

    from levelset_rcnn.data.register import raise_for_dropped_annotations
    from levelset_rcnn.engine import Trainer, setup_cfg

    json_file = _coco_folder(tmp_path, image_names=("0.png", "1.png", "2.png"))  # 30 x 20 images, boxes inside
    coco = json.loads(json_file.read_text())
    square = [[2, 2, 12, 2, 12, 10, 2, 10]]
    coco["annotations"] += [
        {"id": 300, "image_id": 10, "category_id": 1, "bbox": [40, 5, 5, 5], "segmentation": [[40, 5, 45, 5, 45, 10]]},
        {"id": 301, "image_id": 11, "category_id": 1, "bbox": [2, 2, 0, 5], "segmentation": square},
        {"id": 302, "image_id": 10, "category_id": 1, "bbox": [1, 1, 4, 4], "segmentation": [[1, 1, 5, 5]]},
        {"id": 303, "image_id": 12, "category_id": 1, "bbox": [1, 1, 8, 8], "segmentation": [[1, 1, 5, 5, 9, 9]]},
    ]
    json_file.write_text(json.dumps(coco))
    name = register_coco_dataset(f"{prefix}_invalid", json_file, tmp_path / "train")
    with caplog.at_level(logging.WARNING, logger="levelset_rcnn.data.register"):
        dicts = DatasetCatalog.get(name)
    assert {d["image_id"]: len(d["annotations"]) for d in dicts} == {10: 1, 11: 1, 12: 1}
    for text in ("dropped 1 annotation(s) with a box entirely outside its image: image id 10 (0.png) annotation id 300",
                 "dropped 1 annotation(s) with a box of zero width or height: image id 11 (1.png) annotation id 301",
                 "dropped 2 annotation(s) with a degenerate polygon (fewer than 3 points, or zero area): image id 10 "
                 "(0.png) annotation id 302; image id 12 (2.png) annotation id 303"):
        assert text in caplog.text
    assert str(json_file) in caplog.text

    with pytest.raises(ValueError) as info:
        raise_for_dropped_annotations([name])
    message = str(info.value)
    assert "DATASETS.STRICT_ANNOTATIONS is True" in message and str(json_file) in message
    assert all(f"annotation id {i}" in message for i in (300, 301, 302, 303))
    quickstart = str(REPO_ROOT / "configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml")
    opts = ["DATASETS.TRAIN", f"('{name}',)", "MODEL.ROI_HEADS.NUM_CLASSES", "2", "DATALOADER.NUM_WORKERS", "0"]
    with pytest.raises(ValueError, match="annotation id 300"):
        Trainer.build_train_loader(setup_cfg(quickstart, opts + ["DATASETS.STRICT_ANNOTATIONS", "True"]))
    assert setup_cfg(quickstart, opts).DATASETS.STRICT_ANNOTATIONS is False
    Trainer.build_train_loader(setup_cfg(quickstart, opts))  # the default: trains without them


def test_box_only_json_keeps_its_annotations(prefix, tmp_path):
    json_file = _coco_folder(tmp_path)
    coco = json.loads(json_file.read_text())
    for ann in coco["annotations"]:
        del ann["segmentation"]
    json_file.write_text(json.dumps(coco))
    dicts = DatasetCatalog.get(register_coco_dataset(f"{prefix}_boxes", json_file, tmp_path / "train"))
    assert [len(d["annotations"]) for d in dicts] == [1, 1]


def test_register_dataset_folder_missing_folder():
    from levelset_rcnn.data import register_dataset_folder

    with pytest.raises(FileNotFoundError) as info:
        register_dataset_folder("levelset_test_missing_folder", "/nonexistent/folder")
    assert "/nonexistent/folder" in str(info.value)
    assert not any(n.startswith("levelset_test_missing_folder") for n in DatasetCatalog.list())
