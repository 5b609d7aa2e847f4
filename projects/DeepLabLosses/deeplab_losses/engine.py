"""Trainer and setup shared by ``train_net.py``, the quickstart and the tests."""
import os

from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.engine import default_setup
from detectron2.evaluation import DatasetEvaluators, SemSegEvaluator
from detectron2.projects.deeplab import build_lr_scheduler as build_deeplab_lr_scheduler
from levelset_core.data.loader import build_resumable_train_loader
from levelset_core.engine.config import build_config
from levelset_core.engine.trainer import DeviceAgnosticTrainer

from .config import add_deeplab_losses_config
from .data.mapper import SemSegDatasetMapper
from .evaluation import BoundarySemSegEvaluator

__all__ = ["Trainer", "setup_cfg", "build_sem_seg_train_aug", "check_losses_ready", "PROJECT_ROOT"]

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_sem_seg_train_aug(cfg):
    """Resize the short edge, crop (retrying until no class covers more than SINGLE_CATEGORY_MAX_AREA), flip."""
    augs = [T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN,
                                 cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)]
    if cfg.INPUT.CROP.ENABLED:
        augs.append(T.RandomCrop_CategoryAreaConstraint(
            cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE, cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA,
            cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE))
    augs.append(T.RandomFlip())
    return augs


def check_losses_ready(model):
    """Raise before training if a loss cannot train (e.g. SEMEDA without a pre-trained g)."""
    model = getattr(model, "module", model)
    aux = getattr(getattr(model, "sem_seg_head", None), "aux_losses", None)
    if aux is not None:
        aux.check_ready()


class Trainer(DeviceAgnosticTrainer):
    """detectron2's DefaultTrainer (device-agnostic: several CPU processes with gloo, CPU AMP; see
    :class:`levelset_core.engine.DeviceAgnosticTrainer`) with DeepLab's data augmentation and poly LR,
    SemSegEvaluator + BoundarySemSegEvaluator, and a SEMEDA readiness check before training starts.
    Checkpoints hold the optimizer, the scheduler, the AMP grad scaler and the random states (exact
    ``--resume``); training label maps are checked by :class:`deeplab_losses.data.mapper.SemSegDatasetMapper`."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        meta = MetadataCatalog.get(dataset_name)
        if getattr(meta, "evaluator_type", "sem_seg") not in ("sem_seg", "cityscapes_sem_seg"):
            raise ValueError(f"{dataset_name}: evaluator_type {meta.evaluator_type!r} is not a semantic segmentation")
        evaluators = [SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)]
        if cfg.TEST.BOUNDARY_EVAL.ENABLED:
            evaluators.append(BoundarySemSegEvaluator.from_config(cfg, dataset_name, True, output_folder))
        return DatasetEvaluators(evaluators)

    @classmethod
    def build_train_loader(cls, cfg):
        mapper = SemSegDatasetMapper(cfg, is_train=True, augmentations=build_sem_seg_train_aug(cfg))
        return build_resumable_train_loader(cfg, mapper)  # its position is in the checkpoints: exact --resume

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        return build_deeplab_lr_scheduler(cfg, optimizer)

    def train(self):
        check_losses_ready(self.model)
        return super().train()


def setup_cfg(config_file, opts=(), args=None, freeze=True):
    """Config from a YAML file + ``KEY VALUE`` overrides (:func:`levelset_core.engine.build_config`: clear errors,
    ``MODEL.DEVICE = cuda`` without a GPU falls back to the CPU with a warning); with ``args``, detectron2's
    ``default_setup``."""
    cfg = build_config(config_file, opts, add_config=(add_deeplab_losses_config,), freeze=freeze)
    if args is not None:
        default_setup(cfg, args)
    return cfg


def evaluate(cfg, model):
    """Run the test sets of ``cfg`` on ``model``; returns detectron2's results dict."""
    return Trainer.test(cfg, model)


