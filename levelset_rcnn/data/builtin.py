"""Real datasets registered by name when their folders are present: ``balloon_{train,val}`` (VIA),
``coco_tiny_{train2017,val2017}`` (COCO layout, also ``coco_tiny_{train,val}``) and ``nuclei_dsb2018_{train,val}``
(COCO layout with RLE masks: metadata ``mask_format="bitmask"``, which ``tools/compare_models.py`` follows).

A folder ``<root>/balloon``, ``<root>/coco_tiny`` or ``<root>/nuclei_dsb2018`` is looked for in
``$DETECTRON2_DATASETS`` (default ``datasets``, relative to the working directory, as detectron2 does) and then in the
project's shared data folder (``$LEVELSET_RCNN_SHARED`` or ``<repo>/../shared/datasets``):
:func:`levelset_core.data.roots.dataset_roots`. The first one found is registered with
:func:`~levelset_rcnn.data.register.register_dataset_folder`, so the configs under ``configs/balloon``,
``configs/coco_tiny`` and ``configs/nuclei`` train with ``tools/train_net.py --config-file ...`` and no
``--dataset-folder``. Nothing is downloaded; where neither folder exists the names stay unregistered and detectron2
says so when they are used.
"""
import logging

from detectron2.data import MetadataCatalog
from levelset_core.data.roots import dataset_roots

from .register import register_dataset_folder

__all__ = ["BUILTIN_FOLDERS", "BUILTIN_METADATA", "dataset_roots", "register_builtin_folders"]

logger = logging.getLogger(__name__)

#: dataset prefix -> folder name under a datasets root
BUILTIN_FOLDERS = {"balloon": "balloon", "coco_tiny": "coco_tiny", "nuclei_dsb2018": "nuclei_dsb2018"}
#: dataset prefix -> metadata set on each of its registered splits
BUILTIN_METADATA = {"nuclei_dsb2018": {"mask_format": "bitmask"}}  # COCO RLE segmentations


def register_builtin_folders():
    """Register each of :data:`BUILTIN_FOLDERS` found under :func:`dataset_roots`; returns the names registered.
    A folder that is present but broken is logged (with the reason) and skipped: it must not break
    ``import levelset_rcnn``; ``--dataset-folder`` on the same folder reports the error in full."""
    names = []
    for prefix, sub in BUILTIN_FOLDERS.items():
        for root in dataset_roots():
            folder = root / sub
            if not folder.is_dir():
                continue
            try:
                registered = register_dataset_folder(prefix, folder, validate=False)
            except (OSError, ValueError, KeyError) as e:
                logger.warning("Not registering %s from %s: %s", prefix, folder, e)
                break
            for name in registered:
                MetadataCatalog.get(name).set(**BUILTIN_METADATA.get(prefix, {}))
            names += registered
            break
    return names
