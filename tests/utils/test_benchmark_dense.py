"""levelset_rcnn.utils.benchmark.dense (benchmarks/benchmark_dense.py): comparison runs found by folder, the densest
images chosen, every model timed with its parts and its memory (no timing asserts), clear errors for bad inputs."""
import json
import subprocess
import sys

import pytest
import torch
from model_helpers import SMALL_MODEL_OPTS
from repo_paths import REPO_ROOT

from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from levelset_rcnn.engine.defaults import setup_cfg
from levelset_rcnn.utils.benchmark.dense import DenseBenchmarkError, dense_images, find_runs, with_levelset_variants

QUICKSTART = REPO_ROOT / "configs" / "quickstart"
TINY_INPUT = ["INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "160", "MODEL.RESNETS.DEPTH", "18"]


def _fake_run(folder, config, name):
    """A comparison run folder: config.yaml, model_final.pth (random weights) and comparison_metrics.json."""
    folder.mkdir(parents=True)
    cfg = setup_cfg(str(QUICKSTART / config), SMALL_MODEL_OPTS + TINY_INPUT + ["MODEL.WEIGHTS", ""])
    (folder / "config.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, folder / "model_final.pth")
    (folder / "comparison_metrics.json").write_text(json.dumps({"run": {"name": name, "seed": 1}}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dense_runs")
    _fake_run(root / "mask_rcnn_seed1", "mask_rcnn_R_18_FPN_shapes.yaml", "Mask R-CNN")
    _fake_run(root / "levelset_rcnn_seed1", "levelset_rcnn_R_18_FPN_shapes.yaml", "LevelSet R-CNN")
    (root / "levelset_rcnn_seed2").mkdir()  # another seed: ignored
    return root


def test_runs_are_found_by_seed_and_named_as_in_the_table(runs):
    found = find_runs(runs, 1)
    assert list(found) == ["LevelSet R-CNN", "Mask R-CNN"]
    assert found["Mask R-CNN"][1].endswith("mask_rcnn_seed1/model_final.pth")
    with pytest.raises(DenseBenchmarkError, match="levelset_rcnn_seed2: no config.yaml"):
        find_runs(runs, 2)
    with pytest.raises(DenseBenchmarkError, match="no run folder <model>_seed3"):
        find_runs(runs, 3)
    with pytest.raises(DenseBenchmarkError, match="no such folder"):
        find_runs(runs / "nope", 1)


def test_levelset_variants_are_added_for_levelset_runs_only(runs):
    found = find_runs(runs, 1)
    assert with_levelset_variants(found, []) == {n: (c, w, ()) for n, (c, w) in found.items()}
    opts = ["MODEL.LEVELSET.FEATURE_HEAD.POOLER_RESOLUTION", "28"]
    variants = with_levelset_variants(found, opts)
    assert list(variants) == ["LevelSet R-CNN", "Mask R-CNN", "LevelSet R-CNN (POOLER_RESOLUTION=28)"]
    assert variants["LevelSet R-CNN (POOLER_RESOLUTION=28)"] == found["LevelSet R-CNN"] + (tuple(opts),)
    with pytest.raises(DenseBenchmarkError, match="KEY VALUE pairs, got 1 items"):
        with_levelset_variants(found, opts[:1])
    with pytest.raises(DenseBenchmarkError, match="no run is a LevelSet R-CNN model"):
        with_levelset_variants({"Mask R-CNN": found["Mask R-CNN"]}, opts)


def test_densest_images_first():
    records = DatasetCatalog.get("levelset_shapes_val")
    most = max(len(r["annotations"]) for r in records)
    chosen = dense_images("levelset_shapes_val", most)
    assert chosen and all(len(r["annotations"]) == most for r in chosen)
    counts = [len(r["annotations"]) for r in dense_images("levelset_shapes_val", 1)]
    assert counts == sorted(counts, reverse=True) and len(dense_images("levelset_shapes_val", 1, 2)) == 2
    with pytest.raises(DenseBenchmarkError, match=f"the densest, .*, has {most}"):
        dense_images("levelset_shapes_val", most + 1)
    with pytest.raises(DenseBenchmarkError, match="not registered"):
        dense_images("no_such_dataset", 1)


def test_dense_benchmark_command(runs, tmp_path):
    """The script end to end on the generated shapes: both models timed per image, with parts and memory."""
    raw = tmp_path / "dense.json"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "benchmark_dense.py"), "--runs", str(runs),
                           "--dataset", "levelset_shapes_val", "--min-instances", "1", "--max-images", "2",
                           "--repeats", "1", "--warmup", "0", "--threads", "1", "--json", str(raw),
                           "--levelset-opts", "MODEL.LEVELSET.FEATURE_HEAD.POOLER_RESOLUTION", "28"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(raw.read_text())
    dense = results["dense"]
    variant = "LevelSet R-CNN (POOLER_RESOLUTION=28)"
    assert len(dense["images"]) == 2 and set(dense["models"]) == {"Mask R-CNN", "LevelSet R-CNN", variant}
    ls = dense["models"]["LevelSet R-CNN"]["parts_s_per_image"]
    mr = dense["models"]["Mask R-CNN"]["parts_s_per_image"]
    assert {"backbone", "RPN", "box head", "mask branch", "Chan-Vese refinement"} <= set(ls)
    assert "Chan-Vese refinement" not in mr and mr["mask branch"] > 0
    # the LevelSet sub-heads run inside the mask branch
    assert ls["initial TSDF head (mask head convs)"] + ls["Chan-Vese refinement"] < ls["mask branch"]
    for m in dense["models"].values():
        assert m["s_per_image"] > sum(v for k, v in m["parts_s_per_image"].items() if k in (
            "backbone", "RPN", "box head", "mask branch"))
    assert all(results["memory"][n]["peak_mib"] > 0 for n in dense["models"])
    assert results["headline"]["ok"] is False and "1 repeats < 7" in results["headline"]["reasons"]
    assert dense["models"][variant]["parts_s_per_image"]["Chan-Vese feature head"] > 0
    assert proc.stdout.count("| backbone |") == 2  # the parts tables: the LevelSet R-CNN models only, each part once
    for row in ("| LevelSet R-CNN |", "| Chan-Vese refinement |", "÷ Mask R-CNN", "peak MiB", "instances | input HxW"):
        assert row in proc.stdout
