"""Every MODEL.LEVELSET.* value is checked by the module that reads it when the model is built (docs/DESIGN.md,
"Where each config key lives"), with errors that name the key and the value (instead of e.g. torch's "negative
dimension" from the hyperparameter head); levelset_rcnn.config only adds the keys."""

import pytest
import torch
from repo_paths import REPO_ROOT
from model_helpers import SMALL_MODEL_OPTS

import levelset_rcnn  # noqa: F401  (registers the heads)
from detectron2.modeling import build_model

from levelset_rcnn.engine import Trainer
from levelset_rcnn.engine.defaults import setup_cfg

QUICKSTART = str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml")
TSDF_ONLY = ["MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.LEVELSET.CHAN_VESE_ON", "False"]
#: the paper's feature head, the one that reads FEATURE_HEAD.CONV_DIMS and NORM
PAPER_HEAD = ["MODEL.LEVELSET.FEATURE_HEAD.NAME", "ChanVeseFeatureHead"]

BAD = [
    ("NUM_ITERATIONS", "-2", "-2"),
    ("NUM_ITERATIONS", "0", "0"),
    ("RESOLUTION", "0", "0"),
    ("TRUNCATION", "-1.0", "-1.0"),
    ("TRUNCATION", "60.0", "60.0"),  # not smaller than RESOLUTION (56)
    ("LOSS_WEIGHT_FINAL", "-0.5", "-0.5"),
    ("LOSS_HEAVISIDE_EPS", "0.0", "0.0"),
    ("LOSS_BOUNDARY_WEIGHT", "-1.0", "-1.0"),
    ("LOSS_BOUNDARY_WIDTH", "0.0", "0.0"),
    ("LOSS_UNCERTAINTY_WEIGHT", "-2.0", "-2.0"),
    ("FEATURE_GRADIENT_SCALE", "-0.5", "-0.5"),
    ("MIN_EPS", "-0.1", "-0.1"),
    ("GRADIENT_STABILIZER", "-1e-3", "-0.001"),
    ("HYPERPARAMETER_HEAD.NUM_CONV", "-1", "-1"),
    ("HYPERPARAMETER_HEAD.FC_DIM", "0", "0"),
    ("HYPERPARAMETER_HEAD.NAME", "NoSuchHead", "NoSuchHead"),
    ("FEATURE_HEAD.NUM_CHANNELS", "0", "0"),
    ("FEATURE_HEAD.CONV_DIMS", "[]", "[]", PAPER_HEAD),
    ("FEATURE_HEAD.CONV_DIMS", "[32, -4]", "-4", PAPER_HEAD),
    ("FEATURE_HEAD.HIDDEN_DIM", "0", "0"),
    ("FEATURE_HEAD.REDUCED_CHANNELS", "0", "0"),
    ("FEATURE_HEAD.POOLER_RESOLUTION", "-1", "-1"),
    ("FEATURE_HEAD.POOLER_RESOLUTION", "200", "200"),  # larger than RESOLUTION
    ("FEATURE_HEAD.FULL_RESOLUTION_IMAGE", "True", "POOLER_RESOLUTION"),  # needs a coarser grid
    ("FEATURE_HEAD.OUTPUT", "sigmoid", "sigmoid"),
    ("FEATURE_HEAD.NAME", "NoSuchHead", "NoSuchHead"),
]


@pytest.mark.parametrize("key,value,shown,opts", [b if len(b) == 4 else b + ([],) for b in BAD])
def test_bad_levelset_value_is_named_when_the_model_is_built(key, value, shown, opts):
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + opts + [f"MODEL.LEVELSET.{key}", value])
    with pytest.raises(ValueError) as info:
        build_model(cfg)
    message = str(info.value)
    assert f"MODEL.LEVELSET.{key}" in message and shown in message


def test_tsdf_only_model_and_trainer_validate_too():
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + TSDF_ONLY + ["MODEL.LEVELSET.TRUNCATION", "0.0"])
    with pytest.raises(ValueError, match="MODEL.LEVELSET.TRUNCATION"):
        build_model(cfg)
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + ["MODEL.LEVELSET.NUM_ITERATIONS", "-2"])
    with pytest.raises(ValueError, match="MODEL.LEVELSET.NUM_ITERATIONS = -2"):
        Trainer.build_model(cfg)


def _build_with(**values):
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS)
    cfg.defrost()
    for key, value in values.items():
        cfg.MODEL.LEVELSET[key] = value
    return build_model(cfg)


def test_types_set_in_code_are_checked():
    with pytest.raises(ValueError, match="NUM_ITERATIONS = 2.5"):
        _build_with(NUM_ITERATIONS=2.5)
    with pytest.raises(ValueError, match="CHAN_VESE_ON = 'yes'"):
        _build_with(CHAN_VESE_ON="yes")
    with pytest.raises(ValueError, match="MIN_EPS = nan: must be finite"):
        _build_with(MIN_EPS=float("nan"))


def test_keys_a_model_does_not_read_are_not_checked():
    """The fine-grained feature head does not read CONV_DIMS; a TSDF-only model no Chan-Vese key."""
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + ["MODEL.LEVELSET.FEATURE_HEAD.CONV_DIMS", "[]"])
    build_model(cfg)
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + TSDF_ONLY + ["MODEL.LEVELSET.NUM_ITERATIONS", "-2"])
    build_model(cfg)


def test_shipped_defaults_are_valid():
    for opts in ([], TSDF_ONLY, ["MODEL.LEVELSET.CHAN_VESE_ON", "False"]):
        cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + opts)
        torch.manual_seed(0)
        build_model(cfg)
