"""The normalised image as a backbone output (levelset_rcnn/modeling/image_backbone.py): a LevelSet R-CNN is
detectron2's stock GeneralizedRCNN, the fine-grained feature head gets the image on every path (training, inference,
inference on given boxes, detectron2's TTA), the backbone's parameters are the wrapped one's, and configs naming the
old META_ARCHITECTURE 'LevelSetRCNN' build the same model with a warning."""
import logging
from pathlib import Path

import pytest
import torch
from model_helpers import SMALL_MODEL_OPTS, checked_train_step

import levelset_rcnn  # noqa: F401  (before detectron2.modeling)
from detectron2.modeling import BACKBONE_REGISTRY, GeneralizedRCNN, GeneralizedRCNNWithTTA, build_model
from detectron2.modeling.backbone import FPN
from detectron2.structures import Boxes, Instances

from levelset_rcnn.engine.defaults import setup_cfg
from levelset_rcnn.modeling.image_backbone import ImageFeatureBackbone

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml"
H, W = 96, 128
OPTS = SMALL_MODEL_OPTS + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "TEST.DETECTIONS_PER_IMAGE", "4",
                           "MODEL.RPN.POST_NMS_TOPK_TEST", "16"]

pytestmark = pytest.mark.usefixtures("one_thread")


def build(*opts):
    cfg = setup_cfg(str(QUICKSTART), OPTS + list(opts))
    torch.manual_seed(0)
    return cfg, build_model(cfg)


def inputs(seed=0, with_targets=False):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(2):
        d = {"image": torch.rand(3, H, W, generator=g) * 255, "height": H, "width": W}
        if with_targets:
            from detectron2.structures import BitMasks

            inst = Instances((H, W), gt_boxes=Boxes(torch.tensor([[10.0, 12, 60, 70]])), gt_classes=torch.tensor([1]))
            m = torch.zeros(1, H, W, dtype=torch.bool)
            m[0, 12:70, 10:60] = True
            inst.gt_masks = BitMasks(m)
            d["instances"] = inst
        out.append(d)
    return out


def test_levelset_model_is_a_stock_generalized_rcnn_with_the_image_as_a_backbone_output():
    cfg, model = build()
    assert type(model) is GeneralizedRCNN
    backbone = model.backbone
    assert isinstance(backbone, ImageFeatureBackbone) and isinstance(backbone, FPN)
    shapes = backbone.output_shape()
    assert shapes["image"].stride == 1 and shapes["image"].channels == 3
    # RPN and box head select their inputs by name: the image is not among them; the mask head reads it
    assert "image" not in model.proposal_generator.in_features
    assert "image" not in model.roi_heads.box_in_features
    assert model.roi_heads.mask_in_features[-1] == "image"
    model.eval()
    images = model.preprocess_image(inputs())
    with torch.no_grad():
        features = backbone(images.tensor)
    assert features["image"] is images.tensor
    # same parameters, keys and initialisation as the wrapped backbone built alone with the same seed
    torch.manual_seed(0)
    plain = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.WRAPPED_NAME)(cfg, backbone.output_shape()["image"])
    assert type(plain) is FPN
    theirs, ours = plain.state_dict(), backbone.state_dict()
    assert list(theirs) == list(ours)
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)


class ImageSpy:
    """Records the image tensors the fine-grained feature head's image RoIAlign receives."""

    def __init__(self, model):
        self.seen = []
        pooler = model.roi_heads.mask_head.feature_head.image_pooler
        self.handle = pooler.register_forward_hook(lambda module, args, output: self.seen.append(args[0][0]))


def test_the_fine_head_gets_the_image_on_every_path():
    """Fails if the fine-grained Chan-Vese feature head does not RoIAlign the normalised input batch: in training,
    inference, detectron2's inference on given boxes and detectron2's own TTA (every view's image)."""
    cfg, model = build()
    spy = ImageSpy(model)
    checked_train_step(model, inputs(with_targets=True))
    expected = model.preprocess_image(inputs()).tensor
    assert len(spy.seen) == 1 and torch.equal(spy.seen[0], expected)

    model.eval()
    spy.seen.clear()
    with torch.no_grad():
        detections = [o["instances"] for o in model(inputs())]
        assert len(spy.seen) == 1 and torch.equal(spy.seen[0], expected)
        given = [Instances((H, W), pred_boxes=Boxes(torch.tensor([[5.0, 5, 50, 40]])), scores=torch.ones(1),
                           pred_classes=torch.zeros(1, dtype=torch.long)) for _ in range(2)]
        spy.seen.clear()
        out = model.inference(inputs(), detected_instances=given)
        assert len(spy.seen) == 1 and torch.equal(spy.seen[0], expected)
        assert tuple(out[0]["instances"].pred_masks.shape) == (1, H, W)

        tta_cfg = setup_cfg(str(QUICKSTART), OPTS + ["TEST.AUG.MIN_SIZES", "(96, 128)", "TEST.AUG.MAX_SIZE", "256",
                                                     "TEST.AUG.FLIP", "True"])
        spy.seen.clear()
        GeneralizedRCNNWithTTA(tta_cfg, model)(inputs()[:1])
    # boxes are detected with the mask branch off; the mask step on the merged boxes reads all 4 views' images
    assert sum(t.shape[0] for t in spy.seen) == 4
    assert {tuple(t.shape[-2:]) for t in spy.seen} == {(128, 192)}  # batched views, padded to the largest
    assert len(detections) == 2


def test_a_backbone_without_the_image_is_an_error_naming_the_keys():
    with pytest.raises(ValueError, match="MODEL.BACKBONE.NAME 'build_image_feature_backbone' and "
                                         "MODEL.BACKBONE.WRAPPED_NAME 'build_resnet_fpn_backbone'"):
        build("MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone")
    # the paper's feature head (pooled RoI features only) needs no image
    _, model = build("MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
                     "MODEL.LEVELSET.FEATURE_HEAD.NAME", "ChanVeseFeatureHead")
    assert "image" not in model.backbone.output_shape()
    with pytest.raises(ValueError, match="MODEL.BACKBONE.WRAPPED_NAME = 'nope'"):
        build("MODEL.BACKBONE.WRAPPED_NAME", "nope")


def test_old_meta_architecture_builds_the_same_stock_model_with_a_warning(caplog):
    _, new = build()
    with caplog.at_level(logging.WARNING):
        _, old = build("MODEL.META_ARCHITECTURE", "LevelSetRCNN", "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone")
    assert type(old) is GeneralizedRCNN and isinstance(old.backbone, ImageFeatureBackbone)
    assert "set MODEL.META_ARCHITECTURE 'GeneralizedRCNN', MODEL.BACKBONE.NAME 'build_image_feature_backbone' and " \
           "MODEL.BACKBONE.WRAPPED_NAME 'build_resnet_fpn_backbone'" in caplog.text
    a, b = new.state_dict(), old.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
