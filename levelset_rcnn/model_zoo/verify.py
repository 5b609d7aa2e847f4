"""Does a model-zoo row still describe its checkpoint? The row's config, resolved today, against the config saved with
the weights.

A release checkpoint (:func:`levelset_rcnn.model_zoo.release.save_release_checkpoint`) carries the resolved config
it was trained with (key ``"config"``); older files have it beside them as ``config.yaml`` (a release folder, or the
cache folder that ``python -m levelset_rcnn.model_zoo install`` filled from a release folder). When a base config or
a default changes, the row's config file + ``opts`` may build a different model than the file holds;
:func:`config_drift` lists every such key, so the row can pin the old value (or the checkpoint be re-made).
The docs check (``tests/docs/test_docs_check.py``) runs it for every row whose checkpoint is on the machine.
"""
import os
from pathlib import Path

from levelset_core.compat.pointrend import POINTREND_MASK_HEADS

from .release import CHECKPOINT_CONFIG_KEY, RELEASE_CONFIG_FILE

__all__ = ["IGNORED_KEYS", "TRAINED_CONFIGS", "recorded_config_path", "saved_config_text", "config_drift",
           "format_drift"]

#: keys that say where and how a model runs (or how often its run saved), not what it is
IGNORED_KEYS = ("MODEL.WEIGHTS", "MODEL.DEVICE", "OUTPUT_DIR", "SOLVER.CHECKPOINT_PERIOD")


#: the recorded training configs of the table's checkpoints: ``trained_configs/<name>.yaml`` (the release folder's
#: ``config.yaml``; for checkpoints written before configs were saved in them, the config resolved with the code of
#: the commit that published the row, see the header of each file)
TRAINED_CONFIGS = Path(__file__).resolve().with_name("trained_configs")

#: values that older configs used for the same model: (key, old value, new value, since)
RENAMED_VALUES = (
    ("MODEL.META_ARCHITECTURE", "LevelSetRCNN", "GeneralizedRCNN", "issue 24: the image became a backbone output "
     "(build_image_feature_backbone), the model detectron2's GeneralizedRCNN; same weights"),
    ("MODEL.ROI_MASK_HEAD.NAME", "TSDFMaskHead", "LevelSetMaskHead", "issue 14 (5c1c8de): with LevelSetROIHeads and "
     "CHAN_VESE_ON, the TSDF, hyperparameter and feature heads became one mask head; old keys are renamed on load"),
)
#: ``MODEL.BACKBONE.NAME`` of the backbone that also returns the image (issue 24); it wraps ``WRAPPED_NAME``, the
#: backbone (same parameters) that older configs named directly
IMAGE_FEATURE_BACKBONE = "build_image_feature_backbone"
#: mask heads that read MODEL.LEVELSET (for any other, e.g. Mask R-CNN's, those keys are not compared)
LEVELSET_MASK_HEADS = ("LevelSetMaskHead", "TSDFMaskHead")
#: key prefixes read only by some mask heads: compared only when the saved mask head is one of them
HEAD_KEYS = (("MODEL.LEVELSET.", LEVELSET_MASK_HEADS), ("MODEL.POINT_HEAD.", POINTREND_MASK_HEADS))
#: ``MODEL.LEVELSET.FEATURE_HEAD`` keys read by one Chan-Vese feature head only (docs/DESIGN.md, "Where each config
#: key lives"): compared only when the saved ``FEATURE_HEAD.NAME`` is that head
_FH = "MODEL.LEVELSET.FEATURE_HEAD."
FEATURE_HEAD_KEYS = (
    ("ChanVeseFeatureHead", (_FH + "CONV_DIMS", _FH + "NORM")),
    ("FineGrainedChanVeseFeatureHead", tuple(_FH + k for k in (
        "IN_FEATURE", "REDUCED_CHANNELS", "USE_IMAGE", "COARSE_CHANNELS", "HIDDEN_DIM", "DETACH_INPUTS",
        "POOLER_RESOLUTION"))),
)


#: keys whose code default is not what the code did before the key existed: ``{key: the behaviour before}`` (a saved
#: config without the key was trained that way); every other added key's "before" is its code default
BEFORE_THE_KEY = {
    "MODEL.LEVELSET.LOSS_SATURATE_L1": False,  # added with default True (docs/RESULTS.md); before it, the plain L1
}


def recorded_config_path(name):
    """``trained_configs/<name>.yaml`` of table row ``name`` (it may not exist)."""
    return TRAINED_CONFIGS / f"{name}.yaml"


def saved_config_text(checkpoint_path):
    """The YAML config saved with ``checkpoint_path``: its ``"config"`` entry, else ``config.yaml`` in its folder;
    None when neither exists. The file is read safely (no code from it runs)."""
    from levelset_core.checkpoint import load_checkpoint_file

    data = load_checkpoint_file(checkpoint_path)
    if isinstance(data, dict) and isinstance(data.get(CHECKPOINT_CONFIG_KEY), str):
        return data[CHECKPOINT_CONFIG_KEY]
    beside = os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), RELEASE_CONFIG_FILE)
    if os.path.isfile(beside):
        with open(beside, encoding="utf-8") as f:
            return f.read()
    return None


def _upgrade(saved, today):
    """``saved`` (flat) with :data:`RENAMED_VALUES` applied (only where the rename is the same model), and a backbone
    named directly as today's :data:`IMAGE_FEATURE_BACKBONE` around it (``today``: the row's flat config)."""
    saved = dict(saved)
    if (today.get("MODEL.BACKBONE.NAME") == IMAGE_FEATURE_BACKBONE != saved.get("MODEL.BACKBONE.NAME")
            and "MODEL.BACKBONE.WRAPPED_NAME" not in saved
            and saved.get("MODEL.BACKBONE.NAME") == today.get("MODEL.BACKBONE.WRAPPED_NAME")):
        saved["MODEL.BACKBONE.WRAPPED_NAME"] = saved["MODEL.BACKBONE.NAME"]
        saved["MODEL.BACKBONE.NAME"] = IMAGE_FEATURE_BACKBONE
    levelset_roi_heads = saved.get("MODEL.ROI_HEADS.NAME") == "LevelSetROIHeads"
    for key, old, new, _ in RENAMED_VALUES:
        if saved.get(key) != old:
            continue
        if key == "MODEL.ROI_MASK_HEAD.NAME" and not (levelset_roi_heads and saved.get("MODEL.LEVELSET.CHAN_VESE_ON")):
            continue  # TSDFMaskHead alone: still the TSDF-only ablation
        saved[key] = new
    return saved


def _plain(value):
    """Lists and tuples (YAML writes a tuple as a list) as tuples, at every depth."""
    return tuple(_plain(v) for v in value) if isinstance(value, (list, tuple)) else value


def _flatten(node, prefix=""):
    out = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = _plain(value)
    return out


def config_drift(name, checkpoint=None, config_text=None):
    """``[(key, row_value, saved_value)]``: where the config of model-zoo ``name`` (its config file + ``opts``,
    resolved with today's code) differs from the config its checkpoint was trained with: ``config_text`` if given,
    else the config saved with ``checkpoint`` (default the file :func:`~levelset_rcnn.model_zoo.get_checkpoint_path`
    finds).

    Keys of :data:`IGNORED_KEYS` are not compared, nor ``MODEL.LEVELSET.*`` / ``MODEL.POINT_HEAD.*`` when the saved
    mask head does not read them (:data:`HEAD_KEYS`), nor the keys of another Chan-Vese feature head than the saved
    one (:data:`FEATURE_HEAD_KEYS`); renamed values of the same model (:data:`RENAMED_VALUES`) count as equal. A key
    the saved config has and today's lacks is reported with row value ``"<absent>"``. A key added to the code after
    the checkpoint was written (absent from the saved config) was trained with what the code did before the key
    existed: its code default (defaults are not changed: a new choice goes into the base configs), or the value in
    :data:`BEFORE_THE_KEY` for the few keys that were added with another default; the row's value is compared with
    that and reported, when it differs, with that value as the saved one (e.g. a base config that sets a new key
    under an old row).

    Raises:
        FileNotFoundError: the checkpoint has no saved config (neither its ``"config"`` entry nor ``config.yaml``
            beside it).
    """
    import yaml

    from ..config import build_levelset_config
    from .model_zoo import get_checkpoint_path, get_config

    text = config_text
    if text is None:
        path = checkpoint or get_checkpoint_path(name)
        text = saved_config_text(path)
        if text is None:
            raise FileNotFoundError(
                f"{path} has no saved config (no {CHECKPOINT_CONFIG_KEY!r} entry, no {RELEASE_CONFIG_FILE} beside it): "
                f"the row of {name!r} cannot be checked against it"
            )
    today = _flatten(get_config(name, trained=False))
    saved = _upgrade(_flatten(yaml.safe_load(text) or {}), today)
    mask_head = saved.get("MODEL.ROI_MASK_HEAD.NAME")
    unread = tuple(prefix for prefix, heads in HEAD_KEYS if mask_head not in heads)
    feature_head = saved.get(_FH + "NAME")
    unread_keys = {k for head, keys in FEATURE_HEAD_KEYS if head != feature_head for k in keys}
    drift = []
    for key in sorted(saved):
        if key in IGNORED_KEYS or key in unread_keys or key.startswith(unread):
            continue
        if key not in today:
            drift.append((key, "<absent>", saved[key]))
        elif today[key] != saved[key]:
            drift.append((key, today[key], saved[key]))
    added = sorted(k for k in today if k not in saved and k not in IGNORED_KEYS and k not in unread_keys
                   and not k.startswith(unread))
    if added:
        defaults = dict(_flatten(build_levelset_config()), **BEFORE_THE_KEY)
        for key in added:
            if key in defaults and today[key] != defaults[key]:
                drift.append((key, today[key], defaults[key]))
    return sorted(drift)


def format_drift(name, drift):
    """A message listing :func:`config_drift`'s keys, with the ``opts`` that would pin the saved values."""
    lines = [f"model zoo row {name!r} builds a different model than its checkpoint holds:"]
    lines += [f"  {key}: row {row!r}, checkpoint {saved!r}" for key, row, saved in drift]
    pins = " ".join(f"{key} {saved!r}" for key, _, saved in drift)
    lines.append(f"pin the checkpoint's values in the row's opts ({pins}) or re-make the checkpoint")
    return "\n".join(lines)
