"""Class weights for the cross-entropy from a dataset's label maps (``MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS``)."""
import numpy as np
from detectron2.data import DatasetCatalog
from PIL import Image

__all__ = ["class_pixel_counts", "median_frequency_weights", "median_frequency_weights_from_cfg",
           "format_class_weights"]


def class_pixel_counts(dataset_dicts, num_classes, ignore_value):
    """Per-class pixel counts over the label maps of ``dataset_dicts`` (their ``sem_seg_file_name``).

    Returns ``(pixels, image_pixels)``, two ``(num_classes,)`` int64 arrays: the pixels labelled ``c``, and the
    labelled (non-ignored) pixels of the images in which ``c`` occurs. A label outside ``[0, num_classes)`` other
    than ``ignore_value`` raises a ``ValueError`` naming the file and the label.
    """
    pixels = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)
    for d in dataset_dicts:
        path = d["sem_seg_file_name"]
        with Image.open(path) as im:
            labels = np.asarray(im).astype(np.int64).ravel()
        labels = labels[labels != ignore_value]
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.size:
            raise ValueError(f"{path}: label {int(bad[0])} is neither a class in [0, {num_classes}) "
                             f"nor the ignore value {ignore_value}")
        counts = np.bincount(labels, minlength=num_classes)
        pixels += counts
        image_pixels[counts > 0] += labels.size
    return pixels, image_pixels


def median_frequency_weights(dataset_dicts, num_classes, ignore_value):
    """Median-frequency balancing (Eigen & Fergus, ICCV 2015; SegNet's CamVid weights).

    ``freq(c) = pixels of c / labelled pixels of the images that contain c`` and
    ``w_c = median_c freq(c) / freq(c)``. Returns a list of ``num_classes`` floats; a class that never occurs
    raises a ``ValueError`` (its weight would be infinite).
    """
    pixels, image_pixels = class_pixel_counts(dataset_dicts, num_classes, ignore_value)
    missing = np.flatnonzero(pixels == 0).tolist()
    if missing:
        raise ValueError(f"classes {missing} occur in no label map: median-frequency weights are undefined")
    freq = pixels / image_pixels
    return (np.median(freq) / freq).tolist()


def median_frequency_weights_from_cfg(cfg):
    """:func:`median_frequency_weights` over every dataset of ``cfg.DATASETS.TRAIN``, with the config's
    ``MODEL.SEM_SEG_HEAD.NUM_CLASSES`` and ``IGNORE_VALUE``."""
    dicts = [d for name in cfg.DATASETS.TRAIN for d in DatasetCatalog.get(name)]
    return median_frequency_weights(dicts, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE)


def format_class_weights(weights, digits=4):
    """The YAML flow list for ``MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS``, e.g. ``[0.2595, 4.564]``."""
    return "[" + ", ".join(f"{w:.{digits}f}" for w in weights) + "]"
