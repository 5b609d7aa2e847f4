#!/usr/bin/env python
"""What the Chan-Vese refinement of a LevelSet R-CNN model does on real inputs (docs/RESULTS.md).

Runs inference on the first ``--num-images`` images of a dataset that have detections and prints, over all their
detections: the size of the Chan-Vese features F (mean |F|, mean per-channel spatial std), the mean learned
hyperparameters (λ1, λ2, μ, ε_1..N, Δt_1..N) and how far the unrolled steps move the level set (max and mean
|φN − φ0| over the RoI pixels, φ in TSDF units of [−1, 1]; the fraction of RoI pixels whose side of the contour,
the sign of φ, differs between φ0 and φN); and whether the steps improve the masks: the paired mask IoU of φ0 > 0
and φN > 0 with the ground truth of each detection of score ≥ 0.5 matched to it (box IoU ≥ 0.5), in the RoI
frame. The logic is :func:`levelset_rcnn.evaluation.refinement.inspect_refinement`.

    python tools/inspect_refinement.py --config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml \\
        MODEL.WEIGHTS output/quickstart/model_final.pth
"""
import argparse
import json

import levelset_rcnn  # noqa: F401  (first: registers heads, datasets and the detectron2._C stand-in)
from levelset_rcnn.engine import setup_cfg
from levelset_rcnn.evaluation.refinement import inspect_refinement


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--dataset", help="registered dataset (default: the config's first DATASETS.TEST)")
    parser.add_argument("--num-images", type=int, default=1, help="images with detections to inspect")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (e.g. MODEL.WEIGHTS)")
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f"--num-images must be >= 1, got {args.num_images}")
    cfg = setup_cfg(args.config_file, args.opts)
    stats = inspect_refinement(cfg, args.dataset, args.num_images)
    print(json.dumps(stats, indent=1))
    return stats


if __name__ == "__main__":
    main()
