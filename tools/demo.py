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
"""
import argparse
import glob
import json
import os
import sys
import time

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
import cv2
import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from levelset_rcnn.checkpoint import LevelSetCheckpointer
from levelset_rcnn.data.mapper import read_image
from levelset_rcnn.engine.defaults import register_dataset_folders
from levelset_rcnn.utils.contours import instances_to_coco_polygons
from levelset_rcnn.utils.levelset_view import save_levelset_views
from levelset_rcnn.utils.visualizer import draw_instance_predictions

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", nargs="+", help="image files, folders of images or glob patterns")
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


def setup_cfg(args):
    from detectron2.config import get_cfg
    from levelset_rcnn import add_levelset_rcnn_config, model_zoo

    register_dataset_folders(args.dataset_folder)
    if args.model:
        cfg = model_zoo.get_config(args.model, trained=True, checkpoint=args.checkpoint)
    else:
        cfg = get_cfg()
        add_levelset_rcnn_config(cfg)
        if not os.path.isfile(args.config_file):
            raise SystemExit(f"demo: config file not found: {args.config_file}")
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    if not args.model and not cfg.MODEL.WEIGHTS:
        raise SystemExit("demo: no weights: pass --opts MODEL.WEIGHTS FILE (or use --model)")
    cfg.freeze()
    return cfg


def expand_inputs(patterns):
    """Image paths from files, folders and glob patterns (sorted within each); error if one matches nothing."""
    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(p for p in glob.glob(os.path.join(pattern, "*")) if p.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
        if not found:
            raise SystemExit(f"demo: --input {pattern}: no such image, folder or matching files")
        paths.extend(found)
    return paths


class Demo:
    """DefaultPredictor + drawing; keeps the level sets φ0 … φN when pictures or polygons are asked for."""

    def __init__(self, cfg, confidence_threshold=0.5, keep_levelsets=False, scale=1.0):
        self.cfg = cfg
        self.scale = scale
        # DefaultPredictor loads MODEL.WEIGHTS with detectron2's checkpointer: build it without weights and load
        # them safely (a file that is not a checkpoint is a clear error, never unpickled)
        no_weights = cfg.clone()
        no_weights.defrost()
        no_weights.MODEL.WEIGHTS = ""
        no_weights.freeze()
        self.predictor = DefaultPredictor(no_weights)
        LevelSetCheckpointer(self.predictor.model).load(cfg.MODEL.WEIGHTS)
        roi_heads = self.predictor.model.roi_heads
        if keep_levelsets:
            if not hasattr(roi_heads, "inference_levelsets"):
                raise SystemExit(f"demo: level-set pictures / polygons need LevelSetROIHeads, the model has "
                                 f"{type(roi_heads).__name__}")
            roi_heads.inference_levelsets = True
        self.threshold = confidence_threshold
        name = cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else "__unused"
        self.metadata = MetadataCatalog.get(name)

    def predict(self, image_bgr):
        """Instances (CPU) with score >= the threshold, in the image frame."""
        instances = self.predictor(image_bgr)["instances"].to(torch.device("cpu"))
        return instances[instances.scores >= self.threshold]

    def draw(self, image_bgr, instances):
        return draw_instance_predictions(image_bgr[:, :, ::-1], instances, self.metadata, self.threshold,
                                         scale=self.scale)


def _output_path(output, stem, single, suffix=".png"):
    if single and os.path.splitext(output)[1]:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        return output
    os.makedirs(output, exist_ok=True)
    return os.path.join(output, stem + suffix)


def output_names(paths):
    """A distinct output name (no suffix) per input path: the stem; the file name with its extension where
    stems collide (``x.jpg`` / ``x.png`` -> ``x.jpg`` / ``x.png``); then ``_2``, ``_3``, ... where those collide."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    names = [os.path.basename(p) if stems.count(s) > 1 else s for p, s in zip(paths, stems)]
    taken, unique = set(), []
    for name in names:
        candidate, k = name, 1
        while candidate.lower() in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


def run_images(demo, paths, args):
    polygons = []
    single = len(paths) == 1
    for index, (path, name) in enumerate(zip(paths, output_names(paths))):
        image = read_image(path, format="BGR")
        start = time.perf_counter()
        instances = demo.predict(image)
        elapsed = time.perf_counter() - start
        out = _output_path(args.output, name, single)
        cv2.imwrite(out, demo.draw(image, instances)[:, :, ::-1])
        print(f"{path}: {len(instances)} instances in {elapsed:.2f}s -> {out}")
        if args.levelset_view:
            prefix = os.path.splitext(out)[0] + "_levelset"
            views = save_levelset_views(image[:, :, ::-1], instances, prefix, top_k=args.levelset_view,
                                        class_names=demo.metadata.get("thing_classes"))
            for view, text in views:
                print(f"  level-set view {view}: {text}")
        if args.contours_json:
            for record in instances_to_coco_polygons(instances, image_id=index):
                record["file_name"] = path
                polygons.append(record)
    return polygons


def run_video(demo, args):
    video = cv2.VideoCapture(args.video_input)
    if not video.isOpened():
        raise SystemExit(f"demo: cannot open video {args.video_input}")
    fps = video.get(cv2.CAP_PROP_FPS) or 10.0
    stem = os.path.splitext(os.path.basename(args.video_input))[0]
    out = _output_path(args.output, stem, True, suffix=".mp4")
    writer, frames, polygons = None, 0, []
    try:
        while True:
            ok, frame = video.read()
            if not ok:
                break
            instances = demo.predict(frame)
            drawn = np.ascontiguousarray(demo.draw(frame, instances)[:, :, ::-1])
            if writer is None:
                fourcc = cv2.VideoWriter_fourcc(*("MJPG" if out.lower().endswith(".avi") else "mp4v"))
                writer = cv2.VideoWriter(out, fourcc, fps, (drawn.shape[1], drawn.shape[0]), True)
                if not writer.isOpened():
                    raise SystemExit(f"demo: cannot write video {out} (try an .avi output)")
            writer.write(drawn)
            if args.contours_json:
                polygons += instances_to_coco_polygons(instances, image_id=frames)
            frames += 1
    finally:
        video.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise SystemExit(f"demo: video {args.video_input} has no readable frames")
    print(f"{args.video_input}: {frames} frames -> {out}")
    return polygons


def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.video_input and args.levelset_view:
        raise SystemExit("demo: --levelset-view works on images (--input), not on videos")
    cfg = setup_cfg(args)
    demo = Demo(cfg, args.confidence_threshold, keep_levelsets=bool(args.levelset_view or args.contours_json),
                scale=args.scale)
    if args.video_input:
        if not os.path.isfile(args.video_input):
            raise SystemExit(f"demo: video file not found: {args.video_input}")
        polygons = run_video(demo, args)
    else:
        polygons = run_images(demo, expand_inputs(args.input), args)
    if args.contours_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.contours_json)), exist_ok=True)
        with open(args.contours_json, "w") as f:
            json.dump(polygons, f)
        print(f"{len(polygons)} sub-pixel polygons -> {args.contours_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
