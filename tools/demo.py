#!/usr/bin/env python
"""Run LevelSet R-CNN on images, a folder or a video and save the drawn results (detectron2's DefaultPredictor
and Visualizer), optionally with level-set pictures and sub-pixel polygons.

    # a model-zoo model (name from MODEL_ZOO.md, or a release folder of tools/publish_model.py)
    python tools/demo.py --model quickstart/levelset_rcnn_R_18_FPN_shapes --input img1.png img2.jpg --output out/
    # any config + weights
    python tools/demo.py --config-file CONFIG --input folder/ --output out/ --opts MODEL.WEIGHTS model_final.pth
    # level-set view of the 2 best instances per image, polygons traced on φN (COCO JSON)
    python tools/demo.py --model NAME --input img.jpg --output out/ --levelset-view 2 --contours-json out/polys.json
    # a video file
    python tools/demo.py --model NAME --video-input clip.mp4 --output out/clip.mp4

Outputs in ``--output`` (a folder; for a single image or a video also a file name): ``<stem>.png`` per image
(or the video), ``<stem>_levelset_inst<k>.png`` per level-set view (the learned λ1, λ2, μ, ε_n, Δt_n are
printed and written into the picture), and the polygons JSON. Inputs that share a stem (``x.jpg``, ``x.png``)
keep their extension in the name (``x.jpg.png``, ``x.png.png``); inputs that would still collide (same file
name in two folders) get ``_2``, ``_3``, ...: no output is overwritten by another input of the same run.
The logic is :mod:`levelset_rcnn.utils.demo`.
"""
import argparse
import sys

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
from levelset_rcnn.utils.demo import DemoError, run_demo


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", nargs="+", dest="inputs", help="image files, folders of images or glob patterns")
    src.add_argument("--video-input", help="a video file")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="model zoo name or release folder (tools/publish_model.py)")
    model.add_argument("--config-file", help="config file; give the weights with --opts MODEL.WEIGHTS FILE")
    parser.add_argument("--checkpoint", help="with --model: a local checkpoint file (sha256-verified)")
    parser.add_argument("--output", required=True, help="output folder (or file for one image / the video)")
    parser.add_argument("--confidence-threshold", type=float, default=0.5, help="minimum score to draw / export")
    parser.add_argument("--scale", type=float, default=1.0, help="drawing scale (e.g. 3 for small images)")
    parser.add_argument("--levelset-view", type=int, default=0, metavar="K",
                        help="also draw φ0 … φN of the K best instances of each image (images only)")
    parser.add_argument("--contours-json", help="write sub-pixel polygons (marching squares on φN) of the "
                                                "drawn instances as COCO-style JSON to this file")
    parser.add_argument("--dataset-folder", action="append", default=[], metavar="PREFIX=PATH",
                        help="register a COCO/VIA dataset folder (for class names via DATASETS.TEST)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE config overrides (last)")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    try:
        run_demo(**vars(args))
    except (DemoError, FileNotFoundError) as e:
        raise SystemExit(f"demo: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
