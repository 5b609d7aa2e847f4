"""Exact resume: N iterations straight == N/2, killed, then ``--resume`` for the rest (same weights, bit for bit).

One process, the quickstart model shrunk. The run is killed right after the checkpoint of iteration N/2; the resumed
run must continue with the optimizer's momentum, the scheduler's learning rate, the random state (RoI sampling) of
the killed run and, with several images and data-loading workers, its place in the shuffled data stream and the
images' augmentations (flips).
"""
import pytest
import torch
from repo_paths import REPO_ROOT
from model_helpers import SMALL_MODEL_OPTS

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import HookBase
from detectron2.utils.env import seed_all_rng

from levelset_rcnn.engine import Trainer, setup_cfg

QUICKSTART = str(REPO_ROOT / "configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml")
N = 4
ONE_IMAGE = "levelset_test_resume_one_image"
FOUR_IMAGES = "levelset_test_resume_four_images"


class Killed(Exception):
    pass


class KillAfter(HookBase):
    """Stops training with an exception after iteration ``last`` (after the checkpoint hook ran)."""

    def __init__(self, last):
        self.last = last

    def after_step(self):
        if self.trainer.iter == self.last:
            raise Killed()


def _register(name, records):
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).thing_classes = MetadataCatalog.get("levelset_shapes_train").thing_classes
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


@pytest.fixture(scope="module")
def one_image():
    yield from _register(ONE_IMAGE, DatasetCatalog.get("levelset_shapes_train")[:1])


@pytest.fixture(scope="module")
def four_images():
    yield from _register(FOUR_IMAGES, DatasetCatalog.get("levelset_shapes_train")[:4])


def train(out, dataset, kill_after=None, resume=False, num_workers=0, ims_per_batch=1):
    opts = SMALL_MODEL_OPTS + [
        "DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
        "SOLVER.MAX_ITER", str(N), "SOLVER.IMS_PER_BATCH", str(ims_per_batch), "SOLVER.BASE_LR", "0.01",
        "SOLVER.WARMUP_ITERS", "3", "SOLVER.STEPS", "(3,)", "SOLVER.CHECKPOINT_PERIOD", str(N // 2),
        "DATALOADER.NUM_WORKERS", str(num_workers), "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
    ]
    cfg = setup_cfg(QUICKSTART, opts, output_dir=str(out))
    seed_all_rng(cfg.SEED)  # as default_setup does in tools/train_net.py
    trainer = Trainer(cfg)
    if kill_after is not None:
        trainer.register_hooks([KillAfter(kill_after)])
    trainer.resume_or_load(resume=resume)
    try:
        trainer.train()
    except Killed:
        pass
    return trainer


def test_resume_gives_the_weights_of_the_uninterrupted_run(tmp_path, one_image, one_thread):
    straight = train(tmp_path / "straight", one_image)
    assert straight.iter == N
    train(tmp_path / "resumed", one_image, kill_after=N // 2 - 1)
    # the checkpoint loads without unpickling code and holds the optimizer and the scheduler
    checkpoint = torch.load(tmp_path / "resumed" / f"model_{N // 2 - 1:07d}.pth", weights_only=True)
    assert "optimizer" in checkpoint["trainer"]["_trainer"] and "scheduler" in checkpoint["trainer"]
    assert not (tmp_path / "resumed" / "model_final.pth").exists()
    resumed = train(tmp_path / "resumed", one_image, resume=True)
    assert resumed.start_iter == N // 2 and resumed.iter == N
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert any(not torch.equal(a[k], checkpoint["model"][k]) for k in a), "the resumed iterations did not train"
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume"


@pytest.mark.parametrize("num_workers", [2, 4])
def test_resume_with_data_loading_workers_gives_the_same_weights(tmp_path, four_images, one_thread, num_workers):
    """Four shuffled images, two per batch, random flips, mapped by 2 or 4 worker processes: the checkpoint holds
    the data position (levelset_core.data.loader), so the resumed run sees the batches of the uninterrupted one."""
    kwargs = dict(num_workers=num_workers, ims_per_batch=2)
    straight = train(tmp_path / "straight", four_images, **kwargs)
    train(tmp_path / "resumed", four_images, kill_after=N // 2 - 1, **kwargs)
    checkpoint = torch.load(tmp_path / "resumed" / f"model_{N // 2 - 1:07d}.pth", weights_only=True)
    assert checkpoint["trainer"]["data_loader"]["batches"] == N // 2
    resumed = train(tmp_path / "resumed", four_images, resume=True, **kwargs)
    assert resumed.start_iter == N // 2 and resumed.iter == N
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume with {num_workers} workers"
