"""levelset_core.data.roots: where both projects look for real datasets."""
import pytest

from levelset_core.data.roots import dataset_roots, shared_dataset_path, shared_datasets_dir


def test_shared_folder_from_the_environment(monkeypatch, tmp_path):
    (tmp_path / "datasets" / "balloon" / "train").mkdir(parents=True)
    monkeypatch.setenv("LEVELSET_RCNN_SHARED", str(tmp_path))
    assert shared_datasets_dir() == tmp_path / "datasets"
    assert shared_dataset_path("balloon", "train") == tmp_path / "datasets" / "balloon"
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "mine"))
    assert dataset_roots() == [tmp_path / "mine", tmp_path / "datasets"]


def test_a_missing_dataset_says_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("LEVELSET_RCNN_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="'nope' not found at .*nope.*LEVELSET_RCNN_SHARED"):
        shared_dataset_path("nope")
    reasons = []
    with pytest.raises(FileNotFoundError):  # missing() that returns: still an error
        shared_dataset_path("nope", "marker.json", missing=reasons.append)
    assert "marker.json" in reasons[0]


def test_the_fixture_skips(shared_dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("LEVELSET_RCNN_SHARED", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="'nope' not found"):
        shared_dataset("nope")
