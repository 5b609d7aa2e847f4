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
                "targets per training image", "of which Chan-Vese feature head |",
                "of which initial TSDF head (mask head convs) |", "| mask branch |", "| rest (box predictor",
                "LevelSet − Mask R-CNN", "command: python benchmarks/benchmark.py --quick"]:
        assert row in out
    results = json.loads(raw.read_text())
    inf = results["inference"][0]
    assert inf["detections"] == 20 and inf["ratio"] > 0  # both mask branches ran on exactly 20 RoIs
    cv = results["chan_vese"]
    # measured, not timed: the fast path keeps far less for backward than the direct reference
    assert cv["memory"]["fast"]["saved_mib_per_roi_without_F"] < cv["memory"]["reference"]["saved_mib_per_roi_without_F"] / 3
    assert results["modules"]["box_head_rois"] == 200  # POST_NMS_TOPK_TEST of the quick config, as when trained
    parts = results["modules"]["parts_s"]  # LevelSet R-CNN's
    assert all(v > 0 for v in parts.values()), parts  # every part, the TSDF head's `layers` included, was timed
    assert len(parts) == 8 and parts["mask branch"] > parts["Chan-Vese feature head"] + parts["Chan-Vese refinement"]
    assert parts["backbone"] + parts["RPN"] + parts["box head"] + parts["mask branch"] < results["modules"]["total_s"]
    mask_rcnn = results["modules"]["models"]["maskrcnn"]  # timed interleaved with it, on the common parts only
    assert set(mask_rcnn["parts_s"]) == {"backbone", "RPN", "box head", "mask branch"}
    assert all(v > 0 for v in mask_rcnn["parts_s"].values())
    assert sum(mask_rcnn["parts_s"].values()) < mask_rcnn["total_s"]
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


_PARENT = r"""
import subprocess, sys
import numpy as np
big = np.ones(int(sys.argv[1]) * 2**20 // 8)  # touched
child = ("import resource; from levelset_rcnn.utils.benchmark.memory import peak_rss_kib; "
         "print(peak_rss_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


def _child_peaks(parent_mib):
    out = subprocess.run([sys.executable, "-c", _PARENT, str(parent_mib)], capture_output=True, text=True,
                         timeout=300, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return [int(v) / 1024 for v in out.stdout.split()]  # MiB: peak_rss_kib, ru_maxrss


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and ru_maxrss across exec: Linux behaviour")
def test_a_workers_peak_memory_is_its_own_not_its_parents():
    """The memory workers run in a child process of a benchmark that already holds its models: the child's peak
    must not include the parent's (ru_maxrss does on Linux: it survives exec). The same child, started by a parent
    of 8 MiB and by one of 1500 MiB, must report the same peak."""
    small_peak, _ = _child_peaks(8)
    big_peak, big_maxrss = _child_peaks(1500)
    assert abs(big_peak - small_peak) < 200, (small_peak, big_peak)
    assert big_maxrss > 1400  # what the old measurement reported: the parent's peak
