"""The main job (tools/quickstart.py) end to end, shortened: train a few iterations, evaluate, draw."""
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
