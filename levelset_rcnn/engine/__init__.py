from .defaults import Trainer, argument_parser, check_dataset_classes, setup_cfg

__all__ = ["Trainer", "argument_parser", "check_dataset_classes", "setup_cfg"]
