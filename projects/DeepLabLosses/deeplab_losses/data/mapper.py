"""The training mapper: the shared mapper of :mod:`levelset_core.data.mapper` (read errors that name the file) plus
a label check."""
from levelset_core.data.mapper import LevelSetDatasetMapper

from ..modeling.targets import check_labels

__all__ = ["SemSegDatasetMapper"]


class SemSegDatasetMapper(LevelSetDatasetMapper):
    """:class:`levelset_core.data.mapper.LevelSetDatasetMapper` that checks every mapped label map with
    :func:`deeplab_losses.modeling.check_labels`: a label that is neither a class in ``[0, NUM_CLASSES)`` nor
    ``IGNORE_VALUE`` is a ``ValueError`` naming the label file and the value (instead of torch's
    ``IndexError: Target 20 is out of bounds`` from the cross-entropy)."""

    def __init__(self, cfg, is_train=True, **kwargs):
        super().__init__(cfg, is_train, **kwargs)
        self.num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        self.ignore_value = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE

    def __call__(self, dataset_dict):
        label_file = dataset_dict.get("sem_seg_file_name")
        mapped = super().__call__(dataset_dict)
        if "sem_seg" in mapped:
            check_labels(mapped["sem_seg"][None], self.num_classes, self.ignore_value,
                         what=f"label map {label_file} (image {dataset_dict.get('file_name')})")
        return mapped
