"""Saving and restoring the Python, numpy and torch random states in a training checkpoint, so that ``--resume``
continues a single-process run exactly as the uninterrupted run would (see
:class:`levelset_core.engine.DeviceAgnosticTrainer`)."""
import random

import numpy as np
import torch
from detectron2.utils import comm

from ..compat.engine import set_data_loader_iter

__all__ = ["rng_state", "set_rng_state"]


def rng_state():
    """The Python, numpy and torch (CPU and CUDA) random states, as objects ``torch.load(weights_only=True)``
    reads back."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
        "world_size": comm.get_world_size(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_torch_rng_state(state):
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class _TorchRNGAfterFirstBatch:
    """Wraps the step trainer's data iterator: sets torch's random state once the first batch is fetched.

    The data loader's iterator is created on the first batch and then draws a seed from torch's generator; in
    the uninterrupted run that happened at iteration 0. Setting the saved state after that draw makes the
    model's random ops (RoI sampling, ...) see exactly what they saw in the uninterrupted run."""

    def __init__(self, iterator, state):
        self._iterator, self._state = iterator, state

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        if self._state is not None:
            _set_torch_rng_state(self._state)
            self._state = None
        return batch


def set_rng_state(step_trainer, state):
    """Restore the Python and numpy random states of :func:`rng_state` now and torch's at the first batch of
    ``step_trainer`` (a detectron2 ``SimpleTrainer``; see :class:`_TorchRNGAfterFirstBatch`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    set_data_loader_iter(step_trainer, _TorchRNGAfterFirstBatch(step_trainer._data_loader_iter, state))
