"""Datasets: generated semantic shapes (deterministic), CamVid registration, VOC + SBD helpers."""
import numpy as np
import pytest
from PIL import Image
from detectron2.data import DatasetCatalog, MetadataCatalog

from deeplab_losses.data import (convert_sbd_to_png, generate_sem_shapes, load_sem_shapes, load_voc_sem_seg,
                                 register_camvid, write_train_aug_list)


def test_generated_split_is_deterministic_and_valid(tmp_path):
    a = load_sem_shapes(generate_sem_shapes(str(tmp_path / "a"), "val", 4, seed=5))
    b = load_sem_shapes(generate_sem_shapes(str(tmp_path / "b"), "val", 4, seed=5))
    assert len(a) == 4
    for da, db in zip(a, b):
        la, lb = np.array(Image.open(da["sem_seg_file_name"])), np.array(Image.open(db["sem_seg_file_name"]))
        assert np.array_equal(la, lb)
        assert la.shape == (128, 128) and set(np.unique(la)) <= set(range(5)) and (la > 0).any()
        assert np.array_equal(np.array(Image.open(da["file_name"])), np.array(Image.open(db["file_name"])))
    # a complete split is reused, not regenerated
    mtime = (tmp_path / "a" / "val" / "DONE.json").stat().st_mtime_ns
    generate_sem_shapes(str(tmp_path / "a"), "val", 4, seed=5)
    assert (tmp_path / "a" / "val" / "DONE.json").stat().st_mtime_ns == mtime
    meta = MetadataCatalog.get("dll_shapes_sem_train")
    assert meta.stuff_classes[0] == "background" and len(meta.stuff_classes) == 5 and meta.ignore_label == 255


def test_camvid_registration_on_shared_folder(dll_shared_dataset):
    root = dll_shared_dataset("camvid")
    names = register_camvid("dll_test_camvid", str(root), splits=("train", "val"))
    dicts = DatasetCatalog.get(names[1])
    assert len(dicts) == 101
    label = np.array(Image.open(dicts[0]["sem_seg_file_name"]))
    assert label.max() <= 11
    meta = MetadataCatalog.get(names[1])
    assert len(meta.stuff_classes) == 11 and meta.ignore_label == 11


def test_camvid_missing_folder_is_clear(tmp_path):
    register_camvid("dll_test_camvid_missing", str(tmp_path), splits=("train",))
    with pytest.raises(FileNotFoundError, match="trainannot|train"):
        DatasetCatalog.get("dll_test_camvid_missing_train")


def test_voc_sbd_helpers(tmp_path):
    from scipy.io import savemat

    mats = tmp_path / "cls"
    mats.mkdir()
    seg = np.zeros((6, 5), dtype=np.uint8)
    seg[2:4, 1:3] = 15
    savemat(str(mats / "2008_000001.mat"), {"GTcls": {"Segmentation": seg}})
    out = tmp_path / "VOC2012" / "SegmentationClassAug"
    assert convert_sbd_to_png(str(mats), str(out)) == ["2008_000001"]
    assert np.array_equal(np.array(Image.open(out / "2008_000001.png")), seg)
    lists = tmp_path / "VOC2012" / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    n = write_train_aug_list(str(lists / "train_aug.txt"), ["2008_000001", "2008_000002"], ["2008_000003"],
                             ["2008_000002"])
    assert n == 2
    with pytest.raises(FileNotFoundError, match="2008_000003.png"):
        load_voc_sem_seg(str(tmp_path), "VOC2012/ImageSets/Segmentation/train_aug.txt", "VOC2012/SegmentationClassAug")
    with pytest.raises(FileNotFoundError, match="id list"):
        load_voc_sem_seg(str(tmp_path), "VOC2012/ImageSets/Segmentation/val.txt", "VOC2012/SegmentationClass")
