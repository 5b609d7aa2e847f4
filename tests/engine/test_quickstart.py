"""The main job (levelset_rcnn.engine.quickstart, tools/quickstart.py) end to end, shortened: train a few iterations,
evaluate, draw."""
import json
import os

import pytest

from levelset_rcnn.engine.quickstart import DEFAULT_CONFIG, format_summary, run_quickstart


def test_quickstart_short_run_produces_ap_numbers_and_pictures(tmp_path):
    out = tmp_path / "qs"
    summary = run_quickstart(
        DEFAULT_CONFIG, str(out),
        ["SOLVER.MAX_ITER", "12", "SOLVER.WARMUP_ITERS", "2", "SOLVER.STEPS", "()", "SOLVER.IMS_PER_BATCH", "4",
         "DATALOADER.NUM_WORKERS", "0"],
        num_images=2,
    )
    for key in ("box AP", "box AP50", "mask AP", "initial mask AP"):
        assert summary[key] is not None and 0.0 <= summary[key] <= 100.0, key
    assert summary["iterations"] == 12
    assert len(summary["prediction images"]) == 2
    assert all(os.path.isfile(p) for p in summary["prediction images"])
    saved = json.loads((out / "summary.json").read_text())
    assert set(saved["results"]["levelset_shapes_val"]) >= {"bbox", "segm", "segm_initial"}
    text = format_summary(summary)
    assert "mask AP" in text and "initial mask AP" in text and "targets" in text


def test_quickstart_rejects_a_missing_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        run_quickstart(str(tmp_path / "nope.yaml"), str(tmp_path / "out"))


def test_quickstart_seeds_the_training_with_cfg_seed(tmp_path, monkeypatch):
    """The quickstart applies SEED (42) before it builds the trainer, whatever the random state before: the model's
    initialisation and the data order are the same in every run (it did not seed before issue 14)."""
    import numpy as np
    import torch
    from detectron2.utils.env import seed_all_rng

    import levelset_rcnn.engine.quickstart as quickstart

    class Stop(Exception):
        pass

    seen = []

    class RecordingTrainer:
        def __init__(self, cfg):
            seen.append((cfg.SEED, torch.rand(3), np.random.rand(3)))
            raise Stop

    monkeypatch.setattr(quickstart, "Trainer", RecordingTrainer)
    for garbage in (1, 2):
        torch.manual_seed(garbage)
        np.random.seed(garbage)
        with pytest.raises(Stop):
            run_quickstart(DEFAULT_CONFIG, str(tmp_path / f"qs{garbage}"), ["DATALOADER.NUM_WORKERS", "0"])
    seed_all_rng(42)
    expected = (torch.rand(3), np.random.rand(3))
    for seed, t, n in seen:
        assert seed == 42 and torch.equal(t, expected[0]) and np.array_equal(n, expected[1])
