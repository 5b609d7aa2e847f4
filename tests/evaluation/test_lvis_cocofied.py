"""levelset_rcnn.data.lvis_cocofied (datasets/prepare_cocofied_lvis.py) on a small generated LVIS-format file;
registration and LVIS evaluation; the script runs."""
import json
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

import levelset_rcnn  # noqa: F401  (before detectron2.evaluation)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_lvis_instances
from detectron2.data.datasets.lvis import get_lvis_instances_meta
from detectron2.structures import Boxes, Instances

from levelset_rcnn.data import lvis_cocofied
from levelset_rcnn.evaluation import BoundaryAPEvaluator, LevelSetLVISEvaluator

H, W = 40, 60


def _poly(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def _lvis_json(path):
    """2 images; LVIS categories person (id 1), beef = COCO 'cow' (id 2), aardvark (id 3, not in COCO)."""
    cats = [
        {"id": 1, "name": "person", "synset": "person.n.01", "synonyms": ["person", "human"], "frequency": "f"},
        {"id": 2, "name": "beef_(food)", "synset": "beef.n.01", "synonyms": ["cow"], "frequency": "c"},
        {"id": 3, "name": "aardvark", "synset": "aardvark.n.01", "synonyms": ["aardvark"], "frequency": "r"},
    ]
    images = [
        {"id": 11, "height": H, "width": W, "coco_url": "http://images.cocodataset.org/val2017/000000000011.jpg",
         "neg_category_ids": [3], "not_exhaustive_category_ids": []},
        {"id": 12, "height": H, "width": W, "coco_url": "http://images.cocodataset.org/val2017/000000000012.jpg",
         "neg_category_ids": [2], "not_exhaustive_category_ids": [1, 3]},
    ]
    boxes = [(11, 1, (2, 2, 20, 30)), (11, 2, (30, 5, 55, 25)), (11, 3, (5, 32, 15, 38)), (12, 1, (10, 4, 40, 36))]
    anns = []
    for image_id, cat, (x0, y0, x1, y1) in boxes:
        anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "segmentation": _poly(x0, y0, x1, y1),
                     "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0))})
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats, "info": {}, "licenses": []}))
    return boxes


def test_cocofy_lvis(tmp_path):
    lvis_json = tmp_path / "lvis" / "lvis_v0.5_val.json"
    lvis_json.parent.mkdir()
    _lvis_json(lvis_json)
    out = lvis_cocofied.main(["--lvis-json", str(lvis_json)])
    assert out.endswith("lvis_v0.5_val_cocofied.json")
    data = json.loads(open(out).read())
    # COCO ids and names; the non-COCO category and its annotation are gone
    assert [(c["id"], c["name"], c["synset"]) for c in data["categories"]] == [
        (1, "person", "person.n.01"), (21, "cow", "beef.n.01")]
    assert sorted((a["image_id"], a["category_id"]) for a in data["annotations"]) == [(11, 1), (11, 21), (12, 1)]
    images = {im["id"]: im for im in data["images"]}
    assert images[11]["neg_category_ids"] == [] and images[12]["neg_category_ids"] == [21]
    assert images[12]["not_exhaustive_category_ids"] == [1]
    cow = data["categories"][1]
    assert cow["image_count"] == 1 and cow["instance_count"] == 1 and cow["frequency"] == "c"

    # a COCO category list with a name that LVIS lacks: reported, or an error with --strict
    coco = [{"id": 1, "name": "person"}, {"id": 99, "name": "unicorn"}]
    _, missing = lvis_cocofied.cocofy_lvis(json.loads(lvis_json.read_text()), coco)
    assert missing == ["unicorn"]
    with pytest.raises(ValueError, match="unicorn"):
        lvis_cocofied.cocofy_lvis(json.loads(lvis_json.read_text()), coco, strict=True)
    with pytest.raises(ValueError, match="annotations"):
        lvis_cocofied.cocofy_lvis({"images": [], "categories": []}, coco)
    with pytest.raises(SystemExit, match="not found"):
        lvis_cocofied.main(["--lvis-json", str(tmp_path / "missing.json")])
    # every COCO category has a synset
    assert len(lvis_cocofied.COCO_TO_LVIS_SYNSET) == 80


def test_builtin_cocofied_registration():
    """detectron2 registers lvis_v0.5_val_cocofied (used by configs/LVIS-COCO-categories) with COCO metadata."""
    meta = MetadataCatalog.get("lvis_v0.5_val_cocofied")
    assert meta.json_file.endswith("lvis/lvis_v0.5_val_cocofied.json") and meta.evaluator_type == "lvis"
    assert len(meta.thing_classes) == 80 and meta.thing_dataset_id_to_contiguous_id[21] == 19


def test_lvis_evaluation_of_cocofied_file(tmp_path):
    lvis_json = tmp_path / "lvis_val.json"
    _lvis_json(lvis_json)
    out = lvis_cocofied.main(["--lvis-json", str(lvis_json), "-o", str(tmp_path / "cocofied.json")])
    name = f"levelset_test_lvis_cocofied_{uuid.uuid4().hex[:8]}"
    register_lvis_instances(name, get_lvis_instances_meta("lvis_v0.5_cocofied"), out, str(tmp_path) + "/")
    try:
        dicts = DatasetCatalog.get(name)
        assert dicts[0]["file_name"].endswith("val2017/000000000011.jpg")
        assert {a["category_id"] for d in dicts for a in d["annotations"]} == {0, 19}  # person, cow
        meta = MetadataCatalog.get(name)
        inputs, outputs = [], []
        for d in dicts:  # the ground truth fed back as predictions
            inst = Instances((H, W))
            masks = [mask_util.decode(mask_util.merge(mask_util.frPyObjects(a["segmentation"], H, W))) for a in d["annotations"]]
            inst.pred_masks = torch.from_numpy(np.stack(masks).astype(bool))
            inst.pred_boxes = Boxes(torch.tensor([a["bbox"] for a in d["annotations"]], dtype=torch.float32))
            inst.pred_boxes.tensor[:, 2:] += inst.pred_boxes.tensor[:, :2]  # XYWH -> XYXY
            inst.scores = torch.full((len(masks),), 0.9)
            inst.pred_classes = torch.tensor([a["category_id"] for a in d["annotations"]])
            inputs.append({"image_id": d["image_id"]})
            outputs.append({"instances": inst})
        # the project's LVIS evaluator: detectron2's (package 'lvis') where that works, faster-coco-eval's LVIS mode
        # on numpy >= 1.24 (official detectron2 main), where detectron2's LVISEvaluator fails on np.float
        lvis_eval = LevelSetLVISEvaluator(name, ("bbox", "segm"), False, str(tmp_path / "eval"))
        boundary = BoundaryAPEvaluator(name, distributed=False)
        for ev in (lvis_eval, boundary):
            ev.reset()
            ev.process(inputs, outputs)
        res = lvis_eval.evaluate()
        assert res["segm"]["AP"] == pytest.approx(100.0) and res["bbox"]["AP"] == pytest.approx(100.0)
        assert boundary.evaluate()["boundary"]["AP"] == pytest.approx(100.0)
        assert meta.evaluator_type == "lvis"
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_the_script_runs(repo_root):
    """datasets/prepare_cocofied_lvis.py is argument parsing plus lvis_cocofied.main (run as a command)."""
    import subprocess
    import sys

    script = repo_root / "datasets" / "prepare_cocofied_lvis.py"
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "--lvis-json" in proc.stdout and "lvis_cocofied" in proc.stdout
