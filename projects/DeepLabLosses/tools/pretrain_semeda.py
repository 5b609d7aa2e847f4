#!/usr/bin/env python
"""Pre-train the SEMEDA edge network g on a config's training label maps (Algorithm 1, first loop).

    python projects/DeepLabLosses/tools/pretrain_semeda.py --config-file CONFIG [--output g.pth] [KEY VALUE ...]

Writes the checkpoint to --output or MODEL.SEMEDA.WEIGHTS of the config (where training will look for it) and
prints g's edge F1 on the test set's label maps.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import deeplab_losses  # noqa: E402,F401
from detectron2.utils.logger import setup_logger  # noqa: E402

from deeplab_losses.engine import setup_cfg  # noqa: E402
from deeplab_losses.semeda_pretrain import pretrain_semeda_from_cfg  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", default=None, help="checkpoint path (default: MODEL.SEMEDA.WEIGHTS)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    setup_logger(name="deeplab_losses")
    cfg = setup_cfg(args.config_file, args.opts)
    path, f1 = pretrain_semeda_from_cfg(cfg, args.output)
    print(f"SEMEDA g saved to {path}; edge F1 = {f1:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
