from .defaults import CPUAMPTrainer, Trainer, argument_parser, check_dataset_classes, setup_cfg
from .launch import launch

__all__ = ["CPUAMPTrainer", "Trainer", "argument_parser", "check_dataset_classes", "launch", "setup_cfg"]
