"""Every shipped config builds and runs one training step (sizes shrunk through opts, synthetic batch)."""
import glob
import math
import os

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from deeplab_losses.engine import PROJECT_ROOT, check_losses_ready, setup_cfg
from deeplab_losses.modeling import save_semeda_checkpoint
from deeplab_losses.semeda_pretrain import LabelMapSource, pretrain_semeda

CONFIGS = sorted(p for p in glob.glob(os.path.join(PROJECT_ROOT, "configs", "*", "*.yaml"))
                 if not os.path.basename(p).startswith("Base-"))

# EfficientNet-Lite configs (CamVid) keep their backbone (random init here; tests/test_dll_camvid.py trains from the
# ImageNet weights). Shrink the R-103 configs: the small backbone (depth 10, 16 channels, no dilation) instead of R-103, BN instead
# of SyncBN (which needs a process group), 64-pixel crops; heads, losses and solver keys stay the config's
SHRINK = ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu", "MODEL.RESNETS.NORM", "BN", "MODEL.SEM_SEG_HEAD.NORM", "BN"]
SHRINK_R103 = ["MODEL.BACKBONE.NAME", "build_small_resnet_deeplab_backbone", "MODEL.RESNETS.DEPTH", "10",
               "MODEL.RESNETS.RES5_DILATION", "1", "MODEL.RESNETS.RES2_OUT_CHANNELS", "16",
               "MODEL.RESNETS.STEM_OUT_CHANNELS", "16", "MODEL.SEM_SEG_HEAD.ASPP_CHANNELS", "16",
               "MODEL.SEM_SEG_HEAD.CONVS_DIM", "16", "MODEL.SEM_SEG_HEAD.PROJECT_CHANNELS", "[8]"]


def test_all_variants_shipped():
    names = {os.path.relpath(p, PROJECT_ROOT) for p in CONFIGS}
    for folder in ("Cityscapes-SemanticSegmentation", "PascalVOC-SBD-SemanticSegmentation", "CamVid-SemanticSegmentation",
                   "quickstart"):
        for loss in ("ce", "ls", "semeda", "sobel"):
            assert any(n.startswith(os.path.join("configs", folder)) and n.endswith(f"_{loss}.yaml") for n in names), (folder, loss)


@pytest.fixture(scope="module")
def g_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("g")
    rng = np.random.default_rng(0)
    paths = {}
    for c in (5, 11, 19, 21):
        maps = [rng.integers(0, c, size=(4, 4)).repeat(6, 0).repeat(6, 1) for _ in range(4)]
        net = pretrain_semeda(LabelMapSource(maps), c, 255, max_iter=2, batch=2, crop=16, log_period=0)
        paths[c] = str(root / f"g{c}.pth")
        save_semeda_checkpoint(net, paths[c])
    return paths


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: os.path.relpath(p, PROJECT_ROOT))
def test_config_builds_and_trains_one_step(config, g_checkpoints):
    torch.manual_seed(0)
    probe = setup_cfg(config, SHRINK)
    opts = list(SHRINK)
    if probe.MODEL.BACKBONE.NAME == "build_resnet_deeplab_backbone":
        opts += SHRINK_R103
    size = (64, 128) if "Cityscapes" in config else (64, 64) if "VOC" in config else (128, 128)
    opts += ["INPUT.CROP.SIZE", str(size)]
    num_classes = probe.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    if "semeda" in probe.MODEL.DEEPLAB_LOSSES.EXTRA:
        opts += ["MODEL.SEMEDA.WEIGHTS", g_checkpoints[num_classes]]
    cfg = setup_cfg(config, opts)
    model = build_model(cfg)
    model.train()
    check_losses_ready(model)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, num_classes, (2, size[0] // 8, size[1] // 8), generator=g)
    labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)
    labels[0, :4, :4] = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
    inputs = [{"image": torch.rand(3, *size, generator=g) * 255, "sem_seg": labels[i]} for i in range(2)]
    losses = model(inputs)
    expected = {"loss_sem_seg"} | {f"loss_{n}" for n in cfg.MODEL.DEEPLAB_LOSSES.EXTRA}
    assert set(losses) == expected
    total = sum(losses.values())
    assert math.isfinite(float(total))
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(t).all() for t in grads)
    model.eval()
    with torch.no_grad():
        out = model([{"image": inputs[0]["image"], "height": size[0], "width": size[1]}])
    assert out[0]["sem_seg"].shape == (num_classes, *size)


def test_semeda_config_refuses_missing_or_mismatched_g(g_checkpoints):
    config = os.path.join(PROJECT_ROOT, "configs/quickstart/deeplab_v3_plus_shapes_semeda.yaml")
    with pytest.raises(FileNotFoundError, match="MODEL.SEMEDA.WEIGHTS"):
        build_model(setup_cfg(config, SHRINK + ["MODEL.SEMEDA.WEIGHTS", "/nonexistent/g.pth"]))
    with pytest.raises(ValueError, match="trained for 21 classes"):
        build_model(setup_cfg(config, SHRINK + ["MODEL.SEMEDA.WEIGHTS", g_checkpoints[21]]))
    model = build_model(setup_cfg(config, SHRINK + ["MODEL.SEMEDA.WEIGHTS", ""]))  # inference-only build is fine
    with pytest.raises(RuntimeError, match="untrained"):
        check_losses_ready(model)


def test_unknown_extra_loss_is_a_clear_error():
    config = os.path.join(PROJECT_ROOT, "configs/quickstart/deeplab_v3_plus_shapes_ce.yaml")
    with pytest.raises(ValueError, match="unknown loss"):
        build_model(setup_cfg(config, SHRINK + ["MODEL.DEEPLAB_LOSSES.EXTRA", "['dice']"]))


@pytest.mark.parametrize("key, value, message", [
    ("MODEL.LEVEL_SET_LOSS.GRID", "pixels", "MODEL.LEVEL_SET_LOSS.GRID = 'pixels'"),
    ("MODEL.LEVEL_SET_LOSS.WEIGHT", "-0.0004", "MODEL.LEVEL_SET_LOSS.WEIGHT must be finite and >= 0"),
])
def test_bad_level_set_keys_are_clear_errors(key, value, message):
    config = os.path.join(PROJECT_ROOT, "configs/quickstart/deeplab_v3_plus_shapes_ls.yaml")
    with pytest.raises(ValueError, match=message):
        build_model(setup_cfg(config, SHRINK + [key, value]))


def test_bad_semeda_grid_is_a_clear_error(g_checkpoints):
    config = os.path.join(PROJECT_ROOT, "configs/quickstart/deeplab_v3_plus_shapes_semeda.yaml")
    with pytest.raises(ValueError, match="MODEL.SEMEDA.GRID = 'pixels'"):
        build_model(setup_cfg(config, SHRINK + ["MODEL.SEMEDA.WEIGHTS", g_checkpoints[5], "MODEL.SEMEDA.GRID", "pixels"]))
