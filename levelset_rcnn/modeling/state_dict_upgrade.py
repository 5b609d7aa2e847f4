"""The one helper of the modules' checkpoint upgrades: rename keys of a state dict being loaded into a module.

Each module that changed its layout upgrades its own keys in its ``_load_from_state_dict``, gated by its ``_version``
(PyTorch saves every module's ``_version`` in the state dict's metadata), as detectron2's PointRend does:
:class:`~levelset_rcnn.modeling.LevelSetROIHeads` (version 2: the Chan-Vese heads moved into the mask head),
:class:`~levelset_rcnn.modeling.LevelSetMaskHead` (version 2: the TSDF layers moved under ``tsdf_head.``, the TSDF
predictor renamed) and :class:`~levelset_rcnn.modeling.tsdf_head.TSDFHead` (refuses Mask R-CNN's predictor). A parent
module's ``_load_from_state_dict`` runs before its children's, so a key moved by the ROI heads is seen by the mask
head. Every layout the project has written is loaded by ``tests/test_checkpoint.py``.
"""
import logging

__all__ = ["rename_keys"]

logger = logging.getLogger(__name__)


def rename_keys(module, state_dict, prefix, rename):
    """Rename, in place, the keys of ``state_dict`` under ``prefix`` (the module's) for which ``rename(relative_key)``
    returns a new relative key (None: keep). A key whose new name is already taken stays as it is.

    A renamed tensor whose shape differs from the module's parameter (e.g. a checkpoint of another number of classes)
    is dropped with detectron2's warning, since detectron2's checkpointer compared shapes before the rename.
    Returns ``[(old, new)]`` (full keys).
    """
    renamed = []
    for key in [k for k in state_dict if k.startswith(prefix)]:
        new = rename(key[len(prefix):])
        if new is None or prefix + new in state_dict:
            continue
        state_dict[prefix + new] = state_dict.pop(key)
        renamed.append((key, prefix + new))
    if renamed:
        logger.info("checkpoint of an older layout: loading %s as %s", ", ".join(o for o, _ in renamed),
                    ", ".join(n for _, n in renamed))
        own = module.state_dict()
        for _, new in renamed:
            name = new[len(prefix):]
            if name in own and tuple(state_dict[new].shape) != tuple(own[name].shape):
                logger.warning("Skip loading parameter '%s' to the model due to incompatible shapes: %s in the "
                               "checkpoint but %s in the model!", new, tuple(state_dict[new].shape),
                               tuple(own[name].shape))
                state_dict.pop(new)
    return renamed
