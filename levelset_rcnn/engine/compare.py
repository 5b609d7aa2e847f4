"""Compare models trained the same way: train each (model, seed), evaluate it with timing, write a Markdown table.

The command line is ``tools/compare_models.py`` (its docstring describes the protocol); this module holds the
logic: :func:`argument_parser` / :func:`parse_args` (the options and their checks), :func:`build_opts` (the config
overrides every model shares for one seed), :func:`run_one` (train with the project's trainer without its
end-of-training evaluation, then :func:`evaluate_timed`) and :func:`compare_models` (all runs, reusing finished
ones, and the table of :mod:`levelset_rcnn.evaluation.comparison_table`). It trains, so it is part of the engine;
what it uses of the evaluation package (the timed inference loop, the table) imports nothing of the engine
(docs/DESIGN.md, "Packages and who imports whom").
"""
import argparse
import json
import logging
import os
import re
import statistics
import time
from collections import OrderedDict
from pathlib import Path

import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import hooks
from detectron2.evaluation import print_csv_format
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger
from levelset_core.compat.pointrend import POINTREND_MASK_HEADS, has_pointrend

from ..evaluation.comparison_table import COLUMNS, make_table, timed_inference
from .defaults import register_dataset_folders, setup_cfg
from .trainer import Trainer

__all__ = ["DEFAULT_MODELS", "COLUMNS", "argument_parser", "parse_args", "parse_models", "build_opts",
           "evaluate_timed", "run_one", "make_table", "compare_models"]

#: relative config paths of --model are looked up here first, then in the working directory
REPO_ROOT = Path(__file__).resolve().parents[2]
#: the default pair: NAME=CONFIG (relative paths are relative to the repository)
DEFAULT_MODELS = (
    "Mask R-CNN=configs/quickstart/mask_rcnn_R_18_FPN_shapes.yaml",
    "LevelSet R-CNN=configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml",
)
METRICS_FILE = "comparison_metrics.json"

logger = logging.getLogger("compare_models")

def argument_parser(description=None):
    """The options of ``tools/compare_models.py``."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset-folder", action="append", default=[], metavar="PREFIX=PATH",
                   help="register a COCO- or VIA-format folder as PREFIX_<split> (repeatable)")
    p.add_argument("--train", required=True, help="registered training dataset name")
    p.add_argument("--test", required=True, help="registered test dataset name")
    p.add_argument("--model", action="append", default=None, metavar="NAME=CONFIG", dest="models",
                   help="a model to compare: its name in the table and its config file (repeatable; default: "
                   + " and ".join(repr(m) for m in DEFAULT_MODELS) + ")")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations (LR steps at 75%% and 90%%); default: each config's schedule")
    p.add_argument("--batch", type=int, default=None, help="images per iteration (default: the config's)")
    p.add_argument("--lr", type=float, default=None, help="base learning rate (default: the config's)")
    p.add_argument("--min-size", type=int, default=None, help="shorter side, training and test (default: the config's)")
    p.add_argument("--max-size", type=int, default=None, help="longest side cap (default: the config's)")
    p.add_argument("--mask-format", choices=["auto", "polygon", "bitmask"], default="auto",
                   help="auto: the training dataset metadata's mask_format (bitmask for RLE masks), else polygon, "
                   "except bitmask for PointRend mask heads (they need it; polygons are rasterised)")
    p.add_argument("--output", default="output/compare", help="output folder")
    p.add_argument("--title", default=None, help="table title (default: the dataset names)")
    p.add_argument("--smoke", action="store_true",
                   help="smoke test: one seed (the first), --iters defaults to 3, small input")
    p.add_argument("--force", action="store_true", help="redo runs whose comparison_metrics.json exists")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides for both models")
    return p


def parse_args(argv=None, description=None):
    """Parse and check the options: ``--smoke`` keeps the first seed (and 3 iterations unless ``--iters``),
    ``args.models`` becomes :func:`parse_models`'s dict; a bad value exits with argparse's usage error."""
    p = argument_parser(description)
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds = args.seeds[:1]
        if args.iters is None:
            args.iters = 3
    if args.iters is not None and args.iters < 1:
        p.error("--iters must be >= 1")
    try:
        args.models = parse_models(args.models or DEFAULT_MODELS)
    except ValueError as e:
        p.error(str(e))
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds must be distinct, got {args.seeds}")
    return args


def parse_models(specs):
    """``["NAME=CONFIG", ...]`` -> OrderedDict run key -> (NAME, absolute config path); clear errors for a
    missing ``=``, a missing file or two models with the same name."""
    models = OrderedDict()
    for spec in specs:
        name, sep, config = spec.partition("=")
        name, config = name.strip(), config.strip()
        if not sep or not name or not config:
            raise ValueError(f"--model expects NAME=CONFIG, got {spec!r}")
        path = config if os.path.isabs(config) else str(REPO_ROOT / config)
        if not os.path.isfile(path) and os.path.isfile(config):
            path = os.path.abspath(config)
        if not os.path.isfile(path):
            raise ValueError(f"--model {spec!r}: config file not found: {config}")
        # run folder key: "Mask R-CNN" -> mask_rcnn, "LevelSet R-CNN" -> levelset_rcnn
        key = re.sub(r"[^0-9a-z]+", "_", re.sub(r"[-.']", "", name.lower())).strip("_") or "model"
        if key in models:
            raise ValueError(f"--model {spec!r}: two models named {name!r} (run folder {key}_seed<k>)")
        models[key] = (name, path)
    return models


def _num_classes(dataset_name):
    if dataset_name not in DatasetCatalog.list():
        raise KeyError(
            f"dataset {dataset_name!r} is not registered; registered: {sorted(DatasetCatalog.list())[:20]} ... "
            "(use --dataset-folder PREFIX=PATH to register a folder)"
        )
    meta = MetadataCatalog.get(dataset_name)
    if not meta.get("thing_classes"):
        DatasetCatalog.get(dataset_name)
    classes = meta.get("thing_classes")
    if not classes:
        raise ValueError(f"dataset {dataset_name!r} has no thing_classes in its metadata")
    return len(classes)


def _mask_format(args, config_file=None):
    """``--mask-format``; ``auto``: the training dataset metadata's ``mask_format``, else ``"polygon"``, except
    ``"bitmask"`` for a config (``config_file`` with the trailing overrides) whose mask head is PointRend's."""
    if args.mask_format != "auto":
        return args.mask_format
    mask_format = MetadataCatalog.get(args.train).get("mask_format", None)
    if mask_format:
        return mask_format
    if config_file is not None:
        if setup_cfg(config_file, list(args.opts)).MODEL.ROI_MASK_HEAD.NAME in POINTREND_MASK_HEADS:
            return "bitmask"
    return "polygon"


def build_opts(args, seed, output_dir, config_file=None):
    """Config overrides shared by every model for one seed (the schedule and input size only where given), with
    the mask format of ``config_file``'s model (:func:`_mask_format`)."""
    mask_format = _mask_format(args, config_file)
    num_classes = _num_classes(args.train)
    test_classes = _num_classes(args.test)
    if test_classes != num_classes:
        raise ValueError(f"{args.train} has {num_classes} classes but {args.test} has {test_classes}")
    opts = [
        "DATASETS.TRAIN", f"('{args.train}',)",
        "DATASETS.TEST", f"('{args.test}',)",
        "MODEL.ROI_HEADS.NUM_CLASSES", str(num_classes),
    ]
    if has_pointrend():  # its key is in every config (add_levelset_rcnn_config); PointRend's heads need it equal
        opts += ["MODEL.POINT_HEAD.NUM_CLASSES", str(num_classes)]
    opts += [
        "INPUT.MASK_FORMAT", mask_format,
        "SOLVER.CHECKPOINT_PERIOD", str(10 ** 9),
        "TEST.EVAL_PERIOD", "0",
        "TEST.EXTRA_EVALUATORS", "['boundary_ap', 'boundary_f1']",
        "SEED", str(seed),
        "OUTPUT_DIR", output_dir,
    ]
    if args.min_size is not None:
        opts += ["INPUT.MIN_SIZE_TRAIN", f"({args.min_size},)", "INPUT.MIN_SIZE_TEST", str(args.min_size)]
    if args.max_size is not None:
        opts += ["INPUT.MAX_SIZE_TRAIN", str(args.max_size), "INPUT.MAX_SIZE_TEST", str(args.max_size)]
    if args.iters is not None:
        iters = args.iters
        steps = sorted({s for s in (int(0.75 * iters), int(0.9 * iters)) if 0 < s < iters})
        opts += ["SOLVER.MAX_ITER", str(iters),
                 "SOLVER.STEPS", str(tuple(steps)) if len(steps) != 1 else f"({steps[0]},)",
                 "SOLVER.WARMUP_ITERS", str(max(1, min(100, iters // 5)))]
    if args.batch is not None:
        opts += ["SOLVER.IMS_PER_BATCH", str(args.batch)]
    if args.lr is not None:
        opts += ["SOLVER.BASE_LR", str(args.lr)]
    if args.smoke:
        opts += ["DATALOADER.NUM_WORKERS", "0"]
    return opts + list(args.opts)


class _TrainOnlyTrainer(Trainer):
    """The project's Trainer without the end-of-training evaluation hook (evaluation is timed separately)."""

    def build_hooks(self):
        return [h for h in super().build_hooks() if not isinstance(h, hooks.EvalHook)]


def evaluate_timed(cfg, model, dataset_name, output_dir):
    """Run the evaluators on ``dataset_name``; return (results, mean seconds per image of the forward pass,
    the first batch excluded)."""
    return timed_inference(model, Trainer.build_test_loader(cfg, dataset_name),
                           Trainer.build_evaluator(cfg, dataset_name, output_dir))


def run_one(args, model_key, seed, run_dir):
    """Train and evaluate one model with one seed; returns the metrics dict (also written to
    ``run_dir/comparison_metrics.json``, next to the run's ``config.yaml``)."""
    config_file = args.models[model_key][1]
    cfg = setup_cfg(config_file, build_opts(args, seed, run_dir, config_file))
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    seed_all_rng(seed)
    trainer = _TrainOnlyTrainer(cfg)
    trainer.resume_or_load(resume=False)
    start = time.perf_counter()
    trainer.train()
    train_wall = time.perf_counter() - start
    histories = trainer.storage.histories()
    step_times = [v for v, _ in trainer.storage.history("time").values()] if "time" in histories else []
    # the first iterations include start-up work (data loader workers, allocations)
    steady = step_times[min(5, len(step_times) - 1):] if step_times else []
    train_s_per_iter = statistics.median(steady) if steady else train_wall / cfg.SOLVER.MAX_ITER
    results, infer_s = evaluate_timed(cfg, trainer.model, args.test, os.path.join(run_dir, "inference"))
    metrics = {task: dict(v) for task, v in results.items()}
    metrics["timing"] = {
        "train_s_per_iter": train_s_per_iter,
        "train_wall_s": train_wall,
        "inference_s_per_image": infer_s,
        "iterations": cfg.SOLVER.MAX_ITER,
    }
    metrics["run"] = {"model": model_key, "name": args.models[model_key][0], "config": config_file, "seed": seed,
                      "train": args.train, "test": args.test}
    print_csv_format(results)
    with open(os.path.join(run_dir, METRICS_FILE), "w") as f:
        json.dump(metrics, f, indent=1, default=float)
    del trainer
    return metrics


def compare_models(args):
    """Every (model, seed) run of :func:`parse_args`'s ``args`` (the models interleaved within a seed; a run whose
    comparison_metrics.json exists is reused unless ``args.force``), then the table, written to
    ``<output>/comparison.md`` and printed. Returns ``{run key: [metrics per seed]}``."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    os.makedirs(args.output, exist_ok=True)
    for name in ("detectron2", "levelset_rcnn", "compare_models"):
        setup_logger(output=os.path.join(args.output, "log.txt"), name=name)
    if args.dataset_folder:
        register_dataset_folders(args.dataset_folder)
    all_metrics = OrderedDict((k, []) for k in args.models)
    for seed in args.seeds:
        # interleave the models within a seed so that machine load affects both alike
        for key in args.models:
            run_dir = os.path.join(args.output, f"{key}_seed{seed}")
            metrics_file = os.path.join(run_dir, METRICS_FILE)
            if os.path.isfile(metrics_file) and not args.force:
                logger.info("Reusing %s", metrics_file)
                with open(metrics_file) as f:
                    all_metrics[key].append(json.load(f))
                continue
            logger.info("=== %s (%s), seed %d -> %s", args.models[key][0], args.models[key][1], seed, run_dir)
            all_metrics[key].append(run_one(args, key, seed, run_dir))
    schedule = f"{args.iters} iterations" if args.iters is not None else "each config's schedule"
    title = args.title or f"train {args.train}, test {args.test}, {schedule}"
    table = make_table(all_metrics, title, {k: v[0] for k, v in args.models.items()})
    with open(os.path.join(args.output, "comparison.md"), "w") as f:
        f.write(table)
    print(table)
    return all_metrics
