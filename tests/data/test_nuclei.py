"""The built-in nuclei dataset (Data Science Bowl 2018, COCO RLE masks): registration, counts and RLE decoding on the
shared copy, a PointRend training step on its images, and the errors for a truncated PNG or an RLE of the wrong
size (tiny synthetic files)."""
import json
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from model_helpers import SMALL_MODEL_OPTS, checked_train_step
from PIL import Image
from repo_paths import REPO_ROOT

import levelset_rcnn  # noqa: F401  (before any detectron2 import)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BitMasks

from levelset_core.data.mapper import ImageReadError, LevelSetDatasetMapper
from levelset_rcnn.data import register_coco_dataset, register_dataset_folder
from levelset_rcnn.engine import Trainer
from levelset_rcnn.engine.defaults import setup_cfg

NUCLEI_CONFIGS = REPO_ROOT / "configs" / "nuclei"
# the counts of ../shared/datasets/nuclei_dsb2018/PROVENANCE.txt
SPLITS = {"train": (519, 23442), "val": (145, 5544)}
MAX_PER_VAL_IMAGE = 168


def _tiny(config, *opts):
    """A nuclei config shrunk to a model that steps in about a second: shorter side 128, small heads."""
    return setup_cfg(str(NUCLEI_CONFIGS / config), SMALL_MODEL_OPTS + [
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192",
        "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "192", "INPUT.RANDOM_FLIP", "none",
        "DATALOADER.NUM_WORKERS", "0"] + list(opts))


# ----------------------------------------------------------------------------------------------------------
# the shared copy
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nuclei_val():
    from levelset_core.data.roots import shared_dataset_path

    folder = shared_dataset_path("nuclei_dsb2018", "annotations/instances_val.json", missing=pytest.skip)
    coco = json.loads((folder / "annotations" / "instances_val.json").read_text())
    return folder, coco


@pytest.mark.parametrize("split", ["train", "val"])
def test_shared_nuclei_is_registered_with_its_counts(split, shared_dataset):
    shared_dataset("nuclei_dsb2018", f"annotations/instances_{split}.json")
    name = f"nuclei_dsb2018_{split}"
    assert name in DatasetCatalog.list()
    records = DatasetCatalog.get(name)
    assert (len(records), sum(len(r["annotations"]) for r in records)) == SPLITS[split]
    meta = MetadataCatalog.get(name)
    assert meta.thing_classes == ["nucleus"] and meta.mask_format == "bitmask" and meta.evaluator_type == "coco"
    if split == "val":
        assert max(len(r["annotations"]) for r in records) == MAX_PER_VAL_IMAGE


def test_shared_nuclei_rle_decodes_to_the_annotated_masks(nuclei_val):
    """A few images: every RLE decodes to a mask of the image's shape whose area is the json's ``area`` and lies in
    the json's ``bbox``; the mapper turns them into bitmasks of the resized image, one per nucleus."""
    folder, coco = nuclei_val
    anns_by_file = {}
    files = {img["id"]: img["file_name"] for img in coco["images"]}
    for ann in coco["annotations"]:
        anns_by_file.setdefault(files[ann["image_id"]], []).append(ann)
    records = DatasetCatalog.get("nuclei_dsb2018_val")
    # the first images, the one with the most nuclei and one of the largest (1040 x 1388)
    chosen = records[:2] + [max(records, key=lambda r: len(r["annotations"])),
                            max(records, key=lambda r: r["height"] * r["width"])]
    mapper = LevelSetDatasetMapper(_tiny("mask_rcnn_lite0_FPN.yaml"), is_train=True)
    for record in chosen:
        with Image.open(record["file_name"]) as img:
            assert img.size == (record["width"], record["height"]), record["file_name"]
        json_anns = anns_by_file[record["file_name"].rsplit("/", 1)[-1]]  # the loader keeps the json's order
        assert len(json_anns) == len(record["annotations"])
        for ann, json_ann in zip(record["annotations"], json_anns):
            mask = mask_util.decode(ann["segmentation"])
            assert mask.shape == (record["height"], record["width"])
            assert mask.sum() == json_ann["area"], json_ann["id"]
            ys, xs = np.nonzero(mask)
            x, y, w, h = json_ann["bbox"]
            assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h, json_ann["id"]
        out = mapper(record)
        gt = out["instances"]
        assert isinstance(gt.gt_masks, BitMasks)
        assert gt.gt_masks.tensor.shape[1:] == out["image"].shape[1:]
        # nuclei of a few pixels may vanish at the tiny test size; the boxes and masks stay paired
        assert 0.9 * len(record["annotations"]) <= len(gt) <= len(record["annotations"])


def test_pointrend_trains_a_step_on_nuclei_images(nuclei_val, one_thread):
    """detectron2's PointRend head on real RLE ground truth: two nuclei images through the training mapper."""
    cfg = _tiny("pointrend_rcnn_lite0_FPN.yaml")
    mapper = LevelSetDatasetMapper(cfg, is_train=True)
    batch = [mapper(r) for r in DatasetCatalog.get("nuclei_dsb2018_val")[:2]]
    torch.manual_seed(0)
    model = Trainer.build_model(cfg)
    losses = checked_train_step(model, batch)
    assert {"loss_mask", "loss_mask_point"} <= set(losses)


# ----------------------------------------------------------------------------------------------------------
# errors on broken files (tiny synthetic nuclei-like folders)
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def register(temporary_datasets):
    """``register(folder)`` / ``register(folder, json_file=..., lazy=True)``: register under a unique name, removed
    at teardown; returns the registered names."""
    def _register(folder, json_file=None, lazy=False):
        prefix = "nuclei_test_" + uuid.uuid4().hex[:8]
        if lazy:
            names = [register_coco_dataset(f"{prefix}_val", json_file, folder / "val", validate=False)]
        else:
            names = register_dataset_folder(prefix, folder)
        temporary_datasets.extend(names)
        return names

    return _register


def _nuclei_folder(root, rle_size=None, height=48, width=64):
    """COCO layout like nuclei_dsb2018: one RGB PNG with two nuclei as compressed RLE (annotation ids 7 and 8); with
    ``rle_size`` the second one's RLE is encoded at that (height, width) instead of the image's."""
    (root / "annotations").mkdir(parents=True)
    (root / "val").mkdir()
    image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(root / "val" / "cell_0042.png")
    annotations = []
    for ann_id, (y0, x0), size in ((7, (5, 6), (height, width)), (8, (20, 30), rle_size or (height, width))):
        mask = np.zeros(size, dtype=np.uint8, order="F")
        mask[y0:y0 + 9, x0:x0 + 11] = 1
        rle = mask_util.encode(mask)
        rle["counts"] = rle["counts"].decode("ascii")
        annotations.append({"id": ann_id, "image_id": 3, "category_id": 1, "iscrowd": 0, "area": 99.0,
                            "bbox": [x0, y0, 11, 9], "segmentation": rle})
    (root / "annotations" / "instances_val.json").write_text(json.dumps({
        "images": [{"id": 3, "file_name": "cell_0042.png", "height": height, "width": width}],
        "annotations": annotations, "categories": [{"id": 1, "name": "nucleus"}]}))
    return root / "val" / "cell_0042.png"


def test_tiny_nuclei_folder_loads_with_rle_masks(register, tmp_path):
    _nuclei_folder(tmp_path)
    (name,) = register(tmp_path)
    (record,) = DatasetCatalog.get(name)
    out = LevelSetDatasetMapper(_tiny("levelset_rcnn_lite0_FPN.yaml"), is_train=True)(record)
    masks = out["instances"].gt_masks
    assert isinstance(masks, BitMasks) and len(masks) == 2 and masks.tensor.shape[1:] == out["image"].shape[1:]


@pytest.mark.parametrize("rle_size", [(64, 48), (48, 65)])
def test_rle_of_another_size_names_the_annotation(register, tmp_path, rle_size):
    _nuclei_folder(tmp_path, rle_size=rle_size)
    json_file = tmp_path / "annotations" / "instances_val.json"
    expected = rf"instances_val\.json: annotation id 8 of image id 3 \(cell_0042\.png\) has an RLE segmentation of " \
               rf"size \[{rle_size[0]}, {rle_size[1]}\].*image is 48 x 64"
    registered = set(DatasetCatalog.list())
    with pytest.raises(ValueError, match=expected):  # checked when registering (small json)
        register(tmp_path)
    assert set(DatasetCatalog.list()) == registered
    # a large json (here: validate=False, as for the built-in folders) is checked when loaded, with the same message
    (name,) = register(tmp_path, json_file=json_file, lazy=True)
    with pytest.raises(ValueError, match=expected):
        DatasetCatalog.get(name)


@pytest.mark.parametrize("is_train", [True, False])
def test_truncated_png_is_named(register, tmp_path, is_train):
    png = _nuclei_folder(tmp_path)
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2])
    (name,) = register(tmp_path)  # registering checks that the file exists, not its bytes
    (record,) = DatasetCatalog.get(name)
    with pytest.raises(ImageReadError) as info:
        LevelSetDatasetMapper(_tiny("pointrend_rcnn_lite0_FPN.yaml"), is_train=is_train)(record)
    assert str(png) in str(info.value)
