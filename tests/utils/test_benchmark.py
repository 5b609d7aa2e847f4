"""levelset_rcnn.utils.benchmark (benchmarks/benchmark.py): the quick benchmark runs every part and the report has
its rows (no timing asserts) and the machine / load record; the memory worker; clear errors for bad options.
The load record and the quiet-machine verdict themselves: test_benchmark_load.py."""
import json
import subprocess
import sys

import pytest
from repo_paths import REPO_ROOT

from levelset_rcnn.utils.benchmark.memory import bench_memory, memory_worker
from levelset_rcnn.utils.benchmark.run import argument_parser, parse_size, run_benchmark


def test_quick_benchmark_prints_every_table(tmp_path):
    """benchmarks/benchmark.py run as a command (it passes the tests' reference Chan-Vese to the package)."""
    raw = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "benchmark.py"), "--quick", "--threads", "1",
                           "--parts", "inference,modules,training,chan_vese,tsdf", "--json", str(raw)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for row in ["inference per image", "training iteration", "Chan-Vese module", "one read of F",
                "targets per training image", "Chan-Vese feature head |", "initial TSDF head (mask head convs) |",
                "rest (pooling", "command: python benchmarks/benchmark.py --quick"]:
        assert row in out
    results = json.loads(raw.read_text())
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
    # the machine and the load around every part (issue 29); whether it warns depends on this machine's load
    machine = results["machine"]
    assert machine["cpu_model"] and machine["cores"] >= 1 and machine["threads"] == 1
    assert [(s["part"], s["when"]) for s in machine["load"]][:2] == [("inference", "before"), ("inference", "after")]
    assert len(machine["load"]) == 2 * 5 and "machine: " in out
    assert ("WARNING" in proc.stderr) is (machine["quiet"] is False)
    headline = results["headline"]
    assert headline["ok"] is False and "--quick (tiny images, small backbone)" in headline["reasons"]


def test_memory_worker_reports_peak_memory(one_thread):
    res = memory_worker("levelset", (128, 192), 4, "cpu", True, 1)
    assert res["peak_mib"] > 0 and res["above_model_mib"] >= 0


def test_memory_is_measured_in_a_fresh_process_per_model():
    res = bench_memory((64, 96), 2, "cpu", True, 1)
    assert res["maskrcnn"]["peak_mib"] > 0 and res["levelset"]["peak_mib"] > 0 and res["ratio_peak"] > 0


def test_bad_arguments_are_clear():
    with pytest.raises(SystemExit, match="unknown"):
        run_benchmark(argument_parser().parse_args(["--quick", "--parts", "inference,nope"]), "cmd")
    with pytest.raises(ValueError, match="reference"):
        run_benchmark(argument_parser().parse_args(["--quick", "--parts", "chan_vese"]), "cmd")
    with pytest.raises(Exception, match="HxW"):
        parse_size("800by1333")
