"""A tiny, randomly initialised LevelSet R-CNN saved as config + weights, for the tests of the demo, the export,
the refinement inspection and publishing."""
import torch
from model_helpers import SMALL_MODEL_OPTS
from repo_paths import REPO_ROOT

QUICKSTART_CONFIG = str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml")
TINY_OPTS = SMALL_MODEL_OPTS + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "TEST.DETECTIONS_PER_IMAGE", "4"]


def save_tiny_model(folder, extra_opts=()):
    """Write ``config.yaml`` and ``model.pth`` (``{"model": state_dict}``) into ``folder``; returns
    ``(cfg, model, config_path, weights_path)``."""
    from detectron2.modeling import build_model
    from levelset_rcnn.engine import setup_cfg

    cfg = setup_cfg(QUICKSTART_CONFIG, TINY_OPTS + list(extra_opts))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    folder.mkdir(parents=True, exist_ok=True)
    config_path, weights_path = folder / "config.yaml", folder / "model.pth"
    config_path.write_text(cfg.dump())
    torch.save({"model": model.state_dict()}, weights_path)
    return cfg, model, str(config_path), str(weights_path)
