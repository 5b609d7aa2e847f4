#!/usr/bin/env python
"""Train / evaluate DeepLab with CE, + Level Set loss, + SEMEDA, + Sobel (configs/), detectron2-style.

    python projects/DeepLabLosses/train_net.py --config-file projects/DeepLabLosses/configs/quickstart/deeplab_v3_plus_shapes_ls.yaml
    python projects/DeepLabLosses/train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model_final.pth
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import deeplab_losses  # noqa: E402,F401  (registers heads, backbone, datasets)
from detectron2.engine import default_argument_parser  # noqa: E402

from levelset_core.engine.cli import add_eval_only_arguments, check_eval_only_weights, load_eval_weights  # noqa: E402
from levelset_core.engine.launcher import launch  # noqa: E402  (detectron2's launch on GPUs, gloo CPU workers otherwise)

from deeplab_losses.engine import Trainer, setup_cfg  # noqa: E402


def main(args):
    cfg = setup_cfg(args.config_file, args.opts, args=args)
    if args.eval_only:
        check_eval_only_weights(cfg, args)  # before building the model: no weights is an error
        model = load_eval_weights(cfg, Trainer.build_model(cfg), args)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    parser = default_argument_parser()
    parser.add_argument("--dist-backend", default="auto", choices=["auto", "nccl", "gloo"],
                        help="torch.distributed backend for --num-gpus > 1 (auto: nccl with CUDA, else gloo on the CPU)")
    add_eval_only_arguments(parser)
    args = parser.parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,), backend=args.dist_backend)
