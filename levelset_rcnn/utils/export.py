"""TorchScript export of LevelSet R-CNN by tracing, through detectron2's ``TracingAdapter``.

What is traced: ``GeneralizedRCNN.inference(..., do_postprocess=False)`` for one ``(3, H, W)`` image already
resized and in the model's input format (``cfg.INPUT.FORMAT``). The traced module returns a flat tuple:
the instance fields in sorted name order, then the image size. :class:`ExportedModel` rebuilds
:class:`~detectron2.structures.Instances` from it (field names stored next to the ``.ts`` file as JSON) and
applies detectron2's ``detector_postprocess`` (box rescaling, mask pasting), so it returns the same as the
eager model's ``model([{"image": ..., "height": h, "width": w}])[0]["instances"]``.

Tracing needs the Python ``len()`` of detectron2 ``Instances`` to stay symbolic (the per-image counts used to
``split`` the mask branch's outputs): as detectron2 does for its own heads, ``len`` is patched while tracing in
the LevelSet R-CNN modules listed in :data:`TRACE_PATCH_MODULES`.

What a trace fixes (as for any detectron2 model traced this way): the device (CPU here), one image per call,
and every config value (score threshold, detections per image, number of Chan-Vese iterations). Image size and
the number of detections stay dynamic, including images with no detection (tests/utils/test_export.py).
"""
import json
import os

import torch
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances
from levelset_core.compat.export import import_export_module

__all__ = ["TRACE_PATCH_MODULES", "tracing_adapter_class", "trace_model", "ExportedModel", "save_exported"]

#: modules whose ``len()`` of Instances must be traceable (in addition to detectron2's own)
TRACE_PATCH_MODULES = ["levelset_rcnn.modeling.roi_heads", "levelset_rcnn.modeling.levelset_mask_head",
                       "levelset_rcnn.modeling.tsdf_head"]


def tracing_adapter_class():
    """detectron2's ``TracingAdapter`` (through :func:`levelset_core.compat.export.import_export_module`)."""
    return import_export_module("flatten").TracingAdapter


def trace_model(model, image):
    """Trace ``model``'s inference on one image.

    Args:
        model: a detectron2 ``GeneralizedRCNN`` in eval mode.
        image: ``(3, H, W)`` float tensor in the model's input format (already resized).
    Returns:
        ``(traced, field_names)``: the ``torch.jit.ScriptModule`` and the sorted instance field names of its
        flat output.
    """
    TracingAdapter = tracing_adapter_class()
    patch_builtin_len = import_export_module("torchscript_patch").patch_builtin_len
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"trace_model needs a (3, H, W) image tensor, got {tuple(image.shape)}")
    was_training = model.training
    model.eval()

    def inference(m, inputs):
        with patch_builtin_len(TRACE_PATCH_MODULES):
            instances = m.inference(inputs, do_postprocess=False)[0]
        return [{"instances": instances}]

    try:
        adapter = TracingAdapter(model, [{"image": image}], inference)
        with torch.no_grad():
            traced = torch.jit.trace(adapter, (image,), check_trace=False)
            instances = inference(model, [{"image": image}])[0]["instances"]
    finally:
        model.train(was_training)
    if len(instances) == 0:
        raise ValueError(
            "the sample image gave no detections: trace on an image where the model finds instances "
            "(a trace of the empty path skips the per-class mask selection: wrong masks on images with detections)"
        )
    return traced, sorted(instances.get_fields())


def save_exported(traced, field_names, path, input_format, min_size_test=None, max_size_test=None):
    """Write ``path`` (TorchScript) and ``path + '.json'`` (output field names and input format)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    traced.save(path)
    meta = {"fields": list(field_names), "input_format": input_format, "min_size_test": min_size_test,
            "max_size_test": max_size_test, "input": "one (3, H, W) float image, resized, in input_format"}
    with open(path + ".json", "w") as f:
        json.dump(meta, f, indent=2)
    return path


class ExportedModel:
    """A traced LevelSet R-CNN (``.ts`` + ``.ts.json``) that returns detectron2 ``Instances``."""

    def __init__(self, path):
        meta_path = path + ".json"
        if not os.path.isfile(path):
            raise FileNotFoundError(f"exported model {path} not found")
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(f"{meta_path} (output field names) not found next to {path}")
        self.module = torch.jit.load(path, map_location="cpu")
        with open(meta_path) as f:
            self.meta = json.load(f)
        self.fields = self.meta["fields"]

    def raw(self, image):
        """Instances in the resized image's frame, masks in the RoI frame (like ``do_postprocess=False``)."""
        with torch.no_grad():
            outputs = self.module(image)
        if len(outputs) != len(self.fields) + 1:
            raise RuntimeError(f"exported model returned {len(outputs)} tensors, expected {len(self.fields) + 1}")
        size = tuple(int(v) for v in outputs[-1])
        instances = Instances(size)
        for name, value in zip(self.fields, outputs[:-1]):
            instances.set(name, Boxes(value) if name == "pred_boxes" else value)
        return instances

    def __call__(self, image, height=None, width=None):
        """Like the eager model: Instances in the original ``height × width`` frame, masks pasted."""
        instances = self.raw(image)
        height = height or image.shape[-2]
        width = width or image.shape[-1]
        return detector_postprocess(instances, height, width)
