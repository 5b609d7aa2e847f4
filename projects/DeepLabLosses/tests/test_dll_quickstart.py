"""The quickstart trains briefly (a few iterations per loss) and evaluates, on freshly generated data."""
import json
import math
import os

from deeplab_losses.quickstart import run_quickstart


def test_quickstart_trains_and_evaluates_every_loss(tmp_path, dll_data_root, one_thread_dll):
    out = str(tmp_path / "qs")
    results = run_quickstart(("ce", "ls", "semeda", "sobel"), out, max_iter=2,
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
