"""Datasets of LevelSet R-CNN.

Importing this package registers the built-in generated dataset (``levelset_shapes_train`` /
``levelset_shapes_val``, see :mod:`levelset_rcnn.data.synthetic_shapes`); nothing is generated until the data
are first used. It also registers ``balloon_*``, ``coco_tiny_*`` and ``nuclei_dsb2018_*`` where those folders
exist (:mod:`levelset_rcnn.data.builtin`). :mod:`levelset_rcnn.data.register` registers VIA / COCO-format datasets and folders.
"""
from levelset_core.data.mapper import ImageReadError, LevelSetDatasetMapper, read_image  # noqa: F401  (deprecated
# re-export for user code: import them from levelset_core.data.mapper)

from .builtin import BUILTIN_FOLDERS, register_builtin_folders
from .register import (
    find_dataset_splits,
    register_coco_dataset,
    register_dataset_folder,
    register_dataset_folders,
    register_via_dataset,
    validate_coco_json,
)
from .synthetic_shapes import (
    DEFAULT_SHAPES_SPLITS,
    GENERATOR_VERSION,
    SHAPES_CLASS_COLORS,
    SHAPES_CLASS_NAMES,
    default_shapes_root,
    ensure_shapes_dataset,
    generate_shapes_dataset,
    register_shapes_dataset,
    render_shapes_image,
)
from .via import convert_via_to_coco, load_via_json

__all__ = [
    "BUILTIN_FOLDERS",
    "ImageReadError",
    "LevelSetDatasetMapper",
    "read_image",
    "register_builtin_folders",
    "register_dataset_folders",
    "DEFAULT_SHAPES_SPLITS",
    "GENERATOR_VERSION",
    "SHAPES_CLASS_COLORS",
    "SHAPES_CLASS_NAMES",
    "convert_via_to_coco",
    "default_shapes_root",
    "ensure_shapes_dataset",
    "find_dataset_splits",
    "generate_shapes_dataset",
    "load_via_json",
    "register_coco_dataset",
    "register_dataset_folder",
    "register_shapes_dataset",
    "register_via_dataset",
    "render_shapes_image",
    "validate_coco_json",
]

register_shapes_dataset()
register_builtin_folders()
