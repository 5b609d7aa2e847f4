#!/usr/bin/env python
"""One command: train and evaluate DeepLabV3+ with CE, +Level Set, +SEMEDA, +Sobel on the built-in generated
dataset (CPU, a few minutes), pre-training SEMEDA's g first if needed, and print an mIoU / boundary table.

    .venv/bin/python projects/DeepLabLosses/tools/quickstart.py [--losses ce ls] [--max-iter N] [--output DIR]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import deeplab_losses  # noqa: E402,F401
from deeplab_losses.quickstart import QUICKSTART_CONFIGS, run_quickstart  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--losses", nargs="+", default=list(QUICKSTART_CONFIGS), choices=list(QUICKSTART_CONFIGS))
    p.add_argument("--max-iter", type=int, default=None, help="override SOLVER.MAX_ITER (default: the configs')")
    p.add_argument("--output", default="output/deeplab_losses/quickstart")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every run")
    a = p.parse_args(argv)
    run_quickstart(a.losses, a.output, a.max_iter, a.opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
