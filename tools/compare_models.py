#!/usr/bin/env python
"""Train Mask R-CNN and LevelSet R-CNN the same way on one dataset, evaluate both, write a markdown table.

Both models use the CPU quickstart configs (``configs/quickstart/{mask,levelset}_rcnn_R_18_FPN_shapes.yaml``:
ResNet-18-FPN with GroupNorm, trained from scratch) with the same backbone, input size, schedule, data and seeds;
only the mask branch differs. Each (model, seed) run trains with ``levelset_rcnn.engine.Trainer`` and is then
evaluated on the test dataset with the project's evaluators: COCO box / mask AP (and the initial-mask AP
H(phi_0) of LevelSet R-CNN, "segm_initial"), Boundary AP (faster-coco-eval) and AF1 / AF2.

    # a COCO- or VIA-format folder (registered as PREFIX_<split>), 2 seeds, 300 iterations at shorter side 320
    python tools/compare_models.py --dataset-folder balloon=../shared/datasets/balloon \\
        --train balloon_train --test balloon_val --seeds 1 2 --iters 300 --min-size 320 --max-size 512 \\
        --output output/compare/balloon
    # smoke test: a few iterations, one seed
    python tools/compare_models.py --smoke --train levelset_shapes_train --test levelset_shapes_val

Extra ``KEY VALUE`` arguments at the end are config overrides applied to both models. Every run writes
``<output>/<model>_seed<k>/comparison_metrics.json``; a run whose comparison_metrics.json exists is not redone (delete it, or pass
``--force``). The table goes to ``<output>/comparison.md`` (mean +- sample std over seeds, and per seed).
Timing columns are wall-clock on the machine that ran it: median seconds per training iteration (data
loading included) and mean seconds per test image of the model's forward pass (first image excluded).
"""
import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
from collections import OrderedDict

import levelset_rcnn  # noqa: F401  (first: registers heads, datasets and detectron2._C when missing)
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import hooks
from detectron2.evaluation import print_csv_format
from detectron2.evaluation.evaluator import inference_context
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger
from levelset_rcnn.engine.defaults import Trainer, register_dataset_folders, setup_cfg

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = OrderedDict(
    [
        ("mask_rcnn", ("Mask R-CNN", "configs/quickstart/mask_rcnn_R_18_FPN_shapes.yaml")),
        ("levelset_rcnn", ("LevelSet R-CNN", "configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml")),
    ]
)
# (column title, results task, metric name)
COLUMNS = [
    ("box AP", "bbox", "AP"),
    ("mask AP", "segm", "AP"),
    ("AP50", "segm", "AP50"),
    ("AP75", "segm", "AP75"),
    ("Boundary AP", "boundary", "AP"),
    ("AF1", "boundary_f1", "AF1"),
    ("AF2", "boundary_f1", "AF2"),
    ("initial mask AP", "segm_initial", "AP"),
    ("train s/iter", "timing", "train_s_per_iter"),
    ("infer s/img", "timing", "inference_s_per_image"),
]

logger = logging.getLogger("compare_models")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset-folder", action="append", default=[], metavar="PREFIX=PATH",
                   help="register a COCO- or VIA-format folder as PREFIX_<split> (repeatable)")
    p.add_argument("--train", required=True, help="registered training dataset name")
    p.add_argument("--test", required=True, help="registered test dataset name")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    p.add_argument("--iters", type=int, default=300, help="training iterations (LR steps at 75%% and 90%%)")
    p.add_argument("--batch", type=int, default=2, help="images per iteration")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--min-size", type=int, default=320, help="shorter side, training and test")
    p.add_argument("--max-size", type=int, default=512, help="longest side cap")
    p.add_argument("--mask-format", choices=["auto", "polygon", "bitmask"], default="auto",
                   help="auto: the dataset metadata's mask_format, else polygon")
    p.add_argument("--output", default="output/compare", help="output folder")
    p.add_argument("--title", default=None, help="table title (default: the dataset names)")
    p.add_argument("--smoke", action="store_true",
                   help="smoke test: one seed (the first), --iters defaults to 3, small input")
    p.add_argument("--force", action="store_true", help="redo runs whose comparison_metrics.json exists")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides for both models")
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds = args.seeds[:1]
        if "--iters" not in (argv if argv is not None else sys.argv):
            args.iters = 3
    if args.iters < 1:
        p.error("--iters must be >= 1")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds must be distinct, got {args.seeds}")
    return args


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


def build_opts(args, seed, output_dir):
    """Config overrides shared by both models for one seed."""
    iters = args.iters
    steps = sorted({s for s in (int(0.75 * iters), int(0.9 * iters)) if 0 < s < iters})
    mask_format = args.mask_format
    if mask_format == "auto":
        mask_format = MetadataCatalog.get(args.train).get("mask_format", "polygon")
    num_classes = _num_classes(args.train)
    test_classes = _num_classes(args.test)
    if test_classes != num_classes:
        raise ValueError(f"{args.train} has {num_classes} classes but {args.test} has {test_classes}")
    opts = [
        "DATASETS.TRAIN", f"('{args.train}',)",
        "DATASETS.TEST", f"('{args.test}',)",
        "MODEL.ROI_HEADS.NUM_CLASSES", str(num_classes),
        "INPUT.MIN_SIZE_TRAIN", f"({args.min_size},)",
        "INPUT.MAX_SIZE_TRAIN", str(args.max_size),
        "INPUT.MIN_SIZE_TEST", str(args.min_size),
        "INPUT.MAX_SIZE_TEST", str(args.max_size),
        "INPUT.MASK_FORMAT", mask_format,
        "SOLVER.MAX_ITER", str(iters),
        "SOLVER.STEPS", str(tuple(steps)) if len(steps) != 1 else f"({steps[0]},)",
        "SOLVER.WARMUP_ITERS", str(max(1, min(100, iters // 5))),
        "SOLVER.IMS_PER_BATCH", str(args.batch),
        "SOLVER.BASE_LR", str(args.lr),
        "SOLVER.CHECKPOINT_PERIOD", str(10 ** 9),
        "TEST.EVAL_PERIOD", "0",
        "TEST.EXTRA_EVALUATORS", "['boundary_ap', 'boundary_f1']",
        "SEED", str(seed),
        "OUTPUT_DIR", output_dir,
    ]
    if args.smoke:
        opts += ["DATALOADER.NUM_WORKERS", "0"]
    return opts + list(args.opts)


class _TrainOnlyTrainer(Trainer):
    """The project's Trainer without the end-of-training evaluation hook (evaluation is timed separately)."""

    def build_hooks(self):
        return [h for h in super().build_hooks() if not isinstance(h, hooks.EvalHook)]


def evaluate_timed(cfg, model, dataset_name, output_dir):
    """Run the evaluators on ``dataset_name``; return (results, mean seconds per image of the forward pass)."""
    data_loader = Trainer.build_test_loader(cfg, dataset_name)
    evaluator = Trainer.build_evaluator(cfg, dataset_name, output_dir)
    evaluator.reset()
    times = []
    with inference_context(model), torch.no_grad():
        for inputs in data_loader:
            start = time.perf_counter()
            outputs = model(inputs)
            times.append((time.perf_counter() - start) / max(1, len(inputs)))
            evaluator.process(inputs, outputs)
    results = evaluator.evaluate() or {}
    timed = times[1:] if len(times) > 1 else times
    return results, (statistics.fmean(timed) if timed else math.nan)


def run_one(args, model_key, seed, run_dir):
    """Train and evaluate one model with one seed; returns the metrics dict (also written to comparison_metrics.json)."""
    config_file = os.path.join(REPO_ROOT, MODELS[model_key][1])
    cfg = setup_cfg(config_file, build_opts(args, seed, run_dir))
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    seed_all_rng(seed)
    trainer = _TrainOnlyTrainer(cfg)
    trainer.resume_or_load(resume=False)
    start = time.perf_counter()
    trainer.train()
    train_wall = time.perf_counter() - start
    step_times = [v for v, _ in trainer.storage.history("time").values()] if "time" in trainer.storage.histories() else []
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
    metrics["run"] = {"model": model_key, "seed": seed, "train": args.train, "test": args.test}
    print_csv_format(results)
    with open(os.path.join(run_dir, "comparison_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1, default=float)
    del trainer
    return metrics


def _value(metrics, task, name):
    v = metrics.get(task, {}).get(name)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def _fmt(values, digits):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def make_table(all_metrics, title=None):
    """Markdown: mean ± sample std over seeds per model, then one row per (model, seed)."""
    seeds = sorted({m["run"]["seed"] for ms in all_metrics.values() for m in ms})
    head = "| model | seeds | " + " | ".join(c[0] for c in COLUMNS) + " |"
    sep = "|---|---|" + "---|" * len(COLUMNS)
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines += [head, sep]
    for key, runs in all_metrics.items():
        cells = []
        for _, task, name in COLUMNS:
            digits = 3 if task == "timing" else 1
            cells.append(_fmt([_value(m, task, name) for m in runs], digits))
        lines.append(f"| {MODELS[key][0]} | {len(runs)} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:", "", head.replace("| seeds |", "| seed |"), sep]
    for key, runs in all_metrics.items():
        for m in sorted(runs, key=lambda m: m["run"]["seed"]):
            cells = []
            for _, task, name in COLUMNS:
                v = _value(m, task, name)
                cells.append("–" if math.isnan(v) else f"{v:.{3 if task == 'timing' else 1}f}")
            lines.append(f"| {MODELS[key][0]} | {m['run']['seed']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"AP numbers in percent; ± is the sample standard deviation over seeds {seeds}. "
        "'initial mask AP' is H(phi_0) of the same LevelSet R-CNN inference run (– for Mask R-CNN). "
        "Timings are wall-clock seconds on a shared machine (see the text).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    os.makedirs(args.output, exist_ok=True)
    setup_logger(output=os.path.join(args.output, "log.txt"), name="detectron2")
    setup_logger(output=os.path.join(args.output, "log.txt"), name="levelset_rcnn")
    setup_logger(output=os.path.join(args.output, "log.txt"), name="compare_models")
    if args.dataset_folder:
        register_dataset_folders(args.dataset_folder)
    all_metrics = OrderedDict((k, []) for k in args.models)
    for seed in args.seeds:
        # interleave the models within a seed so that machine load affects both alike
        for key in args.models:
            run_dir = os.path.join(args.output, f"{key}_seed{seed}")
            metrics_file = os.path.join(run_dir, "comparison_metrics.json")
            if os.path.isfile(metrics_file) and not args.force:
                logger.info("Reusing %s", metrics_file)
                with open(metrics_file) as f:
                    all_metrics[key].append(json.load(f))
                continue
            logger.info("=== %s, seed %d -> %s", MODELS[key][0], seed, run_dir)
            all_metrics[key].append(run_one(args, key, seed, run_dir))
    title = args.title or f"train {args.train}, test {args.test}, {args.iters} iterations"
    table = make_table(all_metrics, title)
    with open(os.path.join(args.output, "comparison.md"), "w") as f:
        f.write(table)
    print(table)
    return all_metrics


if __name__ == "__main__":
    main()
