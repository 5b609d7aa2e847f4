"""Evaluation of LevelSet R-CNN.

* :class:`LevelSetCOCOEvaluator`: COCO box / mask AP without compiled ops, plus the initial masks H(phi_0)
  ("segm_initial", Table 2 of the paper);
* :class:`BoundaryAPEvaluator`: Boundary AP (Cheng et al., CVPR 2021) via faster-coco-eval;
* :class:`BoundaryF1Evaluator`: AF1 / AF2 (paper section 5, Table 5);
* :class:`CityscapesInstanceEvaluator`: cityscapesscripts' instance-level AP;
* :class:`LevelSetLVISEvaluator`: LVIS box / mask AP with ``lvis`` where it works (numpy < 1.24), faster-coco-eval's
  LVIS mode elsewhere (numpy 2);
* :func:`build_evaluator`: picks the evaluator from the dataset's ``evaluator_type`` and adds the ones named in
  ``cfg.TEST.EXTRA_EVALUATORS``.
"""
from .boundary_ap import BOUNDARY_AP_TASK, BoundaryAPEvaluator, boundary_ap
from .boundary_f1 import BOUNDARY_F1_TASK, BoundaryF1Evaluator, average_boundary_f1, boundary_f1, mask_boundary
from .cityscapes_evaluation import CityscapesInstanceEvaluator
from .coco_evaluation import (
    EXTRA_EVALUATOR_NAMES,
    INITIAL_MASK_TASK,
    LevelSetCOCOEvaluator,
    build_evaluator,
    build_extra_evaluators,
)
from .instance_predictions import InstancePredictionEvaluator, load_coco_ground_truth
from .lvis_evaluation import LevelSetLVISEvaluator, lvis_package_works

__all__ = [
    "LevelSetCOCOEvaluator",
    "build_evaluator",
    "build_extra_evaluators",
    "EXTRA_EVALUATOR_NAMES",
    "INITIAL_MASK_TASK",
    "BoundaryAPEvaluator",
    "BoundaryF1Evaluator",
    "BOUNDARY_AP_TASK",
    "BOUNDARY_F1_TASK",
    "boundary_ap",
    "boundary_f1",
    "average_boundary_f1",
    "mask_boundary",
    "CityscapesInstanceEvaluator",
    "LevelSetLVISEvaluator",
    "lvis_package_works",
    "InstancePredictionEvaluator",
    "load_coco_ground_truth",
]
