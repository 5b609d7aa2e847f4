"""Smoke test of benchmarks/benchmark.py --quick: every part runs and the table has its rows (no timing asserts)."""
import importlib.util

import pytest

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("levelset_benchmark", REPO_ROOT / "benchmarks" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_prints_every_table(benchmark, capsys, one_thread):
    results = benchmark.main(["--quick", "--threads", "1", "--parts", "inference,modules,training,chan_vese,tsdf"])
    out = capsys.readouterr().out
    for row in ["inference per image", "training iteration", "Chan-Vese module", "one read of F",
                "targets per training image", "Chan-Vese feature head |", "rest (pooling"]:
        assert row in out
    inf = results["inference"][0]
    assert inf["detections"] == 20 and inf["ratio"] > 0  # both mask branches ran on exactly 20 RoIs
    cv = results["chan_vese"]
    # measured, not timed: the fast path keeps far less for backward than the direct reference
    assert cv["memory"]["fast"]["saved_mib_per_roi_without_F"] < cv["memory"]["reference"]["saved_mib_per_roi_without_F"] / 3
    assert results["modules"]["box_head_rois"] == 200  # POST_NMS_TOPK_TEST of the quick config, as when trained
    parts = results["modules"]["parts_s"]
    assert all(v > 0 for v in parts.values()), parts  # every part, the TSDF head's `layers` included, was timed
    assert sum(parts.values()) < results["modules"]["total_s"]
    assert results["training"]["positive_rois"] > 0 and results["tsdf"]["positive_rois"] > 0


def test_memory_worker_reports_peak_memory(benchmark, one_thread):
    res = benchmark.memory_worker("levelset", (128, 192), 4, "cpu", True, 1)
    assert res["peak_mib"] > 0 and res["above_model_mib"] >= 0


def test_bad_arguments_are_clear(benchmark):
    with pytest.raises(SystemExit, match="unknown"):
        benchmark.main(["--quick", "--parts", "inference,nope"])
    with pytest.raises(Exception, match="HxW"):
        benchmark.parse_size("800by1333")
