"""The dataset mapper of both projects' trainers and image reading with errors that name the file.

* :class:`LevelSetDatasetMapper`: detectron2's ``DatasetMapper`` that (1) converts annotation coordinates to
  float before any transform and (2) names the image (or label) file when it cannot be read.

  (1): detectron2 v0.6 keeps the int dtype of a COCO ``bbox`` / polygon and ``ResizeTransform.apply_coords``
  scales it in place, so integer coordinates are floored at every resize (boxes and masks shift up to 1 px
  toward the top-left; objects under about 1/scale px vanish). Most COCO exporters write integers. With float
  coordinates both detectron2 versions give the same, unbiased result.
* :func:`read_image`: detectron2's ``read_image`` whose errors name the file (a truncated JPEG otherwise gives
  ``OSError: image file is truncated`` and nothing else).
"""
import copy
import os

import numpy as np
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils

__all__ = ["LevelSetDatasetMapper", "read_image", "float_annotation", "ImageReadError"]


class ImageReadError(OSError):
    """An image or label file exists but cannot be decoded (truncated, corrupt, not an image)."""


def _first_unreadable(paths):
    """The first of ``paths`` that PIL cannot fully decode, or None."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as img:
                img.load()
        except Exception:
            return path
    return None


def _read_error(path, error):
    return ImageReadError(
        f"cannot read the image file {path}: {type(error).__name__}: {error} (the file is truncated, corrupt or "
        "not an image: re-export it, or remove it from the dataset / input list)"
    )


def read_image(path, format=None):
    """detectron2's ``read_image(path, format)``; a file that cannot be decoded raises :class:`ImageReadError`
    naming it (a missing file stays a FileNotFoundError)."""
    try:
        return utils.read_image(path, format=format)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError) as e:  # PIL: OSError (truncated, unidentified), SyntaxError, ...
        raise _read_error(path, e) from e


def float_annotation(annotation):
    """A copy of a detectron2 annotation dict whose ``bbox`` and polygon ``segmentation`` are floats (RLE and
    other fields unchanged)."""
    ann = dict(annotation)
    if "bbox" in ann:
        ann["bbox"] = [float(v) for v in ann["bbox"]]
    segm = ann.get("segmentation")
    if isinstance(segm, list):
        ann["segmentation"] = [np.asarray(poly, dtype=np.float64) for poly in segm]
    return ann


class LevelSetDatasetMapper(DatasetMapper):
    """``DatasetMapper`` with float annotation coordinates and read errors that name the file (see the module
    docstring). Used by :class:`levelset_core.engine.DeviceAgnosticTrainer` for training and testing (both projects)."""

    def __call__(self, dataset_dict):
        if dataset_dict.get("annotations"):
            dataset_dict = copy.copy(dataset_dict)
            dataset_dict["annotations"] = [float_annotation(a) for a in dataset_dict["annotations"]]
        try:
            return super().__call__(dataset_dict)
        except FileNotFoundError:
            raise
        except (OSError, SyntaxError) as e:
            files = [dataset_dict.get("file_name"), dataset_dict.get("sem_seg_file_name")]
            files = [f for f in files if f]
            if any(os.fspath(f) in str(e) for f in files):
                raise
            bad = _first_unreadable(files)
            if bad is None:
                raise
            raise _read_error(bad, e) from e
