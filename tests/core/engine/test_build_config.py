"""levelset_core.engine.build_config: the one config builder of both projects and the tools."""
import logging

import pytest
import torch

from levelset_core.engine.config import build_config
from repo_paths import REPO_ROOT

QUICKSTART = str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml")


def _add_key(cfg):
    from detectron2.config import CfgNode as CN

    cfg.MODEL.CORE_TEST = CN()
    cfg.MODEL.CORE_TEST.VALUE = 1


def test_defaults_add_config_overrides_and_output_dir(tmp_path):
    cfg = build_config(None, ["MODEL.CORE_TEST.VALUE", "3", "SOLVER.MAX_ITER", "7"], add_config=(_add_key,),
                       output_dir=str(tmp_path))
    assert cfg.MODEL.CORE_TEST.VALUE == 3 and cfg.SOLVER.MAX_ITER == 7 and cfg.OUTPUT_DIR == str(tmp_path)
    assert cfg.is_frozen()
    assert not build_config(freeze=False).is_frozen()


def test_yaml_file_with_project_keys():
    from levelset_rcnn import add_levelset_rcnn_config

    cfg = build_config(QUICKSTART, add_config=(add_levelset_rcnn_config,))
    assert cfg.MODEL.META_ARCHITECTURE and "LEVELSET" in cfg.MODEL
    with pytest.raises(KeyError, match="levelset_rcnn_R_18_FPN_shapes.yaml"):
        build_config(QUICKSTART)  # without the project's keys: the file is named


def test_missing_file_and_unknown_override_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        build_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(KeyError, match="MODEL.NO_SUCH_KEY"):
        build_config(None, ["MODEL.NO_SUCH_KEY", "1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  NO_SUCH_KEY: 1\n")
    with pytest.raises(KeyError, match="bad.yaml"):
        build_config(str(bad))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: no CPU fallback")
def test_cuda_without_gpu_falls_back_to_cpu_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        cfg = build_config(None, ["MODEL.DEVICE", "cuda:0"])
    assert cfg.MODEL.DEVICE == "cpu"
    assert "no GPU" in caplog.text
