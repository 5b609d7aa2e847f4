"""LevelSet R-CNN checkpoints: the key layouts of older checkpoints and the converter command line.

Loading is :class:`levelset_core.checkpoint.SafeCheckpointer` (``LevelSetCheckpointer`` here is its deprecated
name): detectron2's ``DetectionCheckpointer`` whose file loading never runs code from the file, with errors that say
what a file that is not a checkpoint is.

Key layout (see :class:`levelset_rcnn.modeling.LevelSetMaskHead`): the whole mask branch is ``roi_heads.mask_head``,
with the TSDF head at ``roi_heads.mask_head.tsdf_head.*`` (its 1×1 conv that outputs φ0 is ``tsdf_predictor``, so that
Mask R-CNN's ``predictor`` — mask logits, same shape — never loads into it), ``roi_heads.mask_head.hyperparameter_head.*``
and ``roi_heads.mask_head.feature_head.*``. Checkpoints of the earlier layouts load unchanged: each module upgrades its
own keys in its ``_load_from_state_dict`` by its ``_version`` (:mod:`levelset_rcnn.modeling.state_dict_upgrade`):

* before the mask branch became one head: ``roi_heads.mask_head.<TSDF layers>``, ``roi_heads.hyperparameter_head.*``,
  ``roi_heads.feature_head.*``;
* before the TSDF predictor rename: ``roi_heads.mask_head.predictor.*`` *and* a LevelSet-only key
  (``roi_heads.hyperparameter_head.*`` / ``roi_heads.feature_head.*``);
* a TSDF-only model (``TSDFMaskHead`` in ``StandardROIHeads`` until issue 24): ``roi_heads.mask_head.<TSDF layers>``
  with ``tsdf_predictor``.

A checkpoint with ``roi_heads.mask_head.predictor`` and none of those keys (Mask R-CNN, or an old TSDF-only /
``CHAN_VESE_ON False`` LevelSet R-CNN checkpoint) is refused; convert it once with::

    python -m levelset_rcnn.checkpoint drop-mask-predictor mask_rcnn.pkl start.pth    # start from Mask R-CNN
    python -m levelset_rcnn.checkpoint rename-tsdf-predictor old_tsdf_only.pth new.pth  # an old TSDF checkpoint
"""
import argparse
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
    "TSDF_PREDICTOR",
    "OLD_TSDF_PREDICTOR",
]

#: key prefix (relative to the ROI heads) of the TSDF predictor in the layout the converter writes (layout 1 of
#: LevelSetMaskHead, which renames it on load), and its name before the rename
TSDF_PREDICTOR = "mask_head.tsdf_predictor."
OLD_TSDF_PREDICTOR = "mask_head.predictor."

#: deprecated name of :class:`levelset_core.checkpoint.SafeCheckpointer`, kept for user code (the project uses that)
LevelSetCheckpointer = SafeCheckpointer


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
