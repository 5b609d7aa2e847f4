"""Exact resume: N iterations straight == N/2, killed, then ``--resume`` for the rest (same weights, bit for bit).

One image (so the data order cannot differ), one process, no loader workers, the quickstart model shrunk.
The run is killed right after the checkpoint of iteration N/2; the resumed run must continue with the
optimizer's momentum, the scheduler's learning rate and the random state (RoI sampling, flips) of the killed
run.
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


class Killed(Exception):
    pass


class KillAfter(HookBase):
    """Stops training with an exception after iteration ``last`` (after the checkpoint hook ran)."""

    def __init__(self, last):
        self.last = last

    def after_step(self):
        if self.trainer.iter == self.last:
            raise Killed()


@pytest.fixture(scope="module")
def one_image():
    record = DatasetCatalog.get("levelset_shapes_train")[0]
    DatasetCatalog.register(ONE_IMAGE, lambda: [record])
    MetadataCatalog.get(ONE_IMAGE).thing_classes = MetadataCatalog.get("levelset_shapes_train").thing_classes
    yield ONE_IMAGE
    DatasetCatalog.remove(ONE_IMAGE)
    MetadataCatalog.remove(ONE_IMAGE)


def train(out, dataset, kill_after=None, resume=False):
    opts = SMALL_MODEL_OPTS + [
        "DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
        "SOLVER.MAX_ITER", str(N), "SOLVER.IMS_PER_BATCH", "1", "SOLVER.BASE_LR", "0.01",
        "SOLVER.WARMUP_ITERS", "3", "SOLVER.STEPS", "(3,)", "SOLVER.CHECKPOINT_PERIOD", str(N // 2),
        "DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
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
