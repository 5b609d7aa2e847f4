#!/usr/bin/env python
"""How strongly a model's mask branch trains the backbone / FPN it shares with the detector (docs/RESULTS.md, "A
predicted-contour weight, and what costs the detector box AP").

Loads the trained model of ``--config-file`` (``MODEL.WEIGHTS``), puts it in train mode on ``--num-batches`` batches
of its training loader and prints the L2 norm of the gradient of the detector losses (RPN + box head) and of the
mask losses on the shared parameters, their ratio and cosine, how many shared tensors the per-tensor gradient clip
would scale, and the mean losses. Config overrides evaluate another loss on the same weights (e.g.
``MODEL.LEVELSET.LOSS_UNCERTAINTY_WEIGHT 10.0``). The logic is :func:`levelset_rcnn.engine.gradients.gradient_share`.

    python tools/inspect_gradients.py --config-file output/compare/balloon_ab30/levelset_rcnn_fri_seed1/config.yaml \\
        --num-batches 16 MODEL.WEIGHTS output/compare/balloon_ab30/levelset_rcnn_fri_seed1/model_final.pth
"""
import argparse
import json

import levelset_rcnn  # noqa: F401  (first: registers heads, datasets and the detectron2._C stand-in)
from levelset_rcnn.engine import setup_cfg
from levelset_rcnn.engine.gradients import gradient_share


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--num-batches", type=int, default=8, help="training batches to average over")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (e.g. MODEL.WEIGHTS)")
    args = parser.parse_args(argv)
    if args.num_batches < 1:
        parser.error(f"--num-batches must be >= 1, got {args.num_batches}")
    stats = gradient_share(setup_cfg(args.config_file, ["DATALOADER.NUM_WORKERS", "0"] + list(args.opts)),
                           args.num_batches)
    print(json.dumps(stats, indent=1))
    return stats


if __name__ == "__main__":
    main()
