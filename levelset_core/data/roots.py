"""Where both projects look for real datasets (nothing is downloaded): ``$DETECTRON2_DATASETS`` (default
``datasets``, relative to the working directory, as detectron2 does), then the shared data folder next to the
repository (``$LEVELSET_RCNN_SHARED`` or ``<repo>/../shared/datasets``), which is never committed."""
import os
from pathlib import Path

__all__ = ["shared_datasets_dir", "shared_dataset_path", "dataset_roots"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_datasets_dir():
    """``$LEVELSET_RCNN_SHARED`` (the shared folder, or its ``datasets`` folder), else ``<repo>/../shared/datasets``."""
    env = os.environ.get("LEVELSET_RCNN_SHARED")
    if env:
        env = Path(env)
        return env / "datasets" if (env / "datasets").is_dir() else env
    return _REPO_ROOT.parent / "shared" / "datasets"


def dataset_roots():
    """The folders searched, in order: ``$DETECTRON2_DATASETS`` (default ``datasets``), then the shared data."""
    return [Path(os.environ.get("DETECTRON2_DATASETS", "datasets")), shared_datasets_dir()]


def shared_dataset_path(name, marker=None, missing=None):
    """The folder of the shared dataset ``name`` (:func:`shared_datasets_dir`). When the folder (or ``folder/marker``)
    is absent: ``missing(reason)`` is called when given (e.g. ``pytest.skip``), else ``FileNotFoundError(reason)`` is
    raised; the reason says where it was looked for."""
    folder = shared_datasets_dir() / name
    wanted = folder / marker if marker else folder
    if not wanted.exists():
        reason = (f"shared dataset {name!r} not found at {wanted} "
                  "(set LEVELSET_RCNN_SHARED to the folder holding datasets/)")
        if missing is not None:
            missing(reason)
        raise FileNotFoundError(reason)
    return folder
