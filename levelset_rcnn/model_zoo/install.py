"""Put a fetched checkpoint where ``model_zoo.get(name)`` finds it, on any machine.

    python -m levelset_rcnn.model_zoo install NAME FILE_OR_RELEASE_FOLDER

:func:`install_checkpoint` checks the file's sha256 against the row of ``name`` in the table (``model_zoo.json``)
and copies it, atomically, to ``$LEVELSET_RCNN_CACHE/checkpoints/<name>/<the row's file name>`` (default
``~/.cache/levelset_rcnn/checkpoints/...``), the path :func:`levelset_rcnn.model_zoo.get_checkpoint_path` looks at;
from a release folder (``tools/publish_model.py``) its ``config.yaml`` goes along. A file with another sha256 is
refused: it is another model (e.g. a retrained one), which ``model_zoo.get(<its release folder>)`` loads, or which
becomes the row once ``model_zoo.json`` records its sha256.
"""
import os
import shutil

from .checkpoints import ChecksumMismatchError, CheckpointNotAvailableError, cache_dir, sha256sum
from .release import RELEASE_CONFIG_FILE, is_release_folder, read_release
from .table import lookup

__all__ = ["install_checkpoint", "installed_path"]


def installed_path(name):
    """Where ``model_zoo.get(name)`` looks for the checkpoint of table row ``name`` in the user cache."""
    key, entry, folder = lookup(name)
    if folder is not None:
        raise ValueError(f"{name} is a release folder: its checkpoint is read from the folder, nothing to install")
    if entry.checkpoint is None:
        raise CheckpointNotAvailableError(f"model zoo row {key!r} has no checkpoint ({entry.note or 'config only'})")
    return os.path.join(cache_dir(), key, entry.checkpoint)


def _source_file(source):
    """``(checkpoint file, config.yaml or None)`` of a checkpoint file or a release folder."""
    if is_release_folder(source):
        _, fields = read_release(source)
        path = os.path.join(os.path.abspath(source), fields["checkpoint"])
        config = fields["config"] if os.path.isfile(fields["config"]) else None
        return path, config
    if os.path.isdir(source):
        raise FileNotFoundError(f"{source} is a folder without a release entry: pass the checkpoint file itself")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"checkpoint file {source} does not exist")
    beside = os.path.join(os.path.dirname(os.path.abspath(source)), RELEASE_CONFIG_FILE)
    return source, beside if os.path.isfile(beside) else None


def install_checkpoint(name, source):
    """Install ``source`` (a checkpoint file or a release folder) as the checkpoint of table row ``name``.

    Returns the installed path. Raises :class:`ChecksumMismatchError` (nothing is copied) when the file's sha256 is
    not the row's, :class:`FileNotFoundError` for a missing source.
    """
    key, entry, _ = lookup(name)
    dest = installed_path(key)
    path, config = _source_file(source)
    digest = sha256sum(path)
    if digest != entry.sha256:
        raise ChecksumMismatchError(
            f"{path} has sha256 {digest}, but model zoo row {key!r} is {entry.checkpoint} with sha256 {entry.sha256}: "
            f"it is a different model (a retrained one has other bytes). Nothing was installed. Load it with "
            f"model_zoo.get(<its release folder>), or make it the row: replace the row in "
            f"levelset_rcnn/model_zoo/model_zoo.json with the entry tools/publish_model.py printed."
        )
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.abspath(path) != os.path.abspath(dest):
        partial = dest + ".partial"
        shutil.copyfile(path, partial)
        os.replace(partial, dest)
    if config is not None:
        shutil.copyfile(config, os.path.join(os.path.dirname(dest), RELEASE_CONFIG_FILE))
    return dest
