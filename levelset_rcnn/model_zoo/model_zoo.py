"""LevelSet R-CNN's model zoo, in the style of :mod:`detectron2.model_zoo`: configs, checkpoints and models by name.

The rows come from :mod:`levelset_rcnn.model_zoo.table` (``model_zoo.json``; MODEL_ZOO.md is generated from it);
a name is a row of that table or a release folder written by ``tools/publish_model.py``.

    from levelset_rcnn import model_zoo
    model = model_zoo.get("quickstart/levelset_rcnn_R_18_FPN_shapes", trained=True)   # eval mode, weights loaded
    cfg = model_zoo.get_config("quickstart/levelset_rcnn_R_18_FPN_shapes", trained=True)  # cfg.MODEL.WEIGHTS set
    model = model_zoo.get("path/to/release_folder")  # a folder written by tools/publish_model.py

Where a checkpoint is looked for, in order: the ``checkpoint`` argument (a local file), then the user cache
``$LEVELSET_RCNN_CACHE/checkpoints/<name>/<file>`` (default ``~/.cache/levelset_rcnn/checkpoints/...``),
then the download URL of the table (saved into that cache). Without network, or for checkpoints that have no
public URL, the error names the file to fetch, the install command that puts it there
(``python -m levelset_rcnn.model_zoo install NAME FILE``, :mod:`levelset_rcnn.model_zoo.install`) and the command
that reproduces an equivalent model. The file's
sha256 is always checked against the table (:mod:`levelset_rcnn.model_zoo.checkpoints`): a mismatch is an error,
never a silent load. Weights are loaded with detectron2's :class:`~detectron2.checkpoint.DetectionCheckpointer`.
"""
import copy
import os
import urllib.error
from pathlib import Path

from .checkpoints import (
    CheckpointNotAvailableError,
    ChecksumMismatchError,
    cache_dir,
    download,
    verify_checkpoint,
)
from .table import lookup

__all__ = [
    "configs_root",
    "get_config_file",
    "get_checkpoint_url",
    "get_checkpoint_path",
    "get_config",
    "load_config",
    "get",
    "entry_of",
]


def configs_root():
    """Folder of the YAML configs: ``$LEVELSET_RCNN_CONFIGS``, else configs packaged into
    ``levelset_rcnn/model_zoo/configs`` (when an installer copied them there), else the repository's ``configs/``
    (an editable install or a source checkout)."""
    candidates = []
    if os.environ.get("LEVELSET_RCNN_CONFIGS"):
        candidates.append(Path(os.environ["LEVELSET_RCNN_CONFIGS"]))
    here = Path(__file__).resolve().parent
    candidates += [here / "configs", here.parent.parent / "configs"]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        "cannot find LevelSet R-CNN's configs: looked in " + ", ".join(str(p) for p in candidates)
        + ". Set LEVELSET_RCNN_CONFIGS to the configs/ folder of a levelset_rcnn checkout."
    )


def get_config_file(name):
    """Absolute path of the config file of ``name`` (a table name or a release folder)."""
    _, entry, _ = lookup(name)
    path = Path(entry.config)
    if not path.is_absolute():
        path = configs_root() / path
    if not path.is_file():
        raise FileNotFoundError(f"config of model zoo entry {name!r} not found: {path}")
    return str(path)


def get_checkpoint_url(name):
    """The public download URL of ``name``'s checkpoint.

    Raises :class:`CheckpointNotAvailableError` naming the command that produces the file and the path to put it
    at when the checkpoint has no public URL (this project's CPU-trained checkpoints) or none exists.
    """
    key, entry, folder = lookup(name)
    if entry.url:
        return entry.url
    if entry.checkpoint is None:
        raise CheckpointNotAvailableError(
            f"model zoo entry {key!r} has no trained checkpoint ({entry.note or 'config only'}); "
            f"train it with tools/train_net.py --config-file {get_config_file(name)}"
        )
    raise CheckpointNotAvailableError(
        f"checkpoint {entry.checkpoint} of {key!r} has no public download URL; "
        + _how_to_get(key, entry, folder)
    )


def _cache_path(key, entry):
    return os.path.join(cache_dir(), key, entry.checkpoint)


def _how_to_get(key, entry, folder):
    if folder is not None:
        return f"expected it at {os.path.join(folder, entry.checkpoint)}"
    where = _cache_path(key, entry)
    text = (f"fetch {entry.checkpoint} (sha256 {entry.sha256}) and install it with `python -m "
            f"levelset_rcnn.model_zoo install {key} PATH_TO_FILE` (it goes to {where}; or pass checkpoint=PATH)")
    if entry.produced_by:
        text += (f". To reproduce an equivalent model (other bytes, so load its release folder: "
                 f"model_zoo.get('<OUTPUT_DIR>/release')): `{entry.produced_by}`")
    return text


def get_checkpoint_path(name, checkpoint=None):
    """Local path of ``name``'s checkpoint, verified against the table's sha256.

    Args:
        name: a table name or a release folder of tools/publish_model.py.
        checkpoint: optional local file to use instead of the cache / download.
    Raises:
        CheckpointNotAvailableError: no local file and no URL, or the download failed (message: what to fetch
            and where to put it).
        ChecksumMismatchError: the file's sha256 differs from the table's.
    """
    key, entry, folder = lookup(name)
    if entry.checkpoint is None:
        get_checkpoint_url(name)  # raises the "no trained checkpoint" error
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise CheckpointNotAvailableError(f"checkpoint file {checkpoint} given for {key!r} does not exist")
        return verify_checkpoint(checkpoint, entry.sha256, key)
    if folder is not None:
        path = os.path.join(folder, entry.checkpoint)
        if not os.path.isfile(path):
            raise CheckpointNotAvailableError(f"release folder {folder}: {entry.checkpoint} is missing")
        return verify_checkpoint(path, entry.sha256, key)
    path = _cache_path(key, entry)
    if os.path.isfile(path):
        return verify_checkpoint(path, entry.sha256, key)
    if not entry.url:
        raise CheckpointNotAvailableError(
            f"checkpoint {entry.checkpoint} of {key!r} is not in the cache and has no public URL; "
            + _how_to_get(key, entry, folder)
        )
    try:
        download(entry.url, path)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise CheckpointNotAvailableError(
            f"could not download {entry.url} ({getattr(e, 'reason', e)}). Without network, fetch that file "
            f"elsewhere and put it at {path} (set LEVELSET_RCNN_CACHE to use another cache folder), "
            f"or pass checkpoint=PATH."
        ) from None
    try:
        return verify_checkpoint(path, entry.sha256, key)
    except ChecksumMismatchError:
        os.remove(path)  # never leave a bad download in the cache
        raise


def get_config(name, trained=False, checkpoint=None, opts=()):
    """The (unfrozen) config of ``name``: its file, the entry's overrides, with ``trained`` ``MODEL.WEIGHTS`` set to
    the verified local checkpoint, then ``opts`` (``KEY VALUE`` overrides of the caller). ``MODEL.DEVICE`` falls back
    to the CPU without CUDA (:func:`levelset_rcnn.config.build_levelset_config`)."""
    from ..config import build_levelset_config

    _, entry, _ = lookup(name)
    weights = ["MODEL.WEIGHTS", get_checkpoint_path(name, checkpoint)] if trained else []
    return build_levelset_config(get_config_file(name), list(entry.opts) + weights + list(opts), freeze=False)


def load_config(name=None, config_file=None, *, checkpoint=None, opts=()):
    """The (unfrozen) config of a model-zoo ``name`` (trained: ``MODEL.WEIGHTS`` is its verified checkpoint) or of
    a ``config_file`` (exactly one of the two), then ``opts``: what a tool with ``--model NAME | --config-file CFG``
    and ``--opts KEY VALUE ...`` runs. ``checkpoint`` goes with ``name`` (see :func:`get_checkpoint_path`)."""
    from ..config import build_levelset_config

    if (name is None) == (config_file is None):
        raise ValueError("load_config needs a model zoo name or a config file (exactly one)")
    if name is not None:
        return get_config(name, trained=True, checkpoint=checkpoint, opts=opts)
    if checkpoint is not None:
        raise ValueError("checkpoint= goes with a model zoo name; with a config file pass MODEL.WEIGHTS in opts")
    return build_levelset_config(config_file, opts, freeze=False)


def get(name, trained=True, device=None, checkpoint=None):
    """Build the model of ``name`` (table name or release folder), in eval mode.

    Args:
        trained: load the verified checkpoint through :class:`levelset_core.checkpoint.SafeCheckpointer`
            (detectron2's ``DetectionCheckpointer``, loading safely); otherwise the
            model is randomly initialised (nothing is loaded).
        device: e.g. ``"cpu"``; default the config's (CPU when CUDA is missing).
        checkpoint: a local checkpoint file to use instead of the cache / URL (still checksum-verified).
    """
    from detectron2.modeling import build_model

    from levelset_core.checkpoint import build_trained_model

    cfg = get_config(name, trained=trained, checkpoint=checkpoint)
    if device is not None:
        cfg.MODEL.DEVICE = str(device)
    return build_trained_model(cfg) if trained else build_model(cfg).eval()


def entry_of(name):
    """A copy of the table row of ``name`` (table name or release folder)."""
    return copy.deepcopy(lookup(name)[1])
