"""Re-export of :mod:`levelset_core.data.mapper` (the dataset mapper shared by both projects' trainers)."""
from levelset_core.data.mapper import ImageReadError, LevelSetDatasetMapper, float_annotation, read_image

__all__ = ["LevelSetDatasetMapper", "read_image", "float_annotation", "ImageReadError"]
