"""Training of LevelSet R-CNN: :class:`Trainer`, config set-up and the multi-process launch (shared machinery in
:mod:`levelset_core.engine`)."""
from levelset_core.engine.launcher import launch

from .defaults import (
    CPUAMPTrainer,
    DeviceAgnosticTrainer,
    argument_parser,
    check_dataset_classes,
    default_setup_from_args,
    setup_cfg,
)
from .trainer import Trainer

__all__ = ["CPUAMPTrainer", "DeviceAgnosticTrainer", "Trainer", "argument_parser", "check_dataset_classes",
           "default_setup_from_args", "launch", "setup_cfg"]
