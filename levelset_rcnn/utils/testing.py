"""Helpers for the test suites (this package's ``tests/`` and ``projects/*/tests``): the shared real datasets.

The real datasets (``balloon``, ``coco_tiny``, ``camvid``) live outside the repository in ``../shared/datasets``
and are never committed; tests that need them skip, with the reason, when they are absent.
"""
import os
from pathlib import Path

__all__ = ["shared_datasets_dir", "shared_dataset"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_datasets_dir():
    """``$LEVELSET_RCNN_SHARED`` (the shared folder, or its ``datasets`` folder), else ``<repo>/../shared/datasets``."""
    env = os.environ.get("LEVELSET_RCNN_SHARED")
    if env:
        env = Path(env)
        return env / "datasets" if (env / "datasets").is_dir() else env
    return _REPO_ROOT.parent / "shared" / "datasets"


def shared_dataset(name, marker=None):
    """Path of the shared dataset ``name``; skips the calling test when the folder (or ``folder/marker``) is absent."""
    import pytest

    folder = shared_datasets_dir() / name
    wanted = folder / marker if marker else folder
    if not wanted.exists():
        pytest.skip(f"shared dataset {name!r} not found at {wanted} "
                    "(set LEVELSET_RCNN_SHARED to the folder holding datasets/)")
    return folder
