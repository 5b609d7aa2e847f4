"""Level-set pictures (levelset_rcnn/utils/levelset_view.py) and the opt-in φ0 … φN output of LevelSetROIHeads."""
import numpy as np
import pytest
import torch
from detectron2.structures import Boxes, Instances
from PIL import Image

from levelset_rcnn.utils.levelset_view import (
    draw_levelset_view,
    format_hparams,
    hparams_dict,
    save_levelset_views,
)


def _levelsets(side=28, steps=4):
    yy, xx = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    d = torch.hypot(xx - side / 2, yy - side / 2)
    return torch.stack([side / 4 + n - d for n in range(steps)])  # growing circles φ0 … φ3


def test_hparams_are_split_and_printed_in_the_paper_layout():
    hp = torch.tensor([0.5, 1.5, 0.25, 0.1, 0.2, 0.3, 1.0, 2.0, 3.0])  # λ1 λ2 μ ε1..3 Δt1..3
    d = hparams_dict(hp, 3)
    assert d["lambda1"] == 0.5 and d["lambda2"] == 1.5 and d["mu"] == 0.25
    assert np.allclose(d["eps"], [0.1, 0.2, 0.3]) and np.allclose(d["dt"], [1.0, 2.0, 3.0])
    text = format_hparams(hp, 3)
    assert "λ1=0.5" in text and "μ=0.25" in text and "ε_n=[0.1, 0.2, 0.3]" in text and "Δt_n=[1, 2, 3]" in text
    with pytest.raises(ValueError, match="2N\\+3"):
        hparams_dict(hp[:7], 3)


def test_draw_levelset_view_returns_a_picture_with_one_panel_per_level_set():
    image = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    hp = torch.tensor([1.0, 1.0, 0.1, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0])
    picture = draw_levelset_view(image, (10.0, 12.0, 50.0, 52.0), _levelsets(), hp, num_iterations=3,
                                 title="instance 0")
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    assert picture.shape[1] > 3 * picture.shape[0]  # 1 crop panel + 4 level-set panels side by side
    assert picture.std() > 10  # not blank
    with pytest.raises(ValueError, match="\\(N \\+ 1, S, S\\)"):
        draw_levelset_view(image, (0, 0, 10, 10), _levelsets()[0], num_iterations=3)
    # N is the model's, never guessed from the arrays: level sets or hyperparameters of another N are errors
    with pytest.raises(ValueError, match="N = 2"):
        draw_levelset_view(image, (10.0, 12.0, 50.0, 52.0), _levelsets(), num_iterations=2)
    with pytest.raises(ValueError, match="2N\\+3"):
        draw_levelset_view(image, (10.0, 12.0, 50.0, 52.0), _levelsets(steps=3), hp, num_iterations=2)
    with pytest.raises(ValueError, match="outside"):
        draw_levelset_view(image, (200, 200, 210, 210), _levelsets(), num_iterations=3)


def test_save_levelset_views_picks_the_best_instances(tmp_path):
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    inst = Instances((64, 64))
    inst.pred_boxes = Boxes(torch.tensor([[4.0, 4.0, 30.0, 30.0], [20.0, 20.0, 60.0, 60.0], [0, 0, 10, 10.0]]))
    inst.scores = torch.tensor([0.3, 0.9, 0.5])
    inst.pred_classes = torch.tensor([0, 1, 0])
    inst.pred_levelsets = _levelsets().expand(3, -1, -1, -1).clone()
    inst.pred_levelset_hparams = torch.ones(3, 9)
    written = save_levelset_views(image, inst, str(tmp_path / "img"), num_iterations=3, top_k=2,
                                  class_names=["a", "b"])
    assert [p for p, _ in written] == [str(tmp_path / "img_inst1.png"), str(tmp_path / "img_inst2.png")]
    assert all("λ1=1" in text for _, text in written)
    assert Image.open(written[0][0]).size[0] > 0
    with pytest.raises(IndexError, match="3 predictions"):
        save_levelset_views(image, inst, str(tmp_path / "x"), num_iterations=3, indices=[5])
    del inst._fields["pred_levelsets"]
    with pytest.raises(KeyError, match="inference_levelsets"):
        save_levelset_views(image, inst, str(tmp_path / "x"), num_iterations=3)


def test_roi_heads_return_every_level_set_only_when_asked(one_thread):
    from model_helpers import SMALL_MODEL_OPTS
    from repo_paths import REPO_ROOT

    from detectron2.modeling import build_model
    from levelset_rcnn.engine import setup_cfg

    cfg = setup_cfg(str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml"),
                    SMALL_MODEL_OPTS + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
                                        "TEST.DETECTIONS_PER_IMAGE", "5"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    image = {"image": torch.rand(3, 64, 64) * 255, "height": 64, "width": 64}
    with torch.no_grad():
        plain = model([image])[0]["instances"]
        assert not plain.has("pred_levelsets")
        model.roi_heads.inference_levelsets = True
        inst = model([image])[0]["instances"]
    n_iter, side = cfg.MODEL.LEVELSET.NUM_ITERATIONS, cfg.MODEL.LEVELSET.RESOLUTION
    assert model.roi_heads.mask_head.num_iterations == n_iter  # the N the demo gives the level-set pictures
    assert len(inst) > 0
    assert inst.pred_levelsets.shape == (len(inst), n_iter + 1, side, side)
    # φN is what pred_masks thresholds; φ0 what pred_masks_initial thresholds (H(φ) > 0.5 <=> φ > 0)
    assert torch.equal(inst.pred_masks_initial[:, 0] > 0.5, inst.pred_levelsets[:, 0] > 0)
    assert torch.equal(plain.pred_masks, inst.pred_masks)
