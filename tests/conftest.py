"""Shared pytest fixtures: CPU-only, quiet, deterministic; paths to ../shared/datasets."""
import os
from pathlib import Path

import pytest
import torch

import levelset_rcnn  # noqa: F401  (registers heads and the detectron2._C stand-in first)
from levelset_rcnn.utils.testing import shared_dataset, shared_datasets_dir  # noqa: F401  (used by the tests)

REPO_ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


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
