"""tools/publish_model.py: release artifacts in Detectron2's style, metrics discovery, clear errors.
(The full path train -> publish -> model_zoo.get -> same metrics is in tests/model_zoo/test_model_zoo.py.)"""
import json
import os

import pytest
import torch

from tiny_model import QUICKSTART_CONFIG, load_tool

from levelset_rcnn import model_zoo

RESULTS = {"bbox": {"AP": 12.5, "AP50": 30.0, "APl": float("nan")}, "segm": {"AP": 10.0, "AP50": 25.0}}


@pytest.fixture(scope="module")
def publish_model():
    return load_tool("publish_model")


def _training_folder(folder, with_config=True):
    """A fake training output: a checkpoint with trainer state, config.yaml, a log with detectron2's copypaste."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    torch.save({"model": state, "optimizer": {"state": {}}, "scheduler": {"last_epoch": 9}, "iteration": 9},
               folder / "model_final.pth")
    if with_config:
        from levelset_rcnn.engine.defaults import setup_cfg

        (folder / "config.yaml").write_text(setup_cfg(QUICKSTART_CONFIG).dump())
    return state


def test_publish_strips_the_checkpoint_and_writes_the_release_files(tmp_path, publish_model, capsys, monkeypatch):
    monkeypatch.setenv("LEVELSET_RCNN_CACHE", str(tmp_path / "cache"))
    state = _training_folder(tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"results": {"levelset_shapes_val": RESULTS}}))
    rc = publish_model.main([str(tmp_path / "run"), "--name", "test/run", "--install"])
    assert rc == 0
    release = tmp_path / "run" / "release"
    (ckpt,) = [f for f in os.listdir(release) if f.endswith(".pth")]
    digest = model_zoo.sha256sum(release / ckpt)
    assert ckpt == f"model_final_{digest[:8]}.pth"
    saved = torch.load(release / ckpt, map_location="cpu", weights_only=True)
    assert list(saved) == ["model"] and all(torch.equal(saved["model"][k], v) for k, v in state.items())
    metrics = json.loads((release / "metrics.json").read_text())
    assert metrics == {"bbox": {"AP": 12.5, "AP50": 30.0, "APl": None}, "segm": {"AP": 10.0, "AP50": 25.0}}
    assert "MODEL:" in (release / "config.yaml").read_text()
    entry = json.loads((release / model_zoo.RELEASE_ENTRY_FILE).read_text())
    assert entry["sha256"] == digest and entry["name"] == "test/run" and entry["url"] is None
    assert (tmp_path / "cache" / "checkpoints" / "test" / "run" / ckpt).is_file()  # --install
    out = capsys.readouterr().out
    row = [l for l in out.splitlines() if l.startswith("| `test/run`")]
    assert row and digest in row[0] and "12.5" in row[0] and "10.0" in row[0]
    assert f'sha256="{digest}"' in out  # the model_zoo.py entry
    # the release folder is a model-zoo name of its own: config and checksum-verified checkpoint
    assert model_zoo.get_checkpoint_path(str(release)) == str(release / ckpt)
    assert model_zoo.get_config_file(str(release)) == str(release / "config.yaml")


def test_metrics_are_found_in_metrics_json_or_the_log(tmp_path, publish_model):
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "metrics.json").write_text(
        json.dumps({"iteration": 9, "total_loss": 1.0}) + "\n" + json.dumps({"iteration": 9, "bbox/AP": 3.5,
                                                                             "segm/AP": 2.5}) + "\n")
    assert publish_model.find_metrics(str(folder))[0] == {"bbox": {"AP": 3.5}, "segm": {"AP": 2.5}}
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "log.txt").write_text(
        "[x] d2.evaluation.testing INFO: copypaste: Task: bbox\n"
        "[x] d2.evaluation.testing INFO: copypaste: AP,AP50\n"
        "[x] d2.evaluation.testing INFO: copypaste: 1.0000,2.0000\n"
        "[x] d2.evaluation.testing INFO: copypaste: Task: segm_initial\n"
        "[x] d2.evaluation.testing INFO: copypaste: AP,AP50\n"
        "[x] d2.evaluation.testing INFO: copypaste: 3.0000,nan\n")
    assert publish_model.find_metrics(str(folder))[0] == {"bbox": {"AP": 1.0, "AP50": 2.0},
                                                          "segm_initial": {"AP": 3.0, "AP50": None}}


def test_missing_files_are_clear_errors(tmp_path, publish_model, capsys):
    assert publish_model.main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert publish_model.main([str(tmp_path / "empty")]) == 2
    assert "no model_final.pth" in capsys.readouterr().err
    _training_folder(tmp_path / "nometrics")
    assert publish_model.main([str(tmp_path / "nometrics")]) == 2
    err = capsys.readouterr().err
    assert "no evaluation results" in err and "--metrics" in err
    _training_folder(tmp_path / "noconfig", with_config=False)
    (tmp_path / "noconfig" / "summary.json").write_text(json.dumps({"results": RESULTS}))
    assert publish_model.main([str(tmp_path / "noconfig")]) == 2
    assert "config.yaml not found" in capsys.readouterr().err
    assert publish_model.main([str(tmp_path / "noconfig"), "--config-file", QUICKSTART_CONFIG]) == 0
