"""tools/inspect_refinement.py on a tiny random model: statistics of F, hyperparameters and φN − φ0."""
import pytest

from tiny_model import load_tool, save_tiny_model


def test_inspect_refinement_reports_initial_hyperparameters_and_phi_change(tmp_path, one_thread):
    _, _, config, weights = save_tiny_model(tmp_path / "tiny")
    tool = load_tool("inspect_refinement")
    stats = tool.main(["--config-file", config, "--num-images", "2", "MODEL.WEIGHTS", weights,
                       "DATASETS.TEST", "('levelset_shapes_val',)"])
    assert stats["images"] == 2 and stats["detections"] > 0
    # the hyperparameter head's last layer starts at zero: every hyperparameter is exactly 2·sigmoid(0) = 1
    assert stats["lambda1"] == pytest.approx(1.0) and stats["mu"] == pytest.approx(1.0)
    assert stats["eps"] == pytest.approx([1.0] * len(stats["dt"])) and len(stats["dt"]) >= 1
    assert stats["feature_abs_mean"] > 0 and stats["max_phi_change"] >= stats["mean_phi_change"] > 0
    assert 0 <= stats["flipped_pixel_fraction"] <= 1
    # paired IoUs of phi0 / phiN with the ground truth, for the detections matched to it
    assert stats["matched"] >= 0
    if stats["matched"]:
        assert 0 <= stats["mask_iou_initial"] <= 1 and 0 <= stats["mask_iou_final"] <= 1
        assert stats["improved"] + stats["worse"] <= stats["matched"]


def test_inspect_refinement_rejects_a_model_without_refinement(tmp_path, one_thread):
    _, _, config, weights = save_tiny_model(tmp_path / "tiny", ["MODEL.LEVELSET.CHAN_VESE_ON", "False"])
    tool = load_tool("inspect_refinement")
    with pytest.raises(ValueError, match="CHAN_VESE_ON"):
        tool.main(["--config-file", config, "MODEL.WEIGHTS", weights, "MODEL.LEVELSET.CHAN_VESE_ON", "False"])
