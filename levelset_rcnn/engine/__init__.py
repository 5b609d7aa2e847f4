"""Training of LevelSet R-CNN: :class:`Trainer`, config set-up and the multi-process launch (shared machinery in
:mod:`levelset_core.engine`)."""
from levelset_core.engine.launcher import launch
from levelset_core.engine.trainer import CPUAMPTrainer, DeviceAgnosticTrainer  # noqa: F401  (deprecated re-export:
# import them from levelset_core.engine.trainer)

from .defaults import argument_parser, default_setup_from_args, setup_cfg
from .trainer import Trainer, check_dataset_classes

__all__ = ["CPUAMPTrainer", "DeviceAgnosticTrainer", "Trainer", "argument_parser", "check_dataset_classes",
           "default_setup_from_args", "launch", "setup_cfg"]
