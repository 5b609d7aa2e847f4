"""levelset_rcnn.model_zoo.publish (tools/publish_model.py): release artifacts in Detectron2's style, metrics
discovery, clear errors; the release format read back (levelset_rcnn.model_zoo.release).
(The full path train -> publish -> model_zoo.get -> same metrics is in tests/model_zoo/test_model_zoo.py.)"""
import json
import os
import subprocess
import sys

import pytest
import torch
from repo_paths import REPO_ROOT
from tiny_model import QUICKSTART_CONFIG

from levelset_rcnn import model_zoo
from levelset_rcnn.model_zoo.publish import PublishError, find_metrics, format_report, publish
from levelset_rcnn.model_zoo.release import read_release

RESULTS = {"bbox": {"AP": 12.5, "AP50": 30.0, "APl": float("nan")}, "segm": {"AP": 10.0, "AP50": 25.0}}


def _training_folder(folder, with_config=True):
    """A fake training output: a checkpoint with trainer state, config.yaml, a log with detectron2's copypaste."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    torch.save({"model": state, "optimizer": {"state": {}}, "scheduler": {"last_epoch": 9}, "iteration": 9},
               folder / "model_final.pth")
    if with_config:
        from levelset_rcnn.engine import setup_cfg

        (folder / "config.yaml").write_text(setup_cfg(QUICKSTART_CONFIG).dump())
    return state


def test_publish_strips_the_checkpoint_and_writes_the_release_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LEVELSET_RCNN_CACHE", str(tmp_path / "cache"))
    state = _training_folder(tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"results": {"levelset_shapes_val": RESULTS}}))
    entry = publish(str(tmp_path / "run"), "test/run", install=True)
    release = tmp_path / "run" / "release"
    (ckpt,) = [f for f in os.listdir(release) if f.endswith(".pth")]
    digest = model_zoo.sha256sum(release / ckpt)
    assert ckpt == f"model_final_{digest[:8]}.pth" and entry["path"] == str(release / ckpt)
    saved = torch.load(release / ckpt, map_location="cpu", weights_only=True)
    assert sorted(saved) == ["config", "model"] and all(torch.equal(saved["model"][k], v) for k, v in state.items())
    assert saved["config"] == (release / "config.yaml").read_text()  # the resolved config travels with the weights
    metrics = json.loads((release / "metrics.json").read_text())
    assert metrics == {"bbox": {"AP": 12.5, "AP50": 30.0, "APl": None}, "segm": {"AP": 10.0, "AP50": 25.0}}
    assert "MODEL:" in (release / "config.yaml").read_text()
    written = json.loads((release / model_zoo.RELEASE_ENTRY_FILE).read_text())
    assert written["sha256"] == digest and written["name"] == "test/run" and written["url"] is None
    assert (tmp_path / "cache" / "checkpoints" / "test" / "run" / ckpt).is_file()  # install=True
    out = format_report(entry)
    row = [line for line in out.splitlines() if line.startswith("| `test/run`")]
    assert row and digest in row[0] and "12.5" in row[0] and "10.0" in row[0]
    assert f'"sha256": "{digest}"' in out  # the model_zoo.json entry
    # the release folder is a model-zoo name of its own: config and checksum-verified checkpoint
    assert model_zoo.get_checkpoint_path(str(release)) == str(release / ckpt)
    assert model_zoo.get_config_file(str(release)) == str(release / "config.yaml")
    name, fields = read_release(str(release))  # the reader of the format the writer wrote
    assert name == "test/run" and fields["config"] == str(release / "config.yaml") and fields["opts"] == ()


def test_metrics_are_found_in_metrics_json_or_the_log(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "metrics.json").write_text(
        json.dumps({"iteration": 9, "total_loss": 1.0}) + "\n" + json.dumps({"iteration": 9, "bbox/AP": 3.5,
                                                                             "segm/AP": 2.5}) + "\n")
    assert find_metrics(str(folder))[0] == {"bbox": {"AP": 3.5}, "segm": {"AP": 2.5}}
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "log.txt").write_text(
        "[x] d2.evaluation.testing INFO: copypaste: Task: bbox\n"
        "[x] d2.evaluation.testing INFO: copypaste: AP,AP50\n"
        "[x] d2.evaluation.testing INFO: copypaste: 1.0000,2.0000\n"
        "[x] d2.evaluation.testing INFO: copypaste: Task: segm_initial\n"
        "[x] d2.evaluation.testing INFO: copypaste: AP,AP50\n"
        "[x] d2.evaluation.testing INFO: copypaste: 3.0000,nan\n")
    assert find_metrics(str(folder))[0] == {"bbox": {"AP": 1.0, "AP50": 2.0},
                                            "segm_initial": {"AP": 3.0, "AP50": None}}


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(PublishError, match="does not exist"):
        publish(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublishError, match="no model_final.pth"):
        publish(str(tmp_path / "empty"))
    _training_folder(tmp_path / "nometrics")
    with pytest.raises(PublishError, match="no evaluation results.*--metrics"):
        publish(str(tmp_path / "nometrics"))
    _training_folder(tmp_path / "noconfig", with_config=False)
    (tmp_path / "noconfig" / "summary.json").write_text(json.dumps({"results": RESULTS}))
    with pytest.raises(PublishError, match="config.yaml not found"):
        publish(str(tmp_path / "noconfig"))
    assert publish(str(tmp_path / "noconfig"), config_file=QUICKSTART_CONFIG)["sha256"]


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    folder = tmp_path / "run"
    _training_folder(folder)
    (folder / "model_final.pth").write_bytes(b"not a checkpoint")
    (folder / "summary.json").write_text(json.dumps({"results": RESULTS}))
    with pytest.raises(PublishError, match="model_final.pth"):
        publish(str(folder))


def test_a_broken_release_entry_is_a_clear_error(tmp_path):
    (tmp_path / model_zoo.RELEASE_ENTRY_FILE).write_text("{broken")
    with pytest.raises(ValueError, match=model_zoo.RELEASE_ENTRY_FILE):
        model_zoo.get_config_file(str(tmp_path))


def test_the_tool_prints_the_rows_and_exits_2_on_errors(tmp_path):
    """tools/publish_model.py run as a command: argument parsing plus publish(); an error is one line, exit 2."""
    tool = [sys.executable, str(REPO_ROOT / "tools" / "publish_model.py")]
    proc = subprocess.run(tool + [str(tmp_path / "nope")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "publish_model: error:" in proc.stderr and "does not exist" in proc.stderr
    _training_folder(tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"results": RESULTS}))
    proc = subprocess.run(tool + [str(tmp_path / "run"), "--name", "test/cli", "--output-dir", str(tmp_path / "rel")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| `test/cli` |" in proc.stdout and '"test/cli": {' in proc.stdout
    assert (tmp_path / "rel" / model_zoo.RELEASE_ENTRY_FILE).is_file()


def test_a_comparison_run_publishes_with_its_metrics_file(tmp_path):
    """tools/compare_models.py's comparison_metrics.json as --metrics: the AP tasks go into the table entry, the
    boundary F1, timing and run records (no AP) stay out of it."""
    _training_folder(tmp_path / "run")
    metrics = dict(RESULTS, boundary_f1={"AF1": 30.0, "AF2": 45.0}, timing={"train_s_per_iter": 1.2},
                   run={"name": "LevelSet R-CNN", "seed": 1})
    (tmp_path / "run" / "comparison_metrics.json").write_text(json.dumps(metrics))
    entry = publish(str(tmp_path / "run"), "test/cmp", metrics_file=str(tmp_path / "run" / "comparison_metrics.json"))
    table_row = format_report(entry).split("model_zoo.json entry", 1)[1]
    assert '"bbox": {"AP": 12.5, "AP50": 30.0}' in table_row
    for absent in ("boundary_f1", "timing", '"run"'):
        assert absent not in table_row
