"""Config building shared by every entry point: detectron2's ``get_cfg()``, project keys, a YAML file,
``KEY VALUE`` overrides, and the CUDA → CPU fallback, with errors that name where a bad key came from."""
import logging
import os

import torch
from detectron2.config import get_cfg

__all__ = ["build_config"]

logger = logging.getLogger(__name__)


def build_config(config_file=None, opts=(), *, add_config=(), output_dir=None, freeze=True):
    """Build a detectron2 config.

    Args:
        config_file (str or None): YAML file merged into the config; a missing file is a
            ``FileNotFoundError`` naming it, a key unknown to the config a ``KeyError`` naming the file.
        opts (sequence of str): ``KEY VALUE`` overrides (as on a command line), merged after the file; an
            unknown key or a bad value is a ``KeyError`` naming the overrides.
        add_config (iterable of callables): functions ``f(cfg)`` that add a project's keys (e.g.
            ``add_levelset_rcnn_config``), called in order on ``get_cfg()`` before anything is merged.
        output_dir (str or None): sets ``OUTPUT_DIR`` when given.
        freeze (bool): freeze the returned config.

    ``MODEL.DEVICE = cuda*`` on a machine without a GPU falls back to ``"cpu"`` with a warning.

    Returns:
        CfgNode
    """
    cfg = get_cfg()
    for add in add_config:
        add(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file not found: {config_file}")
        try:
            cfg.merge_from_file(config_file)
        except KeyError as e:
            raise KeyError(f"config file {config_file}: {e.args[0] if e.args else e}") from None
    opts = list(opts)
    if opts:
        try:
            cfg.merge_from_list(opts)
        except (KeyError, AssertionError, ValueError) as e:
            raise KeyError(f"command-line override {opts}: {e}") from None
    if output_dir:
        cfg.OUTPUT_DIR = output_dir
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE=%s but no GPU is available: using the CPU", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    if freeze:
        cfg.freeze()
    return cfg
