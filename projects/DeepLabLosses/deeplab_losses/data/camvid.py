"""CamVid (SegNet layout): ``<root>/<split>/<name>.{jpg,png}`` with labels ``<root>/<split>annot/<name>.png``;
11 classes (0-10), label 11 = void (ignored). Configs using it set ``MODEL.SEM_SEG_HEAD.IGNORE_VALUE: 11``."""
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from levelset_core.data.roots import dataset_roots

__all__ = ["CAMVID_CLASSES", "CAMVID_IGNORE_LABEL", "default_camvid_root", "load_camvid", "register_camvid"]

CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence", "car",
                  "pedestrian", "bicyclist")
CAMVID_IGNORE_LABEL = 11
_IMAGE_EXTS = (".jpg", ".png", ".jpeg")


def load_camvid(root, split):
    image_dir, label_dir = os.path.join(root, split), os.path.join(root, f"{split}annot")
    for d in (image_dir, label_dir):
        if not os.path.isdir(d):
            raise FileNotFoundError(f"CamVid: folder {d} not found (expected <root>/<split>/ and <root>/<split>annot/)")
    dicts = []
    for name in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in _IMAGE_EXTS:
            continue
        label = os.path.join(label_dir, stem + ".png")
        if not os.path.isfile(label):
            raise FileNotFoundError(f"CamVid: image {os.path.join(image_dir, name)} has no label {label}")
        dicts.append({"file_name": os.path.join(image_dir, name), "sem_seg_file_name": label, "image_id": stem})
    if not dicts:
        raise FileNotFoundError(f"CamVid: no images in {image_dir}")
    return dicts


def default_camvid_root():
    """``<root>/camvid`` for the first root of :func:`levelset_core.data.roots.dataset_roots`
    (``$DETECTRON2_DATASETS``, default ``datasets``, then the shared data folder ``../shared/datasets``) that has
    one; ``$DETECTRON2_DATASETS/camvid`` when none has (the error then comes when the dataset is loaded)."""
    roots = dataset_roots()
    for root in roots:
        if (root / "camvid").is_dir():
            return str(root / "camvid")
    return str(roots[0] / "camvid")


def register_camvid(prefix="camvid_sem_seg", root=None, splits=("train", "val", "test")):
    """Register ``<prefix>_<split>`` for a CamVid folder (default :func:`default_camvid_root`)."""
    root = root or default_camvid_root()
    names = []
    for split in splits:
        name = f"{prefix}_{split}"
        names.append(name)
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, lambda s=split: load_camvid(root, s))
        MetadataCatalog.get(name).set(stuff_classes=list(CAMVID_CLASSES), ignore_label=CAMVID_IGNORE_LABEL,
                                      evaluator_type="sem_seg")
    return names
