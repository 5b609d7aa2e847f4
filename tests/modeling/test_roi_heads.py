"""LevelSetROIHeads and its LevelSetMaskHead on a small model built from the quickstart config: the branch is one
mask head, gradient flow, ablation switches, inference outputs and config errors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import SMALL_MODEL_OPTS

import levelset_rcnn  # noqa: F401  (before detectron2.modeling)
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

from levelset_rcnn.engine.defaults import setup_cfg
from levelset_rcnn.modeling import GlobalHyperparameters, LevelSetMaskHead, LevelSetROIHeads, TSDFHead

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml"
H, W = 96, 128


pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = SMALL_MODEL_OPTS + [
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "32",
    "TEST.DETECTIONS_PER_IMAGE", "5",
]


def build(*opts):
    cfg = setup_cfg(str(QUICKSTART), SMALL + [str(o) for o in opts])
    torch.manual_seed(0)
    return cfg, build_model(cfg)


def make_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = []
    for _ in range(2):
        inst = Instances((H, W))
        inst.gt_boxes = Boxes(torch.tensor([[10.0, 12, 60, 70], [70, 20, 120, 50]]))
        inst.gt_classes = torch.tensor([0, 3])
        m = np.zeros((2, H, W), dtype=bool)
        m[0, 12:70, 10:60] = True
        m[0, 30:40, 20:30] = False
        m[1, 20:50, 70:120] = True
        inst.gt_masks = BitMasks(torch.from_numpy(m))
        batch.append({"image": torch.rand(3, H, W, generator=g) * 255, "instances": inst, "height": H, "width": W})
    return batch


def train_losses(model, batch=None):
    model.train()
    with EventStorage(0):
        losses = model(batch or make_batch())
    for name, value in losses.items():
        assert torch.isfinite(value).all(), f"{name} = {value}"
    return losses


def has_nonzero_grad(module):
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_levelset_roi_heads_structure():
    cfg, model = build()
    heads = model.roi_heads
    assert isinstance(heads, LevelSetROIHeads)
    mask_head = heads.mask_head
    assert isinstance(mask_head, LevelSetMaskHead)
    assert isinstance(mask_head.tsdf_head, TSDFHead)
    assert mask_head.hyperparameter_head is not None and mask_head.feature_head is not None
    assert mask_head.refinement is not None and mask_head.num_iterations == cfg.MODEL.LEVELSET.NUM_ITERATIONS
    assert mask_head.resolution == cfg.MODEL.LEVELSET.RESOLUTION
    # the head pools its RoIs itself and reads the FPN level and the image of the default fine-grained feature head
    assert heads.mask_pooler is None
    assert heads.mask_in_features == list(cfg.MODEL.ROI_HEADS.IN_FEATURES) + ["image"]
    # the whole mask branch is one module: no LevelSet parameter outside roi_heads.mask_head, in the order
    # TSDF head, hyperparameter head, feature head (the construction order, hence the same initialisation per seed)
    names = [n for n, _ in model.named_parameters() if n.startswith("roi_heads.") and "box_" not in n]
    assert names and all(n.startswith("roi_heads.mask_head.") for n in names)
    parts = [n.split(".")[2] for n in names]
    assert parts == sorted(parts, key=["tsdf_head", "hyperparameter_head", "feature_head"].index)


def test_final_loss_reaches_all_three_heads():
    _, model = build()
    losses = train_losses(model)
    assert {"loss_tsdf_initial", "loss_tsdf_final"} <= set(losses)
    model.zero_grad(set_to_none=True)
    losses["loss_tsdf_final"].backward()
    heads = model.roi_heads.mask_head
    assert has_nonzero_grad(heads.tsdf_head), "initial TSDF head got no gradient from loss_tsdf_final"
    assert has_nonzero_grad(heads.hyperparameter_head), "hyperparameter head got no gradient"
    assert has_nonzero_grad(heads.feature_head), "Chan-Vese feature head got no gradient"
    # specifically the output layers that produce phi0, the hyperparameters and F
    assert heads.tsdf_head.tsdf_predictor.weight.grad.abs().sum() > 0
    assert heads.feature_head.predictor.weight.grad.abs().sum() > 0
    # the box branch is not influenced by a mask loss
    assert not has_nonzero_grad(model.roi_heads.box_predictor)
    for p in model.parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all()


def test_initial_loss_reaches_only_the_initial_head():
    _, model = build()
    losses = train_losses(model)
    model.zero_grad(set_to_none=True)
    losses["loss_tsdf_initial"].backward()
    heads = model.roi_heads.mask_head
    assert has_nonzero_grad(heads.tsdf_head)
    assert not has_nonzero_grad(heads.hyperparameter_head)
    assert not has_nonzero_grad(heads.feature_head)


def test_detach_phi0_blocks_final_loss_into_initial_head():
    _, model = build("MODEL.LEVELSET.DETACH_PHI0", "True")
    assert model.roi_heads.mask_head.detach_phi0
    losses = train_losses(model)
    model.zero_grad(set_to_none=True)
    losses["loss_tsdf_final"].backward()
    heads = model.roi_heads.mask_head
    assert not has_nonzero_grad(heads.tsdf_head), "DETACH_PHI0: loss_tsdf_final must not reach the TSDF head"
    assert has_nonzero_grad(heads.hyperparameter_head)
    assert has_nonzero_grad(heads.feature_head)
    # the initial loss still trains the initial head
    model.zero_grad(set_to_none=True)
    train_losses(model)["loss_tsdf_initial"].backward()
    assert has_nonzero_grad(heads.tsdf_head)


def test_global_hyperparameters_build_and_train():
    cfg, model = build("MODEL.LEVELSET.HYPERPARAMETER_HEAD.NAME", "GlobalHyperparameters")
    heads = model.roi_heads.mask_head
    assert isinstance(heads.hyperparameter_head, GlobalHyperparameters)
    n = cfg.MODEL.LEVELSET.NUM_ITERATIONS
    assert tuple(heads.hyperparameter_head.raw.shape) == (2 * n + 3,)
    losses = train_losses(model)
    assert {"loss_tsdf_initial", "loss_tsdf_final"} <= set(losses)
    model.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    grad = heads.hyperparameter_head.raw.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    # one optimiser step changes the global hyperparameters
    before = heads.hyperparameter_head.raw.detach().clone()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.equal(before, heads.hyperparameter_head.raw.detach())


def test_chan_vese_off_is_tsdf_only():
    _, model = build("MODEL.LEVELSET.CHAN_VESE_ON", "False")
    heads = model.roi_heads.mask_head
    assert heads.num_iterations == 0 and model.roi_heads.mask_in_features == ["p2", "p3", "p4", "p5"]
    assert heads.hyperparameter_head is None
    assert heads.feature_head is None
    assert heads.refinement is None
    assert not any("hyperparameter_head" in n or "feature_head" in n for n, _ in model.named_parameters())
    losses = train_losses(model)
    mask_losses = {k for k in losses if k not in {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}}
    assert mask_losses == {"loss_tsdf_initial"}
    sum(losses.values()).backward()
    assert has_nonzero_grad(heads.tsdf_head)

    model.eval()
    with torch.no_grad():
        inst = model(make_batch(seed=1))[0]["instances"]
    assert len(inst) > 0
    assert tuple(inst.pred_masks.shape) == (len(inst), H, W)
    assert not inst.has("pred_levelset_hparams")


def test_inference_outputs():
    cfg, model = build()
    s = cfg.MODEL.LEVELSET.RESOLUTION
    n_iter = cfg.MODEL.LEVELSET.NUM_ITERATIONS
    model.eval()
    g = torch.Generator().manual_seed(3)
    # the second image is reported at another size (like a resized test image): pred_masks follow it
    inputs = [{"image": torch.rand(3, H, W, generator=g) * 255, "height": H, "width": W},
              {"image": torch.rand(3, H, W, generator=g) * 255, "height": 2 * H, "width": 2 * W}]
    with torch.no_grad():
        outputs = model(inputs)
    for out, (h, w) in zip(outputs, [(H, W), (2 * H, 2 * W)]):
        inst = out["instances"]
        n = len(inst)
        assert 0 < n <= cfg.TEST.DETECTIONS_PER_IMAGE
        assert inst.image_size == (h, w)
        assert tuple(inst.pred_masks.shape) == (n, h, w)
        assert inst.pred_masks.dtype == torch.bool
        assert tuple(inst.pred_masks_initial.shape) == (n, 1, s, s)
        assert torch.isfinite(inst.pred_masks_initial).all()
        assert inst.pred_masks_initial.min() >= 0 and inst.pred_masks_initial.max() <= 1
        hp = inst.pred_levelset_hparams
        assert tuple(hp.shape) == (n, 2 * n_iter + 3)
        assert torch.all(hp > 0) and torch.all(hp < 2)


def test_inference_without_initial_masks():
    _, model = build("MODEL.LEVELSET.INFERENCE_INITIAL_MASKS", "False")
    model.eval()
    with torch.no_grad():
        inst = model(make_batch(seed=2))[0]["instances"]
    assert len(inst) > 0 and inst.has("pred_masks")
    assert not inst.has("pred_masks_initial")


def test_standard_mask_head_is_rejected():
    cfg = setup_cfg(str(QUICKSTART), SMALL + ["MODEL.ROI_MASK_HEAD.NAME", "MaskRCNNConvUpsampleHead"])
    with pytest.raises(ValueError, match="LevelSetMaskHead") as info:
        build_model(cfg)
    assert "MaskRCNNConvUpsampleHead" in str(info.value)


def test_a_config_written_before_levelset_mask_head_builds_it(caplog):
    """ROI_MASK_HEAD.NAME 'TSDFMaskHead' with LevelSetROIHeads was the LevelSet mask branch before it became one
    head: the same model is built (same parameters, same initialisation for a seed), with a warning."""
    _, new = build()
    _, old = build("MODEL.ROI_MASK_HEAD.NAME", "TSDFMaskHead")
    assert isinstance(old.roi_heads.mask_head, LevelSetMaskHead)
    assert "LevelSetMaskHead" in caplog.text
    a, b = new.state_dict(), old.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_paper_head_runs_in_detectrons_standard_roi_heads():
    """LevelSetMaskHead also works in plain StandardROIHeads (pooled RoI features) with a feature head that needs no
    image-level features; the fine-grained one says what it needs."""
    paper = ["MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.LEVELSET.FEATURE_HEAD.NAME", "ChanVeseFeatureHead"]
    cfg, model = build(*paper)
    assert model.roi_heads.mask_pooler is not None and isinstance(model.roi_heads.mask_head, LevelSetMaskHead)
    losses = train_losses(model)
    assert {"loss_tsdf_initial", "loss_tsdf_final"} <= set(losses)
    model.eval()
    with torch.no_grad():
        inst = model(make_batch(seed=1))[0]["instances"]
    s = cfg.MODEL.LEVELSET.RESOLUTION
    assert tuple(inst.pred_masks.shape) == (len(inst), H, W) and tuple(inst.pred_masks_initial.shape[1:]) == (1, s, s)
    with pytest.raises(ValueError, match="feature shapes"):
        build("MODEL.ROI_HEADS.NAME", "StandardROIHeads")


def test_loss_saturate_l1_changes_only_the_final_loss():
    _, plain = build("MODEL.LEVELSET.LOSS_SATURATE_L1", "False")
    _, saturated = build()  # the default (issue 15)
    assert saturated.roi_heads.mask_head.loss_saturate_l1 and not plain.roi_heads.mask_head.loss_saturate_l1
    saturated.load_state_dict(plain.state_dict())
    # saturate phi0 (tanh) and let the refinement push phiN past +-1 on phi's side, as confident Chan-Vese steps do:
    # the plain final L1 counts that as an error, the saturated one does not
    for model in (plain, saturated):
        with torch.no_grad():
            model.roi_heads.mask_head.tsdf_head.tsdf_predictor.weight.mul_(50.0)
        model.roi_heads.mask_head.refinement.register_forward_hook(lambda m, i, out: [p + 0.5 * p.sign() for p in out])
    a, b = train_losses(plain), train_losses(saturated)
    assert torch.isclose(a["loss_tsdf_initial"], b["loss_tsdf_initial"])
    assert b["loss_tsdf_final"] < a["loss_tsdf_final"]


def test_loss_boundary_weight_changes_only_the_final_loss():
    _, plain = build()
    _, weighted = build("MODEL.LEVELSET.LOSS_BOUNDARY_WEIGHT", "8.0", "MODEL.LEVELSET.LOSS_BOUNDARY_WIDTH", "3.0")
    head = weighted.roi_heads.mask_head
    assert (head.loss_boundary_weight, head.loss_boundary_width) == (8.0, 3.0)
    assert plain.roi_heads.mask_head.loss_boundary_weight == 0.0  # the default: the paper's plain mean
    weighted.load_state_dict(plain.state_dict())
    a, b = train_losses(plain), train_losses(weighted)
    assert torch.isclose(a["loss_tsdf_initial"], b["loss_tsdf_initial"])
    assert not torch.isclose(a["loss_tsdf_final"], b["loss_tsdf_final"])


def test_loss_uncertainty_weight_changes_only_the_final_loss():
    _, plain = build()
    _, weighted = build("MODEL.LEVELSET.LOSS_UNCERTAINTY_WEIGHT", "8.0")
    assert weighted.roi_heads.mask_head.loss_uncertainty_weight == 8.0
    assert plain.roi_heads.mask_head.loss_uncertainty_weight == 0.0  # the default: off
    weighted.load_state_dict(plain.state_dict())
    a, b = train_losses(plain), train_losses(weighted)
    assert torch.isclose(a["loss_tsdf_initial"], b["loss_tsdf_initial"])
    assert not torch.isclose(a["loss_tsdf_final"], b["loss_tsdf_final"])


def test_scale_gradient_is_the_identity_forward_and_scales_the_gradient():
    from levelset_rcnn.modeling.levelset_mask_head import scale_gradient

    x = torch.randn(3, 4, requires_grad=True)
    y = scale_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, 0.3 * torch.arange(4.0).expand(3, 4))


def test_inference_heaviside_eps_sets_the_softness_of_the_returned_masks():
    """MODEL.LEVELSET.INFERENCE_HEAVISIDE_EPS is the ε of H_ε(φ) at inference (not the loss's): a smaller ε gives
    sharper masks with the same φ > 0 region; the loss's ε does not change them."""
    batch = [{"image": b["image"], "height": H, "width": W} for b in make_batch(seed=4)]
    outputs = {}
    for name, opts in {"default": (), "sharp": ("MODEL.LEVELSET.INFERENCE_HEAVISIDE_EPS", "0.01"),
                       "loss_eps": ("MODEL.LEVELSET.LOSS_HEAVISIDE_EPS", "0.01")}.items():
        _, model = build(*opts)  # same seed: same weights
        model.eval()
        with torch.no_grad():
            outputs[name] = model(batch)[0]["instances"].pred_masks_initial
    default, sharp = outputs["default"], outputs["sharp"]
    assert len(default) > 0
    assert torch.equal(outputs["loss_eps"], default)
    assert torch.equal(sharp > 0.5, default > 0.5)
    assert (sharp - 0.5).abs().mean() > (default - 0.5).abs().mean()
    with pytest.raises(ValueError, match="INFERENCE_HEAVISIDE_EPS = -0.1"):
        build("MODEL.LEVELSET.INFERENCE_HEAVISIDE_EPS", "-0.1")


def test_the_old_stand_alone_tsdf_mask_head_builds_the_tsdf_only_ablation(caplog):
    """ROI_MASK_HEAD.NAME 'TSDFMaskHead' with StandardROIHeads (the TSDF-only ablation until issue 24) builds
    LevelSetMaskHead with CHAN_VESE_ON False (same TSDF layers for a seed), with a warning naming the keys."""
    _, old = build("MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.ROI_MASK_HEAD.NAME", "TSDFMaskHead")
    _, new = build("MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.LEVELSET.CHAN_VESE_ON", "False")
    head = old.roi_heads.mask_head
    assert isinstance(head, LevelSetMaskHead) and head.refinement is None and isinstance(head.tsdf_head, TSDFHead)
    assert "MODEL.LEVELSET.CHAN_VESE_ON False" in caplog.text
    a, b = new.state_dict(), old.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert set(train_losses(old)) - {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"} == {"loss_tsdf_initial"}
