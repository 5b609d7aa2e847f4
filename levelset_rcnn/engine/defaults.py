"""Entry-point set-up of ``tools/train_net.py`` and the quickstart: arguments, config, dataset folders.

The trainer is :class:`levelset_rcnn.engine.trainer.Trainer`; the device-agnostic machinery under it and the
eval-only helpers are :mod:`levelset_core.engine`'s.
"""
from detectron2.engine import default_argument_parser, default_setup
from levelset_core.engine.cli import add_eval_only_arguments, check_eval_only_weights, load_eval_weights

from ..config import build_levelset_config
from ..data.register import register_dataset_folders  # noqa: F401  (re-exported: part of this module's API)
from .trainer import Trainer

__all__ = ["argument_parser", "setup_cfg", "default_setup_from_args", "register_dataset_folders", "train_net"]


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
    parser.add_argument(
        "--dist-backend",
        default="auto",
        choices=["auto", "nccl", "gloo"],
        help="torch.distributed backend when --num-gpus > 1: auto = nccl with CUDA, gloo on the CPU "
        "(then --num-gpus is the number of CPU worker processes)",
    )
    add_eval_only_arguments(parser)
    return parser


def setup_cfg(config_file, opts=(), output_dir=None):
    """A frozen LevelSet R-CNN config from a YAML file plus ``KEY VALUE`` overrides, with clear errors
    (:func:`levelset_rcnn.config.build_levelset_config`)."""
    return build_levelset_config(config_file, opts, output_dir=output_dir)


def default_setup_from_args(args):
    """``tools/train_net.py``'s set-up: datasets from ``--dataset-folder``, config, logging, seeds."""
    register_dataset_folders(args.dataset_folder)
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg


def train_net(args):
    """``tools/train_net.py`` in one process: train (``--resume`` continues OUTPUT_DIR's last checkpoint) or, with
    ``--eval-only``, evaluate ``MODEL.WEIGHTS`` (and with ``TEST.AUG.ENABLED`` also with test-time augmentation,
    reported as ``<task>_TTA``). Returns the training's or the evaluation's results."""
    cfg = default_setup_from_args(args)
    if args.eval_only:
        check_eval_only_weights(cfg, args)  # before building the model: no weights is an error
        model = load_eval_weights(cfg, Trainer.build_model(cfg), args)
        results = Trainer.test(cfg, model)
        if cfg.TEST.AUG.ENABLED:  # multi-scale / flip test-time augmentation, reported as <task>_TTA
            results.update(Trainer.test_with_TTA(cfg, model))
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
