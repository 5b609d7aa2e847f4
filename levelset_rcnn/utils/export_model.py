"""Export a trained LevelSet R-CNN to TorchScript and check the traced model against the eager one
(``tools/export_model.py``).

:func:`export_model` builds the model of a model-zoo name or a config file on the CPU, traces it on a sample image
(:func:`levelset_rcnn.utils.export.trace_model`), saves ``model.ts`` and ``model.ts.json``
(:func:`~levelset_rcnn.utils.export.save_exported`) and compares traced and eager outputs after post-processing
on a few images (:func:`compare_outputs`), printing the largest differences per field.
"""
import glob
import os

import numpy as np
import torch
from detectron2.data import transforms as T
from levelset_core.data.mapper import read_image

from .export import ExportedModel, save_exported, trace_model

__all__ = ["ExportError", "load_model", "prepare_image", "compare_outputs", "default_sample_image",
           "default_check_images", "export_model"]


class ExportError(ValueError):
    """The export cannot run: a missing sample image, a model that cannot be traced."""


def load_model(cfg, levelsets=False):
    """The model of ``cfg`` in eval mode with ``MODEL.WEIGHTS`` loaded safely (when set); ``levelsets`` also
    returns φ0 … φN (``pred_levelsets``)."""
    from levelset_core.checkpoint import build_trained_model

    model = build_trained_model(cfg)
    if levelsets:
        model.roi_heads.inference_levelsets = True
    return model


def prepare_image(cfg, path):
    """``(image (3, H', W') float tensor, H, W)``: read, converted to cfg.INPUT.FORMAT, resized for testing."""
    image = read_image(path, format=cfg.INPUT.FORMAT)
    height, width = image.shape[:2]
    resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    image = resize.get_transform(image).apply_image(image)
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype("float32")), height, width


def compare_outputs(model, exported, image, height, width):
    """``({field: max |traced - eager|}, number of eager instances)`` after post-processing (inf when the shapes
    differ); ``num_instances`` is the difference of the instance counts."""
    with torch.no_grad():
        eager = model([{"image": image, "height": height, "width": width}])[0]["instances"]
    traced = exported(image, height, width)
    diffs = {"num_instances": float(abs(len(eager) - len(traced)))}
    for name in sorted(eager.get_fields()):
        a, b = eager.get(name), traced.get(name) if traced.has(name) else None
        a = a.tensor if isinstance(a, type(eager.pred_boxes)) else a
        b = b.tensor if b is not None and hasattr(b, "tensor") else b
        if b is None or a.shape != b.shape:
            diffs[name] = float("inf")
        else:
            diffs[name] = float((a.float() - b.float()).abs().max()) if a.numel() else 0.0
    return diffs, len(eager)


def default_sample_image():
    """The second val image of the built-in levelset_shapes dataset (generated on first use)."""
    from detectron2.data import DatasetCatalog

    records = DatasetCatalog.get("levelset_shapes_val")
    return records[1]["file_name"]


def default_check_images(sample):
    """The sample image and the next two images (same extension) of its folder."""
    folder = sorted(glob.glob(os.path.join(os.path.dirname(sample), "*" + os.path.splitext(sample)[1])))
    i = folder.index(sample) if sample in folder else 0
    return folder[i:i + 3] or [sample]


def export_model(output, model=None, config_file=None, checkpoint=None, sample_image=None, check_images=None,
                 levelsets=False, opts=(), format="torchscript"):
    """Export the model of a model-zoo ``model`` or a ``config_file`` (+ ``opts``, e.g. ``MODEL.WEIGHTS``) on the
    CPU into ``output/model.ts`` and compare traced and eager outputs on ``check_images`` (default
    :func:`default_check_images` of the sample). Returns ``(path of model.ts, largest difference over all checks,
    number of images checked)``."""
    from .. import model_zoo

    if format != "torchscript":
        raise ExportError(f"unknown export format {format!r} (only 'torchscript')")
    cfg = model_zoo.load_config(model, config_file, checkpoint=checkpoint, opts=list(opts) + ["MODEL.DEVICE", "cpu"])
    cfg.freeze()
    eager = load_model(cfg, levelsets)
    sample = sample_image or default_sample_image()
    if not os.path.isfile(sample):
        raise ExportError(f"sample image not found: {sample}")
    image, _, _ = prepare_image(cfg, sample)
    try:
        traced, fields = trace_model(eager, image)
    except ValueError as e:
        raise ExportError(str(e)) from None
    path = save_exported(traced, fields, os.path.join(output, "model.ts"), cfg.INPUT.FORMAT,
                         cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    print(f"exported {path} (fields: {', '.join(fields)})")

    exported = ExportedModel(path)
    checks = check_images if check_images is not None else default_check_images(sample)
    worst = 0.0
    for check in checks:
        img, h, w = prepare_image(cfg, check)
        diffs, n = compare_outputs(eager, exported, img, h, w)
        worst = max([worst] + list(diffs.values()))
        print(f"{check}: {n} instances; max |traced - eager|: "
              + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    return path, worst, len(checks)
