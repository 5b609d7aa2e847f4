"""Class-weighted cross-entropy (``MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS``) and median-frequency weights."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.projects.deeplab.loss import DeepLabCE
from PIL import Image

from deeplab_losses.data.class_weights import (class_pixel_counts, format_class_weights, median_frequency_weights,
                                               median_frequency_weights_from_cfg)
from deeplab_losses.engine import PROJECT_ROOT, setup_cfg
from deeplab_losses.modeling.aux_losses import set_class_weights

QUICKSTART = os.path.join(PROJECT_ROOT, "configs", "quickstart", "deeplab_v3_plus_shapes_ce.yaml")


def _label_files(tmp_path, maps):
    dicts = []
    for i, m in enumerate(maps):
        path = tmp_path / f"l{i}.png"
        Image.fromarray(np.asarray(m, np.uint8)).save(path)
        dicts.append({"sem_seg_file_name": str(path)})
    return dicts


def test_median_frequency_weights_by_hand(tmp_path):
    # image 0: 6 px of class 0, 2 px of class 1, 1 ignored (9); image 1: 4 px of class 2, 4 px of class 0
    a = [[0, 0, 0], [0, 0, 0], [1, 1, 9]]
    b = [[2, 2, 2, 2], [0, 0, 0, 0]]
    dicts = _label_files(tmp_path, [a, b])
    pixels, image_pixels = class_pixel_counts(dicts, 3, 9)
    assert pixels.tolist() == [10, 2, 4] and image_pixels.tolist() == [16, 8, 8]
    freq = np.array([10 / 16, 2 / 8, 4 / 8])
    np.testing.assert_allclose(median_frequency_weights(dicts, 3, 9), np.median(freq) / freq)
    assert format_class_weights([0.8, 2.0, 1.0]) == "[0.8000, 2.0000, 1.0000]"


def test_median_frequency_weights_errors_name_the_problem(tmp_path):
    dicts = _label_files(tmp_path, [[[0, 5]]])
    with pytest.raises(ValueError, match=r"l0\.png: label 5"):
        class_pixel_counts(dicts, 3, 9)
    with pytest.raises(ValueError, match=r"classes \[2\] occur in no label map"):
        median_frequency_weights(_label_files(tmp_path, [[[0, 1]]]), 3, 9)


def test_weights_from_cfg_read_the_training_sets(tmp_path):
    dicts = _label_files(tmp_path, [[[0, 0, 0, 1]], [[1, 11, 1, 1]]])
    name = "dll_test_class_weights_train"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: dicts)
    cfg = setup_cfg(QUICKSTART, ["DATASETS.TRAIN", f"('{name}',)", "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "2",
                                 "MODEL.SEM_SEG_HEAD.IGNORE_VALUE", "11"])
    freq = np.array([3 / 4, 4 / 7])
    np.testing.assert_allclose(median_frequency_weights_from_cfg(cfg), np.median(freq) / freq)


def test_weighted_ce_matches_torch_and_rejects_bad_weights():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 5, generator=g)
    targets = torch.randint(0, 3, (2, 5, 5), generator=g)
    targets[0, 0] = 7
    w = [0.5, 2.0, 4.0]
    loss = torch.nn.CrossEntropyLoss(ignore_index=7)
    set_class_weights(loss, w, 3)
    torch.testing.assert_close(loss(logits, targets),
                               F.cross_entropy(logits, targets, weight=torch.tensor(w), ignore_index=7))
    mining = DeepLabCE(ignore_label=7, top_k_percent_pixels=0.2)
    set_class_weights(mining, w, 3)
    pixel = F.cross_entropy(logits, targets, weight=torch.tensor(w), ignore_index=7, reduction="none").view(-1)
    torch.testing.assert_close(mining(logits, targets), pixel.topk(int(0.2 * pixel.numel())).values.mean())
    plain = torch.nn.CrossEntropyLoss(ignore_index=7)
    set_class_weights(plain, [], 3)
    assert plain.weight is None
    with pytest.raises(ValueError, match="has 2 values; MODEL.SEM_SEG_HEAD.NUM_CLASSES is 3"):
        set_class_weights(plain, [1.0, 2.0], 3)
    with pytest.raises(ValueError, match=r"finite and > 0; got \[-1.0\]"):
        set_class_weights(plain, [1.0, -1.0, 2.0], 3)
    with pytest.raises(ValueError, match="L1Loss takes no class weights"):
        set_class_weights(torch.nn.L1Loss(), w, 3)


@pytest.mark.parametrize("config", ["deeplab_v3_plus_shapes_ce.yaml", "deeplab_v3_shapes_ls.yaml"])
def test_head_trains_with_the_weighted_ce(config):
    """Both heads (V3+, V3) use the weights in ``loss_sem_seg``; the unweighted config is unchanged."""
    weights = [float(i + 1) for i in range(5)]
    opts = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.DEEPLAB_LOSSES.EXTRA", "[]"]
    models = {}
    for name, extra in (("plain", []), ("weighted", ["MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS", str(weights)])):
        cfg = setup_cfg(os.path.join(os.path.dirname(QUICKSTART), config), opts + extra)
        assert cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == len(weights)
        torch.manual_seed(0)
        models[name] = build_model(cfg).train()
    torch.testing.assert_close(models["weighted"].sem_seg_head.loss.weight, torch.tensor(weights))
    stride = models["weighted"].sem_seg_head.common_stride
    logits = torch.randn(2, 5, 64 // stride, 64 // stride)
    targets = torch.randint(0, 5, (2, 64, 64))
    up = F.interpolate(logits, scale_factor=stride, mode="bilinear", align_corners=False)
    ignore = models["weighted"].sem_seg_head.ignore_value
    got = models["weighted"].sem_seg_head.losses(logits, targets)["loss_sem_seg"]
    torch.testing.assert_close(got, F.cross_entropy(up, targets, weight=torch.tensor(weights), ignore_index=ignore))
    plain = models["plain"].sem_seg_head.losses(logits, targets)["loss_sem_seg"]
    torch.testing.assert_close(plain, F.cross_entropy(up, targets, ignore_index=ignore))
    inputs = [{"image": torch.rand(3, 64, 64) * 255, "sem_seg": targets[i]} for i in range(2)]
    losses = models["weighted"](inputs)
    losses["loss_sem_seg"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in models["weighted"].backbone.parameters())
