"""The gradient share of the mask branch on the shared backbone / FPN (levelset_rcnn.engine.gradients;
tools/inspect_gradients.py)."""
import pytest

from levelset_rcnn.engine.gradients import gradient_share

BATCH = ["SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0", "SEED", "3"]


def _cfg(tmp_path, *opts):
    from tiny_model import save_tiny_model

    from levelset_rcnn.engine import setup_cfg

    _, _, config, weights = save_tiny_model(tmp_path / "tiny")
    return setup_cfg(config, ["MODEL.WEIGHTS", weights] + BATCH + list(opts))


def test_gradient_share_measures_both_gradients_and_scales_with_the_mask_loss_weights(tmp_path, one_thread):
    stats = gradient_share(_cfg(tmp_path), num_batches=2)
    assert stats["batches"] == 2 and stats["shared_tensors"] > 0
    assert stats["detector_grad_norm"] > 0 and stats["mask_grad_norm"] > 0
    assert -1 <= stats["cosine"] <= 1 and stats["loss_tsdf_initial"] > 0
    assert stats["mask_over_detector"] == pytest.approx(stats["mask_grad_norm"] / stats["detector_grad_norm"],
                                                        rel=0.5)
    # the same batches and RoI samples (seeded): doubling both mask loss weights doubles the mask gradient only
    # (factors of 2 are exact in floating point)
    ls = _cfg(tmp_path).MODEL.LEVELSET
    doubled = gradient_share(_cfg(tmp_path, "MODEL.LEVELSET.LOSS_WEIGHT_INITIAL", str(2 * ls.LOSS_WEIGHT_INITIAL),
                                  "MODEL.LEVELSET.LOSS_WEIGHT_FINAL", str(2 * ls.LOSS_WEIGHT_FINAL)), num_batches=2)
    assert doubled["mask_grad_norm"] == pytest.approx(2 * stats["mask_grad_norm"], rel=1e-6)
    assert doubled["detector_grad_norm"] == stats["detector_grad_norm"]
    # MODEL.LEVELSET.FEATURE_GRADIENT_SCALE scales the mask branch's gradient into the shared features, nothing else
    scaled = gradient_share(_cfg(tmp_path, "MODEL.LEVELSET.FEATURE_GRADIENT_SCALE", "0.25"), num_batches=2)
    assert scaled["mask_grad_norm"] == pytest.approx(0.25 * stats["mask_grad_norm"], rel=1e-6)
    assert scaled["detector_grad_norm"] == stats["detector_grad_norm"]
    assert scaled["loss_tsdf_final"] == stats["loss_tsdf_final"]
    assert gradient_share(_cfg(tmp_path, "MODEL.LEVELSET.FEATURE_GRADIENT_SCALE", "0.0"),
                          num_batches=1)["mask_grad_norm"] == 0.0
    # a clip value below every tensor's gradient norm counts the tensors that have a gradient
    clipped = gradient_share(_cfg(tmp_path, "SOLVER.CLIP_GRADIENTS.ENABLED", "True",
                                  "SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "norm",
                                  "SOLVER.CLIP_GRADIENTS.CLIP_VALUE", "1e-12"), num_batches=1)
    assert 0 < clipped["clipped_tensors"] <= clipped["shared_tensors"]


def test_gradient_share_rejects_zero_batches_and_the_tool_checks_its_flag(tmp_path, capsys):
    import importlib.util

    from repo_paths import REPO_ROOT

    with pytest.raises(ValueError, match="num_batches must be >= 1, got 0"):
        gradient_share(None, num_batches=0)
    spec = importlib.util.spec_from_file_location("inspect_gradients", REPO_ROOT / "tools" / "inspect_gradients.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(SystemExit):
        tool.main(["--config-file", "x.yaml", "--num-batches", "0"])
    assert "--num-batches must be >= 1, got 0" in capsys.readouterr().err
