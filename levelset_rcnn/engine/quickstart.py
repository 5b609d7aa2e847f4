"""The main job: train LevelSet R-CNN on the built-in generated dataset on the CPU, evaluate, draw results."""
import json
import os
import time

from detectron2.data import DatasetCatalog
from detectron2.engine import hooks
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger

from .defaults import Trainer, setup_cfg

__all__ = ["run_quickstart", "summarize_results", "DEFAULT_CONFIG", "TARGETS"]

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(__file__), "..", "..", "configs", "quickstart", "levelset_rcnn_R_18_FPN_shapes.yaml"
)
# What the quickstart must reach on the built-in val split (issue "LevelSet R-CNN on Detectron2").
TARGETS = {"box AP50": 50.0, "mask AP": 30.0}


def summarize_results(results, dataset_name):
    """Flatten ``{dataset: {task: {metric: value}}}`` into the quickstart's headline numbers."""
    res = results[dataset_name]
    summary = {
        "box AP": res.get("bbox", {}).get("AP"),
        "box AP50": res.get("bbox", {}).get("AP50"),
        "mask AP": res.get("segm", {}).get("AP"),
        "mask AP50": res.get("segm", {}).get("AP50"),
        "mask AP75": res.get("segm", {}).get("AP75"),
        "initial mask AP": res.get("segm_initial", {}).get("AP"),
        "initial mask AP50": res.get("segm_initial", {}).get("AP50"),
    }
    return summary


def run_quickstart(config_file=None, output_dir="output/quickstart", opts=(), num_images=4):
    """Train, evaluate and visualise; returns the summary dict (also written to ``summary.json``)."""
    start = time.perf_counter()
    cfg = setup_cfg(config_file or DEFAULT_CONFIG, opts, output_dir=output_dir)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    setup_logger(output=cfg.OUTPUT_DIR, name="detectron2")
    logger = setup_logger(output=cfg.OUTPUT_DIR, name="levelset_rcnn")
    for name in list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST):
        DatasetCatalog.get(name)  # generates the built-in data on first use
    data_time = time.perf_counter() - start

    # SEED (42 in the quickstart config) as tools/train_net.py's default_setup uses it: the same seed gives the same
    # model, data order and numbers (before, the quickstart did not seed and its numbers varied from run to run)
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED)
    trainer = Trainer(cfg)
    # Evaluate once, below, and time it on its own (DefaultTrainer would also evaluate after the last step).
    trainer._hooks = [h for h in trainer._hooks if not isinstance(h, hooks.EvalHook)]
    trainer.resume_or_load(resume=False)
    t0 = time.perf_counter()
    trainer.train()
    train_time = time.perf_counter() - t0

    t0 = time.perf_counter()
    results = Trainer.test(cfg, trainer.model)
    eval_time = time.perf_counter() - t0
    if len(cfg.DATASETS.TEST) == 1:  # detectron2 drops the dataset level for a single test set
        results = {cfg.DATASETS.TEST[0]: results}

    from ..utils.visualizer import save_prediction_images

    dataset = cfg.DATASETS.TEST[0]
    images = save_prediction_images(
        trainer.model, dataset, os.path.join(cfg.OUTPUT_DIR, "predictions"), num_images=num_images,
        input_format=cfg.INPUT.FORMAT, min_size_test=cfg.INPUT.MIN_SIZE_TEST, max_size_test=cfg.INPUT.MAX_SIZE_TEST,
        scale=max(1.0, 384.0 / cfg.INPUT.MIN_SIZE_TEST),
    )
    summary = summarize_results(results, dataset)
    summary.update({
        "dataset": dataset,
        "iterations": cfg.SOLVER.MAX_ITER,
        "data seconds": round(data_time, 1),
        "train seconds": round(train_time, 1),
        "eval seconds": round(eval_time, 1),
        "total seconds": round(time.perf_counter() - start, 1),
        "prediction images": images,
        "targets": TARGETS,
        "targets met": all((summary.get(k) or 0) >= v for k, v in TARGETS.items()),
    })
    with open(os.path.join(cfg.OUTPUT_DIR, "summary.json"), "w") as f:
        json.dump({"summary": summary, "results": results}, f, indent=2, default=float)
    logger.info("quickstart summary written to %s", os.path.join(cfg.OUTPUT_DIR, "summary.json"))
    return summary


def format_summary(summary):
    lines = ["", "=" * 64, f"LevelSet R-CNN quickstart on {summary['dataset']} ({summary['iterations']} iterations)"]
    for key in ("box AP", "box AP50", "mask AP", "mask AP50", "mask AP75", "initial mask AP", "initial mask AP50"):
        value = summary.get(key)
        lines.append(f"  {key:<20s} {value:6.2f}" if value is not None else f"  {key:<20s}    n/a")
    lines.append(f"  wall time: data {summary['data seconds']} s, train {summary['train seconds']} s, "
                 f"eval {summary['eval seconds']} s, total {summary['total seconds']} s")
    lines.append(f"  targets {summary['targets']}: {'met' if summary['targets met'] else 'NOT met'}")
    lines.append("  predictions drawn: " + ", ".join(summary["prediction images"]))
    lines.append("=" * 64)
    return "\n".join(lines)
