"""Polygon annotations in the VGG Image Annotator (VIA) json format, e.g. the balloon dataset.

A VIA json maps an entry key to ``{"filename", "size", "regions", "file_attributes"}``; ``regions`` is a list
(VIA 2) or a dict keyed by "0", "1", ... (VIA 1). A region's ``shape_attributes`` holds the polygon in
``all_points_x`` / ``all_points_y`` (``"polygon"`` / ``"polyline"``; ``"rect"``, ``"circle"`` and ``"ellipse"``
are converted to polygons too) and its ``region_attributes`` may hold the class name. A VIA 2 project file
(with ``_via_img_metadata``) and a plain list of entries are accepted as well.

VIA coordinates are pixel indices; like detectron2's balloon tutorial, 0.5 is added to move them to pixel
centres in detectron2's continuous coordinates, then they are clipped to the image.
"""
import json
import logging
import os

import numpy as np
from PIL import Image

__all__ = ["load_via_json", "convert_via_to_coco", "read_json", "image_size"]

logger = logging.getLogger(__name__)

_EXIF_ORIENTATION = 0x0112


def read_json(json_file):
    """``json.load`` with errors that name the file (FileNotFoundError / ValueError)."""
    json_file = os.fspath(json_file)
    if not os.path.isfile(json_file):
        raise FileNotFoundError(f"Annotation file not found: {json_file}")
    try:
        with open(json_file, "r", encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"Failed to parse the JSON file {json_file}: {e}") from e


def image_size(path):
    """(height, width) of an image as detectron2's ``read_image`` returns it (EXIF orientation applied),
    reading only the header."""
    with Image.open(path) as img:
        width, height = img.size
        try:
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        except Exception:  # broken EXIF: detectron2 ignores it as well
            orientation = 1
    if orientation in (5, 6, 7, 8):  # rotated by 90 / 270 degrees
        width, height = height, width
    return height, width


def _via_entries(data, json_file):
    if isinstance(data, dict) and "_via_img_metadata" in data:  # VIA 2 project file
        data = data["_via_img_metadata"]
    if isinstance(data, dict):
        entries = list(data.values())
    elif isinstance(data, list):
        entries = data
    else:
        raise ValueError(f"{json_file}: expected a VIA json (an object or list of image entries), got {type(data)}")
    for key, entry in zip(data if isinstance(data, dict) else range(len(data)), entries):
        if not isinstance(entry, dict) or "filename" not in entry:
            raise ValueError(f"{json_file}: entry '{key}' is not a VIA image entry (it has no 'filename')")
    return entries


def _regions(entry):
    regions = entry.get("regions") or []
    if isinstance(regions, dict):
        regions = list(regions.values())
    return regions


def _region_points(shape):
    """(xs, ys) of a region's outline, or None for unsupported shapes."""
    name = shape.get("name", "polygon")
    if name in ("polygon", "polyline"):
        return list(shape.get("all_points_x", [])), list(shape.get("all_points_y", []))
    if name == "rect":
        x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
        return [x, x + w, x + w, x], [y, y, y + h, y + h]
    if name in ("circle", "ellipse"):
        cx, cy = float(shape["cx"]), float(shape["cy"])
        rx = float(shape.get("r", shape.get("rx", 0)))
        ry = float(shape.get("r", shape.get("ry", 0)))
        theta = float(shape.get("theta", 0.0))
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        xs = cx + rx * np.cos(t) * np.cos(theta) - ry * np.sin(t) * np.sin(theta)
        ys = cy + rx * np.cos(t) * np.sin(theta) + ry * np.sin(t) * np.cos(theta)
        return xs.tolist(), ys.tolist()
    return None


def _class_value(attributes, class_key):
    value = attributes.get(class_key)
    if isinstance(value, dict):  # VIA 2 checkbox / dropdown: {"balloon": true}
        chosen = [k for k, v in value.items() if v]
        value = chosen[0] if len(chosen) == 1 else None
    return value


def load_via_json(json_file, image_root=None, class_names=("balloon",), class_key=None):
    """Load a VIA json into detectron2 dataset dicts.

    Args:
        json_file: the VIA json (e.g. ``balloon/train/via_region_data.json``).
        image_root: folder of the images; default: the json's folder.
        class_names: the classes; ``category_id`` is the 0-based index into it.
        class_key: the ``region_attributes`` key that holds a region's class name. Required when there is more
            than one class; with one class and no key, every region has that class.

    Returns:
        list[dict]: ``file_name``, ``image_id`` (1-based position in the json), ``height``, ``width`` (from
        the entry or read from the image header) and ``annotations`` (``segmentation``: one polygon, ``bbox``
        in ``BoxMode.XYXY_ABS``, ``bbox_mode``, ``category_id``, ``iscrowd`` = 0). Regions with fewer than
        3 points or unsupported shapes are skipped with a warning.
    """
    from detectron2.structures import BoxMode

    json_file = os.fspath(json_file)
    image_root = os.path.dirname(os.path.abspath(json_file)) if image_root is None else os.fspath(image_root)
    class_names = list(class_names)
    if not class_names:
        raise ValueError("class_names must name at least one class")
    if class_key is None and len(class_names) > 1:
        raise ValueError(
            f"{len(class_names)} classes given for {json_file}: pass class_key, the region_attributes key "
            "that holds each region's class name"
        )
    entries = _via_entries(read_json(json_file), json_file)

    dataset_dicts = []
    skipped = 0
    for index, entry in enumerate(entries):
        file_name = os.path.join(image_root, entry["filename"])
        if not os.path.isfile(file_name):
            raise FileNotFoundError(f"{json_file}: image file {file_name} (entry {index}) does not exist")
        if "height" in entry and "width" in entry:
            height, width = int(entry["height"]), int(entry["width"])
        else:
            height, width = image_size(file_name)
        annotations = []
        for region_index, region in enumerate(_regions(entry)):
            points = _region_points(region.get("shape_attributes", {}))
            if points is None or len(points[0]) < 3 or len(points[0]) != len(points[1]):
                logger.warning(
                    "%s: skipping region %d of %s (%s): a polygon needs at least 3 points",
                    json_file, region_index, entry["filename"],
                    "unsupported shape" if points is None else f"{len(points[0])} points",
                )
                skipped += 1
                continue
            xs = np.clip(np.asarray(points[0], dtype=np.float64) + 0.5, 0, width)
            ys = np.clip(np.asarray(points[1], dtype=np.float64) + 0.5, 0, height)
            if class_key is None:
                category_id = 0
            else:
                value = _class_value(region.get("region_attributes", {}), class_key)
                if value not in class_names:
                    raise ValueError(
                        f"{json_file}: region {region_index} of image {entry['filename']} has "
                        f"{class_key}={value!r}, which is not one of the classes {class_names}"
                    )
                category_id = class_names.index(value)
            polygon = np.stack([xs, ys], axis=1).reshape(-1).tolist()
            annotations.append(
                {
                    "bbox": [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())],
                    "bbox_mode": BoxMode.XYXY_ABS,
                    "segmentation": [polygon],
                    "category_id": category_id,
                    "iscrowd": 0,
                }
            )
        dataset_dicts.append(
            {
                "file_name": file_name,
                "image_id": index + 1,
                "height": height,
                "width": width,
                "annotations": annotations,
            }
        )
    if skipped:
        logger.warning("%s: skipped %d regions that are not valid polygons", json_file, skipped)
    return dataset_dicts


def convert_via_to_coco(json_file, image_root=None, output_json=None, class_names=("balloon",), class_key=None):
    """Convert a VIA json to a COCO instances json (categories 1..K, polygon segmentations).

    ``output_json`` defaults to ``<json folder>/instances_coco.json``; ``file_name`` in the output is relative
    to ``image_root``. Returns the path of the written file.
    """
    from pycocotools import mask as mask_util

    json_file = os.fspath(json_file)
    image_root = os.path.dirname(os.path.abspath(json_file)) if image_root is None else os.fspath(image_root)
    if output_json is None:
        output_json = os.path.join(os.path.dirname(os.path.abspath(json_file)), "instances_coco.json")
    output_json = os.fspath(output_json)
    dicts = load_via_json(json_file, image_root, class_names, class_key)
    images, annotations = [], []
    for record in dicts:
        images.append(
            {
                "id": record["image_id"],
                "file_name": os.path.relpath(record["file_name"], image_root),
                "height": record["height"],
                "width": record["width"],
            }
        )
        for anno in record["annotations"]:
            x0, y0, x1, y1 = anno["bbox"]
            rles = mask_util.frPyObjects(anno["segmentation"], record["height"], record["width"])
            area = float(mask_util.area(mask_util.merge(rles)))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": record["image_id"],
                    "category_id": anno["category_id"] + 1,
                    "segmentation": anno["segmentation"],
                    "area": area,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                }
            )
    coco = {
        "info": {"description": f"converted from the VIA file {os.path.basename(json_file)}"},
        "licenses": [],
        "categories": [{"id": i + 1, "name": name, "supercategory": name} for i, name in enumerate(class_names)],
        "images": images,
        "annotations": annotations,
    }
    out_dir = os.path.dirname(os.path.abspath(output_json))
    os.makedirs(out_dir, exist_ok=True)
    tmp = f"{output_json}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(coco, f)
    os.replace(tmp, output_json)
    logger.info("Wrote %d images and %d annotations to %s", len(images), len(annotations), output_json)
    return output_json
