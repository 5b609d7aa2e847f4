"""The quickstart trains briefly (a few iterations per loss) and evaluates, on freshly generated data."""
import json
import math
import os

import pytest

from deeplab_losses.quickstart import DEFAULT_BACKBONE, QUICKSTART_BACKBONES, QUICKSTART_CONFIGS, run_quickstart


def test_every_quickstart_backbone_has_a_config_per_loss(dll_project_root):
    assert DEFAULT_BACKBONE in QUICKSTART_BACKBONES
    for backbone, configs in QUICKSTART_CONFIGS.items():
        assert set(configs) == {"ce", "ls", "semeda", "sobel"}, backbone
        for path in configs.values():
            assert (dll_project_root / path).is_file(), path


@pytest.mark.parametrize("backbone", ["lite0", "small_r18"])
def test_quickstart_trains_and_evaluates_every_loss(tmp_path, dll_data_root, one_thread_dll, backbone):
    out = str(tmp_path / "qs")
    results = run_quickstart(("ce", "ls", "semeda", "sobel"), out, max_iter=2, backbone=backbone,
                             opts=["SEMEDA_PRETRAIN.MAX_ITER", "3", "SEMEDA_PRETRAIN.CROP_SIZE", "32",
                                   "SOLVER.IMS_PER_BATCH", "2", "DATASETS.TRAIN", "('dll_shapes_sem_mini',)",
                                   "DATASETS.TEST", "('dll_shapes_sem_mini',)"])
    assert set(results) == {"ce", "ls", "semeda", "sobel"}
    for name, r in results.items():
        m = r["metrics"]
        assert 0 <= m["mIoU"] <= 100 and math.isfinite(m["mBF"]) and "trimap1-mIoU" in m, name
        assert r["max_iter"] == 2
    assert os.path.isfile(os.path.join(out, "semeda_g_shapes.pth"))
    with open(os.path.join(out, "results.json")) as f:
        assert set(json.load(f)) == set(results)


def test_quickstart_rejects_an_unknown_backbone_or_loss(tmp_path):
    with pytest.raises(ValueError, match="unknown quickstart backbone 'r50'"):
        run_quickstart(("ce",), str(tmp_path), backbone="r50")
    with pytest.raises(ValueError, match=r"unknown quickstart loss\(es\) \['dice'\]"):
        run_quickstart(("ce", "dice"), str(tmp_path))
