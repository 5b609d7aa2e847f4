"""The core trainer knows neither project: the checkpointer and the dataset mapper are class attributes that each
project's Trainer sets."""
import levelset_rcnn  # noqa: F401  (levelset_core.compat.install() before detectron2.engine)
from levelset_core.checkpoint import SafeCheckpointer
from levelset_core.data.mapper import LevelSetDatasetMapper
from levelset_core.engine import DeviceAgnosticTrainer


def test_core_defaults_and_levelset_rcnn_trainer():
    from levelset_rcnn.checkpoint import LevelSetCheckpointer
    from levelset_rcnn.engine import Trainer

    assert DeviceAgnosticTrainer.checkpointer_class is SafeCheckpointer
    assert DeviceAgnosticTrainer.dataset_mapper_class is LevelSetDatasetMapper
    assert issubclass(Trainer, DeviceAgnosticTrainer)
    assert Trainer.checkpointer_class is LevelSetCheckpointer


def test_levelset_rcnn_engine_keeps_its_names():
    from levelset_rcnn import engine
    from levelset_rcnn.engine import defaults

    for name in ("Trainer", "setup_cfg", "argument_parser", "default_setup_from_args", "check_dataset_classes",
                 "launch", "DeviceAgnosticTrainer", "CPUAMPTrainer"):  # the last two: deprecated re-exports
        assert hasattr(engine, name), name
    for name in ("setup_cfg", "argument_parser", "default_setup_from_args", "register_dataset_folders", "train_net"):
        assert hasattr(defaults, name), name
    assert engine.DeviceAgnosticTrainer is DeviceAgnosticTrainer
