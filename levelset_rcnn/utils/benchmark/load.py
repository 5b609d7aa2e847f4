"""Was the machine quiet? The CPU, the load average before and after each timed part, and the verdict.

A ratio LevelSet / Mask R-CNN measured while other jobs share the cores is not the quiet ratio, even with
interleaved repeats: load slows the shared backbone more than the mask branch (issue 29). So the benchmark records
the machine and the load around every part, and warns when other work shared it. The definitions:

* **cores**: ``os.cpu_count()``, the logical CPUs of the machine (the load average is system-wide).
* **threads**: the benchmark's own threads, ``torch.get_num_threads()`` (``--threads``).
* **free cores**: ``cores - threads``, the cores the benchmark leaves to everything else; at least 1 (with
  ``--threads`` equal to the cores, the limit below is that of one free core).
* **own load**: the benchmark's own share of the 1-minute load average, estimated from its CPU time (its threads
  and its finished child processes, :func:`os.times`). The kernel's load average is an exponentially decaying
  average of the number of runnable threads with a 60 s time constant; :class:`LoadMonitor` applies the same
  average to the process's CPU use between two samples (the time before the first sample since the process
  started, ``/proc/self/stat``; elsewhere assumed one busy thread). CPU time counts only the time the benchmark ran,
  not the time it waited for a core, so under contention the own load is underestimated and the verdict errs
  towards a warning.
* **other load**: ``max(1-min load - own load, 0)``, the load of everything but the benchmark.
* **quiet**: at every sample (before and after each timed part) the other load is at most
  ``QUIET_LOAD_PER_FREE_CORE`` (0.5) × free cores. E.g. 2 cores, ``--threads 1``: other load ≤ 0.5, i.e. the
  second core at most half busy on average over the last minute.

Where ``os.getloadavg`` does not exist (Windows), the loads are ``None`` and the verdict is ``None`` (unknown).
"""
import math
import os
import platform
import sys
import time

__all__ = ["QUIET_LOAD_PER_FREE_CORE", "CPUINFO", "cpu_model", "free_cores", "quiet_limit", "LoadMonitor",
           "machine_record", "load_verdict", "warning_block", "warn_if_loaded"]

#: the most other 1-minute load per free core that still counts as a quiet machine
QUIET_LOAD_PER_FREE_CORE = 0.5
#: where the CPU model is read from (Linux)
CPUINFO = "/proc/cpuinfo"
#: time constant of the kernel's 1-minute load average (seconds)
_TAU_1MIN = 60.0


def cpu_model():
    """The CPU's model: the first ``model name`` of :data:`CPUINFO`; elsewhere ``platform.processor()``, then
    ``platform.machine()``, then ``"unknown"``."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def free_cores(cores, threads):
    """``cores - threads``, at least 1 (module docstring)."""
    return max(cores - threads, 1)


def quiet_limit(cores, threads):
    """The most other 1-minute load a quiet machine may have: 0.5 per free core."""
    return QUIET_LOAD_PER_FREE_CORE * free_cores(cores, threads)


def _getloadavg():
    """``(1-min, 5-min)`` load average, or ``(None, None)`` where the OS has none."""
    try:
        one, five, _ = os.getloadavg()
    except (AttributeError, OSError):
        return None, None
    return one, five


def _cpu_seconds():
    """CPU seconds of this process (all threads) and of its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _process_age():
    """Seconds since this process started (Linux ``/proc``), or ``None``."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class LoadMonitor:
    """Samples of the load average with the benchmark's own share of it (module docstring).

    Args:
        threads: the benchmark's threads.
        cores: the machine's logical CPUs (default ``os.cpu_count()``).
        cpu_seconds, clock, age: this process's CPU seconds, a monotonic clock and the seconds since the process
            started (``None``: unknown, taken as the CPU seconds so far, i.e. one busy thread); for tests.
    """

    def __init__(self, threads, cores=None, cpu_seconds=_cpu_seconds, clock=time.monotonic, age=_process_age):
        self.threads = threads
        self.cores = cores or os.cpu_count() or 1
        self.limit = quiet_limit(self.cores, threads)
        self.samples = []
        self._cpu_seconds, self._clock = cpu_seconds, clock
        cpu = cpu_seconds()
        elapsed = age() if callable(age) else age
        elapsed = max(elapsed if elapsed is not None else cpu, cpu / max(threads, 1), 1e-9)
        self._own = cpu / elapsed * (1 - math.exp(-elapsed / _TAU_1MIN))  # CPU use so far, spread evenly
        self._last = (clock(), cpu)

    def _own_load(self):
        now, cpu = self._clock(), self._cpu_seconds()
        dt, dcpu = now - self._last[0], cpu - self._last[1]
        if dt > 0:
            decay = math.exp(-dt / _TAU_1MIN)
            self._own = self._own * decay + dcpu / dt * (1 - decay)
            self._last = (now, cpu)
        return self._own

    def sample(self, part, when):
        """Record and return the load ``when`` ("before" / "after") the timed ``part``."""
        own = self._own_load()
        one, five = _getloadavg()
        other = None if one is None else max(one - own, 0.0)
        record = {"part": part, "when": when, "load1": one, "load5": five, "own_load1": round(own, 3),
                  "other_load1": None if other is None else round(other, 3),
                  "quiet": None if other is None else other <= self.limit}
        self.samples.append(record)
        return record

    def around(self, part, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` with a sample before and after it."""
        self.sample(part, "before")
        try:
            return fn(*args, **kwargs)
        finally:
            self.sample(part, "after")


def machine_record(monitor):
    """The machine and the load of a run: CPU model, cores, threads, free cores, the quiet limit, every sample and
    the verdict ``quiet`` (``True`` / ``False``; ``None`` when the load average is unknown)."""
    return {"cpu_model": cpu_model(), "cores": monitor.cores, "threads": monitor.threads,
            "free_cores": free_cores(monitor.cores, monitor.threads), "quiet_limit_load1": monitor.limit,
            "load": list(monitor.samples), "quiet": load_verdict(monitor.samples)}


def load_verdict(samples):
    """``False`` if any sample was loaded, ``True`` if all were quiet, ``None`` if none could be judged."""
    known = [s["quiet"] for s in samples if s["quiet"] is not None]
    if not known:
        return None
    return all(known)


def warning_block(machine):
    """The multi-line WARNING text for a machine that was not quiet (``machine_record``'s), else ``None``."""
    if machine["quiet"] is not False:
        return None
    bad = [s for s in machine["load"] if s["quiet"] is False]
    bar = "!" * 78
    lines = [bar, "WARNING: the machine was NOT QUIET during this benchmark; its times and ratios are loaded.",
             f"  {machine['cores']} cores, {machine['threads']} benchmark thread(s), {machine['free_cores']} free "
             f"core(s): quiet means other 1-min load <= {machine['quiet_limit_load1']:.2f} "
             f"({QUIET_LOAD_PER_FREE_CORE} per free core).",
             "  loaded samples (1-min load = own share + other):"]
    for s in bad:
        lines.append(f"    {s['when']} {s['part']}: 1-min load {s['load1']:.2f} = own ~{s['own_load1']:.2f} "
                     f"+ other {s['other_load1']:.2f} (5-min {s['load5']:.2f})")
    lines += ["  Load slows the shared backbone more than the mask branch: a loaded ratio LevelSet / Mask R-CNN",
              "  flatters LevelSet R-CNN. Do not quote these numbers as headline results; rerun on a quiet machine",
              "  (docs/BENCHMARKS.md, 'How to measure').", bar]
    return "\n".join(lines)


def warn_if_loaded(machine, stream=None):
    """Write :func:`warning_block` to ``stream`` (default stderr) when the machine was not quiet; returns it."""
    block = warning_block(machine)
    if block:
        print(block, file=stream or sys.stderr, flush=True)
    return block
