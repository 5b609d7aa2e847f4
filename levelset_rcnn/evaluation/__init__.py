"""Evaluation of LevelSet R-CNN: COCO metrics for boxes, final masks and initial masks."""
from .coco_evaluation import INITIAL_MASK_TASK, LevelSetCOCOEvaluator, build_evaluator

__all__ = ["LevelSetCOCOEvaluator", "build_evaluator", "INITIAL_MASK_TASK"]
