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

__all__ = ["BoundaryAPEvaluator", "boundary_ap", "BOUNDARY_AP_TASK", "faster_coco_eval_ap", "faster_coco_eval_results"]

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


def faster_coco_eval_results(results, iou_type):
    """Private copies of COCO-format ``results`` in the form faster-coco-eval's ``loadRes`` handles on any numpy.

    faster-coco-eval 1.8.0's ``COCO.loadRes`` (a) takes only a *shallow* copy of the list, so it writes
    ``area``, ``id``, ``iscrowd`` and, for results without a box, ``bbox = maskUtils.toBbox(...)`` -- a numpy
    array -- into the caller's dicts, and (b) tests ``anns[0]["bbox"] == []``, which with a numpy-array box
    raises ``ValueError: operands could not be broadcast together with shapes (4,) (0,)`` on numpy 2 (numpy 1
    only warned). So results holding a numpy box (user code, ``pycocotools.mask.toBbox``, or any results list
    evaluated a second time) failed on numpy 2. Here every result is a fresh dict whose box, when kept, is a
    list of floats.

    Mask evaluation (``"segm"``, ``"boundary"``) drops the box, as detectron2's COCO and LVIS evaluators do:
    with a box, ``loadRes`` would take the box area as the instance area (small / medium / large), not
    the mask area. Box evaluation keeps it.

    Raises:
        ValueError: a result has no ``segmentation`` for mask evaluation, or no ``bbox`` for box evaluation
            (the message gives its index, image id and keys).
    """
    if iou_type not in ("segm", "boundary", "bbox"):
        raise ValueError(f"iou_type must be 'segm', 'boundary' or 'bbox', got {iou_type!r}")
    needed = "bbox" if iou_type == "bbox" else "segmentation"
    out = []
    for i, r in enumerate(results):
        if needed not in r:
            raise ValueError(
                f"{iou_type} evaluation: result {i} (image_id {r.get('image_id')}) has no '{needed}' "
                f"(keys: {sorted(r)})"
            )
        r = dict(r)
        if iou_type == "bbox":
            r["bbox"] = [float(v) for v in np.asarray(r["bbox"], dtype=np.float64).reshape(-1)]
        else:
            r.pop("bbox", None)
        for key in ("area", "id", "iscrowd"):  # loadRes assigns them itself
            r.pop(key, None)
        out.append(r)
    return out


def faster_coco_eval_ap(gt, results, *, iou_type, dilation_ratio=0.02, max_dets=100, lvis_style=False,
                        num_workers=1):
    """COCO-style (or LVIS-style) AP of COCO-format ``results`` against the COCO-format dict ``gt``.

    The one call into faster-coco-eval's ``COCOeval_faster`` shared by Boundary AP (:func:`boundary_ap`) and
    the LVIS evaluator (:mod:`.lvis_evaluation`). ``results`` are not modified
    (:func:`faster_coco_eval_results`); ``gt`` is read by faster-coco-eval, which adds bookkeeping keys
    (``ignore``, RLEs) to its annotations: pass a private copy when that matters.

    Args:
        gt (dict): COCO- or LVIS-format ground truth (``images`` with ``height`` / ``width``, ``annotations``,
            ``categories``; for ``lvis_style`` also ``frequency`` per category and the images'
            ``neg_category_ids`` / ``not_exhaustive_category_ids``).
        results (list[dict]): COCO-format results (``image_id``, ``category_id``, ``score``, and
            ``segmentation`` or ``bbox``).
        iou_type (str): ``"boundary"``, ``"segm"`` or ``"bbox"``.
        dilation_ratio (float): boundary width as a fraction of the image diagonal (``"boundary"`` only).
        max_dets (int): detections per image and category (the largest of ``maxDets``).
        lvis_style (bool): LVIS evaluation rules (federated negatives, not-exhaustive categories, APr/c/f).
        num_workers (int): threads faster-coco-eval may use.

    Returns:
        dict: ``AP, AP50, AP75, APs, APm, APl`` (and ``APr, APc, APf`` for LVIS) in percent; NaN where
        faster-coco-eval reports "no ground truth" (-1). With no results at all, every AP is 0.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    if not results:
        logger.warning("%s AP: no predictions; reporting AP 0.", iou_type)
        names = ["AP", "AP50", "AP75", "APs", "APm", "APl"] + (["APr", "APc", "APf"] if lvis_style else [])
        return {n: 0.0 for n in names}
    quiet = logging.getLogger("faster_coco_eval").debug
    coco_gt = COCO(gt, print_function=quiet)
    coco_dt = coco_gt.loadRes(faster_coco_eval_results(results, iou_type))
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


def boundary_ap(gt, results, *, dilation_ratio=0.02, max_dets=100, lvis_style=False, iou_type="boundary",
                num_workers=1):
    """COCO-style Boundary AP of COCO-format ``results`` against the COCO-format dict ``gt``, with faster-coco-eval.

    Args:
        gt (dict): COCO-format ground truth (``images`` with ``height`` / ``width``, ``annotations``,
            ``categories``).
        results (list[dict]): COCO-format results (``image_id``, ``category_id``, ``segmentation``, ``score``);
            not modified. A ``bbox`` in them is ignored (instance areas are mask areas, as for mask AP).
        dilation_ratio (float): boundary width as a fraction of the image diagonal.
        max_dets (int): detections per image (the largest of faster-coco-eval's ``maxDets``).
        lvis_style (bool): LVIS evaluation rules.
        iou_type (str): ``"boundary"`` (Boundary AP) or ``"segm"`` (plain mask AP, the same code path).
        num_workers (int): threads faster-coco-eval may use.

    Returns:
        dict: ``AP, AP50, AP75, APs, APm, APl`` (and ``APr, APc, APf`` for LVIS) in percent; NaN where
        faster-coco-eval reports "no ground truth" (-1). With no results at all, every AP is 0.
    """
    if iou_type not in ("boundary", "segm"):
        raise ValueError(f"boundary_ap: iou_type must be 'boundary' or 'segm', got {iou_type!r}")
    return faster_coco_eval_ap(gt, results, iou_type=iou_type, dilation_ratio=dilation_ratio, max_dets=max_dets,
                               lvis_style=lvis_style, num_workers=num_workers)


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
