"""PointRend as the third model: the balloon and nuclei config triples share everything but the mask branch, the
nuclei configs are sized for hundreds of objects, PointRend's settings are checked before a step, and
tools/compare_models.py trains it like any other ``--model``. (Each config's training step: test_configs.py.)"""
import json
import uuid

import pytest
from repo_paths import REPO_ROOT

import levelset_rcnn  # noqa: F401  (before detectron2.modeling)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from levelset_core.compat import pointrend
from levelset_rcnn.config import add_levelset_rcnn_config
from levelset_rcnn.engine import Trainer
from levelset_rcnn.engine.defaults import setup_cfg
from levelset_rcnn.engine import compare

CONFIGS = REPO_ROOT / "configs"
# what a model of a triple may set differently: its mask branch (and PointRend's own requirements)
MASK_BRANCH_KEYS = ("MODEL.ROI_HEADS.NAME", "MODEL.ROI_MASK_HEAD.", "MODEL.POINT_HEAD.",
                    "MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES", "INPUT.MASK_FORMAT")


def _flat(node, prefix=""):
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@pytest.mark.parametrize("dataset", ["balloon", "nuclei"])
def test_triple_shares_everything_but_the_mask_branch(dataset):
    flat = {m: _flat(setup_cfg(str(CONFIGS / dataset / f"{m}_lite0_FPN.yaml"), []))
            for m in ("mask_rcnn", "levelset_rcnn", "pointrend_rcnn")}
    assert flat["pointrend_rcnn"]["MODEL.ROI_MASK_HEAD.NAME"] == "PointRendMaskHead"
    assert flat["pointrend_rcnn"]["MODEL.POINT_HEAD.NUM_CLASSES"] == flat["pointrend_rcnn"]["MODEL.ROI_HEADS.NUM_CLASSES"]
    assert flat["pointrend_rcnn"]["INPUT.MASK_FORMAT"] == "bitmask"
    for other in ("levelset_rcnn", "pointrend_rcnn"):
        differ = sorted(k for k in flat["mask_rcnn"] if flat["mask_rcnn"][k] != flat[other][k]
                        and not k.startswith(MASK_BRANCH_KEYS))
        assert not differ, (other, differ)
    for key in ("MODEL.WEIGHTS", "MODEL.BACKBONE.NAME", "SOLVER.MAX_ITER", "SEED", "DATASETS.TRAIN"):
        assert len({str(f[key]) for f in flat.values()}) == 1, key
    assert flat["mask_rcnn"]["MODEL.WEIGHTS"] == "efficientnet-lite://lite0"


def test_nuclei_configs_are_sized_for_hundreds_of_small_objects(shared_dataset):
    cfg = setup_cfg(str(CONFIGS / "nuclei" / "levelset_rcnn_lite0_FPN.yaml"), [])
    assert cfg.INPUT.MASK_FORMAT == "bitmask" and cfg.DATASETS.TEST == ("nuclei_dsb2018_val",)
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES[0] == [16]
    assert cfg.MODEL.RPN.POST_NMS_TOPK_TEST >= cfg.TEST.DETECTIONS_PER_IMAGE
    assert cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN >= cfg.TEST.DETECTIONS_PER_IMAGE
    # every image's nuclei fit in the detections kept per image (the shared copy: 375 train, 168 val)
    folder = shared_dataset("nuclei_dsb2018", "annotations/instances_train.json")
    for split in ("train", "val"):
        anns = json.loads((folder / "annotations" / f"instances_{split}.json").read_text())["annotations"]
        per_image = {}
        for ann in anns:
            per_image[ann["image_id"]] = per_image.get(ann["image_id"], 0) + 1
        assert max(per_image.values()) <= cfg.TEST.DETECTIONS_PER_IMAGE, split


def test_pointrend_settings_are_checked_before_a_step():
    config = str(CONFIGS / "balloon" / "pointrend_rcnn_lite0_FPN.yaml")
    with pytest.raises(ValueError, match=r"MODEL.POINT_HEAD.NUM_CLASSES = 1 but MODEL.ROI_HEADS.NUM_CLASSES = 3"):
        Trainer.build_model(setup_cfg(config, ["MODEL.ROI_HEADS.NUM_CLASSES", "3", "MODEL.WEIGHTS", ""]))
    with pytest.raises(ValueError, match=r"INPUT.MASK_FORMAT = 'polygon': PointRendMaskHead trains on bitmasks"):
        Trainer.build_model(setup_cfg(config, ["INPUT.MASK_FORMAT", "polygon", "MODEL.WEIGHTS", ""]))
    # other models: unchanged (the Mask R-CNN of the triple trains on polygons)
    mask_rcnn = setup_cfg(str(CONFIGS / "balloon" / "mask_rcnn_lite0_FPN.yaml"), [])
    assert pointrend.check_pointrend_config(mask_rcnn) is mask_rcnn


def test_pointrend_keys_are_in_every_config_and_added_once():
    cfg = add_levelset_rcnn_config(get_cfg())
    assert cfg.MODEL.POINT_HEAD.NAME == "StandardPointHead" and "IMPLICIT_POINTREND" in cfg.MODEL
    cfg.MODEL.POINT_HEAD.NUM_CLASSES = 5
    assert pointrend.add_pointrend_config(cfg) is True
    assert cfg.MODEL.POINT_HEAD.NUM_CLASSES == 5  # a second call keeps what is set


def test_missing_pointrend_adds_nothing_and_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(pointrend, "POINTREND_MODULE", "detectron2.projects.no_such_project_" + uuid.uuid4().hex[:6])
    monkeypatch.setattr(pointrend, "_IMPORT_ERROR", [])
    cfg = get_cfg()
    assert pointrend.add_pointrend_config(cfg) is False
    assert "POINT_HEAD" not in cfg.MODEL
    assert not pointrend.has_pointrend()
    with pytest.raises(ImportError, match="tools/install_detectron2.py"):
        pointrend.import_pointrend()


@pytest.fixture
def polygon_dataset():
    """A registered 2-class dataset without ``mask_format`` metadata (like balloon's VIA polygons)."""
    name = f"pointrend_polygons_{uuid.uuid4().hex[:6]}"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).thing_classes = ["a", "b"]
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_compare_gives_pointrend_bitmasks_and_its_class_count(polygon_dataset, tmp_path):
    args = compare.parse_args(["--train", polygon_dataset, "--test", polygon_dataset,
                               "--model", "Mask R-CNN=configs/balloon/mask_rcnn_lite0_FPN.yaml",
                               "--model", "PointRend=configs/balloon/pointrend_rcnn_lite0_FPN.yaml"])
    def opts(key):
        values = compare.build_opts(args, 1, str(tmp_path), args.models[key][1])
        return values, dict(zip(values[::2], values[1::2]))

    for key, mask_format in (("mask_rcnn", "polygon"), ("pointrend", "bitmask")):
        values, by_key = opts(key)
        assert by_key["INPUT.MASK_FORMAT"] == mask_format, key
        assert by_key["MODEL.ROI_HEADS.NUM_CLASSES"] == by_key["MODEL.POINT_HEAD.NUM_CLASSES"] == "2"
        pointrend.check_pointrend_config(setup_cfg(args.models[key][1], values))
    # the dataset's own format (bitmask for RLE masks: nuclei), or an explicit --mask-format, wins
    MetadataCatalog.get(polygon_dataset).mask_format = "bitmask"
    assert opts("mask_rcnn")[1]["INPUT.MASK_FORMAT"] == "bitmask"
    args.mask_format = "polygon"
    assert opts("pointrend")[1]["INPUT.MASK_FORMAT"] == "polygon"


def test_compare_models_trains_pointrend(tmp_path, one_thread):
    """tools/compare_models.py with the balloon PointRend config on a 4-class generated dataset (2 iterations)."""
    from levelset_rcnn.data import register_shapes_dataset

    prefix = f"cmp_pointrend_{uuid.uuid4().hex[:6]}"
    register_shapes_dataset(str(tmp_path / "data"), prefix=prefix,
                            splits={"train": {"num_images": 2, "seed": 1}, "val": {"num_images": 2, "seed": 2}},
                            image_size=(64, 64))
    try:
        metrics = compare.compare_models(compare.parse_args([
            "--smoke", "--iters", "2", "--train", f"{prefix}_train", "--test", f"{prefix}_val", "--min-size", "64",
            "--max-size", "64", "--batch", "2", "--output", str(tmp_path / "out"),
            "--model", "PointRend=configs/balloon/pointrend_rcnn_lite0_FPN.yaml",
            "MODEL.WEIGHTS", "", "MODEL.RPN.POST_NMS_TOPK_TEST", "20", "TEST.DETECTIONS_PER_IMAGE", "5",
            "MODEL.RPN.POST_NMS_TOPK_TRAIN", "32", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
        ]))
    finally:
        for split in ("train", "val"):
            DatasetCatalog.remove(f"{prefix}_{split}")
            MetadataCatalog.remove(f"{prefix}_{split}")
    (run,) = metrics["pointrend"]
    assert {"bbox", "segm", "boundary", "boundary_f1", "timing"} <= set(run)
    assert "segm_initial" not in run
    assert "| PointRend | 1 |" in (tmp_path / "out" / "comparison.md").read_text()
