"""Loading checkpoints safely, with errors that say what the file is, and the TSDF predictor key rule.

:class:`LevelSetCheckpointer` is detectron2's ``DetectionCheckpointer`` whose file loading never runs code
from the file:

* ``.pth`` / any other name: ``torch.load(..., weights_only=True)`` (tensors, numbers, strings, lists, dicts);
* ``.pkl`` (detectron2 / Detectron1 model zoo): a restricted unpickler that only accepts numpy arrays,
  numpy scalars and plain containers (detectron2 itself calls ``pickle.load``, which runs any code).

A file that is not a checkpoint (an image, a text file, a pickle of other objects, ...) is a ``ValueError``
naming the file and what was found. Loading with ``weights_only=False`` is never done nor suggested: to use
a checkpoint that holds other Python objects, load it yourself in a trusted setting and re-save
``{"model": state_dict}`` with ``torch.save``.

TSDF predictor names (see :class:`levelset_rcnn.modeling.TSDFMaskHead`): the 1×1 conv that outputs φ0 is
``roi_heads.mask_head.tsdf_predictor``, so that Mask R-CNN's ``roi_heads.mask_head.predictor`` (mask logits, same
shape) never loads into it. Checkpoints written before the rename are told apart by their LevelSet-only keys
(``roi_heads.hyperparameter_head.*`` or ``roi_heads.feature_head.*``) and their ``predictor`` is renamed on
load. A checkpoint with ``roi_heads.mask_head.predictor`` and none of those keys (Mask R-CNN, or an old
TSDF-only / ``CHAN_VESE_ON False`` LevelSet R-CNN checkpoint) is refused; convert it once with::

    python -m levelset_rcnn.checkpoint drop-mask-predictor mask_rcnn.pkl start.pth    # start from Mask R-CNN
    python -m levelset_rcnn.checkpoint rename-tsdf-predictor old_tsdf_only.pth new.pth  # an old TSDF checkpoint
"""
import argparse
import io
import logging
import os
import pickle
import sys

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.file_io import PathManager

__all__ = [
    "LevelSetCheckpointer",
    "NotACheckpointError",
    "load_checkpoint_file",
    "upgrade_tsdf_predictor_keys",
    "feature_head_mismatch",
    "TSDF_PREDICTOR",
    "OLD_TSDF_PREDICTOR",
    "LEVELSET_ONLY_PREFIXES",
]

logger = logging.getLogger(__name__)

#: key prefix (relative to the ROI heads) of the TSDF predictor, and its name before the rename
TSDF_PREDICTOR = "mask_head.tsdf_predictor."
OLD_TSDF_PREDICTOR = "mask_head.predictor."
#: keys (relative to the ROI heads) that only a LevelSet R-CNN checkpoint has
LEVELSET_ONLY_PREFIXES = ("hyperparameter_head.", "feature_head.")

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


def _not_a_checkpoint(path, reason):
    return NotACheckpointError(
        f"{path} is not a checkpoint that can be loaded safely ({reason}). MODEL.WEIGHTS must be a detectron2 / "
        "LevelSet R-CNN checkpoint: a .pth written by torch.save holding tensors (e.g. model_final.pth) or a "
        "detectron2 model-zoo .pkl of numpy arrays. Check the path; a checkpoint that needs other Python objects "
        "must be re-saved as {'model': state_dict} (see levelset_rcnn/checkpoint.py)."
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
            raise _not_a_checkpoint(path, f"{type(e).__name__}: {e}") from None
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise _not_a_checkpoint(path, _torch_load_reason(e)) from None


def _pkl_to_detectron2(data, path):
    """detectron2's reading of a .pkl: its model-zoo format, or a Caffe2 / Detectron1 blob dict."""
    if not isinstance(data, dict):
        raise _not_a_checkpoint(path, f"the .pkl holds a {type(data).__name__}, not a dict of arrays")
    if "model" in data and "__author__" in data:
        return data
    if "blobs" in data:
        data = data["blobs"]
    data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
    return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}


class LevelSetCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that loads files with :func:`load_checkpoint_file` (no code from the file runs;
    a file that is not a checkpoint is a clear :class:`NotACheckpointError`). Everything else, including the
    model-zoo / Caffe2 name matching of ``.pkl`` files, is detectron2's."""

    def _load_file(self, filename):
        if filename.endswith(".pyth"):  # pycls: detectron2's own reader
            return super()._load_file(filename)
        data = load_checkpoint_file(filename)
        if filename.endswith(".pkl"):
            data = _pkl_to_detectron2(data, filename)
            if data.get("__author__"):
                self.logger.info("Reading a file from '%s'", data["__author__"])
            return data
        if not isinstance(data, dict):
            raise _not_a_checkpoint(filename, f"it holds a {type(data).__name__}, not a dict of tensors")
        if "model" not in data:
            data = {"model": data}
        if not isinstance(data["model"], dict):
            raise _not_a_checkpoint(filename, f"its 'model' is a {type(data['model']).__name__}, not a state dict")
        return data


def upgrade_tsdf_predictor_keys(state_dict, prefix="roi_heads."):
    """Rename the TSDF predictor of a LevelSet R-CNN checkpoint written before the rename, in place.

    ``<prefix>mask_head.predictor.*`` becomes ``<prefix>mask_head.tsdf_predictor.*`` when the state dict also
    holds a LevelSet-only key (``<prefix>hyperparameter_head.*`` / ``<prefix>feature_head.*``) and no
    ``tsdf_predictor`` yet. Returns the renamed keys as ``[(old, new)]`` (empty: nothing to do).
    """
    old, new = prefix + OLD_TSDF_PREDICTOR, prefix + TSDF_PREDICTOR
    if any(k.startswith(new) for k in state_dict):
        return []
    if not any(k.startswith(prefix + p) for k in state_dict for p in LEVELSET_ONLY_PREFIXES):
        return []
    renamed = [(k, new + k[len(old):]) for k in list(state_dict) if k.startswith(old)]
    for k, n in renamed:
        state_dict[n] = state_dict.pop(k)
    return renamed


#: a parameter prefix (relative to the ROI heads) that tells each Chan-Vese feature head's checkpoints apart
_FEATURE_HEAD_MARKERS = {
    "ChanVeseFeatureHead": "feature_head.stem.",
    "FineGrainedChanVeseFeatureHead": "feature_head.reduce.",
}


def feature_head_mismatch(state_dict, prefix, feature_head):
    """A message when ``state_dict`` holds another Chan-Vese feature head than ``feature_head`` (the model's), else
    None. The default head changed in issue 15 (``FineGrainedChanVeseFeatureHead``); a checkpoint of the paper's
    head loaded with the new default would leave F at its random initialisation, silently."""
    if feature_head is None:
        return None
    model_head = type(feature_head).__name__
    for name, marker in _FEATURE_HEAD_MARKERS.items():
        if name != model_head and any(k.startswith(prefix + marker) for k in state_dict):
            return (f"the checkpoint holds a {name} Chan-Vese feature head but the config builds {model_head}: its "
                    f"feature head will not load. To use the checkpoint as trained, add MODEL.LEVELSET.FEATURE_HEAD."
                    f"NAME {name} (and its FEATURE_HEAD.NUM_CHANNELS) to the config")
    return None


def mask_predictor_refusal(prefix):
    """The error for a state dict whose ``<prefix>predictor.*`` would land in a TSDF head."""
    return ValueError(
        f"this checkpoint has '{prefix}predictor.*' but LevelSet R-CNN's TSDF head expects "
        f"'{prefix}tsdf_predictor.*', and the checkpoint has no LevelSet-only key (roi_heads.hyperparameter_head.* "
        "/ roi_heads.feature_head.*): it is a Mask R-CNN checkpoint, whose mask predictor outputs logits, not "
        "distances, so it is not loaded. To start LevelSet R-CNN from it, drop that predictor once: "
        "'python -m levelset_rcnn.checkpoint drop-mask-predictor IN OUT.pth' and use OUT.pth. If it is a LevelSet "
        "R-CNN TSDF-only / CHAN_VESE_ON False checkpoint saved before the rename: "
        "'python -m levelset_rcnn.checkpoint rename-tsdf-predictor IN OUT.pth'."
    )


def _convert(args):
    data = load_checkpoint_file(args.input)
    if args.input.endswith(".pkl"):
        data = _pkl_to_detectron2(data, args.input)
    elif isinstance(data, dict) and "model" not in data:
        data = {"model": data}
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise _not_a_checkpoint(args.input, "no state dict in it")
    model = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in data["model"].items()}
    old = "roi_heads." + OLD_TSDF_PREDICTOR
    keys = [k for k in model if k.startswith(old)]
    if not keys:
        raise SystemExit(f"{args.input}: no '{old}*' key: nothing to convert")
    for k in keys:
        value = model.pop(k)
        if args.command == "rename-tsdf-predictor":
            model["roi_heads." + TSDF_PREDICTOR + k[len(old):]] = value
    out = {"model": model}
    for key in ("__author__", "matching_heuristics"):
        if key in data:
            out[key] = data[key]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    torch.save(out, args.output)
    verb = "dropped" if args.command == "drop-mask-predictor" else "renamed to tsdf_predictor"
    print(f"{args.input}: {verb} {', '.join(keys)} -> {args.output}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m levelset_rcnn.checkpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["drop-mask-predictor", "rename-tsdf-predictor"],
                        help="drop roi_heads.mask_head.predictor.* (Mask R-CNN) or rename it to tsdf_predictor "
                             "(an old TSDF-only LevelSet R-CNN checkpoint)")
    parser.add_argument("input", help="checkpoint (.pth or detectron2 .pkl)")
    parser.add_argument("output", help="converted checkpoint (.pth)")
    return _convert(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
