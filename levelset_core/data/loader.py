"""The training data loader of both projects: detectron2's, made resumable exactly, with any number of data-loading
workers and processes.

detectron2's train loader (``build_detection_train_loader``) restarts its sampler's stream on ``--resume``, and with
``DATALOADER.NUM_WORKERS > 0`` its augmentations draw from per-worker random generators whose state after N images
is nowhere saved. :class:`ResumableTrainLoader` makes every batch a function of (sampler seed, rank, world size,
batch number) only:

* **indices**: the stream of the training sampler detectron2 builds from the config (``TrainingSampler``,
  ``RepeatFactorTrainingSampler``, ``RandomSubsetTrainingSampler``), sharded over processes as detectron2 shards it:
  rank r takes elements r, r + world_size, ... of the global stream;
* **augmentations**: global element g is mapped with Python's, numpy's and torch's (CPU) random generators seeded
  from (sampler seed, g) and restored afterwards, so what a worker mapped before, and which worker maps it, does
  not matter; a mapper that returns None is retried on other images drawn from the same seed (detectron2's
  ``MapDataset`` draws them from a per-worker generator);
* **workers**: a map-style torch ``DataLoader`` (the sampler runs in the main process; results come back in stream
  order whatever ``NUM_WORKERS`` is);
* **batches**: formed in the main process, in aspect-ratio groups as detectron2's ``AspectRatioGroupedDataset``
  (width > height or not, from the dataset record's ``width`` / ``height``; records without them form a third
  group), or one group without ``DATALOADER.ASPECT_RATIO_GROUPING``.

:meth:`ResumableTrainLoader.state_dict` (saved in the trainer's checkpoints) is the sampler seed and the number of
batches handed out. On resume every rank replays its own index stream (indices and records only: nothing is read
or mapped) to the element it had reached and to the elements then waiting in a group, which are mapped again
first. The batches after a resume are therefore those of the uninterrupted run, with 0, 2 or 4 workers alike.
"""
import contextlib
import copy
import itertools
import logging
import random
from collections import defaultdict

import numpy as np
import torch
from detectron2.data import DatasetFromList, build_detection_train_loader
from detectron2.utils import comm
from detectron2.utils.serialize import PicklableWrapper

__all__ = ["ResumableTrainLoader", "build_resumable_train_loader", "element_seed"]

logger = logging.getLogger(__name__)


def element_seed(sampler_seed, element):
    """The seed (an int in [0, 2**32)) of the random generators while global stream element ``element`` is
    mapped."""
    return int(np.random.SeedSequence([int(sampler_seed) % 2**64, int(element)]).generate_state(1)[0])


@contextlib.contextmanager
def _seeded_random_state(seed):
    """Python's, numpy's and torch's (CPU) global random generators seeded with ``seed`` inside the block and
    restored after it (CUDA generators are left alone)."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _aspect_group(record):
    """detectron2's aspect-ratio group of a dataset record: True (width > height), False, or None (no size)."""
    width, height = record.get("width"), record.get("height")
    return None if width is None or height is None else width > height


def _identity(x):
    return x


class _SeededMapDataset(torch.utils.data.Dataset):
    """``dataset[(element, index)]`` = (aspect group of record ``index``, the mapped record), mapped under
    :func:`element_seed` (sampler seed, element)."""

    def __init__(self, dataset, mapper, sampler_seed, grouping):
        self.dataset, self.mapper = dataset, PicklableWrapper(mapper)
        self.sampler_seed, self.grouping = sampler_seed, grouping

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        element, index = key
        seed = element_seed(self.sampler_seed, element)
        retry = random.Random(seed)
        group = None
        for attempt in itertools.count():
            record = self.dataset[index]
            if attempt == 0:
                group = _aspect_group(record) if self.grouping else None
            with _seeded_random_state((seed + attempt) % 2**32):
                data = self.mapper(record)
            if data is not None:
                return group, data
            if attempt >= 2:
                logger.warning("The dataset mapper returned None for %d images in a row (element %d)", attempt + 1,
                               element)
            index = retry.randrange(len(self.dataset))


def _sampler_seed(sampler):
    """The shuffling seed of a detectron2 training sampler (``_seed``: the same in v0.6 and main)."""
    if not hasattr(sampler, "_infinite_indices") or not hasattr(sampler, "_seed"):
        raise TypeError(f"{type(sampler).__name__} is not one of detectron2's training samplers (TrainingSampler, "
                        "RepeatFactorTrainingSampler, RandomSubsetTrainingSampler): it cannot be resumed")
    return int(sampler._seed)


def _sampler_indices(sampler, seed):
    """The global (all ranks) infinite index stream of a detectron2 training sampler shuffled with ``seed``."""
    sampler = copy.copy(sampler)
    sampler._seed = seed
    return sampler._infinite_indices()


class ResumableTrainLoader:
    """An iterable of training batches (lists of mapped records) whose position is a state dict; see the module
    docstring.

    Args:
        dataset: a map-style dataset of records (e.g. detectron2's ``DatasetFromList``).
        mapper: ``record -> dict`` (or None to skip the record), e.g. a ``DatasetMapper``.
        sampler: a detectron2 training sampler (``TrainingSampler``, ``RepeatFactorTrainingSampler``,
            ``RandomSubsetTrainingSampler``); only its index stream and seed are used.
        batch_size (int): images per batch of this process (``SOLVER.IMS_PER_BATCH`` / world size).
        aspect_ratio_grouping (bool): batch images with width > height together, as detectron2 does.
        num_workers (int): data-loading worker processes (``DATALOADER.NUM_WORKERS``).
        rank, world_size: this process and the number of processes (default: ``detectron2.utils.comm``'s).
    """

    def __init__(self, dataset, mapper, sampler, batch_size, aspect_ratio_grouping=True, num_workers=0, rank=None,
                 world_size=None):
        self.dataset, self.mapper, self.sampler = dataset, mapper, sampler
        self.seed = _sampler_seed(sampler)
        self.batch_size, self.grouping, self.num_workers = int(batch_size), bool(aspect_ratio_grouping), num_workers
        self.rank = comm.get_rank() if rank is None else rank
        self.world_size = comm.get_world_size() if world_size is None else world_size
        self.batches = 0  # batches handed out so far (by all iterators)

    def _settings(self):
        # RandomSubsetTrainingSampler's subset seed is random without SEED (detectron2 v0.6 and main); it cannot be
        # set afterwards, so a resume with another one is reported, not repaired
        return {"world_size": self.world_size, "batch_size": self.batch_size, "aspect_ratio_grouping": self.grouping,
                "dataset_size": len(self.dataset), "sampler": type(self.sampler).__name__,
                "subset_seed": getattr(self.sampler, "_seed_subset", None)}

    def state_dict(self):
        """``{"seed", "batches", ...}``: the sampler seed, the number of batches handed out and the settings they
        depend on (plain ints, bools and strings)."""
        return {"seed": self.seed, "batches": self.batches, **self._settings()}

    def load_state_dict(self, state):
        """Continue after ``state["batches"]`` batches of the stream shuffled with ``state["seed"]``. Exact when the
        settings are the saved ones; otherwise logs a warning naming what differs and continues from the same
        number of batches with the new settings."""
        self.seed, self.batches = int(state["seed"]), int(state["batches"])
        changed = {k: (state.get(k), v) for k, v in self._settings().items() if state.get(k) != v}
        if changed:
            logger.warning(
                "Resuming the training data after %d batches, but not exactly where the checkpoint left it: %s "
                "changed (saved, now)", self.batches, ", ".join(f"{k} {v[0]!r} -> {v[1]!r}" for k, v in changed.items()))
        else:
            logger.info("Resuming the training data exactly after %d batches (sampler seed %d, rank %d of %d)",
                        self.batches, self.seed, self.rank, self.world_size)

    def _skip(self, stream, batches):
        """Advance ``stream`` (``(element, index)`` pairs of this rank) past its first ``batches`` batches; returns
        the elements then waiting in an aspect-ratio group, in stream order."""
        groups, done = defaultdict(list), 0
        group_of = {}
        while done < batches:
            element, index = next(stream)
            if self.grouping and index not in group_of:
                group_of[index] = _aspect_group(self.dataset[index])
            group = groups[group_of.get(index)]
            group.append((element, index))
            if len(group) == self.batch_size:
                group.clear()
                done += 1
        return sorted(itertools.chain.from_iterable(groups.values()))

    def __iter__(self):
        indices = itertools.islice(_sampler_indices(self.sampler, self.seed), self.rank, None, self.world_size)
        stream = zip(itertools.count(self.rank, self.world_size), (int(i) for i in indices))
        keys = itertools.chain(self._skip(stream, self.batches), stream)
        loader = torch.utils.data.DataLoader(
            _SeededMapDataset(self.dataset, self.mapper, self.seed, self.grouping), sampler=keys, batch_size=None,
            collate_fn=_identity, num_workers=self.num_workers, generator=torch.Generator().manual_seed(self.seed % 2**63),
        )
        groups = defaultdict(list)
        for group, data in loader:
            batch = groups[group]
            batch.append(data)
            if len(batch) == self.batch_size:
                groups[group] = []
                self.batches += 1
                yield batch


def build_resumable_train_loader(cfg, mapper):
    """``detectron2.data.build_detection_train_loader(cfg, mapper=mapper)`` (the same datasets, filtering, sampler,
    batch size, grouping and workers) as a :class:`ResumableTrainLoader`."""
    args = build_detection_train_loader.from_config(cfg, mapper=mapper)
    world_size = comm.get_world_size()
    total = args["total_batch_size"]
    if total <= 0 or total % world_size:
        raise ValueError(f"SOLVER.IMS_PER_BATCH = {total}: must be a positive multiple of the number of processes "
                         f"({world_size})")
    dataset = args["dataset"]
    if isinstance(dataset, list):
        dataset = DatasetFromList(dataset, copy=False)
    return ResumableTrainLoader(dataset, args["mapper"], args["sampler"], total // world_size,
                                args["aspect_ratio_grouping"], args["num_workers"])
