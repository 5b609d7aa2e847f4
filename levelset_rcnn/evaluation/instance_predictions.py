"""Shared parts of the boundary evaluators: COCO-format predictions and ground truth of any dataset.

:class:`InstancePredictionEvaluator` is a detectron2 ``DatasetEvaluator`` that collects the predicted
instances of every image as COCO-format results (RLE masks, dataset category ids), gathers them across
processes and hands them, together with the dataset's ground truth as a COCO-format dict
(:func:`load_coco_ground_truth`), to :meth:`InstancePredictionEvaluator.compute`. The boundary evaluators
(:mod:`.boundary_ap`, :mod:`.boundary_f1`) implement ``compute``; they run next to the COCO / LVIS /
Cityscapes evaluators (see :func:`levelset_rcnn.evaluation.build_evaluator`).
"""
import copy
import itertools
import json
import logging
import os

import detectron2.utils.comm as comm
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.utils.file_io import PathManager

__all__ = ["InstancePredictionEvaluator", "load_coco_ground_truth"]

logger = logging.getLogger(__name__)


def _is_coco_like(data):
    return isinstance(data, dict) and all(k in data for k in ("images", "annotations", "categories"))


def load_coco_ground_truth(dataset_name):
    """The ground truth of a registered dataset as a COCO-format dict (a private copy).

    * the metadata's ``json_file`` when it is a COCO- or LVIS-format json (COCO, LVIS, ``register_coco_dataset``,
      datasets whose COCOEvaluator has already cached a conversion);
    * otherwise detectron2's ``convert_to_coco_dict`` of the dataset's dicts (VIA folders, Cityscapes, ...).

    Annotations without ``iscrowd`` (LVIS) get ``iscrowd = 0``; without ``area``, the box area.

    Raises:
        KeyError: the dataset is not registered.
        ValueError: the ground truth has no images.
    """
    from detectron2.data.datasets.coco import convert_to_coco_dict

    metadata = MetadataCatalog.get(dataset_name)
    data = None
    json_file = metadata.get("json_file")
    if json_file and PathManager.isfile(json_file):
        with PathManager.open(json_file) as f:
            candidate = json.load(f)
        if _is_coco_like(candidate):
            data = candidate
    if data is None:
        if dataset_name not in DatasetCatalog.list():
            raise KeyError(f"dataset '{dataset_name}' is not registered (DatasetCatalog has no such name)")
        data = copy.deepcopy(convert_to_coco_dict(dataset_name))
    if not data["images"]:
        raise ValueError(f"dataset '{dataset_name}': the ground truth has no images")
    for ann in data["annotations"]:
        ann.setdefault("iscrowd", 0)
        if "area" not in ann and "bbox" in ann:
            ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    data.setdefault("info", {})
    data.setdefault("licenses", [])
    return data



def to_dataset_category_ids(results, metadata, who, lvis=None):
    """Map the contiguous ``category_id`` of COCO-format results back to the dataset's ids, in place.

    Uses ``metadata.thing_dataset_id_to_contiguous_id``; without it, LVIS (``lvis=True``, or metadata
    ``evaluator_type == "lvis"``) json ids are the 1-based contiguous ids. A predicted class outside the mapping is a
    ValueError naming ``who`` (the evaluator and dataset). Returns ``results``.
    """
    mapping = metadata.get("thing_dataset_id_to_contiguous_id")
    if mapping:
        reverse = {v: k for k, v in mapping.items()}
        for r in results:
            if r["category_id"] not in reverse:
                raise ValueError(f"{who}: predicted class {r['category_id']} is not among the dataset's "
                                 f"{len(reverse)} classes")
            r["category_id"] = reverse[r["category_id"]]
    elif lvis or (lvis is None and metadata.get("evaluator_type") == "lvis"):
        for r in results:  # LVIS json ids are 1-based and contiguous
            r["category_id"] += 1
    return results

class InstancePredictionEvaluator(DatasetEvaluator):
    """Collect COCO-format instance predictions; subclasses implement :meth:`compute`.

    Args:
        dataset_name (str): a registered dataset.
        distributed (bool): gather predictions from all processes and evaluate on the main one.
        output_dir (str or None): unused by this base class; subclasses may write files there.
        max_dets_per_image (int): detections per image that take part in the matching (COCO: 100).

    Subclasses set ``TASK`` (the key of their results) and implement ``compute(gt, results)`` where ``gt``
    is a COCO-format dict (:func:`load_coco_ground_truth`) and ``results`` a list of COCO-format results
    (``segmentation`` as RLE, ``category_id`` in the dataset's ids); it returns a dict of metrics.
    """

    TASK = None

    def __init__(self, dataset_name, distributed=True, output_dir=None, *, max_dets_per_image=100):
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        self._max_dets_per_image = int(max_dets_per_image)
        self._metadata = MetadataCatalog.get(dataset_name)
        self._predictions = []
        self._logger = logging.getLogger(type(self).__module__)

    def reset(self):
        self._predictions = []

    def process(self, inputs, outputs):
        for input, output in zip(inputs, outputs):
            instances = output.get("instances")
            if instances is None:
                continue
            instances = instances.to("cpu")
            if not instances.has("pred_masks"):
                continue
            self._predictions.extend(instances_to_coco_json(instances, input["image_id"]))

    def _dataset_category_ids(self, results):
        """Map contiguous predicted class ids back to the dataset's category ids (in place)."""
        return to_dataset_category_ids(results, self._metadata, f"{type(self).__name__} on '{self._dataset_name}'")

    def evaluate(self, img_ids=None):
        if self._distributed:
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(self._predictions, dst=0)))
            if not comm.is_main_process():
                return {}
        else:
            predictions = list(self._predictions)
        results = self._dataset_category_ids([dict(p) for p in predictions])
        gt = load_coco_ground_truth(self._dataset_name)
        if img_ids is not None:
            keep = set(img_ids)
            gt["images"] = [im for im in gt["images"] if im["id"] in keep]
            gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
            results = [r for r in results if r["image_id"] in keep]
        known = {im["id"] for im in gt["images"]}
        unknown = sorted({r["image_id"] for r in results} - known)
        if unknown:
            raise ValueError(
                f"{type(self).__name__} on '{self._dataset_name}': predictions for image ids {unknown[:5]} "
                "that are not in the dataset's ground truth"
            )
        metrics = self.compute(gt, results)
        if self._output_dir and metrics:
            PathManager.mkdirs(self._output_dir)
            with PathManager.open(os.path.join(self._output_dir, f"{self.TASK}_metrics.json"), "w") as f:
                json.dump(metrics, f, indent=1)
        return {self.TASK: metrics} if metrics else {}

    def compute(self, gt, results):  # pragma: no cover - abstract
        raise NotImplementedError
