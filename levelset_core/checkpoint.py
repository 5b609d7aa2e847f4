"""Loading checkpoints safely, with errors that say what the file is, and writing them atomically (shared by both
projects' trainers).

:class:`SafeCheckpointer` is detectron2's ``DetectionCheckpointer`` whose file loading never runs code from the
file:

* ``.pth`` / any other name: ``torch.load(..., weights_only=True)`` (tensors, numbers, strings, lists, dicts);
* ``.pkl`` (detectron2 / Detectron1 model zoo): a restricted unpickler that only accepts numpy arrays,
  numpy scalars and plain containers (detectron2 itself calls ``pickle.load``, which runs any code).

A file that is not a checkpoint (an image, a text file, a pickle of other objects, ...) is a ``ValueError``
naming the file and what was found. Loading with ``weights_only=False`` is never done nor suggested: to use
a checkpoint that holds other Python objects, load it yourself in a trusted setting and re-save
``{"model": state_dict}`` with ``torch.save``.

It writes every file (``model_XXXXXXX.pth``, ``model_final.pth``, ``last_checkpoint``) atomically
(:func:`levelset_core.data.cache.atomic_open`: a temporary file in the same folder, ``fsync``, ``os.replace``), and
``last_checkpoint`` only after the checkpoint's rename: a process killed or a disk filled during a save leaves the
previous complete files, and ``--resume`` continues from the last complete checkpoint.
"""
import io
import os
import pickle

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.file_io import PathManager

from .data.cache import atomic_open

__all__ = ["SafeCheckpointer", "NotACheckpointError", "load_checkpoint_file", "not_a_checkpoint", "pkl_to_detectron2",
           "build_trained_model"]

# What a detectron2 / Detectron1 .pkl may contain: numpy arrays and scalars in plain containers.
_SAFE_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("_codecs", "encode"),  # bytes of numpy arrays pickled by Python 2 (Detectron1 files)
}


class NotACheckpointError(ValueError):
    """The file exists but is not a checkpoint that can be loaded safely."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it holds a {module}.{name} object, which is not part of a checkpoint")


def not_a_checkpoint(path, reason):
    return NotACheckpointError(
        f"{path} is not a checkpoint that can be loaded safely ({reason}). MODEL.WEIGHTS must be a detectron2 / "
        "LevelSet R-CNN checkpoint: a .pth written by torch.save holding tensors (e.g. model_final.pth) or a "
        "detectron2 model-zoo .pkl of numpy arrays. Check the path; a checkpoint that needs other Python objects "
        "must be re-saved as {'model': state_dict} (see levelset_core/checkpoint.py)."
    )


def _torch_load_reason(error):
    """A short reason from torch.load's error, without its advice to load with weights_only=False."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
        text = text.split("Please use", 1)[0].split("\n\n", 1)[0].strip()
        if "weights_only" in text:  # never pass that advice on
            text = ""
    elif "weights_only" in text:
        text = ""
    text = " ".join(text.split())
    return f"{type(error).__name__}: {text}" if text else f"{type(error).__name__} while unpickling"


def load_checkpoint_file(path):
    """The object stored in a checkpoint file, loaded without running code from it.

    ``.pkl``: a restricted unpickler (numpy arrays in plain containers); anything else: ``torch.load`` with
    ``weights_only=True`` on the CPU. Raises FileNotFoundError for a missing file and
    :class:`NotACheckpointError` (a ValueError) naming the file for anything that is not a checkpoint.
    """
    path = os.fspath(path)
    local = PathManager.get_local_path(path)
    if not os.path.isfile(local):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    with open(local, "rb") as f:
        data = f.read()
    if path.endswith(".pkl"):
        try:
            return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
        except Exception as e:  # any unpickling failure: the file is not a model-zoo .pkl
            raise not_a_checkpoint(path, f"{type(e).__name__}: {e}") from None
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise not_a_checkpoint(path, _torch_load_reason(e)) from None


def pkl_to_detectron2(data, path):
    """detectron2's reading of a .pkl: its model-zoo format, or a Caffe2 / Detectron1 blob dict."""
    if not isinstance(data, dict):
        raise not_a_checkpoint(path, f"the .pkl holds a {type(data).__name__}, not a dict of arrays")
    if "model" in data and "__author__" in data:
        return data
    if "blobs" in data:
        data = data["blobs"]
    data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
    return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}


class _AtomicWrites:
    """A detectron2 ``PathManager`` whose ``open`` of a local file for writing is :func:`atomic_open` (with
    ``fsync``); everything else, and remote paths (``scheme://...``), go to the wrapped one."""

    def __init__(self, path_manager):
        self._path_manager = path_manager

    def open(self, path, mode="r", **kwargs):
        if "w" in mode and "://" not in os.fspath(path):
            return atomic_open(path, mode, sync=True)
        return self._path_manager.open(path, mode, **kwargs)

    def __getattr__(self, name):
        return getattr(self._path_manager, name)


def build_trained_model(cfg):
    """detectron2's ``build_model(cfg)`` with ``cfg.MODEL.WEIGHTS`` loaded by :class:`SafeCheckpointer` (when set), in
    eval mode: the model of a trained config, as the evaluation, demo, export and benchmark tools use it."""
    from detectron2.modeling import build_model

    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        SafeCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return model.eval()


class SafeCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that loads files with :func:`load_checkpoint_file` (no code from the file runs;
    a file that is not a checkpoint is a clear :class:`NotACheckpointError`) and writes them atomically (see the
    module docstring: detectron2's ``save`` and ``tag_last_checkpoint`` write through its ``path_manager``, which is
    wrapped here). Everything else, including the model-zoo / Caffe2 name matching of ``.pkl`` files, is
    detectron2's."""

    def __init__(self, model, save_dir="", **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.path_manager = _AtomicWrites(self.path_manager)

    def _load_file(self, filename):
        if filename.endswith(".pyth"):  # pycls: detectron2's own reader
            return super()._load_file(filename)
        data = load_checkpoint_file(filename)
        if filename.endswith(".pkl"):
            data = pkl_to_detectron2(data, filename)
            if data.get("__author__"):
                self.logger.info("Reading a file from '%s'", data["__author__"])
            return data
        if not isinstance(data, dict):
            raise not_a_checkpoint(filename, f"it holds a {type(data).__name__}, not a dict of tensors")
        if "model" not in data:
            data = {"model": data}
        if not isinstance(data["model"], dict):
            raise not_a_checkpoint(filename, f"its 'model' is a {type(data['model']).__name__}, not a state dict")
        return data
