"""The built-in generated instance-segmentation dataset of LevelSet R-CNN ("levelset shapes"): files and catalog.

The images are drawn by :func:`levelset_core.data.shapes.render_shapes_image` (see that module for what they show).

Files: ``<root>/<split>/NNNNNN.png`` and a COCO json ``<root>/annotations/instances_<split>.json`` (category ids
1..4, ``segmentation`` as compressed RLE with ``counts`` as str, ``bbox`` XYWH tight around the mask,
``area`` = pixel count, ``iscrowd`` = 0, plus ``unoccluded_area``: the pixel count of the whole object).
Because the masks have holes, the segmentations are RLE and training needs ``INPUT.MASK_FORMAT = "bitmask"``
(detectron2's polygon format cannot represent holes).

Generation is deterministic: the same arguments give byte-identical json and PNG files. The files are cached
with :mod:`levelset_core.data.cache` (atomic writes, a marker holding the generator version and arguments written
last, a lock so that concurrent processes generate once): an interrupted generation, or one from another
generator version, is redone.

Registration (:func:`register_shapes_dataset`, called when :mod:`levelset_rcnn.data` is imported) is cheap:
the data are generated on first use, i.e. by ``DatasetCatalog.get(name)`` (which
``build_detection_train_loader`` / ``build_detection_test_loader`` call), by reading ``json_file`` or
``image_root`` from the dataset's metadata (which COCOEvaluator does), or explicitly by
:func:`ensure_shapes_dataset`.
"""
import contextlib
import functools
import json
import logging
import os
import re
import zlib

import numpy as np
from detectron2.data.catalog import Metadata
from levelset_core.data.cache import ensure_generated, generating, is_generated, png_bytes, write_atomic
from levelset_core.data.shapes import (
    DEFAULT_IMAGE_SIZE,
    GENERATOR_VERSION,
    MIN_OBJECT_EXTENT,
    SHAPES_CLASS_COLORS,
    SHAPES_CLASS_NAMES,
    render_shapes_image,
)

__all__ = [
    "GENERATOR_VERSION",
    "SHAPES_CLASS_NAMES",
    "SHAPES_CLASS_COLORS",
    "DEFAULT_SHAPES_SPLITS",
    "DEFAULT_IMAGE_SIZE",
    "default_shapes_root",
    "render_shapes_image",
    "generate_shapes_dataset",
    "is_shapes_dataset_complete",
    "ensure_shapes_dataset",
    "register_shapes_dataset",
]

logger = logging.getLogger(__name__)

#: split -> number of images and seed of the built-in datasets ``levelset_shapes_<split>``.
DEFAULT_SHAPES_SPLITS = {
    "train": {"num_images": 600, "seed": 1},
    "val": {"num_images": 100, "seed": 2},
}
DEFAULT_PREFIX = "levelset_shapes"
_ENV_ROOT = "LEVELSET_RCNN_DATA"
_IMAGE_NAME = re.compile(r"^(\d{6})\.png$")


def default_shapes_root():
    """``$LEVELSET_RCNN_DATA`` if set, else ``~/.cache/levelset_rcnn/shapes_v<GENERATOR_VERSION>``."""
    root = os.environ.get(_ENV_ROOT)
    if root:
        return os.path.abspath(os.path.expanduser(root))
    return os.path.join(os.path.expanduser("~"), ".cache", "levelset_rcnn", f"shapes_v{GENERATOR_VERSION}")


# ----------------------------------------------------------------------------------------------------------
# Dataset files
# ----------------------------------------------------------------------------------------------------------
def _paths(root, split):
    root = os.fspath(root)
    image_root = os.path.join(root, split)
    json_file = os.path.join(root, "annotations", f"instances_{split}.json")
    marker = os.path.join(root, "annotations", f"instances_{split}.complete")
    return json_file, image_root, marker


def _lock_file(root, split):
    return os.path.join(os.fspath(root), "annotations", f".instances_{split}.lock")


def _expected_files(root, split, num_images):
    json_file, image_root, _ = _paths(root, split)
    return [json_file] + [os.path.join(image_root, f"{i:06d}.png") for i in range(int(num_images))]


def _params(split, num_images, image_size, seed, max_objects):
    return {
        "generator_version": GENERATOR_VERSION,
        "split": split,
        "num_images": int(num_images),
        "image_size": [int(s) for s in image_size],
        "seed": int(seed),
        "max_objects": int(max_objects),
    }


def _image_rng(seed, split, index):
    return np.random.default_rng([int(seed), zlib.crc32(split.encode("utf-8")), int(index)])


def _annotation(mask, category_id, image_id, ann_id, unoccluded_area):
    from pycocotools import mask as mask_util

    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id + 1,
        "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"]},
        "area": int(mask.sum()),
        "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
        "iscrowd": 0,
        "unoccluded_area": int(unoccluded_area),
    }


def generate_shapes_dataset(root, split, num_images, image_size=DEFAULT_IMAGE_SIZE, seed=0, max_objects=4):
    """Generate ``num_images`` images into ``root/<split>/`` and their COCO json.

    Deterministic: the same arguments give byte-identical files (every image has its own generator seeded by
    ``(seed, split, index)``). Always generates (:func:`ensure_shapes_dataset` generates only when needed, under
    a lock). Returns ``(json_file, image_root)``.
    """
    params = _checked_params(split, num_images, image_size, seed, max_objects)
    json_file, image_root, marker = _paths(root, split)
    with generating(marker, params):
        _write_files(root, split, params)
    return json_file, image_root


def _checked_params(split, num_images, image_size, seed, max_objects):
    if int(num_images) < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    if len(image_size) != 2 or min(image_size) < 2 * MIN_OBJECT_EXTENT:
        raise ValueError(f"image_size must be (H, W) with both sides >= {2 * MIN_OBJECT_EXTENT}, got {image_size}")
    return _params(split, num_images, image_size, seed, max_objects)


def _write_files(root, split, params):
    """The images and the COCO json of one split (the marker is the caller's, see :mod:`levelset_core.data.cache`)."""
    json_file, image_root, _ = _paths(root, split)
    os.makedirs(image_root, exist_ok=True)
    os.makedirs(os.path.dirname(json_file), exist_ok=True)
    height, width = params["image_size"]

    images, annotations = [], []
    for index in range(params["num_images"]):
        rng = _image_rng(params["seed"], split, index)
        image, instances = render_shapes_image(rng, (height, width), max_objects=params["max_objects"])
        file_name = f"{index:06d}.png"
        write_atomic(os.path.join(image_root, file_name), png_bytes(image, compress_level=1))
        image_id = index + 1
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
        for inst in instances:
            annotations.append(
                _annotation(inst["mask"], inst["category_id"], image_id, len(annotations) + 1, inst["full_mask"].sum())
            )

    coco = {
        "info": {
            "description": "levelset_rcnn generated shapes (levelset_rcnn.data.synthetic_shapes)",
            "version": str(GENERATOR_VERSION),
            "split": split,
            "seed": params["seed"],
        },
        "licenses": [],
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(SHAPES_CLASS_NAMES)
        ],
        "images": images,
        "annotations": annotations,
    }
    write_atomic(json_file, json.dumps(coco, separators=(",", ":")).encode("utf-8"))
    # images of an earlier, larger generation of this split are stale
    for name in os.listdir(image_root):
        match = _IMAGE_NAME.match(name)
        if match and int(match.group(1)) >= params["num_images"]:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(image_root, name))


def is_shapes_dataset_complete(root, split, num_images, image_size=DEFAULT_IMAGE_SIZE, seed=0, max_objects=4):
    """True when ``root`` holds a complete generation of this split with exactly these arguments."""
    _, _, marker = _paths(root, split)
    return is_generated(marker, _params(split, num_images, image_size, seed, max_objects),
                        _expected_files(root, split, num_images))


def _split_params(split, num_images=None, seed=None):
    defaults = DEFAULT_SHAPES_SPLITS.get(split, {})
    num_images = defaults.get("num_images") if num_images is None else num_images
    seed = defaults.get("seed", 0) if seed is None else seed
    if num_images is None:
        raise ValueError(
            f"Unknown split '{split}' of the shapes dataset (built-in: {sorted(DEFAULT_SHAPES_SPLITS)}); "
            "pass num_images (and seed) for other splits."
        )
    return int(num_images), int(seed)


def ensure_shapes_dataset(split, root=None, num_images=None, image_size=None, seed=None, max_objects=4):
    """Generate ``split`` under ``root`` unless a complete, up-to-date generation is there.

    Defaults: ``root`` = :func:`default_shapes_root`, ``num_images`` / ``seed`` from
    :data:`DEFAULT_SHAPES_SPLITS`, ``image_size`` = :data:`DEFAULT_IMAGE_SIZE`.
    Returns ``(json_file, image_root)``.
    """
    root = default_shapes_root() if root is None else os.path.abspath(os.fspath(root))
    image_size = tuple(DEFAULT_IMAGE_SIZE if image_size is None else image_size)
    num_images, seed = _split_params(split, num_images, seed)
    params = _checked_params(split, num_images, image_size, seed, max_objects)
    json_file, image_root, marker = _paths(root, split)

    def generate():
        logger.info(
            "Generating the shapes dataset split '%s' (%d images of %dx%d) in %s ...",
            split, num_images, image_size[0], image_size[1], root,
        )
        _write_files(root, split, params)

    ensure_generated(marker, params, generate, lock_file=_lock_file(root, split),
                     files=_expected_files(root, split, num_images))
    return json_file, image_root


# ----------------------------------------------------------------------------------------------------------
# Registration in detectron2's catalogs
# ----------------------------------------------------------------------------------------------------------
_REGISTERED = {}  # dataset name -> kwargs of ensure_shapes_dataset


class ShapesMetadata(Metadata):
    """detectron2 ``Metadata`` whose ``json_file`` / ``image_root`` generate the data on first access, so that
    e.g. ``COCOEvaluator(name)`` works before ``DatasetCatalog.get(name)`` was called."""

    def __getattr__(self, key):
        if key in ("json_file", "image_root"):
            kwargs = _REGISTERED.get(self.__dict__.get("name"))
            if kwargs is not None:
                json_file, image_root = ensure_shapes_dataset(**kwargs)
                return json_file if key == "json_file" else image_root
        return super().__getattr__(key)


def _load_shapes(name):
    from detectron2.data.datasets import load_coco_json

    kwargs = _REGISTERED[name]
    json_file, image_root = ensure_shapes_dataset(**kwargs)
    return load_coco_json(json_file, image_root, name)


def register_shapes_dataset(root=None, prefix=DEFAULT_PREFIX, splits=None, image_size=None):
    """Register ``<prefix>_<split>`` (default: ``levelset_shapes_train`` / ``levelset_shapes_val``).

    Cheap: nothing is generated here. The data are generated (if missing or outdated) under ``root`` (None:
    :func:`default_shapes_root`, resolved when the data are first used, so ``$LEVELSET_RCNN_DATA`` may be set
    after import) by ``DatasetCatalog.get(name)``, by reading ``MetadataCatalog.get(name).json_file`` /
    ``.image_root``, or by :func:`ensure_shapes_dataset`.

    Args:
        splits (dict | None): split -> ``{"num_images": int, "seed": int}``; default
            :data:`DEFAULT_SHAPES_SPLITS`.

    Calling it again with the same arguments does nothing; with other arguments it replaces the registration
    that this function made. A name registered by someone else is left alone (with a warning).
    Returns the list of dataset names.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    splits = DEFAULT_SHAPES_SPLITS if splits is None else splits
    root = None if root is None else os.path.abspath(os.fspath(root))
    names = []
    for split, split_params in splits.items():
        name = f"{prefix}_{split}"
        num_images, seed = _split_params(split, split_params.get("num_images"), split_params.get("seed"))
        kwargs = {
            "split": split,
            "root": root,
            "num_images": num_images,
            "image_size": None if image_size is None else tuple(int(s) for s in image_size),
            "seed": seed,
        }
        if name in DatasetCatalog.list():
            if name not in _REGISTERED:
                logger.warning("Dataset '%s' is already registered by someone else; not registering it.", name)
                continue
            if _REGISTERED[name] == kwargs:
                names.append(name)
                continue
            DatasetCatalog.remove(name)
            if name in MetadataCatalog:
                MetadataCatalog.remove(name)
        _REGISTERED[name] = kwargs
        DatasetCatalog.register(name, functools.partial(_load_shapes, name))
        if name in MetadataCatalog:
            MetadataCatalog.remove(name)
        metadata = ShapesMetadata(name=name)
        MetadataCatalog[name] = metadata
        metadata.set(
            thing_classes=list(SHAPES_CLASS_NAMES),
            thing_colors=[list(c) for c in SHAPES_CLASS_COLORS],
            thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(SHAPES_CLASS_NAMES))},
            evaluator_type="coco",
            mask_format="bitmask",
        )
        names.append(name)
    return names
