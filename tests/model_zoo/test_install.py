"""Installing a fetched checkpoint where ``model_zoo.get(name)`` finds it (``python -m levelset_rcnn.model_zoo
install``, sha256 checked against the table), and the check that a row's config is the config saved with its
checkpoint (``levelset_rcnn.model_zoo.verify``), on a tiny checkpoint in a temporary cache."""
import hashlib
import subprocess
import sys

import pytest
import torch
from detectron2.modeling import build_model
from repo_paths import REPO_ROOT

from levelset_rcnn import model_zoo
from levelset_rcnn.model_zoo.release import save_release_checkpoint
from levelset_rcnn.model_zoo.verify import config_drift, format_drift

NAME = "test/tiny_install"
CONFIG = "quickstart/levelset_rcnn_R_18_FPN_shapes.yaml"
OPTS = ("MODEL.LEVELSET.NUM_ITERATIONS", "2")


@pytest.fixture
def tiny(tmp_path, monkeypatch, one_thread):
    """A release checkpoint of the quickstart model (random weights, its resolved config saved in it) in a
    'download' folder, a table row for it and an empty cache; the row is removed afterwards."""
    monkeypatch.setenv("LEVELSET_RCNN_CACHE", str(tmp_path / "cache"))
    cfg = model_zoo.load_config(config_file=str(model_zoo.configs_root() / CONFIG), opts=list(OPTS))
    cfg.MODEL.DEVICE = "cpu"
    state = build_model(cfg).state_dict()
    path, digest = save_release_checkpoint(state, str(tmp_path / "download"), cfg.dump())
    model_zoo.register_model(NAME, dict(config=CONFIG, opts=list(OPTS), checkpoint=f"model_final_{digest[:8]}.pth",
                                        sha256=digest, produced_by="python tools/train_net.py ..."))
    yield path, state
    model_zoo.MODEL_ZOO.pop(NAME, None)


def test_absent_checkpoint_names_the_file_the_install_command_and_the_reproducing_command(tiny):
    with pytest.raises(model_zoo.CheckpointNotAvailableError) as err:
        model_zoo.get(NAME)
    message = str(err.value)
    row = model_zoo.MODEL_ZOO[NAME]
    assert row.checkpoint in message and row.sha256 in message
    assert f"python -m levelset_rcnn.model_zoo install {NAME}" in message
    assert "python tools/train_net.py ..." in message and model_zoo.installed_path(NAME) in message


def test_install_puts_the_file_where_get_finds_it_and_the_weights_load(tiny):
    path, state = tiny
    dest = model_zoo.install_checkpoint(NAME, path)
    assert dest == model_zoo.installed_path(NAME) == model_zoo.get_checkpoint_path(NAME)
    model = model_zoo.get(NAME, device="cpu")
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert config_drift(NAME) == []  # the row's config is the one saved in the checkpoint


def test_install_refuses_a_file_with_another_sha256_and_copies_nothing(tiny, tmp_path):
    path, _ = tiny
    other = tmp_path / "other.pth"
    other.write_bytes(open(path, "rb").read() + b"x")
    with pytest.raises(model_zoo.ChecksumMismatchError, match="different model"):
        model_zoo.install_checkpoint(NAME, str(other))
    with pytest.raises(model_zoo.CheckpointNotAvailableError):
        model_zoo.get_checkpoint_path(NAME)


def test_install_command_line(tiny, tmp_path):
    path, _ = tiny
    code = ("import sys, levelset_rcnn; from levelset_rcnn import model_zoo; from levelset_rcnn.model_zoo.__main__ "
            "import main; model_zoo.register_model(sys.argv[1], dict(config=sys.argv[2], checkpoint=sys.argv[3], "
            "sha256=sys.argv[4])); sys.exit(main(sys.argv[5:]))")
    row = model_zoo.MODEL_ZOO[NAME]
    base = [sys.executable, "-c", code, NAME, CONFIG, row.checkpoint, row.sha256]
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not it")
    out = subprocess.run(base + ["install", NAME, str(bad)], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=300)
    assert out.returncode == 2 and "sha256" in out.stderr
    out = subprocess.run(base + ["install", NAME, path], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert model_zoo.get_checkpoint_path(NAME) == model_zoo.installed_path(NAME)


def test_a_row_that_no_longer_builds_its_checkpoints_model_is_reported(tiny):
    path, _ = tiny
    model_zoo.install_checkpoint(NAME, path)
    # the row loses the override the checkpoint was made with (as when a base config changes under a row)
    row = model_zoo.MODEL_ZOO[NAME]
    model_zoo.register_model(NAME, dict(config=CONFIG, checkpoint=row.checkpoint, sha256=row.sha256))
    drift = config_drift(NAME)
    assert drift == [("MODEL.LEVELSET.NUM_ITERATIONS", 3, 2)]
    assert "MODEL.LEVELSET.NUM_ITERATIONS 2" in format_drift(NAME, drift)


def test_keys_the_saved_model_does_not_read_are_not_drift(tiny):
    """A checkpoint trained by tools/compare_models.py (which sets the PointRend class count for every model and saves
    only at the end) is the same model as the row's config: those keys are not drift; a LevelSet key is."""
    path, _ = tiny
    model_zoo.install_checkpoint(NAME, path)
    saved = model_zoo.get_config(NAME)
    saved.MODEL.POINT_HEAD.NUM_CLASSES = saved.MODEL.POINT_HEAD.NUM_CLASSES + 5
    saved.SOLVER.CHECKPOINT_PERIOD = 10 ** 9
    assert config_drift(NAME, config_text=saved.dump()) == []
    saved.MODEL.LEVELSET.NUM_ITERATIONS = 7
    assert config_drift(NAME, config_text=saved.dump()) == [("MODEL.LEVELSET.NUM_ITERATIONS", 2, 7)]  # row: 2


def test_a_key_added_after_the_checkpoint_counts_with_its_code_default(tiny):
    """A saved config without a key (written before the key existed) was trained with the key's default: a row that
    now sets another value (e.g. through a base config) is drift, the default is not; another feature head's keys
    are not compared."""
    import yaml

    path, _ = tiny
    model_zoo.install_checkpoint(NAME, path)
    key = "MODEL.LEVELSET.FEATURE_HEAD.POOLER_RESOLUTION"
    saved = yaml.safe_load(model_zoo.get_config(NAME).dump())
    del saved["MODEL"]["LEVELSET"]["FEATURE_HEAD"]["POOLER_RESOLUTION"]
    assert config_drift(NAME, config_text=yaml.safe_dump(saved)) == []  # the row: the default
    row = model_zoo.MODEL_ZOO[NAME]
    model_zoo.register_model(NAME, dict(config=CONFIG, opts=list(row.opts) + [key, "14"], checkpoint=row.checkpoint,
                                        sha256=row.sha256))
    drift = config_drift(NAME, config_text=yaml.safe_dump(saved))
    assert drift == [(key, 14, 0)] and f"{key} 0" in format_drift(NAME, drift)
    saved["MODEL"]["LEVELSET"]["FEATURE_HEAD"]["NAME"] = "ChanVeseFeatureHead"  # a head that does not read it
    assert [d[0] for d in config_drift(NAME, config_text=yaml.safe_dump(saved))] == [
        "MODEL.LEVELSET.FEATURE_HEAD.NAME"]


def test_a_checkpoint_without_a_saved_config_cannot_be_checked(tiny, tmp_path):
    bare = tmp_path / "bare" / "model.pth"
    bare.parent.mkdir()
    torch.save({"model": {"w": torch.zeros(1)}}, bare)
    model_zoo.register_model(NAME, dict(config=CONFIG, checkpoint="model.pth",
                                        sha256=hashlib.sha256(bare.read_bytes()).hexdigest()))
    with pytest.raises(FileNotFoundError, match="no saved config"):
        config_drift(NAME, checkpoint=str(bare))
