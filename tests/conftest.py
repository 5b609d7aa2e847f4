"""Shared pytest fixtures: CPU-only, quiet, deterministic; paths to ../shared/datasets."""
import os
from pathlib import Path

import pytest
import torch

import levelset_rcnn  # noqa: F401  (registers heads and the detectron2._C stand-in first)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("LEVELSET_RCNN_SHARED", REPO_ROOT.parent / "shared")) / "datasets"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def shared_dataset(name):
    """Path to ../shared/datasets/<name>, or skip the test with the reason."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {path} is absent (set LEVELSET_RCNN_SHARED to the folder holding datasets/)")
    return path


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
