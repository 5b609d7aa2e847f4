"""VIA json loading (balloon layout) and the VIA -> COCO converter."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import levelset_rcnn  # noqa: F401  (before any detectron2 import)
from detectron2.structures import BoxMode
from pycocotools.coco import COCO

from levelset_rcnn.data import convert_via_to_coco, load_via_json

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def balloon_dir(shared_dataset):
    return shared_dataset("balloon", "train/via_region_data.json")


def _write_image(path, size=(40, 30)):
    Image.fromarray(np.zeros((size[1], size[0], 3), dtype=np.uint8)).save(path)


def _region(xs, ys, **attributes):
    return {"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
            "region_attributes": attributes}


@pytest.fixture
def via_folder(tmp_path):
    """A tiny VIA dataset: regions as a dict (VIA 1) in one entry and as a list (VIA 2) in the other."""
    _write_image(tmp_path / "a.png")
    _write_image(tmp_path / "b.png", size=(50, 20))
    data = {
        "a.png123": {
            "filename": "a.png", "size": 123, "file_attributes": {},
            "regions": {"0": _region([1, 10, 10, 1], [2, 2, 12, 12], kind="cat"),
                        "1": _region([5, 6], [5, 6], kind="cat"),  # 2 points: skipped
                        "2": _region([20, 45, 30], [5, 5, 40], kind="dog")},  # outside: clipped
        },
        "b.png456": {
            "filename": "b.png", "size": 456, "file_attributes": {},
            "regions": [_region([0, 49, 49, 0], [0, 0, 19, 19], kind="dog")],
        },
    }
    json_file = tmp_path / "via_region_data.json"
    json_file.write_text(json.dumps(data))
    return tmp_path, json_file, data


def test_load_via_dict_and_list_regions(via_folder, caplog):
    folder, json_file, _ = via_folder
    with caplog.at_level(logging.WARNING, logger="levelset_rcnn.data.via"):
        dicts = load_via_json(json_file, folder, class_names=("cat", "dog"), class_key="kind")
    assert "at least 3 points" in caplog.text
    assert [d["file_name"] for d in dicts] == [str(folder / "a.png"), str(folder / "b.png")]
    assert [(d["height"], d["width"]) for d in dicts] == [(30, 40), (20, 50)]
    assert [d["image_id"] for d in dicts] == [1, 2]
    a, b = dicts
    assert [ann["category_id"] for ann in a["annotations"]] == [0, 1]
    assert [ann["category_id"] for ann in b["annotations"]] == [1]
    first = a["annotations"][0]
    assert first["bbox_mode"] == BoxMode.XYXY_ABS and first["iscrowd"] == 0
    assert first["bbox"] == [1.5, 2.5, 10.5, 12.5]  # pixel indices + 0.5
    assert first["segmentation"] == [[1.5, 2.5, 10.5, 2.5, 10.5, 12.5, 1.5, 12.5]]
    clipped = a["annotations"][1]
    assert clipped["bbox"] == [20.5, 5.5, 40.0, 30.0]
    for record in dicts:
        for ann in record["annotations"]:
            x0, y0, x1, y1 = ann["bbox"]
            assert 0 <= x0 <= x1 <= record["width"] and 0 <= y0 <= y1 <= record["height"]


def test_load_via_list_of_entries_and_single_class(via_folder, tmp_path):
    folder, _, data = via_folder
    json_file = tmp_path / "as_list.json"
    json_file.write_text(json.dumps(list(data.values())))
    dicts = load_via_json(json_file)  # image root: the json's folder; one class, no class key
    assert len(dicts) == 2
    assert {ann["category_id"] for d in dicts for ann in d["annotations"]} == {0}


def test_load_via_errors(via_folder, tmp_path):
    folder, json_file, data = via_folder
    with pytest.raises(ValueError, match="class_key"):
        load_via_json(json_file, folder, class_names=("cat", "dog"))
    with pytest.raises(ValueError, match="'dog'"):
        load_via_json(json_file, folder, class_names=("cat",), class_key="kind")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_via_json(broken, folder)
    data["a.png123"]["filename"] = "missing.png"
    missing = tmp_path / "missing_image.json"
    missing.write_text(json.dumps(data))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_via_json(missing, folder, class_names=("cat", "dog"), class_key="kind")


def test_convert_via_to_coco(via_folder, tmp_path):
    folder, json_file, _ = via_folder
    out = convert_via_to_coco(json_file, folder, tmp_path / "out" / "coco.json", ("cat", "dog"), "kind")
    coco = COCO(str(out))
    assert sorted(coco.getCatIds()) == [1, 2] and len(coco.imgs) == 2 and len(coco.anns) == 3
    ann = coco.anns[1]
    assert ann["bbox"] == [1.5, 2.5, 9.0, 10.0] and ann["category_id"] == 1
    assert ann["area"] == coco.annToMask(ann).sum() > 0
    assert coco.imgs[1]["file_name"] == "a.png"


def test_balloon_train(tmp_path, balloon_dir):
    folder = balloon_dir
    dicts = load_via_json(folder / "train" / "via_region_data.json", folder / "train")
    assert len(dicts) == 61
    assert sum(len(d["annotations"]) for d in dicts) > 61
    for record in dicts[:5]:
        with Image.open(record["file_name"]) as im:
            assert im.size == (record["width"], record["height"])
    for record in dicts:
        assert os.path.isfile(record["file_name"])
        for ann in record["annotations"]:
            x0, y0, x1, y1 = ann["bbox"]
            assert 0 <= x0 < x1 <= record["width"] and 0 <= y0 < y1 <= record["height"]
            assert len(ann["segmentation"][0]) >= 6 and ann["category_id"] == 0


def test_convert_balloon_cli(tmp_path, balloon_dir):
    folder = balloon_dir
    out = tmp_path / "instances_val.json"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "datasets" / "convert_via_to_coco.py"),
         str(folder / "val" / "via_region_data.json"), "-o", str(out), "--classes", "balloon"],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=120,
    )
    assert result.returncode == 0, result.stderr
    coco = COCO(str(out))
    assert len(coco.imgs) == 13 and [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["balloon"]
    assert len(coco.anns) == sum(len(json.loads((folder / "val" / "via_region_data.json").read_text())[k]["regions"])
                                 for k in json.loads((folder / "val" / "via_region_data.json").read_text()))
    for img in coco.imgs.values():
        assert (folder / "val" / img["file_name"]).is_file()
