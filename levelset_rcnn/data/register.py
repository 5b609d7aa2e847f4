"""Register VIA and COCO-format datasets in detectron2's ``DatasetCatalog`` / ``MetadataCatalog``.

* :func:`register_coco_dataset`: a COCO instances json + image folder (like detectron2's
  ``register_coco_instances``, with errors that name the problem);
* :func:`register_via_dataset`: a VIA polygon json (the balloon layout), see :mod:`levelset_rcnn.data.via`;
* :func:`register_dataset_folder`: detects the layout of a folder and registers one dataset per split.

Problems are reported as ``FileNotFoundError`` (missing folder, json or image file) or ``ValueError`` (no
recognisable layout, unparsable json, an annotation whose category id is not among the json's categories, an
RLE mask whose size is not its image's, ...) whose message names the file, folder, image / annotation id or key.
Small annotation files (up to ``EAGER_VALIDATION_MAX_BYTES``) are checked when registering; larger ones when first
loaded (``DatasetCatalog.get``), which reports the same errors. Annotations with an empty ``"segmentation"`` in a
json whose other annotations have masks, and annotations a model cannot train on (a degenerate polygon, a box of
zero area or entirely outside its image), are dropped with a logged count per reason and the first annotation ids
(:func:`drop_invalid_annotations`); :func:`raise_for_dropped_annotations` makes that an error
(``DATASETS.STRICT_ANNOTATIONS``).
"""
import functools
import logging
import os
import re

import numpy as np

from .via import load_via_json, read_json

__all__ = [
    "register_coco_dataset",
    "register_via_dataset",
    "register_dataset_folder",
    "register_dataset_folders",
    "validate_coco_json",
    "check_rle_size",
    "drop_invalid_annotations",
    "raise_for_dropped_annotations",
    "find_dataset_splits",
    "EAGER_VALIDATION_MAX_BYTES",
]

logger = logging.getLogger(__name__)

EAGER_VALIDATION_MAX_BYTES = 64 * 1024 * 1024
VIA_JSON_NAME = "via_region_data.json"
_COCO_JSON = re.compile(r"^instances_(.+)\.json$")
_YEAR_SPLIT = re.compile(r"^(train|val|test)\d{4}$")
_REGISTERED = {}  # dataset name -> the arguments it was registered with
_DROPPED = {}  # dataset name -> (json file, [(reason, image id, annotation id, image file), ...]) of its last load
# why an annotation is dropped, in the order it is checked: the first that applies is reported
DROP_REASONS = {
    "segmentation": "an empty or invalid 'segmentation' (a mask model cannot train on them)",
    "polygon": "a degenerate polygon (fewer than 3 points, or zero area)",
    "zero_area": "a box of zero width or height",
    "outside": "a box entirely outside its image",
}


# ----------------------------------------------------------------------------------------------------------
# COCO
# ----------------------------------------------------------------------------------------------------------
def check_rle_size(json_file, ann, image_id, file_name, height, width):
    """Raise ValueError when ``ann``'s ``segmentation`` is an RLE (a dict with ``size`` = [height, width]) of another
    size than its image's ``height`` x ``width``; the message names the json, the annotation id, the image id and
    the image file. Polygons, and images without a height / width, pass.

    detectron2 would decode such a mask and stop at a bare ``AssertionError`` in the data loader (or crop it to the
    wrong place, where the resize does not check), with nothing that says which annotation is wrong.
    """
    segm = ann.get("segmentation")
    if not isinstance(segm, dict) or "size" not in segm or height is None or width is None:
        return
    size = [int(v) for v in segm["size"]]
    if size != [int(height), int(width)]:
        raise ValueError(
            f"{json_file}: annotation id {ann.get('id')} of image id {image_id} ({os.path.basename(str(file_name))}) "
            f"has an RLE segmentation of size {size} (height, width), but the image is {height} x {width}: re-encode "
            "the mask at the image's size, or fix the image's height / width"
        )


def validate_coco_json(json_file, image_root=None, check_images=True):
    """Check a COCO instances json and return it parsed.

    Raises ValueError for a file that does not parse, lacks ``images`` / ``annotations`` / ``categories``,
    has duplicate ids, has an annotation whose ``category_id`` is not among its categories (the message
    names the image id, the annotation id and the bad category id) or an RLE mask whose size is not its image's
    (:func:`check_rle_size`); FileNotFoundError for a missing json or (with ``check_images``) a missing image file.
    """
    json_file = os.fspath(json_file)
    data = read_json(json_file)
    if not isinstance(data, dict):
        raise ValueError(f"{json_file}: expected a COCO json object, got a {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{json_file}: the COCO json has no '{key}' key (keys: {sorted(data)})")
    categories = {}
    for cat in data["categories"]:
        if "id" not in cat or "name" not in cat:
            raise ValueError(f"{json_file}: category {cat} needs an 'id' and a 'name'")
        if cat["id"] in categories:
            raise ValueError(f"{json_file}: category id {cat['id']} appears twice in 'categories'")
        categories[cat["id"]] = cat["name"]
    if not categories:
        raise ValueError(f"{json_file}: 'categories' is empty")
    image_ids = {}  # id -> image entry
    for img in data["images"]:
        for key in ("id", "file_name"):
            if key not in img:
                raise ValueError(f"{json_file}: image entry {img} has no '{key}'")
        if img["id"] in image_ids:
            raise ValueError(f"{json_file}: image id {img['id']} appears twice in 'images'")
        image_ids[img["id"]] = img
    ann_ids = set()
    for ann in data["annotations"]:
        ann_id, image_id, category_id = ann.get("id"), ann.get("image_id"), ann.get("category_id")
        if category_id not in categories:
            raise ValueError(
                f"{json_file}: annotation id {ann_id} of image id {image_id} has category_id {category_id}, "
                f"which is not among the json's categories (ids {sorted(categories)})"
            )
        if ann_id in ann_ids:
            raise ValueError(f"{json_file}: annotation id {ann_id} (image id {image_id}) is not unique")
        ann_ids.add(ann_id)
        if image_id not in image_ids:
            raise ValueError(f"{json_file}: annotation id {ann_id} refers to image id {image_id}, not in 'images'")
        img = image_ids[image_id]
        check_rle_size(json_file, ann, image_id, img["file_name"], img.get("height"), img.get("width"))
    if check_images and image_root is not None:
        for img in data["images"]:
            path = os.path.join(os.fspath(image_root), img["file_name"])
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{json_file}: image file {path} (image id {img['id']}) does not exist")
    return data


def _coco_class_metadata(data):
    cat_ids = sorted(c["id"] for c in data["categories"])
    names = {c["id"]: c["name"] for c in data["categories"]}
    return {
        "thing_classes": [names[i] for i in cat_ids],
        "thing_dataset_id_to_contiguous_id": {cid: i for i, cid in enumerate(cat_ids)},
    }


def _detectron2_keeps(polygon):
    """detectron2's ``load_coco_json`` test of a flat ``[x0, y0, x1, y1, ...]`` polygon: 3 points or more, an even
    number of coordinates."""
    return len(polygon) >= 6 and len(polygon) % 2 == 0


def _polygon_area(polygon):
    """Area of a flat ``[x0, y0, x1, y1, ...]`` polygon; 0 for one that detectron2 drops."""
    if not _detectron2_keeps(polygon):
        return 0.0
    x, y = np.asarray(polygon, dtype=np.float64).reshape(-1, 2).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _is_degenerate(segmentation):
    """True for a polygon ``segmentation`` (a non-empty list) none of whose polygons has an area."""
    return isinstance(segmentation, list) and bool(segmentation) and not any(_polygon_area(p) for p in segmentation)


def _drop_reason(ann, record, has_masks):
    """The key in :data:`DROP_REASONS` of why detectron2 annotation ``ann`` of ``record`` cannot be trained on, or
    None. detectron2 keeps such annotations, and its dataset mapper then drops them without a word (an empty box
    after clipping to the image), or a mask model fails on them (no segmentation) or learns an empty mask."""
    from detectron2.structures import BoxMode

    if has_masks and "segmentation" not in ann:
        return "segmentation"
    if _is_degenerate(ann.get("segmentation")):
        return "polygon"
    if "bbox" not in ann:
        return None
    x0, y0, x1, y1 = BoxMode.convert(list(ann["bbox"]), ann.get("bbox_mode", BoxMode.XYWH_ABS), BoxMode.XYXY_ABS)
    if x1 <= x0 or y1 <= y0:
        return "zero_area"
    width, height = record.get("width"), record.get("height")
    if width is not None and height is not None and (x0 >= width or y0 >= height or x1 <= 0 or y1 <= 0):
        return "outside"
    return None


def _describe(dropped, limit=5):
    shown = "; ".join(f"image id {i} ({os.path.basename(str(f))}) annotation id {a}" for _, i, a, f in dropped[:limit])
    return shown + (" ..." if len(dropped) > limit else "")


def _by_reason(dropped):
    return {reason: [d for d in dropped if d[0] == reason] for reason in DROP_REASONS if any(d[0] == reason
                                                                                              for d in dropped)}


def drop_invalid_annotations(dicts, json_file, dataset_name=None, dropped_before=()):
    """Drop, in place, the annotations a model cannot train on, log per reason (:data:`DROP_REASONS`) how many with
    the json and the first image / annotation ids, and return the list of ``(reason, image id, annotation id, image
    file)`` dropped (``dropped_before`` first: annotations the loader already left out, e.g. detectron2's polygons
    of fewer than 3 points, which are only counted and named here).

    Reasons: no ``segmentation`` (``"segmentation": []`` or ``{}``, or no such key) in a dataset in which other
    annotations have one (detectron2 keeps it without the key, and training then fails with ``KeyError:
    'segmentation'``; a box-only json is left as it is); a polygon segmentation none of whose polygons has an area;
    a box of zero width or height; a box entirely outside its image (``width`` / ``height`` of the record; a box
    partly outside is kept and clipped by detectron2). The records need the annotation ``id`` (loaded with
    ``extra_annotation_keys=["id"]``) to name it; it is removed from the records here. With ``dataset_name`` the
    list is kept for :func:`raise_for_dropped_annotations`.
    """
    has_masks = any("segmentation" in ann for record in dicts for ann in record.get("annotations", []))
    dropped = list(dropped_before)
    for record in dicts:
        kept = []
        for ann in record.get("annotations", []):
            reason = _drop_reason(ann, record, has_masks)
            if reason is None:
                kept.append(ann)
            else:
                dropped.append((reason, record.get("image_id"), ann.get("id"), record.get("file_name")))
            ann.pop("id", None)
        if "annotations" in record:
            record["annotations"] = kept
    for reason, items in _by_reason(dropped).items():
        logger.warning("%s: dropped %d annotation(s) with %s: %s", json_file, len(items), DROP_REASONS[reason],
                       _describe(items))
    if dataset_name is not None:
        _DROPPED[dataset_name] = (json_file, dropped)
    return dropped


def raise_for_dropped_annotations(dataset_names):
    """``DATASETS.STRICT_ANNOTATIONS``: raise ValueError, naming the dataset, the json, each reason and the first
    image / annotation ids, when the last load of one of ``dataset_names`` dropped annotations
    (:func:`drop_invalid_annotations`; load them first, e.g. with ``DatasetCatalog.get``)."""
    for name in dataset_names:
        json_file, dropped = _DROPPED.get(name, (None, []))
        if dropped:
            reasons = "; ".join(f"{len(items)} with {DROP_REASONS[reason]}: {_describe(items)}"
                                for reason, items in _by_reason(dropped).items())
            raise ValueError(
                f"DATASETS.STRICT_ANNOTATIONS is True and dataset {name!r} ({json_file}) has {len(dropped)} "
                f"annotation(s) that cannot be trained on. {reasons}. Fix them in the json, or set "
                "DATASETS.STRICT_ANNOTATIONS False to train without them (a warning lists them)"
            )


def _dropped_by_detectron2(json_file):
    """``(reason, image id, annotation id, image file)`` of the annotations of a COCO json that detectron2's
    ``load_coco_json`` leaves out with only a count: polygon segmentations without a polygon of 3 points."""
    data = read_json(json_file)
    files = {img.get("id"): img.get("file_name") for img in data.get("images", [])}
    return [("polygon", ann.get("image_id"), ann.get("id"), files.get(ann.get("image_id")))
            for ann in data.get("annotations", []) if isinstance(ann.get("segmentation"), list)
            and ann["segmentation"] and not any(_detectron2_keeps(p) for p in ann["segmentation"])]


def _load_coco_checked(json_file, image_root, name):
    from detectron2.data.datasets import load_coco_json

    try:
        dicts = load_coco_json(json_file, image_root, name, extra_annotation_keys=["id"])
    except Exception:
        # find what is wrong and say it clearly; re-raise the original error if nothing is found
        validate_coco_json(json_file, image_root, check_images=False)
        raise
    for record in dicts:
        if not os.path.isfile(record["file_name"]):
            raise FileNotFoundError(
                f"{json_file}: image file {record['file_name']} (image id {record['image_id']}) does not exist"
            )
        for ann in record.get("annotations", []):
            check_rle_size(json_file, ann, record["image_id"], record["file_name"], record.get("height"),
                           record.get("width"))
    # the json is read a second time to name what detectron2 dropped (about a third of the loading time)
    drop_invalid_annotations(dicts, json_file, name, _dropped_by_detectron2(json_file))
    return dicts


def _check_paths(json_file, image_root):
    if not os.path.isfile(json_file):
        raise FileNotFoundError(f"Annotation file not found: {json_file}")
    if not os.path.isdir(image_root):
        raise FileNotFoundError(f"Image folder not found: {image_root} (images of {json_file})")


def _should_validate(validate, json_file):
    if validate is None:
        return os.path.getsize(json_file) <= EAGER_VALIDATION_MAX_BYTES
    return bool(validate)


def _already_registered(name, key):
    """True if ``name`` is registered with exactly ``key``; raises if it is registered otherwise."""
    from detectron2.data import DatasetCatalog

    if name not in DatasetCatalog.list():
        return False
    if _REGISTERED.get(name) == key:
        return True
    raise ValueError(
        f"Dataset '{name}' is already registered with other data; choose another name, or first call "
        f"DatasetCatalog.remove('{name}') and MetadataCatalog.remove('{name}')."
    )


def _prepare_coco(json_file, image_root, validate):
    json_file = os.path.abspath(os.fspath(json_file))
    image_root = os.path.abspath(os.fspath(image_root))
    _check_paths(json_file, image_root)
    extra = {}
    if _should_validate(validate, json_file):
        extra = _coco_class_metadata(validate_coco_json(json_file, image_root))
    return json_file, image_root, extra


def _register_coco(name, json_file, image_root, extra, metadata):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    key = ("coco", json_file, image_root)
    if _already_registered(name, key):
        return name
    DatasetCatalog.register(name, functools.partial(_load_coco_checked, json_file, image_root, name))
    _REGISTERED[name] = key
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="coco", **{**extra, **(metadata or {})}
    )
    return name


def register_coco_dataset(name, json_file, image_root, metadata=None, validate=None):
    """Register a COCO instances json + image folder as ``name`` (``evaluator_type="coco"``).

    Like detectron2's ``register_coco_instances``, with checks: the json and the image folder must exist,
    and (``validate``: True, False, or None = only for files up to ``EAGER_VALIDATION_MAX_BYTES``) the json is
    checked right away by :func:`validate_coco_json`, which also fills ``thing_classes`` and
    ``thing_dataset_id_to_contiguous_id``. Loading (``DatasetCatalog.get``) reports the same errors.
    Registering the same name with the same files again does nothing; with other files raises ValueError.
    Returns ``name``.
    """
    json_file = os.path.abspath(os.fspath(json_file))
    image_root = os.path.abspath(os.fspath(image_root))
    if _already_registered(name, ("coco", json_file, image_root)):
        return name
    json_file, image_root, extra = _prepare_coco(json_file, image_root, validate)
    return _register_coco(name, json_file, image_root, extra, metadata)


# ----------------------------------------------------------------------------------------------------------
# VIA
# ----------------------------------------------------------------------------------------------------------
def _prepare_via(json_file, image_root, class_names, class_key, validate):
    json_file = os.path.abspath(os.fspath(json_file))
    image_root = os.path.dirname(json_file) if image_root is None else os.path.abspath(os.fspath(image_root))
    _check_paths(json_file, image_root)
    class_names = tuple(class_names)
    if _should_validate(validate, json_file):
        load_via_json(json_file, image_root, class_names, class_key)
    return json_file, image_root, class_names


def _register_via(name, json_file, image_root, class_names, class_key):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    key = ("via", json_file, image_root, class_names, class_key)
    if _already_registered(name, key):
        return name
    DatasetCatalog.register(name, functools.partial(load_via_json, json_file, image_root, class_names, class_key))
    _REGISTERED[name] = key
    # no ``json_file``: COCOEvaluator converts the dataset dicts to a COCO json itself
    MetadataCatalog.get(name).set(
        thing_classes=list(class_names), via_json_file=json_file, image_root=image_root, evaluator_type="coco"
    )
    return name


def register_via_dataset(name, json_file, image_root=None, class_names=("balloon",), class_key=None, validate=None):
    """Register a VIA polygon json (e.g. ``balloon/train/via_region_data.json``) as ``name``.

    ``image_root`` defaults to the json's folder; ``class_names`` / ``class_key`` as in
    :func:`levelset_rcnn.data.via.load_via_json`. Small files are loaded once right away to report problems
    (``validate``, as in :func:`register_coco_dataset`). Returns ``name``.
    """
    json_file = os.path.abspath(os.fspath(json_file))
    image_root = os.path.dirname(json_file) if image_root is None else os.path.abspath(os.fspath(image_root))
    class_names = tuple(class_names)
    if _already_registered(name, ("via", json_file, image_root, class_names, class_key)):
        return name
    json_file, image_root, class_names = _prepare_via(json_file, image_root, class_names, class_key, validate)
    return _register_via(name, json_file, image_root, class_names, class_key)


# ----------------------------------------------------------------------------------------------------------
# Folders
# ----------------------------------------------------------------------------------------------------------
def find_dataset_splits(folder):
    """The splits in ``folder``: a list of ``(split, kind, json_file, image_root)``, kind "coco" or "via".

    COCO layout: ``folder/annotations/instances_<split>.json`` with images in ``folder/<split>/``.
    VIA layout: ``folder/<split>/via_region_data.json`` with images next to it.
    Raises FileNotFoundError for a missing folder (or a COCO json whose image folder is missing) and
    ValueError when no layout is recognised (the message lists what was expected and what is there).
    """
    folder = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Dataset folder not found: {folder}")
    found = []
    ann_dir = os.path.join(folder, "annotations")
    if os.path.isdir(ann_dir):
        for file_name in sorted(os.listdir(ann_dir)):
            match = _COCO_JSON.match(file_name)
            if not match:
                continue
            split = match.group(1)
            json_file = os.path.join(ann_dir, file_name)
            image_root = os.path.join(folder, split)
            if not os.path.isdir(image_root):
                raise FileNotFoundError(
                    f"{json_file} is there but its image folder {image_root} does not exist "
                    f"(COCO layout: images of split '{split}' in <folder>/{split}/)"
                )
            found.append((split, "coco", json_file, image_root))
    for entry in sorted(os.listdir(folder)):
        json_file = os.path.join(folder, entry, VIA_JSON_NAME)
        if os.path.isfile(json_file):
            found.append((entry, "via", json_file, os.path.join(folder, entry)))
    if not found:
        listing = sorted(os.listdir(folder))
        shown = ", ".join(listing[:20]) + (", ..." if len(listing) > 20 else "")
        raise ValueError(
            f"No dataset layout recognised in {folder}. Expected either the COCO layout "
            f"'{folder}/annotations/instances_<split>.json' with images in '{folder}/<split>/', or the VIA layout "
            f"'{folder}/<split>/{VIA_JSON_NAME}' with the images next to it. Found: [{shown}]"
        )
    return found


def _via_class_names(json_files, class_key):
    """Sorted class names found under ``class_key`` in the regions of VIA files."""
    from .via import _class_value, _regions, _via_entries

    names = set()
    for json_file in json_files:
        for entry in _via_entries(read_json(json_file), json_file):
            for region in _regions(entry):
                value = _class_value(region.get("region_attributes", {}), class_key)
                if isinstance(value, str):
                    names.add(value)
    if not names:
        raise ValueError(f"No region_attributes '{class_key}' with a class name found in {list(json_files)}")
    return tuple(sorted(names))


def register_dataset_folder(prefix, folder, class_names=None, class_key=None, validate=None):
    """Register every split of a dataset folder as ``<prefix>_<split>`` and return the names.

    Layouts (see :func:`find_dataset_splits`): COCO ``folder/annotations/instances_<split>.json`` + images
    in ``folder/<split>/``; VIA ``folder/<split>/via_region_data.json``. A COCO split named like
    ``train2017`` / ``val2017`` is also registered under the short alias ``<prefix>_train`` / ``<prefix>_val``.

    ``class_names`` / ``class_key`` apply to VIA splits: with ``class_key`` and no ``class_names`` the classes
    are the sorted names found under that key; with neither, one class "balloon".
    All splits are checked before any is registered, so an error registers nothing.
    """
    splits = find_dataset_splits(folder)
    via_jsons = [json_file for _, kind, json_file, _ in splits if kind == "via"]
    if via_jsons and class_names is None:
        class_names = _via_class_names(via_jsons, class_key) if class_key is not None else ("balloon",)

    planned = []  # (names, key, register function)
    taken = set()
    for split, kind, json_file, image_root in splits:
        names = [f"{prefix}_{split}"]
        alias = _YEAR_SPLIT.match(split)
        if kind == "coco" and alias:
            names.append(f"{prefix}_{alias.group(1)}")
        names = [n for n in names if n not in taken]
        if not names:
            logger.warning("Split '%s' of %s (%s layout) has a name already taken; skipping it", split, folder, kind)
            continue
        taken.update(names)
        if kind == "coco":
            json_file, image_root, extra = _prepare_coco(json_file, image_root, validate)
            key = ("coco", json_file, image_root)
            register = functools.partial(_register_coco, json_file=json_file, image_root=image_root, extra=extra,
                                         metadata=None)
        else:
            json_file, image_root, names_ = _prepare_via(json_file, image_root, class_names, class_key, validate)
            key = ("via", json_file, image_root, names_, class_key)
            register = functools.partial(_register_via, json_file=json_file, image_root=image_root,
                                         class_names=names_, class_key=class_key)
        planned.append((names, key, register))
    # a clash with another registration is an error too: check all names before registering any
    for names, key, _ in planned:
        for name in names:
            _already_registered(name, key)
    registered = [register(name) for names, _, register in planned for name in names]
    logger.info("Registered %s from %s", registered, folder)
    return registered


def register_dataset_folders(specs):
    """Register command-line ``PREFIX=PATH`` specs (``--dataset-folder``, repeatable) with
    :func:`register_dataset_folder`; returns every registered dataset name. A spec without ``=`` exits with a message
    naming it."""
    names = []
    for spec in specs:
        if "=" not in spec:
            raise SystemExit(f"--dataset-folder expects PREFIX=PATH, got {spec!r}")
        prefix, path = spec.split("=", 1)
        names.extend(register_dataset_folder(prefix, path))
    return names
