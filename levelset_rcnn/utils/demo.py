"""The demo: run LevelSet R-CNN on images, folders or a video and save the drawn results (detectron2's
``DefaultPredictor`` and the project's Visualizer), optionally with level-set pictures and sub-pixel polygons.

:func:`run_demo` is ``tools/demo.py``; its parts are :func:`demo_config` (a model-zoo name or a config file),
:class:`Demo` (predictor and drawing), :func:`expand_inputs` / :func:`output_names` (which images, which output
names: inputs that share a stem keep their extension, ``x.jpg.png`` / ``x.png.png``, and names that still collide get
``_2``, ``_3``, ...: no output is overwritten by another input of the same run), :func:`run_images` and
:func:`run_video`. A problem with the inputs or the options raises :class:`DemoError` naming it.
"""
import glob
import json
import os
import time

import cv2
import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from levelset_core.checkpoint import SafeCheckpointer
from levelset_core.data.mapper import read_image

from .contours import instances_to_coco_polygons
from .levelset_view import save_levelset_views
from .visualizer import draw_instance_predictions

__all__ = ["IMAGE_EXTENSIONS", "DemoError", "demo_config", "expand_inputs", "output_names", "Demo", "run_images",
           "run_video", "run_demo"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DemoError(ValueError):
    """Bad demo inputs or options (a missing image, no weights, a video that cannot be read, ...)."""


def demo_config(model=None, config_file=None, checkpoint=None, opts=(), dataset_folder=()):
    """The frozen config of a model-zoo ``model`` (name or release folder; its verified checkpoint) or of a
    ``config_file`` whose weights come from ``opts`` (``MODEL.WEIGHTS FILE``); registers the ``dataset_folder``
    specs (``PREFIX=PATH``) first, for class names through ``DATASETS.TEST``."""
    from .. import model_zoo
    from ..data.register import register_dataset_folders

    register_dataset_folders(dataset_folder)
    cfg = model_zoo.load_config(model, config_file, checkpoint=checkpoint, opts=opts)
    if not model and not cfg.MODEL.WEIGHTS:
        raise DemoError("no weights: pass --opts MODEL.WEIGHTS FILE (or use --model)")
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
            raise DemoError(f"--input {pattern}: no such image, folder or matching files")
        paths.extend(found)
    return paths


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
        SafeCheckpointer(self.predictor.model).load(cfg.MODEL.WEIGHTS)
        roi_heads = self.predictor.model.roi_heads
        #: N, the model's number of Chan-Vese steps (the level-set pictures show φ0 … φN)
        self.num_iterations = getattr(getattr(roi_heads, "mask_head", None), "num_iterations", 0)
        if keep_levelsets:
            if not hasattr(roi_heads, "inference_levelsets"):
                raise DemoError(f"level-set pictures / polygons need LevelSetROIHeads, the model has "
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


def run_images(demo, paths, output, levelset_view=0, contours_json=None):
    """Draw each image into ``output`` (a folder, or a file name for one image); with ``levelset_view`` K also the
    level-set pictures of the K best instances. Returns the COCO-style polygon records (when ``contours_json``)."""
    polygons = []
    single = len(paths) == 1
    for index, (path, name) in enumerate(zip(paths, output_names(paths))):
        image = read_image(path, format="BGR")
        start = time.perf_counter()
        instances = demo.predict(image)
        elapsed = time.perf_counter() - start
        out = _output_path(output, name, single)
        cv2.imwrite(out, demo.draw(image, instances)[:, :, ::-1])
        print(f"{path}: {len(instances)} instances in {elapsed:.2f}s -> {out}")
        if levelset_view:
            prefix = os.path.splitext(out)[0] + "_levelset"
            views = save_levelset_views(image[:, :, ::-1], instances, prefix, num_iterations=demo.num_iterations,
                                        top_k=levelset_view, class_names=demo.metadata.get("thing_classes"))
            for view, text in views:
                print(f"  level-set view {view}: {text}")
        if contours_json:
            for record in instances_to_coco_polygons(instances, image_id=index):
                record["file_name"] = path
                polygons.append(record)
    return polygons


def run_video(demo, video_input, output, contours_json=None):
    """Draw every frame of ``video_input`` into a video at ``output`` (a folder or a file name; ``.avi``: MJPG,
    else mp4v). Returns the polygon records (when ``contours_json``)."""
    video = cv2.VideoCapture(video_input)
    if not video.isOpened():
        raise DemoError(f"cannot open video {video_input}")
    fps = video.get(cv2.CAP_PROP_FPS) or 10.0
    stem = os.path.splitext(os.path.basename(video_input))[0]
    out = _output_path(output, stem, True, suffix=".mp4")
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
                    raise DemoError(f"cannot write video {out} (try an .avi output)")
            writer.write(drawn)
            if contours_json:
                polygons += instances_to_coco_polygons(instances, image_id=frames)
            frames += 1
    finally:
        video.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise DemoError(f"video {video_input} has no readable frames")
    print(f"{video_input}: {frames} frames -> {out}")
    return polygons


def run_demo(output, inputs=None, video_input=None, model=None, config_file=None, checkpoint=None,
             confidence_threshold=0.5, scale=1.0, levelset_view=0, contours_json=None, dataset_folder=(), opts=()):
    """The whole demo (the options of ``tools/demo.py``, same names): images (``inputs``: files, folders, globs) or
    a video, a model-zoo ``model`` or a ``config_file`` + ``opts``; writes the drawings (and the level-set pictures,
    the polygons JSON) and returns the number of polygon records written."""
    if (inputs is None) == (video_input is None):
        raise DemoError("give images (--input) or a video (--video-input), one of the two")
    if video_input and levelset_view:
        raise DemoError("--levelset-view works on images (--input), not on videos")
    cfg = demo_config(model, config_file, checkpoint, opts, dataset_folder)
    demo = Demo(cfg, confidence_threshold, keep_levelsets=bool(levelset_view or contours_json), scale=scale)
    if video_input:
        if not os.path.isfile(video_input):
            raise DemoError(f"video file not found: {video_input}")
        polygons = run_video(demo, video_input, output, contours_json)
    else:
        polygons = run_images(demo, expand_inputs(inputs), output, levelset_view, contours_json)
    if contours_json:
        os.makedirs(os.path.dirname(os.path.abspath(contours_json)), exist_ok=True)
        with open(contours_json, "w") as f:
            json.dump(polygons, f)
        print(f"{len(polygons)} sub-pixel polygons -> {contours_json}")
    return len(polygons)
