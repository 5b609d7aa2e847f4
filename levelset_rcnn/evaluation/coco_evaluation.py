"""COCO-style evaluation of LevelSet R-CNN, including the "initial mask" H(phi_0) of the paper.

:class:`LevelSetCOCOEvaluator` is detectron2's :class:`~detectron2.evaluation.COCOEvaluator` with two
additions:

* it never needs detectron2's compiled ops: the C++ COCO evaluator (``COCOeval_opt``) is used only
  when detectron2's compiled ops exist, pycocotools' ``COCOeval`` otherwise
  (:func:`levelset_core.compat.evaluation.coco_eval_fast_impl`);
* when the model outputs ``pred_masks_initial`` (N x 1 x M x M probabilities in the RoI frame), those
  masks are pasted into the image like the final masks and evaluated as instance segmentation, reported
  under the task key ``"segm_initial"`` (same metric names as ``"segm"``). This gives the
  "initial mask vs. final mask" comparison of the paper (Table 2).

``bbox`` and ``segm`` results are exactly those of the parent class.
"""
import json
import logging
import os
from collections import OrderedDict

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.layers import paste_masks_in_image
from detectron2.structures import Boxes, Instances
from detectron2.utils.file_io import PathManager
from levelset_core.compat.evaluation import coco_eval_fast_impl

from .lvis_evaluation import LevelSetLVISEvaluator

__all__ = ["LevelSetCOCOEvaluator", "build_evaluator", "INITIAL_MASK_TASK"]

#: Task key under which the initial masks' segmentation metrics are reported.
INITIAL_MASK_TASK = "segm_initial"
#: Instances field holding the initial masks (N x 1 x M x M or N x M x M, in the RoI frame).
INITIAL_MASK_FIELD = "pred_masks_initial"

logger = logging.getLogger(__name__)


class LevelSetCOCOEvaluator(COCOEvaluator):
    """COCO evaluator for bbox / segm, plus ``"segm_initial"`` for the initial masks H(phi_0).

    Args:
        dataset_name, tasks, distributed, output_dir: as in detectron2's ``COCOEvaluator``.
        use_fast_impl (bool or None): use detectron2's C++ COCO evaluator. ``None`` (default) means "when
            detectron2's compiled ops are available". Forced to False when they are not.
        eval_initial_masks (bool): evaluate ``pred_masks_initial`` when the outputs carry them.
        initial_mask_threshold (float): threshold used when pasting the initial masks.
        **kwargs: passed to ``COCOEvaluator`` (e.g. ``kpt_oks_sigmas``, ``max_dets_per_image``).

    With ``output_dir``, the initial masks' COCO-format results are also written to
    ``coco_instances_initial_results.json`` (next to the parent's ``coco_instances_results.json``).
    """

    def __init__(
        self,
        dataset_name,
        tasks=None,
        distributed=True,
        output_dir=None,
        *,
        use_fast_impl=None,
        eval_initial_masks=True,
        initial_mask_threshold=0.5,
        **kwargs,
    ):
        use_fast_impl = coco_eval_fast_impl(use_fast_impl)
        _ensure_thing_metadata(dataset_name)
        super().__init__(
            dataset_name, tasks, distributed, output_dir, use_fast_impl=use_fast_impl, **kwargs
        )
        # Initial masks are instance segmentations: skip them when the "segm" task is not wanted.
        self._eval_initial_masks = eval_initial_masks and (self._tasks is None or "segm" in self._tasks)
        self._initial_mask_threshold = initial_mask_threshold

    def process(self, inputs, outputs):
        for input, output in zip(inputs, outputs):
            num_before = len(self._predictions)
            super().process([input], [output])
            if len(self._predictions) == num_before or not self._eval_initial_masks:
                continue
            instances = output.get("instances")
            if instances is not None and instances.has(INITIAL_MASK_FIELD):
                self._predictions[-1]["instances_initial"] = self._initial_masks_to_coco_json(
                    instances, input["image_id"]
                )

    def _initial_masks_to_coco_json(self, instances, image_id):
        """Paste the RoI-frame initial masks into the image; return COCO-format results."""
        masks = instances.get(INITIAL_MASK_FIELD)
        if masks.dim() == 4:
            masks = masks[:, 0]
        image_size = tuple(int(s) for s in instances.image_size)
        boxes = instances.pred_boxes.tensor
        pasted = paste_masks_in_image(
            masks.float(), boxes, image_size, threshold=self._initial_mask_threshold
        )
        initial = Instances(
            image_size,
            pred_boxes=Boxes(boxes.to(self._cpu_device)),
            scores=instances.scores.to(self._cpu_device),
            pred_classes=instances.pred_classes.to(self._cpu_device),
            pred_masks=pasted.to(self._cpu_device).bool(),
        )
        return instances_to_coco_json(initial, image_id)

    def _eval_predictions(self, predictions, img_ids=None):
        super()._eval_predictions(predictions, img_ids=img_ids)
        initial = [
            {"image_id": p["image_id"], "instances": [dict(r) for r in p["instances_initial"]]}
            for p in predictions
            if "instances_initial" in p
        ]
        if not initial:
            return
        self._logger.info("Evaluating the initial masks H(phi_0) as '%s' ...", INITIAL_MASK_TASK)
        # Let the parent do the evaluation (category unmapping, COCO API, per-class AP) on the initial
        # masks as a "segm" task, with its own results dict and without overwriting its output files.
        results, tasks, output_dir = self._results, self._tasks, self._output_dir
        self._results, self._tasks, self._output_dir = OrderedDict(), ("segm",), None
        try:
            super()._eval_predictions(initial, img_ids=img_ids)
            initial_results = self._results
        finally:
            self._results, self._tasks, self._output_dir = results, tasks, output_dir
        if "segm" in initial_results:
            self._results[INITIAL_MASK_TASK] = initial_results["segm"]
        if self._output_dir:
            # The parent has mapped the category ids of these copies back to the dataset's ids.
            coco_results = [r for p in initial for r in p["instances"]]
            PathManager.mkdirs(self._output_dir)
            file_path = os.path.join(self._output_dir, "coco_instances_initial_results.json")
            self._logger.info("Saving initial-mask results to {}".format(file_path))
            with PathManager.open(file_path, "w") as f:
                f.write(json.dumps(coco_results))


def _ensure_thing_metadata(dataset_name):
    """Load a registered COCO-json dataset once if its class-id mapping is not in the metadata yet.

    ``register_coco_instances`` only fills ``thing_classes`` / ``thing_dataset_id_to_contiguous_id`` when
    the dataset is loaded. Without the mapping, COCOEvaluator would silently compare contiguous predicted
    class ids with the dataset's category ids.
    """
    metadata = MetadataCatalog.get(dataset_name)
    if (
        hasattr(metadata, "json_file")
        and not hasattr(metadata, "thing_dataset_id_to_contiguous_id")
        and dataset_name in DatasetCatalog.list()
    ):
        logger.info("Loading '%s' to get its class metadata ...", dataset_name)
        DatasetCatalog.get(dataset_name)


#: Names accepted in ``cfg.TEST.EXTRA_EVALUATORS``.
EXTRA_EVALUATOR_NAMES = ("boundary_ap", "boundary_f1")


def build_extra_evaluators(cfg, dataset_name, output_folder=None):
    """The evaluators named in ``cfg.TEST.EXTRA_EVALUATORS`` (see :func:`levelset_rcnn.config.add_boundary_eval_config`).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    from .boundary_ap import BoundaryAPEvaluator
    from .boundary_f1 import BoundaryF1Evaluator

    names = list(cfg.TEST.get("EXTRA_EVALUATORS", []) or [])
    max_dets = cfg.TEST.DETECTIONS_PER_IMAGE
    evaluators = []
    for name in names:
        if name == "boundary_ap":
            evaluators.append(
                BoundaryAPEvaluator(
                    dataset_name, True, output_folder, dilation_ratio=cfg.TEST.BOUNDARY_AP.DILATION_RATIO,
                    max_dets_per_image=max(100, max_dets),
                )
            )
        elif name == "boundary_f1":
            evaluators.append(
                BoundaryF1Evaluator(
                    dataset_name, True, output_folder, tolerances=cfg.TEST.BOUNDARY_F1.TOLERANCES,
                    max_dets_per_image=max(100, max_dets),
                )
            )
        else:
            raise ValueError(
                f"cfg.TEST.EXTRA_EVALUATORS: unknown evaluator {name!r}; known: {list(EXTRA_EVALUATOR_NAMES)}"
            )
    return evaluators


def build_evaluator(cfg, dataset_name, output_folder=None):
    """Evaluator for ``dataset_name``, chosen by its metadata's ``evaluator_type``.

    * ``"coco"``: :class:`LevelSetCOCOEvaluator` (tasks bbox + segm when ``cfg.MODEL.MASK_ON``, else bbox; the
      largest ``maxDets`` is ``max(100, cfg.TEST.DETECTIONS_PER_IMAGE)``, as for the extra evaluators);
    * ``"lvis"``: :class:`~levelset_rcnn.evaluation.lvis_evaluation.LevelSetLVISEvaluator` (detectron2's
      ``LVISEvaluator`` with the ``lvis`` package where it works, faster-coco-eval's LVIS mode on numpy >= 1.24);
    * ``"cityscapes_instance"``: :class:`~levelset_rcnn.evaluation.cityscapes_evaluation.CityscapesInstanceEvaluator`
      (cityscapesscripts' evaluator, detectron2's protocol);
    * any other type, when the metadata has a ``json_file``: :class:`LevelSetCOCOEvaluator`.

    With ``cfg.TEST.EXTRA_EVALUATORS`` (e.g. ``["boundary_ap", "boundary_f1"]``) and ``cfg.MODEL.MASK_ON``, those
    evaluators run next to it on the same predictions (a ``DatasetEvaluators``; their results are under
    ``"boundary"`` and ``"boundary_f1"``).

    Raises:
        ValueError: for any other dataset, or an unknown extra evaluator.
    """
    from detectron2.evaluation import DatasetEvaluators

    from .cityscapes_evaluation import CityscapesInstanceEvaluator

    if output_folder is None:
        output_folder = os.path.join(cfg.OUTPUT_DIR, "inference")
    metadata = MetadataCatalog.get(dataset_name)
    evaluator_type = metadata.get("evaluator_type")
    tasks = ("bbox", "segm") if cfg.MODEL.MASK_ON else ("bbox",)
    if evaluator_type == "lvis":
        main = LevelSetLVISEvaluator(dataset_name, tasks, True, output_folder)
    elif evaluator_type == "cityscapes_instance":
        main = CityscapesInstanceEvaluator(dataset_name)
    elif evaluator_type == "coco" or hasattr(metadata, "json_file"):
        # COCO's maxDets [1, 10, 100] would drop detections that the model is configured to keep on images with more
        # than 100 objects (nuclei: up to 168 per val image): the largest maxDets follows TEST.DETECTIONS_PER_IMAGE
        # (never below COCO's 100, so every config with at most 100 is evaluated exactly as before)
        main = LevelSetCOCOEvaluator(dataset_name, tasks, True, output_folder,
                                     max_dets_per_image=max(100, cfg.TEST.DETECTIONS_PER_IMAGE))
    else:
        raise ValueError(
            f"No evaluator for dataset '{dataset_name}' with evaluator_type={evaluator_type!r}: supported "
            "types are 'coco', 'lvis', 'cityscapes_instance', or any dataset whose metadata has a 'json_file'."
        )
    extras = build_extra_evaluators(cfg, dataset_name, output_folder) if cfg.MODEL.MASK_ON else []
    if not extras:
        return main
    return DatasetEvaluators([main] + extras)
