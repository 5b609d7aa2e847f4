"""CPU quickstart: pre-train SEMEDA's g if needed, then train and evaluate CE, +LS, +SEMEDA, +Sobel on the
built-in generated dataset and print one table (mIoU, boundary F1, trimap mIoU)."""
import json
import logging
import os
import time

import torch
from detectron2.utils.logger import setup_logger

from .engine import PROJECT_ROOT, Trainer, setup_cfg
from .modeling.semeda_loss import load_semeda_net
from .semeda_pretrain import pretrain_semeda_from_cfg

__all__ = ["QUICKSTART_CONFIGS", "run_quickstart", "format_table"]

logger = logging.getLogger(__name__)

QUICKSTART_CONFIGS = {
    "ce": "configs/quickstart/deeplab_v3_plus_shapes_ce.yaml",
    "ls": "configs/quickstart/deeplab_v3_plus_shapes_ls.yaml",
    "semeda": "configs/quickstart/deeplab_v3_plus_shapes_semeda.yaml",
    "sobel": "configs/quickstart/deeplab_v3_plus_shapes_sobel.yaml",
}
_COLUMNS = ("mIoU", "mBF", "trimap1-mIoU", "trimap3-mIoU", "nontrimap3-mIoU")


def _ensure_semeda(cfg_file, output_root, opts):
    g_path = os.path.join(output_root, "semeda_g_shapes.pth")
    cfg = setup_cfg(cfg_file, list(opts) + ["MODEL.SEMEDA.WEIGHTS", ""])
    try:
        load_semeda_net(g_path, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, cfg.MODEL.SEMEDA.CHANNELS,
                        cfg.MODEL.SEMEDA.KERNEL_SIZE)
        logger.info("Using the pre-trained SEMEDA g at %s", g_path)
    except (FileNotFoundError, ValueError):
        _, f1 = pretrain_semeda_from_cfg(cfg, g_path)
        logger.info("Pre-trained SEMEDA g: edge F1 %.4f -> %s", f1, g_path)
    return g_path


def format_table(results):
    lines = ["| loss | " + " | ".join(_COLUMNS) + " | train s |", "|---" * (len(_COLUMNS) + 2) + "|"]
    for name, r in results.items():
        vals = " | ".join(f"{r['metrics'].get(c, float('nan')):.1f}" for c in _COLUMNS)
        lines.append(f"| {name} | {vals} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def run_quickstart(losses=("ce", "ls", "semeda", "sobel"), output_root="output/deeplab_losses/quickstart",
                   max_iter=None, opts=()):
    """Train + evaluate each loss; returns ``{loss: {"metrics": {...}, "train_seconds": s}}`` and writes
    ``<output_root>/results.json``."""
    setup_logger(name="deeplab_losses")
    setup_logger(name="detectron2", abbrev_name="d2")
    os.makedirs(output_root, exist_ok=True)
    extra = list(opts) + (["SOLVER.MAX_ITER", str(max_iter)] if max_iter else [])
    results = {}
    for name in losses:
        cfg_file = os.path.join(PROJECT_ROOT, QUICKSTART_CONFIGS[name])
        run_opts = list(extra) + ["OUTPUT_DIR", os.path.join(output_root, name)]
        if name == "semeda":
            run_opts += ["MODEL.SEMEDA.WEIGHTS", _ensure_semeda(cfg_file, output_root, extra)]
        cfg = setup_cfg(cfg_file, run_opts)
        torch.manual_seed(cfg.SEED)
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=False)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        res = Trainer.test(cfg, trainer.model)
        metrics = dict(res.get("sem_seg_boundary", {}))
        metrics.update({f"d2-{k}": v for k, v in res.get("sem_seg", {}).items() if not k.startswith(("IoU-", "ACC-"))})
        results[name] = {"metrics": metrics, "train_seconds": seconds, "config": QUICKSTART_CONFIGS[name],
                         "max_iter": cfg.SOLVER.MAX_ITER}
        with open(os.path.join(output_root, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    table = format_table(results)
    print(table)
    return results
