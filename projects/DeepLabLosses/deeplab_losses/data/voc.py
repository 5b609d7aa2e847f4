"""PASCAL VOC 2012 semantic segmentation with the SBD augmented train set (detectron2 has no VOC sem-seg).

Expected layout (the usual "SegmentationClassAug" form of VOC + SBD) under ``$DETECTRON2_DATASETS``::

    VOC2012/JPEGImages/<id>.jpg
    VOC2012/SegmentationClass/<id>.png          # VOC val labels (palette PNG: index = class, 255 = void)
    VOC2012/SegmentationClassAug/<id>.png       # VOC + SBD labels (uint8 or palette PNG)
    VOC2012/ImageSets/Segmentation/val.txt      # 1,449 ids
    VOC2012/ImageSets/Segmentation/train_aug.txt  # 10,582 ids: SBD train+val and VOC train, minus VOC val

``SegmentationClassAug`` can be made from SBD's ``benchmark_RELEASE/dataset/cls/*.mat`` with
:func:`convert_sbd_to_png` (and the VOC train PNGs copied in); ``train_aug.txt`` with :func:`write_train_aug_list`.
Registered: ``voc_2012_sbd_sem_seg_train`` (train_aug) and ``voc_2012_sem_seg_val``; 21 classes, ignore 255.
"""
import os

import numpy as np
from PIL import Image
from detectron2.data import DatasetCatalog, MetadataCatalog

__all__ = ["VOC_CLASSES", "load_voc_sem_seg", "register_voc_sbd", "convert_sbd_to_png", "write_train_aug_list"]

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
_SPLITS = {
    "voc_2012_sbd_sem_seg_train": ("VOC2012/ImageSets/Segmentation/train_aug.txt", "VOC2012/SegmentationClassAug"),
    "voc_2012_sem_seg_val": ("VOC2012/ImageSets/Segmentation/val.txt", "VOC2012/SegmentationClass"),
}


def load_voc_sem_seg(root, list_file, label_dir, image_dir="VOC2012/JPEGImages"):
    """Dicts for the ids in ``root/list_file``; raises FileNotFoundError naming what is missing."""
    list_path = os.path.join(root, list_file)
    if not os.path.isfile(list_path):
        raise FileNotFoundError(f"VOC semantic segmentation: id list {list_path} not found (see "
                                "deeplab_losses/data/voc.py for the expected layout under $DETECTRON2_DATASETS)")
    with open(list_path) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    dicts = []
    for i in ids:
        label = os.path.join(root, label_dir, f"{i}.png")
        image = os.path.join(root, image_dir, f"{i}.jpg")
        dicts.append({"file_name": image, "sem_seg_file_name": label, "image_id": i})
    missing = [d["sem_seg_file_name"] for d in dicts[:50] if not os.path.isfile(d["sem_seg_file_name"])]
    if missing:
        raise FileNotFoundError(f"VOC semantic segmentation: label file {missing[0]} listed in {list_path} is missing")
    return dicts


def register_voc_sbd(root=None):
    """Register the two VOC splits (lazily: files are read on ``DatasetCatalog.get``)."""
    root = root or os.environ.get("DETECTRON2_DATASETS", "datasets")
    for name, (list_file, label_dir) in _SPLITS.items():
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, lambda lf=list_file, ld=label_dir: load_voc_sem_seg(root, lf, ld))
        MetadataCatalog.get(name).set(stuff_classes=list(VOC_CLASSES), ignore_label=255, evaluator_type="sem_seg")


def convert_sbd_to_png(mat_dir, out_dir):
    """Convert SBD ``cls/*.mat`` (struct ``GTcls.Segmentation``) to uint8 label PNGs; returns the ids written."""
    from scipy.io import loadmat

    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name in sorted(os.listdir(mat_dir)):
        if not name.endswith(".mat"):
            continue
        path = os.path.join(mat_dir, name)
        data = loadmat(path, mat_dtype=True, squeeze_me=True, struct_as_record=False)
        if "GTcls" not in data:
            raise ValueError(f"{path}: no 'GTcls' struct (is this SBD's cls/ folder?)")
        seg = np.asarray(data["GTcls"].Segmentation)
        if seg.ndim != 2 or seg.max() > 20:
            raise ValueError(f"{path}: GTcls.Segmentation has shape {seg.shape} / max {seg.max()}, expected HxW in 0..20")
        Image.fromarray(seg.astype(np.uint8)).save(os.path.join(out_dir, name[:-4] + ".png"))
        written.append(name[:-4])
    return written


def write_train_aug_list(out_file, sbd_ids, voc_train_ids, voc_val_ids):
    """train_aug = (SBD ids ∪ VOC train ids) − VOC val ids, sorted; returns the count."""
    ids = sorted((set(sbd_ids) | set(voc_train_ids)) - set(voc_val_ids))
    with open(out_file, "w") as f:
        f.write("\n".join(ids) + "\n")
    return len(ids)
