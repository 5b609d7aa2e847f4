"""Test-time augmentation for LevelSet R-CNN: one scale without flip equals plain inference, a flip-only TTA of a
mirror-symmetric image gives mirror-symmetric masks, and train_net's --eval-only reports segm_TTA and
segm_initial_TTA."""
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import SMALL_MODEL_OPTS

import levelset_rcnn  # noqa: F401  (before detectron2.modeling)
from detectron2.modeling import GeneralizedRCNN, GeneralizedRCNNWithTTA, build_model

from levelset_rcnn.engine.defaults import setup_cfg
from levelset_rcnn.modeling.test_time_augmentation import LevelSetRCNNWithTTA, build_tta_model

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml"
TINY = SMALL_MODEL_OPTS + ["MODEL.DEVICE", "cpu", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
                           "TEST.DETECTIONS_PER_IMAGE", "5", "MODEL.RPN.POST_NMS_TOPK_TEST", "30"]

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(extra=()):
    cfg = setup_cfg(str(QUICKSTART), TINY + list(extra))
    torch.manual_seed(0)
    return cfg, build_model(cfg).eval()


def _image(symmetric=False, h=96, w=128):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, size=(h, w, 3)).astype(np.uint8)
    img[20:70, 30:60] = (200, 40, 40)
    img[30:80, 70:110] = (40, 200, 40)
    if symmetric:
        img = np.concatenate([img[:, : w // 2], img[:, : w // 2][:, ::-1]], axis=1)
    return {"image": torch.from_numpy(img).permute(2, 0, 1).contiguous(), "height": h, "width": w}


def _sorted(instances):
    order = torch.argsort(instances.scores, descending=True)
    return instances[order]


@pytest.mark.parametrize("average", ["mask", "phi"])
def test_single_scale_without_flip_equals_plain_inference(average):
    cfg, model = _model(["MODEL.LEVELSET.FEATURE_HEAD.NAME", "FineGrainedChanVeseFeatureHead",
                         "TEST.AUG.MIN_SIZES", "(128,)", "TEST.AUG.MAX_SIZE", "128", "TEST.AUG.FLIP", "False",
                         "TEST.AUG.LEVELSET_AVERAGE", average])
    inputs = [_image()]
    with torch.no_grad():
        plain = _sorted(model(inputs)[0]["instances"])
        tta = _sorted(LevelSetRCNNWithTTA(cfg, model)(inputs)[0]["instances"])
    assert len(plain) == len(tta) > 0
    torch.testing.assert_close(tta.pred_boxes.tensor, plain.pred_boxes.tensor, atol=1e-3, rtol=0)
    torch.testing.assert_close(tta.scores, plain.scores, atol=1e-5, rtol=0)
    assert torch.equal(tta.pred_classes, plain.pred_classes)
    # pasted binary masks: at most a pixel or two of a rounding difference at the boundary
    assert (tta.pred_masks != plain.pred_masks).float().mean() < 1e-3
    torch.testing.assert_close(tta.pred_masks_initial, plain.pred_masks_initial, atol=1e-4, rtol=0)
    assert tta.pred_levelset_hparams.shape == plain.pred_levelset_hparams.shape


def test_flip_only_tta_of_a_symmetric_image_gives_symmetric_masks():
    """On a mirror-symmetric image, the flip TTA's RoI masks of a box and of its mirrored box are mirror images of
    each other (the flipped view is un-flipped correctly), and a box symmetric about the image's centre line gets a
    symmetric mask, for both averaging modes."""
    from detectron2.structures import Boxes, Instances

    for average in ("mask", "phi"):
        cfg, model = _model(["TEST.AUG.MIN_SIZES", "(96,)", "TEST.AUG.MAX_SIZE", "128", "TEST.AUG.FLIP", "True",
                             "TEST.AUG.LEVELSET_AVERAGE", average])
        tta = LevelSetRCNNWithTTA(cfg, model)
        image = _image(symmetric=True)
        w = image["width"]
        box = [20.0, 15.0, 60.0, 75.0]
        boxes = torch.tensor([box, [w - box[2], box[1], w - box[0], box[3]], [34.0, 10.0, w - 34.0, 80.0]])
        merged = Instances((image["height"], w), pred_boxes=Boxes(boxes), scores=torch.ones(3),
                           pred_classes=torch.zeros(3, dtype=torch.long))
        with torch.no_grad():
            inputs, tfms = tta._get_augmented_inputs(image)
            assert len(inputs) == 2  # the image and its flip
            heads = model.roi_heads
            heads.inference_levelsets = average == "phi"
            outputs = tta._batch_inference(inputs, tta._rescale_detected_boxes(inputs, merged, tfms))
            heads.inference_levelsets = False
            out = tta._combine_views(outputs, tfms, merged)
        for field in ("pred_masks", "pred_masks_initial"):
            masks = out.get(field)  # (3, 1, S, S) in the RoI frame
            torch.testing.assert_close(masks[0].flip(dims=[2]), masks[1], atol=1e-4, rtol=0)
            torch.testing.assert_close(masks[2].flip(dims=[2]), masks[2], atol=1e-4, rtol=0)
        # the box and its mirror got different masks from the plain view: the symmetry comes from the averaging
        assert (outputs[0].get("pred_masks")[0].flip(dims=[2]) - outputs[0].get("pred_masks")[1]).abs().max() > 1e-3


def test_build_tta_model_and_bad_average():
    cfg, model = _model()
    assert isinstance(build_tta_model(cfg, model), LevelSetRCNNWithTTA)
    mask_cfg = setup_cfg(str(REPO_ROOT / "configs/quickstart/mask_rcnn_R_18_FPN_shapes.yaml"), TINY)
    tta = build_tta_model(mask_cfg, build_model(mask_cfg).eval())
    assert type(tta) is GeneralizedRCNNWithTTA
    bad = setup_cfg(str(QUICKSTART), TINY + ["TEST.AUG.LEVELSET_AVERAGE", "median"])
    with pytest.raises(ValueError, match="LEVELSET_AVERAGE = 'median'"):
        LevelSetRCNNWithTTA(bad, model)
    # a LevelSet model is detectron2's stock GeneralizedRCNN (the image is a backbone output): detectron2's own TTA
    # runs it too, the fine-grained head reading every view's image on the merged boxes
    assert type(model) is GeneralizedRCNN
    cfg_tta = setup_cfg(str(QUICKSTART), TINY + ["TEST.AUG.MIN_SIZES", "(96,)", "TEST.AUG.MAX_SIZE", "128"])
    with torch.no_grad():
        out = GeneralizedRCNNWithTTA(cfg_tta, model)([_image()])[0]["instances"]
    assert len(out) > 0 and tuple(out.pred_masks.shape[1:]) == (96, 128)


@pytest.mark.parametrize("opts, message", [
    (["TEST.AUG.MIN_SIZES", "()"], "TEST.AUG.MIN_SIZES = \\(\\): test-time augmentation needs at least one size"),
    (["TEST.AUG.MIN_SIZES", "(96, 0)"], "TEST.AUG.MIN_SIZES = \\(96, 0\\): every size must be an integer > 0"),
    (["TEST.AUG.MIN_SIZES", "(96, 160)", "TEST.AUG.MAX_SIZE", "128"], "TEST.AUG.MAX_SIZE = 128: must be an integer >= "
                                                                       "every TEST.AUG.MIN_SIZES \\(the largest is 160"),
])
def test_bad_tta_sizes_are_errors_naming_the_key(opts, message):
    """Checked where the TTA config is used (both TTA wrappers, and the Trainer before training), instead of a bare
    ``torch.cat(): expected a non-empty list of Tensors`` from inside detectron2 at evaluation time."""
    from levelset_rcnn.engine import Trainer

    cfg, model = _model(opts)
    with pytest.raises(ValueError, match=message):
        LevelSetRCNNWithTTA(cfg, model)
    mask_cfg = setup_cfg(str(REPO_ROOT / "configs/quickstart/mask_rcnn_R_18_FPN_shapes.yaml"), TINY + opts)
    with pytest.raises(ValueError, match=message):
        build_tta_model(mask_cfg, build_model(mask_cfg).eval())
    trainer = Trainer.__new__(Trainer)
    trainer.cfg = setup_cfg(str(QUICKSTART), TINY + opts + ["TEST.AUG.ENABLED", "True"])
    with pytest.raises(ValueError, match=message):
        Trainer.build_hooks(trainer)


def test_train_net_eval_only_with_tta_reports_segm_and_segm_initial(tmp_path):
    from levelset_rcnn.engine.defaults import argument_parser, train_net

    cfg, model = _model()
    weights = tmp_path / "model.pth"
    torch.save({"model": model.state_dict()}, weights)
    args = argument_parser().parse_args([
        "--config-file", str(QUICKSTART), "--eval-only", *TINY, "MODEL.WEIGHTS", str(weights),
        "DATASETS.TEST", "('levelset_shapes_val',)",
        "TEST.AUG.ENABLED", "True", "TEST.AUG.MIN_SIZES", "(112, 128)", "TEST.AUG.MAX_SIZE", "160",
        "OUTPUT_DIR", str(tmp_path / "out"), "DATALOADER.NUM_WORKERS", "0"])
    results = train_net(args)
    for key in ("segm", "segm_initial", "segm_TTA", "segm_initial_TTA", "bbox_TTA"):
        assert key in results, sorted(results)
    assert (tmp_path / "out" / "inference_TTA").is_dir()
