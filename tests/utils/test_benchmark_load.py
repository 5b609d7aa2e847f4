"""levelset_rcnn.utils.benchmark.load (issue 29): the CPU / load record around each timed part and the quiet-machine
verdict, with a fake load average, cpu count and CPU clock (no timing: nothing here depends on the machine's speed or
load); the WARNING block and the JSON flag; the default repeats of the headline ratio."""
import io
import json
import math
import os

import pytest
import torch

from levelset_rcnn.utils.benchmark import load as load_mod
from levelset_rcnn.utils.benchmark import run as run_mod
from levelset_rcnn.utils.benchmark.load import (LoadMonitor, cpu_model, free_cores, load_verdict, machine_record,
                                                quiet_limit, warn_if_loaded, warning_block)
from levelset_rcnn.utils.benchmark.report import fmt_load


class FakeClock:
    """A clock and a CPU-seconds counter the test advances by hand."""

    def __init__(self):
        self.now, self.cpu = 1000.0, 0.0

    def run(self, seconds, busy_threads):
        self.now += seconds
        self.cpu += seconds * busy_threads


def monitor(monkeypatch, loads, threads=1, cores=2, clock=None):
    """A LoadMonitor on a fake machine whose load average returns the (1-min, 5-min) pairs of ``loads`` in turn."""
    it = iter(loads)
    monkeypatch.setattr(os, "getloadavg", lambda: (*next(it), 0.0))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    clock = clock or FakeClock()
    return LoadMonitor(threads, cpu_seconds=lambda: clock.cpu, clock=lambda: clock.now, age=0.0), clock


def test_free_cores_and_the_quiet_limit():
    assert free_cores(2, 1) == 1 and quiet_limit(2, 1) == 0.5
    assert free_cores(16, 4) == 12 and quiet_limit(16, 4) == 6.0
    assert free_cores(2, 2) == 1 and free_cores(1, 4) == 1  # no core left free: judged as one


def test_cpu_model_from_proc_cpuinfo_with_a_portable_fallback(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fake CPU @ 3.00GHz\n\nprocessor\t: 1\n"
                    "model name\t: Fake CPU @ 3.00GHz\n")
    monkeypatch.setattr(load_mod, "CPUINFO", str(info))
    assert cpu_model() == "Fake CPU @ 3.00GHz"
    monkeypatch.setattr(load_mod, "CPUINFO", str(tmp_path / "absent"))
    monkeypatch.setattr(load_mod.platform, "processor", lambda: "fallback-cpu")
    assert cpu_model() == "fallback-cpu"
    info.write_text("processor\t: 0\nHardware\t: an ARM board\n")  # no model name line
    monkeypatch.setattr(load_mod, "CPUINFO", str(info))
    monkeypatch.setattr(load_mod.platform, "processor", lambda: "")
    monkeypatch.setattr(load_mod.platform, "machine", lambda: "aarch64")
    assert cpu_model() == "aarch64"


def test_the_record_holds_cpu_cores_threads_and_the_load_before_and_after_each_part(monkeypatch):
    mon, clock = monitor(monkeypatch, [(0.1, 0.2), (0.3, 0.25), (0.3, 0.25), (0.4, 0.3)])
    monkeypatch.setattr(load_mod, "cpu_model", lambda: "Fake CPU")
    assert mon.around("inference", lambda x: x * 2, 21) == 42
    mon.around("modules", lambda: None)
    rec = machine_record(mon)
    assert (rec["cpu_model"], rec["cores"], rec["threads"], rec["free_cores"], rec["quiet_limit_load1"]) == \
        ("Fake CPU", 2, 1, 1, 0.5)
    assert [(s["part"], s["when"], s["load1"], s["load5"]) for s in rec["load"]] == [
        ("inference", "before", 0.1, 0.2), ("inference", "after", 0.3, 0.25),
        ("modules", "before", 0.3, 0.25), ("modules", "after", 0.4, 0.3)]
    assert rec["quiet"] is True
    json.dumps(rec)  # goes into the --json output as it is


def test_a_sample_is_taken_after_a_part_that_fails(monkeypatch):
    mon, _ = monitor(monkeypatch, [(0.1, 0.1), (0.2, 0.2)])

    def boom():
        raise RuntimeError("part failed")
    with pytest.raises(RuntimeError, match="part failed"):
        mon.around("training", boom)
    assert [s["when"] for s in mon.samples] == ["before", "after"]


def test_the_benchmarks_own_load_is_not_held_against_the_machine(monkeypatch):
    """A quiet 2-core machine, --threads 1: after two minutes of the benchmark's own work the 1-min load is ~0.86
    (1 − e^-2), all of it the benchmark's; the other load stays ≈ 0: quiet."""
    mon, clock = monitor(monkeypatch, [(0.0, 0.0), (0.88, 0.35)])
    mon.sample("inference", "before")
    clock.run(120.0, busy_threads=1)
    after = mon.sample("inference", "after")
    assert after["own_load1"] == pytest.approx(1 - math.exp(-2), abs=1e-3)
    assert after["other_load1"] == pytest.approx(0.88 - after["own_load1"], abs=1e-3) and after["quiet"]


def test_other_load_makes_the_machine_not_quiet_before_or_after(monkeypatch):
    # another job on the second core (other load ~1 > 0.5 per free core), seen only before the part
    mon, clock = monitor(monkeypatch, [(1.2, 1.0), (0.3, 0.5)])
    before = mon.sample("inference", "before")
    clock.run(1.0, busy_threads=1)
    mon.sample("inference", "after")
    assert before["quiet"] is False and load_verdict(mon.samples) is False
    # ... seen only after it: the benchmark's own thread (~0.98 after 4 busy minutes) does not hide it
    mon, clock = monitor(monkeypatch, [(0.0, 0.0), (2.2, 1.5)])
    mon.sample("inference", "before")
    clock.run(240.0, busy_threads=1)
    after = mon.sample("inference", "after")
    assert after["other_load1"] > 1.0 and after["quiet"] is False and load_verdict(mon.samples) is False


def test_more_cores_tolerate_more_other_load(monkeypatch):
    mon, _ = monitor(monkeypatch, [(3.0, 3.0)], threads=1, cores=16)
    assert mon.sample("inference", "before")["quiet"] is True  # 3 <= 0.5 * 15
    mon, _ = monitor(monkeypatch, [(3.0, 3.0)], threads=1, cores=4)
    assert mon.sample("inference", "before")["quiet"] is False  # 3 > 0.5 * 3


def test_no_load_average_means_unknown_not_quiet(monkeypatch):
    def missing():
        raise OSError("no load average here")
    monkeypatch.setattr(os, "getloadavg", missing)
    mon = LoadMonitor(1, cores=2, cpu_seconds=lambda: 0.0, clock=lambda: 0.0, age=0.0)
    s = mon.sample("inference", "before")
    assert s["load1"] is None and s["quiet"] is None
    rec = machine_record(mon)
    assert rec["quiet"] is None and warning_block(rec) is None
    assert "unknown" in fmt_load(rec)[0]
    assert run_mod.headline(rec, 7, False) == {"ok": False, "reasons": ["the load average is unknown on this OS"]}


def one_part_under(monkeypatch, loads):
    """The record of one (instant) inference part between the fake ``loads``, what warn_if_loaded returned and
    what it wrote, and the report's machine / load lines."""
    mon, _ = monitor(monkeypatch, loads)
    mon.around("inference", lambda: None)
    rec = machine_record(mon)
    stream = io.StringIO()
    block = warn_if_loaded(rec, stream)
    return rec, block, stream.getvalue(), "\n".join(fmt_load(rec))


def test_the_warning_appears_when_the_fake_load_is_high(monkeypatch):
    rec, block, text, report = one_part_under(monkeypatch, [(6.5, 5.8), (7.1, 6.0)])
    assert block and text.strip() == block.strip()
    assert "WARNING" in text and "NOT QUIET" in text and len(text.strip().splitlines()) >= 6
    assert "before inference: 1-min load 6.50" in text and "after inference: 1-min load 7.10" in text
    assert "NOT QUIET" in report.splitlines()[0] and "| inference | 6.50 / 5.80 | 7.10 / 6.00 |" in report
    assert run_mod.headline(rec, 7, False) == {"ok": False, "reasons": ["the machine was not quiet"]}


def test_no_warning_when_the_fake_load_is_low(monkeypatch):
    rec, block, text, report = one_part_under(monkeypatch, [(0.05, 0.1), (0.2, 0.1)])
    assert block is None and text == ""
    assert "quiet" in report.splitlines()[0] and "NOT QUIET" not in report
    assert run_mod.headline(rec, 7, False) == {"ok": True, "reasons": []}
    assert run_mod.headline(rec, 3, False)["reasons"] == ["3 repeats < 7"]


def test_the_default_repeats_give_a_headline_ratio_and_fewer_can_be_asked_for():
    assert run_mod.HEADLINE_REPEATS >= 7
    assert run_mod.argument_parser().parse_args([]).repeats == run_mod.HEADLINE_REPEATS
    assert run_mod.argument_parser().parse_args(["--repeats", "3"]).repeats == 3


@pytest.mark.parametrize("load, warned", [((6.0, 6.0), True), ((0.0, 0.0), False)])
def test_run_benchmark_warns_on_stderr_and_flags_the_json(monkeypatch, capsys, tmp_path, load, warned):
    """The wiring in run_benchmark, with the timed part replaced by a stub (nothing is timed)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (*load, 0.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(run_mod, "bench_memory", lambda *a, **k: {"stub": True})
    raw = tmp_path / "bench.json"
    args = run_mod.argument_parser().parse_args(["--parts", "memory", "--json", str(raw)])
    results = run_mod.run_benchmark(args, "python benchmarks/benchmark.py --parts memory")
    out, err = capsys.readouterr()
    saved = json.loads(raw.read_text())
    assert saved["machine"] == results["machine"]
    assert [(s["part"], s["when"]) for s in saved["machine"]["load"]] == [("memory", "before"), ("memory", "after")]
    machine = saved["machine"]
    assert machine["cores"] == 2 and machine["threads"] == torch.get_num_threads() and machine["cpu_model"]
    assert saved["machine"]["quiet"] is (not warned)
    assert ("WARNING" in err) is warned and ("NOT QUIET" in out) is warned
    assert "machine: " in out and "| memory | " in out
