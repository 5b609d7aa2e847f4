"""Fixtures of the DeepLabLosses project tests: the project folder on sys.path, CPU, small thread count."""
import functools
import os
import sys
from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import deeplab_losses  # noqa: E402,F401  (registers heads, backbone, datasets)
from levelset_core.data.roots import shared_dataset_path  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def dll_shared_dataset():
    """``dll_shared_dataset(name, marker=None)``: the folder of a real dataset in ``../shared/datasets``
    (:func:`levelset_core.data.roots.shared_dataset_path`); skips the test, with the reason, when it is absent."""
    return functools.partial(shared_dataset_path, missing=pytest.skip)


@pytest.fixture
def dll_project_root():
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def dll_data_root(tmp_path_factory):
    """Generated data in a per-session folder (never the user's cache)."""
    root = tmp_path_factory.mktemp("dll_data")
    old = os.environ.get("DEEPLAB_LOSSES_DATA")
    os.environ["DEEPLAB_LOSSES_DATA"] = str(root)
    yield root
    if old is None:
        os.environ.pop("DEEPLAB_LOSSES_DATA", None)
    else:
        os.environ["DEEPLAB_LOSSES_DATA"] = old


@pytest.fixture
def one_thread_dll():
    """One intra-op thread for small models on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
