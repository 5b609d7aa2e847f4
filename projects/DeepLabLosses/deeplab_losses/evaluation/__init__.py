"""Evaluation beyond mIoU: boundary F1, trimap mIoU, per-class tables."""
from .boundary_evaluation import BoundarySemSegEvaluator, SemSegStats, class_boundaries, dilate

__all__ = ["BoundarySemSegEvaluator", "SemSegStats", "class_boundaries", "dilate"]
