"""Clear errors of the training set-up (levelset_rcnn.engine.defaults): a dataset class outside NUM_CLASSES names the
dataset, the file and the class; a config file or override key that does not exist names the file / the key."""
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from repo_paths import REPO_ROOT

from levelset_rcnn.engine import check_dataset_classes, setup_cfg

BASE_LEVELSET = REPO_ROOT / "configs" / "Base-LevelSet-RCNN-FPN.yaml"


@pytest.fixture
def registered(temporary_datasets):
    def register(name, records, thing_classes=None):
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
        DatasetCatalog.register(name, lambda: records)
        if thing_classes is not None:
            MetadataCatalog.get(name).thing_classes = thing_classes
        temporary_datasets.append(name)
        return name

    return register


def _record(file_name, *category_ids):
    return {
        "file_name": file_name, "image_id": 0, "height": 32, "width": 32,
        "annotations": [{"bbox": [1, 1, 10, 10], "bbox_mode": BoxMode.XYWH_ABS, "category_id": c}
                        for c in category_ids],
    }


def test_check_dataset_classes_names_dataset_file_and_class(registered):
    good = registered("levelset_test_good_classes", [_record("/data/a.png", 0, 3)], ["a", "b", "c", "d"])
    bad = registered("levelset_test_bad_classes",
                     [_record("/data/a.png", 1), _record("/data/img_bad_0042.png", 2, 7)])
    check_dataset_classes([good], 4)  # no error
    with pytest.raises(ValueError) as info:
        check_dataset_classes([good, bad], 4)
    message = str(info.value)
    assert "levelset_test_bad_classes" in message
    assert "img_bad_0042.png" in message
    assert "7" in message
    assert "NUM_CLASSES" in message


def test_check_dataset_classes_negative_id(registered):
    bad = registered("levelset_test_negative_class", [_record("/data/neg.png", -1)])
    with pytest.raises(ValueError, match="neg.png"):
        check_dataset_classes([bad], 4)


def test_setup_cfg_unknown_key_in_file(tmp_path):
    path = tmp_path / "bad_key.yaml"
    path.write_text(f'_BASE_: "{BASE_LEVELSET.as_posix()}"\nMODEL:\n  LEVELSET:\n    NOT_A_KEY: 1\n')
    with pytest.raises(KeyError) as info:
        setup_cfg(str(path), [])
    message = str(info.value.args[0])
    assert str(path) in message
    assert "NOT_A_KEY" in message


def test_setup_cfg_missing_file(tmp_path):
    path = tmp_path / "nope" / "missing.yaml"
    with pytest.raises(FileNotFoundError) as info:
        setup_cfg(str(path), [])
    assert str(path) in str(info.value)


def test_setup_cfg_unknown_override_key():
    with pytest.raises(KeyError) as info:
        setup_cfg(str(BASE_LEVELSET), ["MODEL.LEVELSET.NOT_A_KEY", "1"])
    assert "MODEL.LEVELSET.NOT_A_KEY" in str(info.value.args[0])


def test_setup_cfg_valid_file_and_overrides():
    cfg = setup_cfg(str(BASE_LEVELSET), ["MODEL.DEVICE", "cpu", "MODEL.LEVELSET.NUM_ITERATIONS", "2"])
    assert cfg.MODEL.LEVELSET.NUM_ITERATIONS == 2
    assert cfg.is_frozen()
