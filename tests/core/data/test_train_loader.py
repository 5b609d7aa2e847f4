"""The resumable training loader (``levelset_core.data.loader``): after ``load_state_dict`` it hands out exactly the
batches of the uninterrupted stream, with 0, 2 or 4 workers, in aspect-ratio groups, on every rank of several
processes; augmentations depend on the image's place in the stream only."""
import itertools
import logging
import random

import numpy as np
import pytest
import torch
from detectron2.data import DatasetFromList
from detectron2.data.samplers import RepeatFactorTrainingSampler, TrainingSampler

from levelset_core.data.loader import ResumableTrainLoader

N_IMAGES = 7


def _records():
    # landscape and portrait images: aspect-ratio groups leave images waiting between batches
    return DatasetFromList([{"i": i, "width": 40 if i % 3 else 20, "height": 30} for i in range(N_IMAGES)], copy=False)


def _augment(record):
    """A mapper that draws from all three global generators, as detectron2's augmentations do."""
    return {"i": record["i"], "random": (random.random(), float(np.random.rand()), float(torch.rand(())))}


def _skip_odd_images(record):
    return None if record["i"] % 2 else _augment(record)


def _loader(num_workers=0, sampler=None, rank=0, world_size=1, mapper=_augment, batch_size=2, grouping=True):
    sampler = sampler or TrainingSampler(N_IMAGES, seed=7)
    return ResumableTrainLoader(_records(), mapper, sampler, batch_size, aspect_ratio_grouping=grouping,
                                num_workers=num_workers, rank=rank, world_size=world_size)


def _take(loader, n):
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            return out


def _resumed(n_before, n_after, **kwargs):
    first = _loader(**kwargs)
    head = _take(first, n_before)
    state = first.state_dict()
    second = _loader(**kwargs)
    second.load_state_dict(state)
    return head + _take(second, n_after)


@pytest.mark.parametrize("num_workers", [0, 2, 4])
def test_resume_continues_the_uninterrupted_batches(num_workers):
    straight = _take(_loader(num_workers), 9)
    assert _resumed(4, 5, num_workers=num_workers) == straight
    assert straight == _take(_loader(0), 9), "the workers changed the batches"
    groups = {tuple(d["i"] % 3 == 0 for d in batch) for batch in straight}
    assert groups <= {(True, True), (False, False)}, "a batch mixes aspect-ratio groups"


@pytest.mark.parametrize("grouping", [True, False])
def test_every_rank_resumes_its_own_share_of_the_stream(grouping):
    stream = list(itertools.islice(TrainingSampler(N_IMAGES, seed=7)._infinite_indices(), 24))
    for rank in (0, 1):
        kwargs = dict(rank=rank, world_size=2, num_workers=2, grouping=grouping)
        straight = _take(_loader(**kwargs), 6)
        assert _resumed(2, 4, **kwargs) == straight
        if not grouping:  # rank r takes elements r, r + 2, ... of the global stream, as detectron2's samplers shard
            assert [d["i"] for batch in straight for d in batch] == stream[rank::2]


def test_repeat_factor_sampler_and_a_mapper_that_skips_images():
    factors = torch.tensor([1.0, 2.5, 1.0, 1.0, 3.0, 1.0, 1.0])
    kwargs = dict(sampler=RepeatFactorTrainingSampler(factors, seed=3), mapper=_skip_odd_images, num_workers=2)
    straight = _take(_loader(**kwargs), 8)
    assert all(d["i"] % 2 == 0 for batch in straight for d in batch)
    assert _resumed(3, 5, **kwargs) == straight


def test_changed_settings_are_logged_at_resume(caplog):
    state = _loader().state_dict()
    with caplog.at_level(logging.INFO, logger="levelset_core.data.loader"):
        _loader().load_state_dict(state)
    assert "exactly after 0 batches" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="levelset_core.data.loader"):
        _loader(batch_size=3).load_state_dict(dict(state, batches=5))
    assert "not exactly where the checkpoint left it: batch_size 2 -> 3" in caplog.text
