"""Shared pytest fixtures: CPU-only, quiet, deterministic; the shared real datasets (``../shared/datasets``).

Tests import nothing from here: they request fixtures; repository paths are in the plain module ``repo_paths``.
"""
import functools
import os

import pytest
import torch

import levelset_rcnn  # noqa: F401  (registers heads and the detectron2._C stand-in first)
from levelset_core.data.roots import shared_dataset_path
from repo_paths import REPO_ROOT

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def shared_dataset():
    """``shared_dataset(name, marker=None)``: the folder of a real dataset in ``../shared/datasets`` (or
    ``$LEVELSET_RCNN_SHARED``, :func:`levelset_core.data.roots.shared_dataset_path`); the test is skipped, with the
    reason, when the folder (or ``folder/marker``) is absent."""
    return functools.partial(shared_dataset_path, missing=pytest.skip)


@pytest.fixture
def temporary_datasets():
    """A list for the names of the datasets a test registers in ``DatasetCatalog``; each is removed from
    ``DatasetCatalog`` and ``MetadataCatalog`` at teardown."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    names = []
    yield names
    for name in names:
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for modules of many tiny models: with 2 threads on 2 cores shared with another
    CPU job, a step of these tiny models is ~40x slower (OpenMP threads wait for each other)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
