"""detectron2's DefaultTrainer that also trains on the CPU with several processes and with AMP, and resumes exactly.

* :class:`DeviceAgnosticTrainer`: the trainer of both projects (``levelset_rcnn.engine.Trainer`` and the
  DeepLabLosses ``Trainer`` subclass it); which checkpointer and dataset mapper it uses are class attributes;
* :class:`CPUAMPTrainer` / :func:`build_step_trainer`: the step trainer for the device and ``SOLVER.AMP``;
* :func:`create_ddp_model`: DistributedDataParallel for GPU and CPU processes
  (:func:`levelset_core.compat.engine.create_ddp_model`).

Import it after :func:`levelset_core.compat.install` (it imports ``detectron2.engine``).
"""
import logging
import time
import weakref

import torch
from detectron2.data import build_detection_test_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer
from detectron2.engine.train_loop import TrainerBase
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint import SafeCheckpointer
from ..compat.engine import create_ddp_model
from ..data.loader import build_resumable_train_loader
from ..data.mapper import LevelSetDatasetMapper
from .rng import rng_state, set_rng_state

__all__ = ["DeviceAgnosticTrainer", "CPUAMPTrainer", "build_step_trainer", "create_ddp_model"]

logger = logging.getLogger(__name__)


class CPUAMPTrainer(SimpleTrainer):
    """Mixed precision on the CPU: the forward runs under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

    bfloat16 has float32's exponent range, so no loss scaling is needed (detectron2's AMPTrainer uses CUDA
    float16 with a GradScaler and asserts CUDA). The level-set math still runs in float32 inside
    (``levelset_core.layers.level_set.float32``). Backward and the optimizer step run outside autocast.
    """

    def __init__(self, model, data_loader, optimizer, dtype=torch.bfloat16):
        super().__init__(model, data_loader, optimizer)
        self.dtype = dtype

    def run_step(self):
        assert self.model.training, "[CPUAMPTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        with torch.autocast("cpu", dtype=self.dtype):
            loss_dict = self.model(data)
        if isinstance(loss_dict, torch.Tensor):
            losses, loss_dict = loss_dict, {"total_loss": loss_dict}
        else:
            losses = sum(loss_dict.values())
        self.optimizer.zero_grad()
        losses.backward()
        self._write_metrics(loss_dict, data_time)
        self.optimizer.step()


def build_step_trainer(cfg, model, data_loader, optimizer):
    """SimpleTrainer; with ``SOLVER.AMP.ENABLED`` detectron2's AMPTrainer (float16 + GradScaler) on CUDA and
    :class:`CPUAMPTrainer` (bfloat16) on the CPU. A CUDA ``MODEL.DEVICE`` without a GPU is a clear error."""
    if not cfg.SOLVER.AMP.ENABLED:
        return SimpleTrainer(model, data_loader, optimizer)
    device = torch.device(cfg.MODEL.DEVICE)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("SOLVER.AMP.ENABLED with MODEL.DEVICE=cuda, but no GPU is available")
        return AMPTrainer(model, data_loader, optimizer)
    if device.type == "cpu":
        logger.info("SOLVER.AMP.ENABLED on the CPU: bfloat16 autocast (no loss scaling)")
        return CPUAMPTrainer(model, data_loader, optimizer)
    raise RuntimeError(f"SOLVER.AMP.ENABLED is supported on cuda and cpu, not MODEL.DEVICE={cfg.MODEL.DEVICE!r}")


class DeviceAgnosticTrainer(DefaultTrainer):
    """detectron2's DefaultTrainer that also trains on the CPU with several processes and with AMP.

    DistributedDataParallel for CPU processes (gloo, :mod:`levelset_core.engine.launcher`) and
    ``SOLVER.AMP.ENABLED`` on the CPU (bfloat16, :class:`CPUAMPTrainer`); on CUDA the same as detectron2.
    Base of ``levelset_rcnn.engine.Trainer`` and of the DeepLabLosses project's trainer.

    Checkpoints (``--resume``) hold, besides the model and the iteration: the optimizer (momentum buffers and
    the current learning rates), the LR scheduler, the AMP grad scaler (CUDA AMP), the random states of
    Python, numpy and torch, and the training data's position (:class:`levelset_core.data.loader.ResumableTrainLoader`:
    the sampler seed and the batches handed out; its augmentations are seeded per image, so any
    ``DATALOADER.NUM_WORKERS`` resumes exactly). Resuming a single-process run therefore continues exactly as the
    uninterrupted run would (same weights). With several processes every rank resumes its data exactly, but the
    random states are those of rank 0 only (only rank 0 saves): each rank re-seeds instead, and a warning says so.

    A subclass chooses, as class attributes:

    * :attr:`checkpointer_class`: reads and writes the checkpoints (default :class:`SafeCheckpointer`: safe,
      clear errors);
    * :attr:`dataset_mapper_class`: ``mapper_class(cfg, is_train)`` of the default train / test loaders (default
      :class:`levelset_core.data.mapper.LevelSetDatasetMapper`: float coordinates, image read errors that name
      the file).
    """

    checkpointer_class = SafeCheckpointer
    dataset_mapper_class = LevelSetDatasetMapper

    def __init__(self, cfg):
        # detectron2's DefaultTrainer.__init__ (the same in v0.6 and main), with the DDP wrapper, the step trainer
        # and the checkpointer chosen here: detectron2's pass CUDA device ids to DDP and build a CUDA-only AMP.
        TrainerBase.__init__(self)
        d2_logger = logging.getLogger("detectron2")
        if not d2_logger.isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = create_ddp_model(model, broadcast_buffers=False)
        self._trainer = build_step_trainer(cfg, model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = self.checkpointer_class(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_train_loader(cls, cfg):
        return build_resumable_train_loader(cfg, cls.dataset_mapper_class(cfg, True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(cfg, dataset_name, mapper=cls.dataset_mapper_class(cfg, False))

    def state_dict(self):
        # TrainerBase's (iteration, hook states) plus the step trainer's (optimizer, AMP grad scaler); detectron2
        # v0.6's DefaultTrainer leaves the latter out. The scheduler is saved by its hook too; explicitly here
        # so that a scheduler the hook does not recognise is saved as well.
        ret = TrainerBase.state_dict(self)
        ret["_trainer"] = self._trainer.state_dict()
        ret["scheduler"] = self.scheduler.state_dict()
        ret["rng"] = rng_state()
        if hasattr(self.data_loader, "state_dict"):
            ret["data_loader"] = self.data_loader.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        TrainerBase.load_state_dict(self, state_dict)
        if "scheduler" in state_dict:
            self.scheduler.load_state_dict(state_dict["scheduler"])
        if "_trainer" in state_dict:
            self._trainer.load_state_dict(state_dict["_trainer"])
        else:
            # written by an older version: at least continue at the scheduler's learning rate, not the warm-up's
            logger.warning("The checkpoint has no optimizer state (written by an older version): SGD momentum "
                           "restarts from zero")
            for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_lr()):
                group["lr"] = lr
        if "data_loader" in state_dict and hasattr(self.data_loader, "load_state_dict"):
            self.data_loader.load_state_dict(state_dict["data_loader"])
        else:
            logger.warning("The checkpoint has no training data position (written by an older version) or the train "
                           "loader cannot resume: the data order restarts")
        rng = state_dict.get("rng")
        if rng is not None and rng.get("world_size") == comm.get_world_size() == 1:
            set_rng_state(self._trainer, rng)
        elif comm.get_world_size() > 1:
            logger.warning("Resuming with %d processes: the random states (RoI sampling, ...) are re-seeded, not "
                           "restored (only rank 0's are saved); the weights will not be bit-identical to an "
                           "uninterrupted run", comm.get_world_size())
