#!/usr/bin/env python
"""One command: train and evaluate DeepLabV3+ with CE, +Level Set, +SEMEDA, +Sobel on the built-in generated
dataset (CPU, a few minutes), pre-training SEMEDA's g first if needed, and print an mIoU / boundary table.

    .venv/bin/python projects/DeepLabLosses/tools/quickstart.py [--losses ce ls] [--backbone lite0]
        [--max-iter N] [--output DIR] [KEY VALUE ...]

--backbone lite0 (default): ImageNet-pretrained EfficientNet-Lite0 from the installed wheel (no download), 300
iterations; --backbone small_r18: the 16-channel ResNet-18 trained from scratch, 1000 iterations (README tables).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import deeplab_losses  # noqa: E402,F401
from deeplab_losses.quickstart import (  # noqa: E402
    DEFAULT_BACKBONE,
    QUICKSTART_BACKBONES,
    QUICKSTART_LOSSES,
    run_quickstart,
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--losses", nargs="+", default=list(QUICKSTART_LOSSES), choices=list(QUICKSTART_LOSSES))
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=list(QUICKSTART_BACKBONES))
    p.add_argument("--max-iter", type=int, default=None, help="override SOLVER.MAX_ITER (default: the configs')")
    p.add_argument("--output", default=None, help="default: output/deeplab_losses/quickstart[_lite0]")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every run")
    a = p.parse_args(argv)
    output = a.output or "output/deeplab_losses/quickstart" + ("" if a.backbone == "small_r18" else f"_{a.backbone}")
    run_quickstart(a.losses, output, a.max_iter, a.opts, backbone=a.backbone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
