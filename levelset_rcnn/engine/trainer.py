"""LevelSet R-CNN's Trainer: :class:`levelset_core.engine.DeviceAgnosticTrainer` with LevelSet R-CNN's evaluators,
config validation, dataset class check and test-time augmentation."""
import logging
import os
from collections import OrderedDict

from detectron2.data import DatasetCatalog, MetadataCatalog
from levelset_core.engine.trainer import DeviceAgnosticTrainer

__all__ = ["Trainer", "check_dataset_classes"]

logger = logging.getLogger(__name__)


def check_dataset_classes(dataset_names, num_classes):
    """Raise a clear error if any annotation's ``category_id`` is outside ``[0, num_classes)``."""
    for name in dataset_names:
        for record in DatasetCatalog.get(name):
            for ann in record.get("annotations", []):
                cid = ann.get("category_id")
                if cid is None or not 0 <= int(cid) < num_classes:
                    raise ValueError(
                        f"dataset {name!r}, image {record.get('file_name')!r}: category_id {cid} is outside "
                        f"[0, {num_classes}) (MODEL.ROI_HEADS.NUM_CLASSES = {num_classes}); "
                        f"the dataset has classes {MetadataCatalog.get(name).get('thing_classes')}"
                    )


class Trainer(DeviceAgnosticTrainer):
    """:class:`DeviceAgnosticTrainer` with LevelSet R-CNN's evaluators, a dataset class check (and, with
    ``DATASETS.STRICT_ANNOTATIONS``, an error for dropped annotations). Its checkpointer
    and dataset mapper are the base class's (``SafeCheckpointer``; older key layouts are upgraded by the model's
    modules when the state dict loads)."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        from ..evaluation import build_evaluator

        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_train_loader(cls, cfg):
        check_dataset_classes(cfg.DATASETS.TRAIN, cfg.MODEL.ROI_HEADS.NUM_CLASSES)  # loads every train dataset
        if cfg.DATASETS.STRICT_ANNOTATIONS:
            from ..data.register import raise_for_dropped_annotations

            raise_for_dropped_annotations(cfg.DATASETS.TRAIN)
        return super().build_train_loader(cfg)

    @classmethod
    def test_with_TTA(cls, cfg, model):
        """Evaluate with test-time augmentation (``TEST.AUG.*``, :mod:`levelset_rcnn.modeling.test_time_augmentation`);
        results are keyed ``<task>_TTA`` (e.g. ``segm_TTA``, ``segm_initial_TTA``), outputs in ``inference_TTA/``."""
        from ..modeling.test_time_augmentation import build_tta_model

        logger.info("Running inference with test-time augmentation ...")
        tta_model = build_tta_model(cfg, model)
        evaluators = [cls.build_evaluator(cfg, name, output_folder=os.path.join(cfg.OUTPUT_DIR, "inference_TTA"))
                      for name in cfg.DATASETS.TEST]
        results = cls.test(cfg, tta_model, evaluators)
        return OrderedDict((k + "_TTA", v) for k, v in results.items())

    def build_hooks(self):
        """detectron2's hooks, plus a final evaluation with test-time augmentation when ``TEST.AUG.ENABLED`` (its
        ``TEST.AUG.*`` sizes are checked now)."""
        from detectron2.engine import hooks

        if self.cfg.TEST.AUG.ENABLED:
            from ..modeling.test_time_augmentation import check_tta_config

            check_tta_config(self.cfg)  # before training, not at its end
        ret = super().build_hooks()
        if self.cfg.TEST.AUG.ENABLED:
            ret.append(hooks.EvalHook(0, lambda: self.test_with_TTA(self.cfg, self.model)))
        return ret

    @classmethod
    def build_model(cls, cfg):
        from levelset_core.compat.pointrend import check_pointrend_config

        # MODEL.LEVELSET.* values are checked by the modules that read them, as they are built
        check_pointrend_config(cfg)  # PointRend heads: clear errors instead of their asserts in the first step
        return super().build_model(cfg)
