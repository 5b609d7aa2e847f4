"""Training entry points shared by ``tools/train_net.py`` and the quickstart: config set-up and Trainer."""
import logging
import os
import random
import time
import weakref

import numpy as np
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, default_argument_parser, default_setup
from detectron2.engine.train_loop import TrainerBase
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import LevelSetCheckpointer
from ..config import add_levelset_rcnn_config
from ..data.mapper import LevelSetDatasetMapper

__all__ = ["argument_parser", "setup_cfg", "Trainer", "DeviceAgnosticTrainer", "check_dataset_classes", "CPUAMPTrainer",
           "create_ddp_model", "add_eval_only_arguments", "check_eval_only_weights", "load_eval_weights"]

logger = logging.getLogger(__name__)


def argument_parser(epilog=None):
    """detectron2's standard training arguments plus ``--dataset-folder PREFIX=PATH`` (repeatable)."""
    parser = default_argument_parser(epilog=epilog)
    parser.add_argument(
        "--dataset-folder",
        action="append",
        default=[],
        metavar="PREFIX=PATH",
        help="register every split of a COCO-format (annotations/instances_<split>.json + <split>/) or "
        "VIA-format (<split>/via_region_data.json) folder as PREFIX_<split>; use the names in "
        "DATASETS.TRAIN / DATASETS.TEST",
    )
    parser.add_argument(
        "--dist-backend",
        default="auto",
        choices=["auto", "nccl", "gloo"],
        help="torch.distributed backend when --num-gpus > 1: auto = nccl with CUDA, gloo on the CPU "
        "(then --num-gpus is the number of CPU worker processes)",
    )
    add_eval_only_arguments(parser)
    return parser


def add_eval_only_arguments(parser):
    """``--eval-random-init``: allow ``--eval-only`` without ``MODEL.WEIGHTS`` (see :func:`check_eval_only_weights`)."""
    parser.add_argument(
        "--eval-random-init",
        action="store_true",
        help="with --eval-only: evaluate even though MODEL.WEIGHTS is empty (a randomly initialised model; "
        "only useful to test a pipeline)",
    )
    return parser


def check_eval_only_weights(cfg, args):
    """Refuse ``--eval-only`` with an empty ``MODEL.WEIGHTS``: it would evaluate a randomly initialised model
    and exit 0. Allowed with ``--resume`` when ``OUTPUT_DIR`` has a checkpoint (that one is evaluated) or with
    ``--eval-random-init``. Raises ``SystemExit`` with the reason."""
    if not getattr(args, "eval_only", False) or cfg.MODEL.WEIGHTS or getattr(args, "eval_random_init", False):
        return
    if getattr(args, "resume", False) and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint")):
        return
    raise SystemExit(
        "--eval-only needs trained weights, but MODEL.WEIGHTS is empty (the model would be randomly initialised "
        "and its numbers meaningless): add MODEL.WEIGHTS path/to/model_final.pth, or --resume with OUTPUT_DIR "
        "holding a training's last_checkpoint; --eval-random-init evaluates a random model on purpose"
    )


def load_eval_weights(cfg, model, args):
    """``--eval-only``: check the weights are given (:func:`check_eval_only_weights`) and load them safely
    (:class:`levelset_rcnn.checkpoint.LevelSetCheckpointer`); returns the model."""
    check_eval_only_weights(cfg, args)
    LevelSetCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
    return model


def register_dataset_folders(specs):
    from ..data import register_dataset_folder

    names = []
    for spec in specs:
        if "=" not in spec:
            raise SystemExit(f"--dataset-folder expects PREFIX=PATH, got {spec!r}")
        prefix, path = spec.split("=", 1)
        names.extend(register_dataset_folder(prefix, path))
    return names


def setup_cfg(config_file, opts=(), output_dir=None):
    """Build a frozen config from a YAML file plus ``KEY VALUE`` overrides, with clear errors.

    A key that exists neither in detectron2 nor in LevelSet R-CNN's config is reported with the file or
    override it came from. ``MODEL.DEVICE = cuda`` on a machine without a GPU falls back to the CPU with
    a warning.
    """
    cfg = get_cfg()
    add_levelset_rcnn_config(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file not found: {config_file}")
        try:
            cfg.merge_from_file(config_file)
        except KeyError as e:
            raise KeyError(f"config file {config_file}: {e.args[0] if e.args else e}") from None
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError, ValueError) as e:
        raise KeyError(f"command-line override {list(opts)}: {e}") from None
    if output_dir:
        cfg.OUTPUT_DIR = output_dir
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE=%s but no GPU is available: using the CPU", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def check_dataset_classes(dataset_names, num_classes):
    """Raise a clear error if any annotation's ``category_id`` is outside ``[0, num_classes)``."""
    for name in dataset_names:
        for record in DatasetCatalog.get(name):
            for ann in record.get("annotations", []):
                cid = ann.get("category_id")
                if cid is None or not 0 <= int(cid) < num_classes:
                    raise ValueError(
                        f"dataset {name!r}, image {record.get('file_name')!r}: category_id {cid} is outside "
                        f"[0, {num_classes}) (MODEL.ROI_HEADS.NUM_CLASSES = {num_classes}); "
                        f"the dataset has classes {MetadataCatalog.get(name).get('thing_classes')}"
                    )


def create_ddp_model(model, **kwargs):
    """Wrap in DistributedDataParallel when there are several processes: ``device_ids`` = the local rank
    on a GPU, none for a CPU model (detectron2 v0.6 always passes ``device_ids``, which DDP rejects for CPU
    modules)."""
    if comm.get_world_size() == 1:
        return model
    if "device_ids" not in kwargs and next(model.parameters()).device.type == "cuda":
        kwargs["device_ids"] = [comm.get_local_rank()]
    return DistributedDataParallel(model, **kwargs)


class CPUAMPTrainer(SimpleTrainer):
    """Mixed precision on the CPU: the forward runs under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

    bfloat16 has float32's exponent range, so no loss scaling is needed (detectron2's AMPTrainer uses CUDA
    float16 with a GradScaler and asserts CUDA). The level-set math still runs in float32 inside
    (``levelset_rcnn.layers.level_set.float32``). Backward and the optimizer step run outside autocast.
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


def _rng_state():
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


def _set_rng_state(step_trainer, state):
    """Restore the Python and numpy random states now and torch's at the first batch (see
    :class:`_TorchRNGAfterFirstBatch`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    iterator = _TorchRNGAfterFirstBatch(step_trainer._data_loader_iter, state)
    if isinstance(getattr(type(step_trainer), "_data_loader_iter", None), property):
        step_trainer._data_loader_iter_obj = iterator  # detectron2 main: a lazily created iterator
    else:
        step_trainer._data_loader_iter = iterator  # detectron2 v0.6: an attribute


class DeviceAgnosticTrainer(DefaultTrainer):
    """detectron2's DefaultTrainer that also trains on the CPU with several processes and with AMP.

    DistributedDataParallel for CPU processes (gloo, :mod:`levelset_rcnn.engine.launch`) and
    ``SOLVER.AMP.ENABLED`` on the CPU (bfloat16, :class:`CPUAMPTrainer`); on CUDA the same as detectron2.
    Base of :class:`Trainer` and of the DeepLabLosses project's trainer.

    Checkpoints (``--resume``) hold, besides the model and the iteration: the optimizer (momentum buffers and
    the current learning rates), the LR scheduler, the AMP grad scaler (CUDA AMP) and the random states of
    Python, numpy and torch. Resuming a single-process run with ``DATALOADER.NUM_WORKERS 0`` therefore
    continues exactly as the uninterrupted run would (same weights), provided the data order does not depend
    on the position in the sampler's stream (detectron2's sampler restarts its shuffled stream on resume).
    With several processes each rank re-seeds instead (only rank 0 saves).
    Files are read with :class:`levelset_rcnn.checkpoint.LevelSetCheckpointer` (safe, clear errors), and the
    train / test loaders use :class:`levelset_rcnn.data.LevelSetDatasetMapper` (float coordinates, image read
    errors that name the file).
    """

    def __init__(self, cfg):
        # DefaultTrainer.__init__, with the DDP wrapper and the AMP trainer chosen by device.
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
        self.checkpointer = LevelSetCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_train_loader(cls, cfg):
        return build_detection_train_loader(cfg, mapper=LevelSetDatasetMapper(cfg, True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(cfg, dataset_name, mapper=LevelSetDatasetMapper(cfg, False))

    def state_dict(self):
        # TrainerBase's (iteration, hook states) plus the step trainer's (optimizer, AMP grad scaler); detectron2
        # v0.6's DefaultTrainer leaves the latter out. The scheduler is saved by its hook too; explicitly here
        # so that a scheduler the hook does not recognise is saved as well.
        ret = TrainerBase.state_dict(self)
        ret["_trainer"] = self._trainer.state_dict()
        ret["scheduler"] = self.scheduler.state_dict()
        ret["rng"] = _rng_state()
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
        rng = state_dict.get("rng")
        if rng is not None and rng.get("world_size") == comm.get_world_size() == 1:
            _set_rng_state(self._trainer, rng)


class Trainer(DeviceAgnosticTrainer):
    """:class:`DeviceAgnosticTrainer` with LevelSet R-CNN's evaluators and a dataset class check."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        from ..evaluation import build_evaluator

        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_train_loader(cls, cfg):
        check_dataset_classes(cfg.DATASETS.TRAIN, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
        return super().build_train_loader(cfg)

    @classmethod
    def test_with_TTA(cls, cfg, model):
        """Evaluate with test-time augmentation (``TEST.AUG.*``, :mod:`levelset_rcnn.modeling.test_time_augmentation`);
        results are keyed ``<task>_TTA`` (e.g. ``segm_TTA``, ``segm_initial_TTA``), outputs in ``inference_TTA/``."""
        from collections import OrderedDict

        from ..modeling.test_time_augmentation import build_tta_model

        logger.info("Running inference with test-time augmentation ...")
        tta_model = build_tta_model(cfg, model)
        evaluators = [cls.build_evaluator(cfg, name, output_folder=os.path.join(cfg.OUTPUT_DIR, "inference_TTA"))
                      for name in cfg.DATASETS.TEST]
        results = cls.test(cfg, tta_model, evaluators)
        return OrderedDict((k + "_TTA", v) for k, v in results.items())

    def build_hooks(self):
        """detectron2's hooks, plus a final evaluation with test-time augmentation when ``TEST.AUG.ENABLED``."""
        from detectron2.engine import hooks

        ret = super().build_hooks()
        if self.cfg.TEST.AUG.ENABLED:
            ret.append(hooks.EvalHook(0, lambda: self.test_with_TTA(self.cfg, self.model)))
        return ret

    @classmethod
    def build_model(cls, cfg):
        from ..config import validate_levelset_config

        validate_levelset_config(cfg)  # before any layer is built (the heads check again)
        return super().build_model(cfg)


def default_setup_from_args(args):
    """``tools/train_net.py``'s set-up: datasets from ``--dataset-folder``, config, logging, seeds."""
    register_dataset_folders(args.dataset_folder)
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg
