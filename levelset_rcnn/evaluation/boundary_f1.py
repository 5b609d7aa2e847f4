"""AF1 / AF2: the boundary metric of LevelSet R-CNN (Homayounfar et al., ECCV 2020, section 5, Table 5).

The paper adapts the DAVIS boundary measure: "for a True Positive detection, we compute F1 between the
prediction and ground truth boundary pixels at thresholds of 1 and 2 pixels. Similar to AP, we obtain the True
Positives at IoUs in range [0.5, 0.95] at 0.05 increments. The F1s are averaged over all the classes and
thresholds." This module makes the open choices explicit:

* **True positives** come from COCO's own matching: pycocotools' ``COCOeval`` with ``iouType="segm"``, area
  range "all", up to ``max_dets`` detections per image (highest scores first); at each IoU threshold t, every
  detection matched to a non-crowd ground truth (not ignored) is a true positive at t. The matching code is
  COCO's, not re-implemented.
* **Boundary pixels** of a binary mask M (H x W): ``B(M) = M AND NOT erode(M)``, erosion with the 3 x 3 square
  (8-neighbourhood), pixels outside the image counting as background (the inner contour, 1 px wide; the same
  boundary definition as Boundary IoU with d = 1).
* **F1 at tolerance r** (DAVIS): precision P = fraction of predicted boundary pixels within Euclidean distance r
  of a ground-truth boundary pixel, recall R = fraction of ground-truth boundary pixels within r of a predicted
  one, F = 2PR / (P + R) (0 when P + R = 0; 1 when both boundaries are empty).
* **Averaging**: F of the true positives is averaged per (class, threshold); AF_r is the mean over the
  (class, threshold) cells that have at least one true positive (a cell without true positives has no F1 to
  average, it is not counted as 0), in percent. ``AF{r}_50`` / ``AF{r}_75`` are the means at IoU 0.5 / 0.75.

Distances are computed with ``scipy.ndimage.distance_transform_edt`` on a crop around the pair of masks.
"""
import logging
import math

import numpy as np
import pycocotools.mask as mask_util
from scipy import ndimage

from .instance_predictions import InstancePredictionEvaluator

__all__ = ["BoundaryF1Evaluator", "mask_boundary", "boundary_f1", "average_boundary_f1", "BOUNDARY_F1_TASK"]

#: Results key of the AF metrics.
BOUNDARY_F1_TASK = "boundary_f1"

logger = logging.getLogger(__name__)

_SQUARE = np.ones((3, 3), dtype=bool)


def mask_boundary(mask):
    """Inner boundary of a binary mask.

    Args:
        mask (np.ndarray): H x W, bool or {0, 1}.
    Returns:
        np.ndarray: H x W bool, the mask pixels with at least one background 8-neighbour (outside = background).
    """
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2:
        raise ValueError(f"mask_boundary expects an H x W mask, got shape {mask.shape}")
    eroded = ndimage.binary_erosion(mask, structure=_SQUARE, border_value=0)
    return mask & ~eroded


def _crop_pair(a, b, margin):
    """Crop two H x W masks to the bounding box of their union grown by ``margin``, padded by 1 with zeros."""
    union = a | b
    if not union.any():
        return a[:0, :0], b[:0, :0]
    ys = np.flatnonzero(union.any(axis=1))
    xs = np.flatnonzero(union.any(axis=0))
    y0, y1 = max(ys[0] - margin, 0), min(ys[-1] + margin + 1, a.shape[0])
    x0, x1 = max(xs[0] - margin, 0), min(xs[-1] + margin + 1, a.shape[1])
    # padding with background keeps "outside the image is background" for masks touching the border
    return np.pad(a[y0:y1, x0:x1], 1), np.pad(b[y0:y1, x0:x1], 1)


def boundary_f1(pred_mask, gt_mask, tolerances=(1, 2)):
    """Boundary F1 of one predicted mask against one ground-truth mask, at each pixel tolerance.

    Args:
        pred_mask, gt_mask (np.ndarray): H x W binary masks of the same shape.
        tolerances (sequence of float): distances r in pixels.
    Returns:
        list[float]: F1 in [0, 1] for each tolerance.
    """
    pred_mask = np.asarray(pred_mask).astype(bool)
    gt_mask = np.asarray(gt_mask).astype(bool)
    if pred_mask.shape != gt_mask.shape or pred_mask.ndim != 2:
        raise ValueError(f"boundary_f1: masks must be H x W of one shape, got {pred_mask.shape} and {gt_mask.shape}")
    margin = int(math.ceil(max(tolerances))) + 1 if len(tolerances) else 1
    pred, gt = _crop_pair(pred_mask, gt_mask, margin)
    pred_b, gt_b = mask_boundary(pred), mask_boundary(gt)
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        return [1.0 for _ in tolerances]
    if n_pred == 0 or n_gt == 0:
        return [0.0 for _ in tolerances]
    dist_to_gt = ndimage.distance_transform_edt(~gt_b)
    dist_to_pred = ndimage.distance_transform_edt(~pred_b)
    d_pred, d_gt = dist_to_gt[pred_b], dist_to_pred[gt_b]
    out = []
    for r in tolerances:
        precision = float(np.count_nonzero(d_pred <= r)) / n_pred
        recall = float(np.count_nonzero(d_gt <= r)) / n_gt
        out.append(2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0)
    return out


def _decode(segmentation, height, width):
    if isinstance(segmentation, list):  # polygons
        rles = mask_util.frPyObjects(segmentation, height, width)
        rle = mask_util.merge(rles)
    elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_util.decode(rle).astype(bool)


def average_boundary_f1(gt, results, tolerances=(1, 2), max_dets=100):
    """AF_r of COCO-format ``results`` against the COCO-format dict ``gt`` (see the module docstring).

    Returns:
        dict: ``AF{r}`` for each tolerance r, ``AF{r}_50`` and ``AF{r}_75``, in percent (NaN when there is no
        true positive at all), and ``num_true_positives`` (matches summed over the 10 thresholds).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    tolerances = tuple(tolerances)
    names = [f"AF{_fmt(r)}" for r in tolerances]
    empty = {n: math.nan for n in names}
    empty.update({f"{n}_{t}": math.nan for n in names for t in (50, 75)})
    empty["num_true_positives"] = 0
    if not results:
        logger.warning("AF: no mask predictions, no true positives.")
        return empty

    coco_gt = COCO()
    coco_gt.dataset = gt
    _silent(coco_gt.createIndex)
    coco_dt = _silent(coco_gt.loadRes, results)
    ev = COCOeval(coco_gt, coco_dt, iouType="segm")
    ev.params.areaRng = [[0, 1e10]]
    ev.params.areaRngLbl = ["all"]
    ev.params.maxDets = [int(max_dets)]
    _silent(ev.evaluate)
    thresholds = ev.params.iouThrs

    pair_f1 = {}  # (dt id, gt id) -> F1 per tolerance
    cells = {}  # (category id, threshold index) -> list of F1 vectors
    for e in ev.evalImgs:
        if e is None or not len(e["dtIds"]):
            continue
        matches, ignored = e["dtMatches"], e["dtIgnore"]
        for t in range(len(thresholds)):
            for d, dt_id in enumerate(e["dtIds"]):
                gt_id = int(matches[t, d])
                if gt_id <= 0 or ignored[t, d]:
                    continue
                key = (dt_id, gt_id)
                if key not in pair_f1:
                    g = coco_gt.anns[gt_id]
                    img = coco_gt.imgs[g["image_id"]]
                    h, w = img["height"], img["width"]
                    pair_f1[key] = boundary_f1(
                        _decode(coco_dt.anns[dt_id]["segmentation"], h, w), _decode(g["segmentation"], h, w),
                        tolerances,
                    )
                cells.setdefault((e["category_id"], t), []).append(pair_f1[key])
    if not cells:
        logger.warning("AF: no true positive at any IoU threshold.")
        return empty
    cell_means = {k: np.mean(np.asarray(v), axis=0) for k, v in cells.items()}
    out = {}
    for i, name in enumerate(names):
        out[name] = 100.0 * float(np.mean([m[i] for m in cell_means.values()]))
        for label, thr in ((50, 0.5), (75, 0.75)):
            t = int(np.argmin(np.abs(thresholds - thr)))
            vals = [m[i] for (c, ti), m in cell_means.items() if ti == t]
            out[f"{name}_{label}"] = 100.0 * float(np.mean(vals)) if vals else math.nan
    out["num_true_positives"] = int(sum(len(v) for v in cells.values()))
    return out


def _fmt(r):
    return str(int(r)) if float(r).is_integer() else str(r)


def _silent(fn, *args):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


class BoundaryF1Evaluator(InstancePredictionEvaluator):
    """AF1 / AF2 (paper section 5, Table 5) as a detectron2 ``DatasetEvaluator``; results under ``"boundary_f1"``.

    Args:
        dataset_name, distributed, output_dir: as in detectron2's evaluators.
        tolerances (sequence of float): pixel tolerances (paper: 1 and 2).
        max_dets_per_image (int): detections per image used in the COCO matching.
    """

    TASK = BOUNDARY_F1_TASK

    def __init__(self, dataset_name, distributed=True, output_dir=None, *, tolerances=(1, 2), max_dets_per_image=100):
        super().__init__(dataset_name, distributed, output_dir, max_dets_per_image=max_dets_per_image)
        tolerances = tuple(float(r) for r in tolerances)
        if not tolerances or any(not (r >= 0) for r in tolerances):
            raise ValueError(f"AF: tolerances must be a non-empty list of distances >= 0, got {tolerances}")
        self._tolerances = tolerances

    def compute(self, gt, results):
        metrics = average_boundary_f1(gt, results, self._tolerances, self._max_dets_per_image)
        self._logger.info(
            "Boundary F1 on %s: %s", self._dataset_name,
            ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()),
        )
        return metrics
