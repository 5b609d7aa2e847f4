#!/usr/bin/env python
"""Check that a model-zoo row reproduces its numbers here: evaluate its checkpoint on its dataset and compare every
metric of the row (exit 0: all within the tolerance; 1: not reproduced; 2: bad input, e.g. no checkpoint).

    python -m levelset_rcnn.model_zoo install balloon/levelset_rcnn_lite0_FPN model_final_9003fe06.pth   # once
    python tools/check_model_zoo_metrics.py balloon/levelset_rcnn_lite0_FPN            # the table's file, verified
    python tools/check_model_zoo_metrics.py output/model_zoo/my_release --tolerance 0.05  # a release folder

The row's dataset must be registered (built-in real datasets: docs/DATASETS.md; else --dataset-folder). The logic is
:mod:`levelset_rcnn.engine.model_zoo_check`.
"""
import argparse
import sys

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
from levelset_rcnn.data import register_dataset_folders
from levelset_rcnn.engine.model_zoo_check import check_row_metrics, format_checks
from levelset_rcnn.model_zoo import CheckpointNotAvailableError, ChecksumMismatchError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="model zoo name (python -c 'from levelset_rcnn import model_zoo; "
                                     "print(model_zoo.list_models())') or release folder")
    parser.add_argument("--checkpoint", help="checkpoint file to check instead of the cached one (sha256 verified)")
    parser.add_argument("--tolerance", type=float, default=0.1, help="largest |measured - table| in AP points")
    parser.add_argument("--dataset-folder", action="append", default=[], metavar="PREFIX=PATH",
                        help="register a COCO- or VIA-format folder as PREFIX_<split> (repeatable)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides (e.g. MODEL.DEVICE cuda), last argument")
    args = parser.parse_args(argv)
    register_dataset_folders(args.dataset_folder)
    try:
        checks = check_row_metrics(args.name, args.checkpoint, args.opts, args.tolerance)
    except (CheckpointNotAvailableError, ChecksumMismatchError, KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_checks(args.name, checks, args.tolerance))
    return 0 if all(c[4] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
