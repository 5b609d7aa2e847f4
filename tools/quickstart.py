#!/usr/bin/env python
"""Main job: train LevelSet R-CNN on the built-in generated dataset (CPU), evaluate, draw predictions.

    python tools/quickstart.py [--config-file CFG] [--output-dir DIR] [KEY VALUE ...]
"""
import argparse

import levelset_rcnn  # noqa: F401  (first: registers heads, datasets and detectron2._C when missing)
from levelset_rcnn.engine.quickstart import DEFAULT_CONFIG, format_summary, run_quickstart


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--output-dir", default="output/quickstart")
    parser.add_argument("--num-images", type=int, default=4, help="validation images to draw")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args()
    summary = run_quickstart(args.config_file, args.output_dir, args.opts, args.num_images)
    print(format_summary(summary))


if __name__ == "__main__":
    main()
