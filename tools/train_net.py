#!/usr/bin/env python
"""Train or evaluate LevelSet R-CNN (or the Mask R-CNN baselines) with a YAML config.

    python tools/train_net.py --config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml
    python tools/train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model_final.pth
    python tools/train_net.py --config-file CONFIG --resume      # continue from OUTPUT_DIR's last checkpoint
    python tools/train_net.py --config-file CONFIG --dataset-folder balloon=/data/balloon \
        DATASETS.TRAIN "('balloon_train',)" DATASETS.TEST "('balloon_val',)" MODEL.ROI_HEADS.NUM_CLASSES 1
    python tools/train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model_final.pth TEST.AUG.ENABLED True
    python tools/train_net.py --config-file CONFIG --num-gpus 8
    python tools/train_net.py --config-file CONFIG --num-gpus 2 --dist-backend gloo   # 2 CPU processes
"""
import levelset_rcnn  # noqa: F401  (first: registers heads, datasets and detectron2._C when missing)
from levelset_rcnn.engine import argument_parser, launch
from levelset_rcnn.engine.defaults import train_net

if __name__ == "__main__":
    args = argument_parser(__doc__).parse_args()
    # detectron2's launch with NCCL on GPUs; gloo CPU workers otherwise (--dist-backend, default auto)
    launch(train_net, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,), backend=args.dist_backend)
