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

__all__ = ["QUICKSTART_LOSSES", "QUICKSTART_BACKBONES", "QUICKSTART_CONFIGS", "DEFAULT_BACKBONE", "run_quickstart",
           "format_table"]

logger = logging.getLogger(__name__)

QUICKSTART_LOSSES = ("ce", "ls", "semeda", "sobel")
# backbone -> config file pattern (relative to the project folder): "lite0" is the ImageNet-pretrained
# EfficientNet-Lite0, "small_r18" the from-scratch 16-channel ResNet-18; same head, data and evaluation.
QUICKSTART_BACKBONES = {
    "lite0": "configs/quickstart/deeplab_v3_plus_lite0_shapes_{loss}.yaml",
    "small_r18": "configs/quickstart/deeplab_v3_plus_shapes_{loss}.yaml",
}
# lite0 (hard-pixel-mining CE, 300 it) beats small_r18 (1000 it) for every loss: CE 89.0 vs 31.9 mIoU, LS 91.1 vs
# 34.3, SEMEDA 29.0 vs 24.4, Sobel 89.3 vs 27.3 (projects/DeepLabLosses/README.md, "Quickstart", 2026-12-04).
DEFAULT_BACKBONE = "lite0"
QUICKSTART_CONFIGS = {b: {loss: pattern.format(loss=loss) for loss in QUICKSTART_LOSSES}
                      for b, pattern in QUICKSTART_BACKBONES.items()}
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


def run_quickstart(losses=QUICKSTART_LOSSES, output_root="output/deeplab_losses/quickstart", max_iter=None, opts=(),
                   backbone=DEFAULT_BACKBONE):
    """Train + evaluate each loss with ``backbone`` (a key of ``QUICKSTART_BACKBONES``); returns
    ``{loss: {"metrics": {...}, "train_seconds": s}}`` and writes ``<output_root>/results.json``."""
    if backbone not in QUICKSTART_CONFIGS:
        raise ValueError(f"unknown quickstart backbone {backbone!r}; choose one of {sorted(QUICKSTART_CONFIGS)}")
    unknown = [name for name in losses if name not in QUICKSTART_LOSSES]
    if unknown:
        raise ValueError(f"unknown quickstart loss(es) {unknown}; choose from {list(QUICKSTART_LOSSES)}")
    configs = QUICKSTART_CONFIGS[backbone]
    setup_logger(name="deeplab_losses")
    setup_logger(name="detectron2", abbrev_name="d2")
    os.makedirs(output_root, exist_ok=True)
    extra = list(opts) + (["SOLVER.MAX_ITER", str(max_iter)] if max_iter else [])
    results = {}
    for name in losses:
        cfg_file = os.path.join(PROJECT_ROOT, configs[name])
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
        results[name] = {"metrics": metrics, "train_seconds": seconds, "config": configs[name],
                         "max_iter": cfg.SOLVER.MAX_ITER}
        with open(os.path.join(output_root, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    table = format_table(results)
    print(table)
    return results
