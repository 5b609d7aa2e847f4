"""Checkpoint files of the model zoo: the user cache, sha256 verification and download.

Nothing here knows the table: :mod:`levelset_rcnn.model_zoo.model_zoo` resolves a name to a file and uses these
helpers to find it in the cache, fetch it and check it.
"""
import hashlib
import os
import urllib.request

from levelset_core.data.cache import write_atomic

__all__ = [
    "ChecksumMismatchError",
    "CheckpointNotAvailableError",
    "cache_dir",
    "sha256sum",
    "verify_checkpoint",
    "download",
]


class ChecksumMismatchError(RuntimeError):
    """A checkpoint's sha256 differs from the one recorded in the model zoo table."""


class CheckpointNotAvailableError(FileNotFoundError):
    """A checkpoint is neither in the cache nor downloadable (no URL, or no network)."""


def cache_dir():
    """``$LEVELSET_RCNN_CACHE/checkpoints`` if set, else ``~/.cache/levelset_rcnn/checkpoints``."""
    root = os.environ.get("LEVELSET_RCNN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "levelset_rcnn")
    return os.path.join(root, "checkpoints")


def sha256sum(path, chunk_size=1 << 20):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checkpoint(path, sha256, name):
    """Return ``path`` if its sha256 is ``sha256``; else raise :class:`ChecksumMismatchError` naming the file and
    the model zoo entry ``name``."""
    digest = sha256sum(path)
    if digest != sha256:
        raise ChecksumMismatchError(
            f"checkpoint {path} of model zoo entry {name!r} has sha256 {digest}, but the table records "
            f"{sha256}: the file is corrupt, incomplete or a different model. Delete it and fetch it again."
        )
    return path


def download(url, dest, timeout=60):
    """Download ``url`` to ``dest``, written atomically (no partial file is left, see
    :func:`levelset_core.data.cache.write_atomic`)."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    write_atomic(dest, data)
