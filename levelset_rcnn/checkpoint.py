"""LevelSet R-CNN checkpoints: safe loading (:class:`LevelSetCheckpointer`) and the key layouts of older checkpoints.

:class:`LevelSetCheckpointer` is :class:`levelset_core.checkpoint.SafeCheckpointer`: detectron2's
``DetectionCheckpointer`` whose file loading never runs code from the file, with errors that say what a file that is
not a checkpoint is.

Key layout (see :class:`levelset_rcnn.modeling.LevelSetMaskHead`): the whole mask branch is ``roi_heads.mask_head``,
with the TSDF head at ``roi_heads.mask_head.tsdf_head.*`` (its 1×1 conv that outputs φ0 is ``tsdf_predictor``, so that
Mask R-CNN's ``predictor`` — mask logits, same shape — never loads into it), ``roi_heads.mask_head.hyperparameter_head.*``
and ``roi_heads.mask_head.feature_head.*``. Checkpoints of the earlier layouts load unchanged
(:func:`upgrade_mask_branch_keys`, run by ``LevelSetROIHeads`` when a state dict is loaded):

* before the mask branch became one head: ``roi_heads.mask_head.<TSDF layers>``, ``roi_heads.hyperparameter_head.*``,
  ``roi_heads.feature_head.*``;
* before the TSDF predictor rename: ``roi_heads.mask_head.predictor.*`` *and* a LevelSet-only key
  (``roi_heads.hyperparameter_head.*`` / ``roi_heads.feature_head.*``).

A checkpoint with ``roi_heads.mask_head.predictor`` and none of those keys (Mask R-CNN, or an old TSDF-only /
``CHAN_VESE_ON False`` LevelSet R-CNN checkpoint) is refused; convert it once with::

    python -m levelset_rcnn.checkpoint drop-mask-predictor mask_rcnn.pkl start.pth    # start from Mask R-CNN
    python -m levelset_rcnn.checkpoint rename-tsdf-predictor old_tsdf_only.pth new.pth  # an old TSDF checkpoint
"""
import argparse
import logging
import os
import sys

import numpy as np
import torch

from levelset_core.checkpoint import (
    NotACheckpointError,
    SafeCheckpointer,
    load_checkpoint_file,
    not_a_checkpoint,
    pkl_to_detectron2,
)

__all__ = [
    "LevelSetCheckpointer",
    "NotACheckpointError",
    "load_checkpoint_file",
    "upgrade_tsdf_predictor_keys",
    "upgrade_mask_branch_keys",
    "feature_head_mismatch",
    "TSDF_PREDICTOR",
    "OLD_TSDF_PREDICTOR",
    "LEVELSET_ONLY_PREFIXES",
]

logger = logging.getLogger(__name__)

#: key prefix (relative to the ROI heads) of the TSDF predictor, and its name before the rename
TSDF_PREDICTOR = "mask_head.tsdf_predictor."
OLD_TSDF_PREDICTOR = "mask_head.predictor."
#: keys (relative to the ROI heads) that only a LevelSet R-CNN checkpoint of the layout before LevelSetMaskHead has
LEVELSET_ONLY_PREFIXES = ("hyperparameter_head.", "feature_head.")
#: the parts of LevelSetMaskHead (relative to ``mask_head.``); any other ``mask_head.*`` key is of the older layout,
#: where the TSDF head was the mask head itself
MASK_HEAD_PARTS = ("tsdf_head.", "hyperparameter_head.", "feature_head.", "refinement.", "pooler.")

#: detectron2's ``DetectionCheckpointer`` with safe file loading (:class:`levelset_core.checkpoint.SafeCheckpointer`);
#: the key layouts of older LevelSet R-CNN checkpoints are upgraded when the state dict loads (LevelSetROIHeads)
LevelSetCheckpointer = SafeCheckpointer


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


def upgrade_mask_branch_keys(state_dict, prefix="roi_heads."):
    """Rename the keys of a checkpoint of an older LevelSet R-CNN layout to :class:`LevelSetMaskHead`'s, in place.

    First the TSDF predictor rename (:func:`upgrade_tsdf_predictor_keys`); then ``<prefix>hyperparameter_head.*`` /
    ``<prefix>feature_head.*`` move under ``<prefix>mask_head.`` and every other ``<prefix>mask_head.*`` key (the TSDF
    layers) under ``<prefix>mask_head.tsdf_head.``. A key whose new name is already taken stays as it is.

    A Mask R-CNN mask predictor (``<prefix>mask_head.predictor.*`` left after the first step: no LevelSet-only key)
    is refused with :func:`mask_predictor_refusal` (a ``ValueError`` that says how to convert the file).
    Returns ``[(old, new)]`` (empty: the state dict has the current layout, or is not LevelSet R-CNN's).
    """
    first = dict((new, old) for old, new in upgrade_tsdf_predictor_keys(state_dict, prefix))
    head = prefix + "mask_head."
    if any(k.startswith(prefix + OLD_TSDF_PREDICTOR) for k in state_dict):
        raise mask_predictor_refusal(head)
    renamed = []
    for key in list(state_dict):
        if any(key.startswith(prefix + p) for p in LEVELSET_ONLY_PREFIXES):
            new = head + key[len(prefix):]
        elif key.startswith(head) and not key[len(head):].startswith(MASK_HEAD_PARTS):
            new = head + "tsdf_head." + key[len(head):]
        else:
            continue
        if new in state_dict:
            continue
        state_dict[new] = state_dict.pop(key)
        renamed.append((first.get(key, key), new))
    return renamed


#: a parameter prefix (relative to the mask head) that tells each Chan-Vese feature head's checkpoints apart
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
        f"this checkpoint has '{prefix}predictor.*' but LevelSet R-CNN's TSDF head names its predictor "
        "'tsdf_predictor', and the checkpoint has no LevelSet-only key (roi_heads.hyperparameter_head.* / "
        "roi_heads.feature_head.*): it is a Mask R-CNN checkpoint, whose mask predictor outputs logits, not distances, "
        "so it is not loaded. To start LevelSet R-CNN from it, drop that predictor once: "
        "'python -m levelset_rcnn.checkpoint drop-mask-predictor IN OUT.pth' and use OUT.pth. If it is a LevelSet "
        "R-CNN TSDF-only / CHAN_VESE_ON False checkpoint saved before the rename: "
        "'python -m levelset_rcnn.checkpoint rename-tsdf-predictor IN OUT.pth'."
    )


def _convert(args):
    data = load_checkpoint_file(args.input)
    if args.input.endswith(".pkl"):
        data = pkl_to_detectron2(data, args.input)
    elif isinstance(data, dict) and "model" not in data:
        data = {"model": data}
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise not_a_checkpoint(args.input, "no state dict in it")
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
