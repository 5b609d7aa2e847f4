#!/usr/bin/env python
"""Median-frequency class weights of a config's training label maps, for MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS.

    python projects/DeepLabLosses/tools/class_weights.py --config-file CONFIG [KEY VALUE ...]

Prints one line per class (name, weight) and the YAML value to paste into a config.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import deeplab_losses  # noqa: E402,F401
from detectron2.data import MetadataCatalog  # noqa: E402

from deeplab_losses.data.class_weights import format_class_weights, median_frequency_weights_from_cfg  # noqa: E402
from deeplab_losses.engine import setup_cfg  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = setup_cfg(args.config_file, args.opts)
    weights = median_frequency_weights_from_cfg(cfg)
    names = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("stuff_classes", None) or range(len(weights))
    for name, w in zip(names, weights):
        print(f"{name:>16s}  {w:.4f}")
    print(f"MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS: {format_class_weights(weights)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
