"""LVIS box / mask AP that works with numpy 2 as well as with the numpy<1.24 of the detectron2 v0.6 fallback.

detectron2's :class:`~detectron2.evaluation.LVISEvaluator` evaluates with the ``lvis`` package (0.5.3, the
newest release), whose ``LVISEval.accumulate`` uses ``np.float``, removed in numpy 1.24: with the numpy 2
that official detectron2 main installs, every LVIS evaluation fails with ``AttributeError``.
:class:`LevelSetLVISEvaluator` is that evaluator with a second backend:

* ``"lvis"``: the ``lvis`` package, exactly detectron2's evaluator. Used where it works (``lvis`` installed and
  numpy < 1.24, see :func:`lvis_package_works`).
* ``"faster_coco_eval"``: faster-coco-eval's LVIS mode (``COCOeval_faster(lvis_style=True)``, C++, maintained,
  a dependency of this project; the same code path as the LVIS Boundary AP of :mod:`.boundary_ap`). Used
  everywhere else. It applies the LVIS rules as ``lvis`` does: the detections of an image are limited to the
  ``max_dets_per_image`` (300) best across categories, detections of a category that an image neither contains
  nor lists in ``neg_category_ids`` are dropped, unmatched detections of the image's
  ``not_exhaustive_category_ids`` are ignored, and APr / APc / APf average the categories by ``frequency``.
  For mask AP the instance area is the mask area (the box is dropped, as detectron2 does for ``lvis``).

Both report ``AP, AP50, AP75, APs, APm, APl, APr, APc, APf`` in percent per task, under ``"bbox"`` / ``"segm"``.
One difference: a frequency group without any category (e.g. no rare category in a COCO-category subset)
is NaN with faster-coco-eval, whereas ``lvis`` reports its "-1" sentinel, i.e. -100. Box proposals
(``"box_proposals"``) are evaluated by detectron2's own code with either backend.
"""
import itertools
import json
import logging
import os
from collections import OrderedDict, defaultdict

import torch

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.evaluation import LVISEvaluator
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import create_small_table
from levelset_core.compat.evaluation import lvis_package_works

from .boundary_ap import faster_coco_eval_ap
from .instance_predictions import load_coco_ground_truth, to_dataset_category_ids

__all__ = ["LevelSetLVISEvaluator", "lvis_package_works", "LVIS_BACKENDS"]

#: Accepted values of ``backend``.
LVIS_BACKENDS = ("lvis", "faster_coco_eval")
#: Metric names of every task, as detectron2's LVISEvaluator reports them.
LVIS_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")

logger = logging.getLogger(__name__)


def limit_detections_per_image(results, max_dets):
    """The ``max_dets`` highest-scoring results of every image (all categories together), as ``lvis``'s
    ``LVISResults`` does; a negative ``max_dets`` keeps everything. Order within an image: by score."""
    if max_dets < 0:
        return list(results)
    by_image = defaultdict(list)
    for r in results:
        by_image[r["image_id"]].append(r)
    kept = []
    for image_results in by_image.values():
        if len(image_results) > max_dets:
            image_results = sorted(image_results, key=lambda r: r["score"], reverse=True)[:max_dets]
        kept.extend(image_results)
    return kept


class LevelSetLVISEvaluator(LVISEvaluator):
    """detectron2's ``LVISEvaluator`` with a faster-coco-eval backend for numpy >= 1.24 (see the module docstring).

    Args:
        dataset_name, tasks, distributed, output_dir, max_dets_per_image: as in detectron2's ``LVISEvaluator``
            (the metadata's ``json_file`` is an LVIS-format json; ``max_dets_per_image`` defaults to 300).
        backend (str or None): ``"lvis"``, ``"faster_coco_eval"``, or None: ``"lvis"`` where
            :func:`lvis_package_works`, otherwise ``"faster_coco_eval"``.

    Raises:
        ValueError: an unknown backend.
        RuntimeError: ``backend="lvis"`` where the ``lvis`` package does not work (the message says why).
    """

    def __init__(self, dataset_name, tasks=None, distributed=True, output_dir=None, *, max_dets_per_image=None,
                 backend=None):
        works, why = lvis_package_works()
        if backend is None:
            backend = "lvis" if works else "faster_coco_eval"
        if backend not in LVIS_BACKENDS:
            raise ValueError(f"LVIS evaluation of '{dataset_name}': unknown backend {backend!r}; known: {LVIS_BACKENDS}")
        if backend == "lvis" and not works:
            raise RuntimeError(
                f"LVIS evaluation of '{dataset_name}' with backend='lvis' is impossible here: {why}. "
                "Use backend='faster_coco_eval' (the default there)."
            )
        self.backend = backend
        self._dataset_name = dataset_name
        if backend == "lvis":
            super().__init__(dataset_name, tasks, distributed, output_dir, max_dets_per_image=max_dets_per_image)
            return
        # detectron2's __init__ without `from lvis import LVIS`: the same attributes, the ground truth through
        # faster-coco-eval's COCO, which has the lvis API's get_ann_ids / load_anns (used for box proposals).
        from faster_coco_eval import COCO

        self._logger = logging.getLogger(__name__)
        self._tasks = None if isinstance(tasks, CfgNode) else tasks
        self._distributed = distributed
        self._output_dir = output_dir
        self._max_dets_per_image = max_dets_per_image
        self._cpu_device = torch.device("cpu")
        self._metadata = MetadataCatalog.get(dataset_name)
        json_file = self._metadata.get("json_file")
        if not json_file:
            raise ValueError(f"LVIS evaluation of '{dataset_name}': its metadata has no json_file")
        json_file = PathManager.get_local_path(json_file)
        if not os.path.isfile(json_file):
            raise FileNotFoundError(f"LVIS evaluation of '{dataset_name}': json_file {json_file} does not exist")
        self._lvis_api = COCO(json_file, print_function=logging.getLogger("faster_coco_eval").debug)
        # Test set json files have no annotations (evaluation on the LVIS server only).
        self._do_evaluation = len(self._lvis_api.get_ann_ids()) > 0

    def _eval_predictions(self, predictions):
        if self.backend == "lvis":
            return super()._eval_predictions(predictions)
        self._logger.info("Preparing results in the LVIS format ...")
        lvis_results = list(itertools.chain(*[x["instances"] for x in predictions]))
        tasks = self._tasks or self._tasks_from_predictions(lvis_results)
        # the category-id unmapping of detectron2's LVISEvaluator
        to_dataset_category_ids(lvis_results, self._metadata, f"LVIS evaluation of '{self._dataset_name}'", lvis=True)
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            file_path = os.path.join(self._output_dir, "lvis_instances_results.json")
            self._logger.info("Saving results to {}".format(file_path))
            with PathManager.open(file_path, "w") as f:
                f.write(json.dumps(lvis_results))
        if not self._do_evaluation:
            self._logger.info("Annotations are not available for evaluation.")
            return
        max_dets = 300 if self._max_dets_per_image is None else int(self._max_dets_per_image)
        self._logger.info("Evaluating with faster-coco-eval's LVIS mode, max detections per image = %d", max_dets)
        kept = limit_detections_per_image(lvis_results, max_dets)
        for task in sorted(tasks):
            if not kept:
                self._logger.warning("No predictions from the model!")
                self._results[task] = {m: float("nan") for m in LVIS_METRICS}
                continue
            # a fresh ground truth per task: faster-coco-eval writes bookkeeping keys into the annotations
            gt = load_coco_ground_truth(self._dataset_name)
            metrics = faster_coco_eval_ap(gt, kept, iou_type=task, max_dets=max_dets, lvis_style=True)
            res = OrderedDict((m, metrics.get(m, float("nan"))) for m in LVIS_METRICS)
            self._logger.info("Evaluation results for {}: \n".format(task) + create_small_table(res))
            self._results[task] = res
