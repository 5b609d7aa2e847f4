"""Training entry points shared by ``tools/train_net.py`` and the quickstart: config set-up and Trainer."""
import logging
import os

import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup

from ..config import add_levelset_rcnn_config

__all__ = ["argument_parser", "setup_cfg", "Trainer", "check_dataset_classes"]

logger = logging.getLogger(__name__)


def argument_parser(epilog=None):
    """detectron2's standard training arguments plus ``--dataset-folder PREFIX=PATH`` (repeatable)."""
    parser = default_argument_parser(epilog=epilog)
    parser.add_argument(
        "--dataset-folder",
        action="append",
        default=[],
        metavar="PREFIX=PATH",
        help="register every split of a COCO-format (annotations/instances_<split>.json + <split>/) or "
        "VIA-format (<split>/via_region_data.json) folder as PREFIX_<split>; use the names in "
        "DATASETS.TRAIN / DATASETS.TEST",
    )
    return parser


def register_dataset_folders(specs):
    from ..data import register_dataset_folder

    names = []
    for spec in specs:
        if "=" not in spec:
            raise SystemExit(f"--dataset-folder expects PREFIX=PATH, got {spec!r}")
        prefix, path = spec.split("=", 1)
        names.extend(register_dataset_folder(prefix, path))
    return names


def setup_cfg(config_file, opts=(), output_dir=None):
    """Build a frozen config from a YAML file plus ``KEY VALUE`` overrides, with clear errors.

    A key that exists neither in detectron2 nor in LevelSet R-CNN's config is reported with the file or
    override it came from. ``MODEL.DEVICE = cuda`` on a machine without a GPU falls back to the CPU with
    a warning.
    """
    cfg = get_cfg()
    add_levelset_rcnn_config(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file not found: {config_file}")
        try:
            cfg.merge_from_file(config_file)
        except KeyError as e:
            raise KeyError(f"config file {config_file}: {e.args[0] if e.args else e}") from None
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError, ValueError) as e:
        raise KeyError(f"command-line override {list(opts)}: {e}") from None
    if output_dir:
        cfg.OUTPUT_DIR = output_dir
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE=%s but no GPU is available: using the CPU", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


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


class Trainer(DefaultTrainer):
    """detectron2's DefaultTrainer with LevelSet R-CNN's evaluators and a dataset class check."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        from ..evaluation import build_evaluator

        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_train_loader(cls, cfg):
        check_dataset_classes(cfg.DATASETS.TRAIN, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
        return super().build_train_loader(cfg)


def default_setup_from_args(args):
    """``tools/train_net.py``'s set-up: datasets from ``--dataset-folder``, config, logging, seeds."""
    register_dataset_folders(args.dataset_folder)
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg
