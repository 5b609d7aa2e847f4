"""levelset_rcnn.model_zoo: the table (model_zoo.json, MODEL_ZOO.md generated from it), checkpoint resolution
(cache / URL / local path), sha256 checks, clear errors without network, and the end-to-end release path: train a
tiny model, publish it (levelset_rcnn.model_zoo.publish), load it through model_zoo.get from the release folder and
reproduce its metrics."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from repo_paths import REPO_ROOT
from model_helpers import SMALL_MODEL_OPTS

from levelset_rcnn import model_zoo
from levelset_rcnn.data.synthetic_shapes import register_shapes_dataset
from levelset_rcnn.engine import Trainer, setup_cfg
from levelset_rcnn.engine.model_zoo_check import check_row_metrics, format_checks
from levelset_rcnn.model_zoo import table
from levelset_rcnn.model_zoo.publish import publish

QUICKSTART_CONFIG = str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEVELSET_RCNN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "checkpoints"


@pytest.fixture
def fake_entry():
    """A table row for a small file, removed again after the test."""
    names = []

    def make(name, payload=b"weights", **kwargs):
        import hashlib

        entry = dict(config="quickstart/levelset_rcnn_R_18_FPN_shapes.yaml", checkpoint="model_final_x.pth",
                     sha256=hashlib.sha256(payload).hexdigest())
        entry.update(kwargs)
        model_zoo.register_model(name, entry)
        names.append(name)
        return model_zoo.MODEL_ZOO[name]

    yield make
    for name in names:
        model_zoo.MODEL_ZOO.pop(name, None)


def test_table_rows_are_consistent():
    assert "quickstart/levelset_rcnn_R_18_FPN_shapes" in model_zoo.list_models(trained_only=True)
    for name, entry in model_zoo.MODEL_ZOO.items():
        assert os.path.isfile(model_zoo.get_config_file(name)), name
        if entry.checkpoint:
            # Detectron2's release naming: model_final_<first 8 hex of sha256>.pth
            assert entry.checkpoint == f"model_final_{entry.sha256[:8]}.pth", name
            assert entry.metrics and entry.dataset and entry.produced_by, name
            assert entry.url is None or entry.url.startswith("https://"), name
        else:
            with pytest.raises(model_zoo.CheckpointNotAvailableError, match="no trained checkpoint"):
                model_zoo.get_checkpoint_url(name)


def test_model_zoo_md_lists_every_trained_checkpoint_with_its_sha256():
    text = (REPO_ROOT / "MODEL_ZOO.md").read_text()
    for name in model_zoo.list_models(trained_only=True):
        entry = model_zoo.MODEL_ZOO[name]
        assert name in text and entry.sha256 in text, name


def test_model_zoo_md_table_is_generated_from_the_data_file():
    """MODEL_ZOO.md's table is not a hand-kept copy: `python -m levelset_rcnn.model_zoo MODEL_ZOO.md` rewrites it."""
    assert table.update_model_zoo_md(REPO_ROOT / "MODEL_ZOO.md", check=True), (
        "MODEL_ZOO.md is out of date with levelset_rcnn/model_zoo/model_zoo.json: run "
        "`python -m levelset_rcnn.model_zoo MODEL_ZOO.md`")
    generated = table.markdown_table()
    for name in model_zoo.list_models(trained_only=True):
        row = next(line for line in generated.splitlines() if line.startswith(f"| `{name}` |"))
        assert model_zoo.MODEL_ZOO[name].sha256 in row and model_zoo.MODEL_ZOO[name].produced_by in generated


def test_update_model_zoo_md_rewrites_only_the_generated_part(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{table.BEGIN_MARK}\nstale rows\n{table.END_MARK}\noutro\n")
    assert not table.update_model_zoo_md(page, check=True) and "stale rows" in page.read_text()  # check: no write
    assert not table.update_model_zoo_md(page)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale rows" not in text
    assert table.markdown_header() in text and table.update_model_zoo_md(page, check=True)
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="generated model-zoo section"):
        table.update_model_zoo_md(tmp_path / "plain.md")


def test_the_table_file_is_read_with_clear_errors(tmp_path):
    loaded = table.load_table()
    assert loaded and all(model_zoo.MODEL_ZOO[n] == e for n, e in loaded.items())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x/y": {"config": "a.yaml", "checkpoint": "model_final_x.pth", "sha256": "12"}}))
    with pytest.raises(ValueError, match="row 'x/y'.*sha256 must be 64"):
        table.load_table(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        table.load_table(bad)
    with pytest.raises(FileNotFoundError, match="data file"):
        table.load_table(tmp_path / "missing.json")


def test_a_table_row_printed_for_pasting_is_valid_json_of_the_same_entry():
    name = "quickstart/levelset_rcnn_R_18_FPN_shapes"
    text = table.entry_json(name, model_zoo.MODEL_ZOO[name])
    (parsed_name, row), = json.loads("{" + text + "}").items()
    assert parsed_name == name and table.ModelZooEntry.from_dict(row) == model_zoo.MODEL_ZOO[name]


def test_unknown_name_and_bad_entries_are_clear_errors(tmp_path):
    with pytest.raises(KeyError, match="not in the LevelSet R-CNN model zoo.*quickstart/"):
        model_zoo.get_config_file("nope/model")
    with pytest.raises(FileNotFoundError, match="model_zoo_entry.json"):
        model_zoo.get(str(tmp_path))
    with pytest.raises(ValueError, match="sha256 must be 64"):
        model_zoo.ModelZooEntry(config="x.yaml", checkpoint="model_final_abc.pth", sha256="abc")


def test_untrained_model_builds_from_config_without_checkpoint():
    model = model_zoo.get("quickstart/levelset_rcnn_R_18_FPN_shapes", trained=False)
    assert type(model.roi_heads).__name__ == "LevelSetROIHeads" and not model.training


def test_configs_of_a_name_with_overrides_or_of_a_file():
    name = "quickstart/levelset_rcnn_R_18_FPN_shapes"
    cfg = model_zoo.get_config(name, opts=["MODEL.LEVELSET.NUM_ITERATIONS", "2"])
    assert cfg.MODEL.LEVELSET.FEATURE_HEAD.NAME == "ChanVeseFeatureHead"  # the entry's own overrides
    assert cfg.MODEL.LEVELSET.NUM_ITERATIONS == 2 and not cfg.is_frozen()
    if not torch.cuda.is_available():
        assert cfg.MODEL.DEVICE == "cpu"
    cfg = model_zoo.load_config(config_file=QUICKSTART_CONFIG, opts=["MODEL.WEIGHTS", "w.pth"])
    assert cfg.MODEL.WEIGHTS == "w.pth" and cfg.MODEL.LEVELSET.FEATURE_HEAD.NAME != "ChanVeseFeatureHead"
    for kwargs in ({}, {"name": name, "config_file": QUICKSTART_CONFIG},
                   {"config_file": QUICKSTART_CONFIG, "checkpoint": "x.pth"}):
        with pytest.raises(ValueError):
            model_zoo.load_config(**kwargs)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        model_zoo.load_config(config_file="nope.yaml")


def test_missing_checkpoint_without_url_says_what_to_run_and_where(cache, fake_entry):
    fake_entry("test/no_url", produced_by="python make_it.py")
    with pytest.raises(model_zoo.CheckpointNotAvailableError) as err:
        model_zoo.get_checkpoint_path("test/no_url")
    message = str(err.value)
    assert "python make_it.py" in message
    assert str(cache / "test" / "no_url" / "model_final_x.pth") in message
    assert "model_final_x.pth" in message and "python -m levelset_rcnn.model_zoo install test/no_url" in message


def test_no_network_error_names_the_file_and_where_to_put_it(cache, fake_entry):
    # port 9 (discard) on localhost: the connection is refused at once, like a machine without network
    url = "http://127.0.0.1:9/levelset_rcnn/model_final_x.pth"
    fake_entry("test/offline", url=url)
    with pytest.raises(model_zoo.CheckpointNotAvailableError) as err:
        model_zoo.get_checkpoint_path("test/offline")
    message = str(err.value)
    assert url in message and str(cache / "test" / "offline" / "model_final_x.pth") in message
    assert "LEVELSET_RCNN_CACHE" in message
    assert not (cache / "test" / "offline" / "model_final_x.pth").exists()


def test_checksum_mismatch_is_an_error_never_a_silent_load(cache, fake_entry, tmp_path):
    fake_entry("test/sha", payload=b"the right bytes")
    cached = cache / "test" / "sha" / "model_final_x.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"the wrong bytes")
    with pytest.raises(model_zoo.ChecksumMismatchError, match="sha256"):
        model_zoo.get_checkpoint_path("test/sha")
    with pytest.raises(model_zoo.ChecksumMismatchError):
        model_zoo.get("test/sha")
    local = tmp_path / "local.pth"
    local.write_bytes(b"the wrong bytes")
    with pytest.raises(model_zoo.ChecksumMismatchError, match=str(local)):
        model_zoo.get_checkpoint_path("test/sha", checkpoint=str(local))
    cached.write_bytes(b"the right bytes")
    assert model_zoo.get_checkpoint_path("test/sha") == str(cached)


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None or (a is not None and math.isnan(a)) or (b is not None and math.isnan(b))
    return abs(a - b) < 1e-6


def test_published_tiny_model_loads_from_local_path_and_reproduces_its_metrics(tmp_path, one_thread):
    register_shapes_dataset(root=tmp_path / "data", prefix="mztest",
                            splits={"train": {"num_images": 16, "seed": 1}, "val": {"num_images": 10, "seed": 2}})
    out = tmp_path / "train"
    opts = SMALL_MODEL_OPTS + [
        "DATASETS.TRAIN", "('mztest_train',)", "DATASETS.TEST", "('mztest_val',)",
        "SOLVER.MAX_ITER", "30", "SOLVER.IMS_PER_BATCH", "4", "SOLVER.WARMUP_ITERS", "5", "SOLVER.STEPS", "()",
        "DATALOADER.NUM_WORKERS", "0", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
    ]
    cfg = setup_cfg(QUICKSTART_CONFIG, opts, output_dir=str(out))
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    results = Trainer.test(cfg, trainer.model)
    (out / "eval.json").write_text(json.dumps(results))
    trained_state = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    release = tmp_path / "release"
    entry = publish(str(out), name="test/tiny", config_file=QUICKSTART_CONFIG, opts=opts,
                                  metrics_file=str(out / "eval.json"), output_dir=str(release))
    files = sorted(os.listdir(release))
    assert files == sorted(["config.yaml", "metrics.json", model_zoo.RELEASE_ENTRY_FILE, entry["checkpoint"]])
    assert entry["checkpoint"] == f"model_final_{entry['sha256'][:8]}.pth"
    published = torch.load(release / entry["checkpoint"], map_location="cpu", weights_only=True)
    assert sorted(published) == ["config", "model"]  # optimizer, scheduler and iteration stripped

    model = model_zoo.get(str(release))  # through DetectionCheckpointer, sha256-verified
    loaded = model.state_dict()
    assert set(loaded) == set(trained_state)
    assert all(torch.equal(loaded[k], trained_state[k]) for k in loaded)

    metrics = json.loads((release / "metrics.json").read_text())
    again = Trainer.test(cfg, model)  # one test dataset: {task: {metric: value}}
    assert set(metrics) >= {"bbox", "segm", "segm_initial"}
    assert any(v for task in metrics.values() for v in task.values()), "degenerate test: every AP is 0"
    for task, values in metrics.items():
        for name, value in values.items():
            assert _same(again[task][name], value), (task, name, again[task][name], value)

    # tools/check_model_zoo_metrics.py's check: the release folder's row is reproduced; a row with another number is not
    checks = check_row_metrics(str(release), tolerance=0.1)
    assert checks and all(ok for *_, ok in checks), checks
    assert {task for task, *_ in checks} >= {"bbox", "segm", "segm_initial"}
    entry_file = release / model_zoo.RELEASE_ENTRY_FILE
    row = json.loads(entry_file.read_text())
    row["metrics"]["segm"]["AP"] += 0.5
    entry_file.write_text(json.dumps(row))
    bad = [c for c in check_row_metrics(str(release), tolerance=0.1) if not c[4]]
    assert [(task, metric) for task, metric, *_ in bad] == [("segm", "AP")]
    assert "NOT REPRODUCED: 1 of" in format_checks("x", bad, 0.1)


def test_check_tool_names_a_bad_row():
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "check_model_zoo_metrics.py"), "no/such_row"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "'no/such_row' is not in the LevelSet R-CNN model zoo" in proc.stderr
