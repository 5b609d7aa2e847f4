"""The generated shapes dataset: determinism, content claims, annotation consistency, registration."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import levelset_rcnn  # noqa: F401  (before any detectron2.data import)
from detectron2.data import DatasetCatalog, MetadataCatalog
from pycocotools import mask as mask_util

from levelset_core.data import shapes as render
from levelset_rcnn.data import synthetic_shapes as shapes
from levelset_rcnn.data import (
    SHAPES_CLASS_NAMES,
    ensure_shapes_dataset,
    generate_shapes_dataset,
    register_shapes_dataset,
    render_shapes_image,
)

NUM_IMAGES = 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    json_file, image_root = generate_shapes_dataset(root, "train", NUM_IMAGES, seed=5)
    with open(json_file) as f:
        return root, json_file, image_root, json.load(f)


@pytest.fixture(scope="module")
def rendered():
    """Images and instances (visible + full masks) straight from the renderer, for the content claims."""
    out = []
    for index in range(60):
        out.append(render_shapes_image(shapes._image_rng(11, "train", index), (128, 128)))
    return out


def _instances(rendered):
    return [inst for _, instances in rendered for inst in instances]


def _decode(ann):
    return mask_util.decode(ann["segmentation"]).astype(bool)


def _file_bytes(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


# ----------------------------------------------------------------------------------------------------------
# files and determinism
# ----------------------------------------------------------------------------------------------------------
def test_layout_and_coco_json(dataset):
    root, json_file, image_root, coco = dataset
    assert json_file == os.path.join(str(root), "annotations", "instances_train.json")
    assert image_root == os.path.join(str(root), "train")
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4]
    assert [c["name"] for c in coco["categories"]] == list(SHAPES_CLASS_NAMES)
    assert len(coco["images"]) == NUM_IMAGES
    for img in coco["images"]:
        with Image.open(os.path.join(image_root, img["file_name"])) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            assert im.size == (img["width"], img["height"]) == (128, 128)
    counts = np.bincount([a["image_id"] for a in coco["annotations"]], minlength=NUM_IMAGES + 1)[1:]
    assert counts.min() >= 1 and counts.max() <= 4
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
    for ann in coco["annotations"]:
        assert ann["iscrowd"] == 0 and isinstance(ann["segmentation"]["counts"], str)


def test_same_seed_gives_identical_files(dataset, tmp_path):
    root, _, _, _ = dataset
    generate_shapes_dataset(tmp_path, "train", NUM_IMAGES, seed=5)
    assert (tmp_path / "annotations" / "instances_train.json").read_bytes() == (
        root / "annotations" / "instances_train.json"
    ).read_bytes()
    assert _file_bytes(tmp_path / "train") == _file_bytes(root / "train")


def test_other_seed_differs(dataset, tmp_path):
    root, _, _, _ = dataset
    generate_shapes_dataset(tmp_path, "train", NUM_IMAGES, seed=6)
    assert (tmp_path / "annotations" / "instances_train.json").read_bytes() != (
        root / "annotations" / "instances_train.json"
    ).read_bytes()
    ours, theirs = _file_bytes(tmp_path / "train"), _file_bytes(root / "train")
    assert all(ours[name] != theirs[name] for name in ours)


def test_other_image_size(tmp_path):
    json_file, image_root = generate_shapes_dataset(tmp_path, "val", 3, image_size=(96, 160), seed=0)
    coco = json.load(open(json_file))
    assert {(i["height"], i["width"]) for i in coco["images"]} == {(96, 160)}
    for ann in coco["annotations"]:
        assert _decode(ann).shape == (96, 160)
    with Image.open(os.path.join(image_root, "000000.png")) as im:
        assert im.size == (160, 96)


# ----------------------------------------------------------------------------------------------------------
# annotations agree with the masks and with the drawn image
# ----------------------------------------------------------------------------------------------------------
def test_bbox_and_area_agree_with_masks(dataset):
    _, _, _, coco = dataset
    for ann in coco["annotations"]:
        mask = _decode(ann)
        ys, xs = np.nonzero(mask)
        x0, y0 = xs.min(), ys.min()
        assert ann["bbox"] == [x0, y0, xs.max() - x0 + 1, ys.max() - y0 + 1]
        assert ann["bbox"] == mask_util.toBbox(ann["segmentation"]).tolist()
        assert ann["area"] == int(mask.sum()) == int(mask_util.area(ann["segmentation"]))
        assert ann["area"] <= ann["unoccluded_area"]
        assert ann["area"] >= render.MIN_VISIBLE_FRACTION * ann["unoccluded_area"]
        assert ann["area"] >= render.MIN_VISIBLE_PIXELS


def test_files_match_the_renderer(dataset):
    """The PNGs and RLEs are exactly what render_shapes_image drew; visible masks are disjoint."""
    _, _, image_root, coco = dataset
    anns_by_image = {}
    for ann in coco["annotations"]:
        anns_by_image.setdefault(ann["image_id"], []).append(ann)
    for img in coco["images"]:
        index = img["id"] - 1
        image, instances = render_shapes_image(shapes._image_rng(5, "train", index), (128, 128))
        np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(image_root, img["file_name"]))), image)
        anns = anns_by_image[img["id"]]
        assert len(anns) == len(instances)
        union = np.zeros((128, 128), dtype=np.int32)
        for ann, inst in zip(anns, instances):
            np.testing.assert_array_equal(_decode(ann), inst["mask"])
            assert ann["category_id"] == inst["category_id"] + 1
            assert not np.any(inst["mask"] & ~inst["full_mask"])  # visible part of the object
            union += inst["mask"]
        assert union.max() <= 1


def test_masks_are_the_drawn_pixels():
    """Each visible mask is exactly where the image differs from the same image rendered without it.

    Rendering with the objects' textures replaced by a constant colour makes the drawn pixels observable.
    """
    original = render._object_texture
    try:
        render._object_texture = lambda rng, category, xx, yy, size: np.full(xx.shape + (3,), -10.0)
        for index in range(10):
            image, instances = render_shapes_image(shapes._image_rng(3, "train", index), (128, 128))
            flat = np.all(image == 0, axis=-1)  # -10 clipped to 0, noise cannot lift it above 0.5/255
            union = np.zeros_like(flat)
            for inst in instances:
                union |= inst["mask"]
            np.testing.assert_array_equal(flat, union)
    finally:
        render._object_texture = original


# ----------------------------------------------------------------------------------------------------------
# content claims of the issue
# ----------------------------------------------------------------------------------------------------------
def test_all_classes_present(dataset, rendered):
    _, _, _, coco = dataset
    assert {a["category_id"] for a in coco["annotations"]} | {
        i["category_id"] + 1 for i in _instances(rendered)
    } == {1, 2, 3, 4}
    assert {i["category_id"] for i in _instances(rendered)} == {0, 1, 2, 3}


def _num_holes(mask):
    background, n = ndimage.label(~mask)  # 4-connected background
    border = set(np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])))
    return len(set(range(1, n + 1)) - border)


def test_instances_with_holes(rendered):
    with_holes = [i for i in _instances(rendered) if _num_holes(i["mask"]) > 0]
    assert len(with_holes) >= 3
    assert {i["category_id"] for i in with_holes} >= {SHAPES_CLASS_NAMES.index("ring")}


def test_instances_with_several_components(rendered):
    multi = [i for i in _instances(rendered) if ndimage.label(i["mask"], structure=np.ones((3, 3)))[1] >= 2]
    assert len(multi) >= 3
    assert SHAPES_CLASS_NAMES.index("pair") in {i["category_id"] for i in multi}


def _has_thin_part(mask, min_pixels=15):
    """An opening by a 5x5 square (erosion by 2 px, then dilation) removes a connected part of the mask."""
    opened = ndimage.binary_dilation(ndimage.binary_erosion(mask, iterations=2), iterations=2) & mask
    removed, n = ndimage.label(mask & ~opened, structure=np.ones((3, 3)))
    return n > 0 and np.bincount(removed.ravel())[1:].max() >= min_pixels


def test_instances_with_thin_parts(rendered):
    thin = [i for i in _instances(rendered) if _has_thin_part(i["full_mask"])]
    assert len(thin) >= 3
    assert SHAPES_CLASS_NAMES.index("wrench") in {i["category_id"] for i in thin}
    # the wrench handle is 2-4 px wide: an erosion by 2 px splits the wrench or removes the handle entirely
    wrench = [i["full_mask"] for i in _instances(rendered) if i["category_id"] == SHAPES_CLASS_NAMES.index("wrench")]
    eroded_area = [ndimage.binary_erosion(m, iterations=2).sum() / m.sum() for m in wrench]
    assert min(eroded_area) < 0.75


def test_occlusion_present(rendered):
    instances = _instances(rendered)
    occluded = [i for i in instances if i["mask"].sum() < i["full_mask"].sum()]
    assert len(occluded) >= 5
    # the occluded part is covered by objects drawn later in the same image
    for _, image_instances in rendered:
        for k, inst in enumerate(image_instances):
            hidden = inst["full_mask"] & ~inst["mask"]
            later = np.zeros_like(hidden)
            for other in image_instances[k + 1 :]:
                later |= other["full_mask"]
            assert not np.any(hidden & ~later)


def test_object_sizes_and_counts(rendered):
    for _, instances in rendered:
        assert 1 <= len(instances) <= 4
    sides = []
    for inst in _instances(rendered):
        ys, xs = np.nonzero(inst["full_mask"])
        sides.append(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))
    assert min(sides) >= 22 and max(sides) <= 64


def test_classes_have_distinct_colours(rendered):
    """Mean hue of each class's pixels: class-typical colours make the classes easy to tell apart."""
    means = {}
    for image, instances in rendered:
        for inst in instances:
            means.setdefault(inst["category_id"], []).append(image[inst["mask"]].mean(axis=0))
    centres = np.array([np.mean(means[c], axis=0) for c in range(4)])
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    assert distances[~np.eye(4, dtype=bool)].min() > 40


# ----------------------------------------------------------------------------------------------------------
# regeneration and registration
# ----------------------------------------------------------------------------------------------------------
def test_ensure_regenerates_incomplete_or_outdated(tmp_path):
    kwargs = dict(root=tmp_path, num_images=3, seed=0)
    json_file, image_root = ensure_shapes_dataset("val", **kwargs)
    assert shapes.is_shapes_dataset_complete(tmp_path, "val", 3, (128, 128), 0)
    marker = tmp_path / "annotations" / "instances_val.complete"
    mtime = os.path.getmtime(json_file)
    ensure_shapes_dataset("val", **kwargs)  # complete: nothing rewritten
    assert os.path.getmtime(json_file) == mtime

    # an interrupted generation (no marker) is redone
    marker.unlink()
    os.remove(os.path.join(image_root, "000001.png"))
    ensure_shapes_dataset("val", **kwargs)
    assert marker.exists() and os.path.isfile(os.path.join(image_root, "000001.png"))

    # a marker of another generator version is outdated
    params = json.loads(marker.read_text())
    params["generator_version"] = shapes.GENERATOR_VERSION - 1
    marker.write_text(json.dumps(params))
    assert not shapes.is_shapes_dataset_complete(tmp_path, "val", 3, (128, 128), 0)
    ensure_shapes_dataset("val", **kwargs)
    assert json.loads(marker.read_text())["generator_version"] == shapes.GENERATOR_VERSION

    # fewer images: the stale ones are removed
    ensure_shapes_dataset("val", root=tmp_path, num_images=2, seed=0)
    assert sorted(os.listdir(image_root)) == ["000000.png", "000001.png"]


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.delenv("LEVELSET_RCNN_DATA", raising=False)
    expected = os.path.join(
        os.path.expanduser("~"), ".cache", "levelset_rcnn", f"shapes_v{shapes.GENERATOR_VERSION}"
    )
    assert shapes.default_shapes_root() == expected
    monkeypatch.setenv("LEVELSET_RCNN_DATA", str(tmp_path))
    assert shapes.default_shapes_root() == str(tmp_path)
    json_file, image_root = ensure_shapes_dataset("mini", num_images=2)
    assert json_file == str(tmp_path / "annotations" / "instances_mini.json") and os.path.isfile(json_file)
    with pytest.raises(ValueError, match="num_images"):
        ensure_shapes_dataset("unknown_split")


def test_builtin_names_registered_at_import():
    for split in ("train", "val"):
        name = f"levelset_shapes_{split}"
        assert name in DatasetCatalog.list()
        meta = MetadataCatalog.get(name)
        assert meta.thing_classes == ["ring", "blob", "pair", "wrench"]
        assert meta.evaluator_type == "coco"
        assert len(meta.thing_colors) == 4
        assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 4: 3}
        assert "json_file" not in meta.__dict__  # resolved (and generated) lazily, not at import
    # calling it again is harmless
    assert register_shapes_dataset() == ["levelset_shapes_train", "levelset_shapes_val"]


@pytest.fixture
def small_registration(tmp_path):
    prefix = "test_levelset_shapes"
    names = register_shapes_dataset(tmp_path, prefix=prefix, splits={"train": {"num_images": 4, "seed": 0}})
    yield tmp_path, names
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        shapes._REGISTERED.pop(name, None)


def test_datasetcatalog_round_trip(small_registration):
    from detectron2.structures import BoxMode

    root, names = small_registration
    assert names == ["test_levelset_shapes_train"]
    assert not (root / "annotations").exists()  # lazy
    dicts = DatasetCatalog.get("test_levelset_shapes_train")
    assert len(dicts) == 4
    for record in dicts:
        assert os.path.isfile(record["file_name"]) and (record["height"], record["width"]) == (128, 128)
        for ann in record["annotations"]:
            assert ann["bbox_mode"] == BoxMode.XYWH_ABS and 0 <= ann["category_id"] < 4
            mask = mask_util.decode(ann["segmentation"])
            assert mask_util.toBbox(mask_util.encode(np.asfortranarray(mask))).tolist() == ann["bbox"]
    meta = MetadataCatalog.get("test_levelset_shapes_train")
    assert meta.json_file == str(root / "annotations" / "instances_train.json")
    assert meta.image_root == str(root / "train")
    # the same registration again does nothing
    assert register_shapes_dataset(root, prefix="test_levelset_shapes", splits={"train": {"num_images": 4, "seed": 0}})


def test_metadata_lookup_generates(small_registration):
    """COCOEvaluator reads ``json_file`` from the metadata: that alone generates the data."""
    root, _ = small_registration
    json_file = MetadataCatalog.get("test_levelset_shapes_train").json_file
    assert os.path.isfile(json_file) and len(os.listdir(root / "train")) == 4


def test_reregister_with_other_root_replaces(small_registration, tmp_path_factory):
    other = tmp_path_factory.mktemp("other_shapes")
    register_shapes_dataset(other, prefix="test_levelset_shapes", splits={"train": {"num_images": 2, "seed": 0}})
    assert len(DatasetCatalog.get("test_levelset_shapes_train")) == 2
    assert MetadataCatalog.get("test_levelset_shapes_train").json_file.startswith(str(other))
