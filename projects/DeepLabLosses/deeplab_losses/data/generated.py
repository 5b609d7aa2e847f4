"""A generated semantic-segmentation dataset ("dll_shapes_sem"): no download, deterministic.

Images are drawn by :func:`levelset_core.data.shapes.render_shapes_image` (textured rings, blobs,
pairs and wrenches on a textured noisy background; see that module); the label map gives every pixel the class
of the object visible there (1..4) or 0 for background. 5 classes, ignore value 255 (not used by the
generator itself; the pipeline pads with it).

Files: ``<root>/<split>/images/NNNNNN.png`` (RGB) and ``<root>/<split>/labels/NNNNNN.png`` (uint8 labels), plus a
marker ``<root>/<split>/DONE.json`` with the generator arguments, written last: a split is (re)generated when the
marker is missing or holds other arguments. The cache protocol (atomic file writes, marker last, a lock file
``<root>/.<split>.lock`` so that concurrent processes generate once) is :mod:`levelset_core.data.cache`, the same
as LevelSet R-CNN's generated dataset.
"""
import logging
import os

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from levelset_core.data.cache import ensure_generated, png_bytes, write_atomic
from levelset_core.data.shapes import SHAPES_CLASS_COLORS, SHAPES_CLASS_NAMES, render_shapes_image

__all__ = ["SEM_SHAPES_CLASSES", "SEM_SHAPES_SPLITS", "default_sem_shapes_root", "generate_sem_shapes",
           "ensure_sem_shapes", "load_sem_shapes", "register_sem_shapes"]

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
SEM_SHAPES_CLASSES = ("background",) + tuple(SHAPES_CLASS_NAMES)
SEM_SHAPES_COLORS = [(20, 20, 20)] + [list(c) for c in SHAPES_CLASS_COLORS]
IGNORE_LABEL = 255
#: split -> number of images and seed of the built-in ``dll_shapes_sem_<split>``.
SEM_SHAPES_SPLITS = {"train": {"num_images": 400, "seed": 11}, "val": {"num_images": 60, "seed": 12},
                     "mini": {"num_images": 16, "seed": 13}}  # mini: smoke tests
IMAGE_SIZE = (128, 128)
_ENV_ROOT = "DEEPLAB_LOSSES_DATA"


def default_sem_shapes_root():
    """``$DEEPLAB_LOSSES_DATA`` if set, else ``~/.cache/deeplab_losses/shapes_sem_v<GENERATOR_VERSION>``."""
    root = os.environ.get(_ENV_ROOT)
    if root:
        return os.path.abspath(os.path.expanduser(root))
    return os.path.join(os.path.expanduser("~"), ".cache", "deeplab_losses", f"shapes_sem_v{GENERATOR_VERSION}")


def _params(num_images, seed, image_size, max_objects):
    return {"version": GENERATOR_VERSION, "num_images": int(num_images), "seed": int(seed),
            "image_size": [int(s) for s in image_size], "max_objects": int(max_objects)}


def render_semantic_image(rng, image_size=IMAGE_SIZE, max_objects=4):
    """One ``(image HxWx3 uint8, labels HxW uint8)`` pair; labels 0 = background, 1..4 = shape classes."""
    image, instances = render_shapes_image(rng, image_size, max_objects=max_objects)
    labels = np.zeros(image.shape[:2], dtype=np.uint8)
    for inst in instances:  # visible masks do not overlap
        labels[inst["mask"]] = inst["category_id"] + 1
    return image, labels


def generate_sem_shapes(root, split, num_images, seed, image_size=IMAGE_SIZE, max_objects=4):
    """Write split ``split`` under ``root`` unless it is there with these arguments (deterministic: image i uses
    ``default_rng([seed, i])``); returns its folder."""
    params = _params(num_images, seed, image_size, max_objects)
    split_dir = os.path.join(root, split)
    names = [f"{i:06d}.png" for i in range(int(num_images))]

    def generate():
        for sub in ("images", "labels"):
            os.makedirs(os.path.join(split_dir, sub), exist_ok=True)
        for i, name in enumerate(names):
            image, labels = render_semantic_image(np.random.default_rng([int(seed), i]), image_size, max_objects)
            write_atomic(os.path.join(split_dir, "images", name), png_bytes(image))
            write_atomic(os.path.join(split_dir, "labels", name), png_bytes(labels))
        # images of an earlier, larger generation of this split are stale
        for sub in ("images", "labels"):
            for name in set(os.listdir(os.path.join(split_dir, sub))) - set(names):
                os.remove(os.path.join(split_dir, sub, name))
        logger.info("Generated %d images of dll_shapes_sem %s under %s", num_images, split, split_dir)

    files = [os.path.join(split_dir, sub, name) for sub in ("images", "labels") for name in names]
    ensure_generated(os.path.join(split_dir, "DONE.json"), params, generate,
                     lock_file=os.path.join(root, f".{split}.lock"), files=files)
    return split_dir


def ensure_sem_shapes(split, root=None, num_images=None, seed=None):
    """Generate (if needed) a built-in split; returns its folder."""
    if split not in SEM_SHAPES_SPLITS and (num_images is None or seed is None):
        raise KeyError(f"dll_shapes_sem: unknown split {split!r}; built-in splits are {list(SEM_SHAPES_SPLITS)}")
    spec = SEM_SHAPES_SPLITS.get(split, {})
    return generate_sem_shapes(root or default_sem_shapes_root(), split,
                               num_images if num_images is not None else spec["num_images"],
                               seed if seed is not None else spec["seed"])


def load_sem_shapes(split_dir):
    """detectron2 semantic-segmentation dicts of a generated split folder."""
    images = sorted(os.listdir(os.path.join(split_dir, "images")))
    return [{
        "file_name": os.path.join(split_dir, "images", name),
        "sem_seg_file_name": os.path.join(split_dir, "labels", name),
        "height": IMAGE_SIZE[0], "width": IMAGE_SIZE[1], "image_id": os.path.splitext(name)[0],
    } for name in images]


def register_sem_shapes(prefix="dll_shapes_sem", root=None, splits=None):
    """Register ``<prefix>_<split>``; the data are generated on first ``DatasetCatalog.get``."""
    for split, spec in (splits or SEM_SHAPES_SPLITS).items():
        name = f"{prefix}_{split}"
        if name in DatasetCatalog.list():
            continue

        def _load(split=split, spec=spec):
            return load_sem_shapes(generate_sem_shapes(root or default_sem_shapes_root(), split,
                                                       spec["num_images"], spec["seed"]))

        DatasetCatalog.register(name, _load)
        MetadataCatalog.get(name).set(
            stuff_classes=list(SEM_SHAPES_CLASSES), stuff_colors=SEM_SHAPES_COLORS,
            ignore_label=IGNORE_LABEL, evaluator_type="sem_seg",
        )
