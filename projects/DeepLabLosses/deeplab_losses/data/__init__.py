"""Datasets: the built-in generated ``dll_shapes_sem``, VOC 2012 + SBD and CamVid (registered on import)."""
from .generated import (SEM_SHAPES_CLASSES, default_sem_shapes_root, ensure_sem_shapes, generate_sem_shapes,
                        load_sem_shapes, register_sem_shapes, render_semantic_image)
from .voc import VOC_CLASSES, convert_sbd_to_png, load_voc_sem_seg, register_voc_sbd, write_train_aug_list
from .class_weights import class_pixel_counts, median_frequency_weights
from .camvid import CAMVID_CLASSES, CAMVID_IGNORE_LABEL, default_camvid_root, load_camvid, register_camvid

register_sem_shapes()
register_voc_sbd()
register_camvid()

__all__ = [
    "SEM_SHAPES_CLASSES", "default_sem_shapes_root", "ensure_sem_shapes", "generate_sem_shapes", "load_sem_shapes",
    "register_sem_shapes", "render_semantic_image", "VOC_CLASSES", "convert_sbd_to_png", "load_voc_sem_seg",
    "register_voc_sbd", "write_train_aug_list", "CAMVID_CLASSES", "CAMVID_IGNORE_LABEL", "default_camvid_root", "load_camvid",
    "register_camvid", "class_pixel_counts", "median_frequency_weights",
]
