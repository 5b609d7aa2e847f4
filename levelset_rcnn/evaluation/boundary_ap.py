"""Boundary AP (Cheng, Girshick, Dollar, Berg, Kirillov, "Boundary IoU", CVPR 2021) via faster-coco-eval.

Boundary AP is COCO mask AP whose match criterion is ``min(mask IoU, boundary IoU)``, where the boundary of a
mask is the set of its pixels within distance d of its contour (the mask minus its erosion by d) and
``d = dilation_ratio * image diagonal`` (0.02 in the paper). It is NOT implemented here: faster-coco-eval's
``COCOeval_faster(iouType="boundary", boundary_dilation_ratio=...)`` (C++) computes it; this module only
feeds it the predictions and the ground truth and reports the usual metric names (AP, AP50, AP75, APs,
APm, APl, in percent). For LVIS datasets it runs faster-coco-eval's LVIS-style evaluation (federated
negatives / not-exhaustive labels; also APr, APc, APf).
"""
import logging
import math

import numpy as np

from .instance_predictions import InstancePredictionEvaluator

__all__ = ["BoundaryAPEvaluator", "boundary_ap", "BOUNDARY_AP_TASK"]

#: Results key of the Boundary AP metrics.
BOUNDARY_AP_TASK = "boundary"

logger = logging.getLogger(__name__)

_NAMES = {
    "AP_all": "AP",
    "AP_50": "AP50",
    "AP_75": "AP75",
    "AP_small": "APs",
    "AP_medium": "APm",
    "AP_large": "APl",
    "APr": "APr",
    "APc": "APc",
    "APf": "APf",
}


def boundary_ap(gt, results, *, dilation_ratio=0.02, max_dets=100, lvis_style=False, iou_type="boundary",
                num_workers=1):
    """COCO-style AP of COCO-format ``results`` against the COCO-format dict ``gt``, with faster-coco-eval.

    Args:
        gt (dict): COCO-format ground truth (``images`` with ``height`` / ``width``, ``annotations``,
            ``categories``).
        results (list[dict]): COCO-format results (``image_id``, ``category_id``, ``segmentation``, ``score``).
        dilation_ratio (float): boundary width as a fraction of the image diagonal.
        max_dets (int): detections per image (the largest of faster-coco-eval's ``maxDets``).
        lvis_style (bool): LVIS evaluation rules.
        iou_type (str): ``"boundary"`` (Boundary AP) or ``"segm"`` (plain mask AP, the same code path).
        num_workers (int): threads faster-coco-eval may use.

    Returns:
        dict: ``AP, AP50, AP75, APs, APm, APl`` (and ``APr, APc, APf`` for LVIS) in percent; NaN where
        faster-coco-eval reports "no ground truth" (-1). With no results at all, every AP is 0.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    if not results:
        logger.warning("Boundary AP: no mask predictions; reporting AP 0.")
        names = ["AP", "AP50", "AP75", "APs", "APm", "APl"] + (["APr", "APc", "APf"] if lvis_style else [])
        return {n: 0.0 for n in names}
    quiet = logging.getLogger("faster_coco_eval").debug
    coco_gt = COCO(gt, print_function=quiet)
    coco_dt = coco_gt.loadRes(results)
    evaluator = COCOeval_faster(
        coco_gt,
        coco_dt,
        iouType=iou_type,
        print_function=quiet,
        lvis_style=lvis_style,
        boundary_dilation_ratio=float(dilation_ratio),
        boundary_cpu_count=max(1, int(num_workers)),
        rle_iou_max_workers=max(1, int(num_workers)),
    )
    if max_dets != 100:
        evaluator.params.maxDets = [1, 10, int(max_dets)]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    stats = evaluator.stats_as_dict
    metrics = {}
    for key, name in _NAMES.items():
        if key in stats:
            value = float(stats[key])
            metrics[name] = value * 100.0 if value >= 0 else math.nan
    return metrics


class BoundaryAPEvaluator(InstancePredictionEvaluator):
    """Boundary AP as a detectron2 ``DatasetEvaluator``; results under ``"boundary"``.

    Args:
        dataset_name, distributed, output_dir: as in detectron2's evaluators.
        dilation_ratio (float): boundary width / image diagonal (Cheng et al.: 0.02).
        max_dets_per_image (int): detections per image used in the matching.
        num_workers (int): threads for faster-coco-eval.
    """

    TASK = BOUNDARY_AP_TASK

    def __init__(self, dataset_name, distributed=True, output_dir=None, *, dilation_ratio=0.02,
                 max_dets_per_image=100, num_workers=1):
        super().__init__(dataset_name, distributed, output_dir, max_dets_per_image=max_dets_per_image)
        if not 0 < dilation_ratio < 1:
            raise ValueError(f"Boundary AP: dilation_ratio must be in (0, 1), got {dilation_ratio}")
        self._dilation_ratio = float(dilation_ratio)
        self._num_workers = num_workers

    def compute(self, gt, results):
        metrics = boundary_ap(
            gt,
            results,
            dilation_ratio=self._dilation_ratio,
            max_dets=self._max_dets_per_image,
            lvis_style=self._metadata.get("evaluator_type") == "lvis",
            num_workers=self._num_workers,
        )
        self._logger.info(
            "Boundary AP (dilation ratio %g) on %s: %s", self._dilation_ratio, self._dataset_name,
            ", ".join(f"{k}={v:.2f}" for k, v in metrics.items() if not np.isnan(v)),
        )
        return metrics
