"""Peak training memory of each model, measured in a fresh process per model: on the CPU the peak RSS of the
process (:func:`peak_rss_kib`, total and above the RSS after building the model), on a GPU
``torch.cuda.max_memory_allocated``.

The CPU peak is the kernel's ``VmHWM`` of ``/proc/self/status``, which belongs to the process image and starts afresh
at ``exec``. ``getrusage(...).ru_maxrss`` does not: Linux keeps it across ``execve``, so a worker started by a
parent that already held gigabytes (built models, ran inference) reported the parent's peak as its own; every
worker then showed the same number (found on 2026-12-05: three models, one peak to the MiB).

:func:`bench_memory` runs this module as the worker, once per model:

    python -m levelset_rcnn.utils.benchmark.memory NAME HxW INSTANCES DEVICE QUICK THREADS [KEY VALUE ...]

and reads the JSON line it prints (:func:`memory_worker`).
"""
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import torch

__all__ = ["rss_now_kib", "peak_rss_kib", "peak_memory", "run_worker", "memory_worker", "bench_memory"]


def _status_kib(field):
    """A ``kB`` field of ``/proc/self/status`` (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_now_kib():
    """This process's resident set size now (KiB; 0 where ``/proc`` is missing)."""
    return _status_kib("VmRSS") or 0


def peak_rss_kib():
    """This process's peak resident set size (KiB): ``VmHWM``, which starts afresh at ``exec`` (module docstring);
    where ``/proc`` is missing, ``ru_maxrss`` (KiB on Linux, bytes on macOS), which may include the parent's peak."""
    peak = _status_kib("VmHWM")
    if peak is not None:
        return peak
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value


def peak_memory(fn, device):
    """Run ``fn()`` and return this process's peak memory in MiB: ``{"peak_mib", "above_model_mib"}`` (above what
    was held before ``fn``); on a GPU ``torch.cuda.max_memory_allocated``, on the CPU :func:`peak_rss_kib`."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_mib": peak / 2**20, "above_model_mib": (peak - base) / 2**20}
    base = rss_now_kib()
    fn()
    peak = peak_rss_kib()
    return {"peak_mib": peak / 1024, "above_model_mib": (peak - base) / 1024}


def run_worker(module, args, what):
    """``python -m module *args`` in a fresh process with this package importable; the JSON of its last stdout line.
    ``what`` names the worker in the error."""
    import levelset_rcnn

    root = str(Path(levelset_rcnn.__file__).resolve().parents[1])  # where the package is importable from
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    res = subprocess.run([sys.executable, "-m", module] + [str(a) for a in args], capture_output=True, text=True,
                         cwd=root, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"memory worker for {what} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def memory_worker(name, size, num_instances, device_name, quick, threads, levelset_opts=()):
    """In this process: build one model, two training iterations, report peak memory (MiB) as a dict."""
    from detectron2.modeling import build_model

    from .models import build_cfg, train_step, training_batch, use_anchor_proposals

    torch.set_num_threads(threads)
    device = torch.device(device_name)
    torch.manual_seed(0)
    model = build_model(build_cfg(name, device, 100, quick, levelset_opts))
    use_anchor_proposals(model)
    model.train()
    batch = training_batch(size, num_instances, device)
    return peak_memory(lambda: (train_step(model, batch), train_step(model, batch)), device)


def bench_memory(size, num_instances, device, quick, threads, levelset_opts=()):
    """Peak training memory per model, each in a fresh subprocess; and the LevelSet / Mask R-CNN ratios."""
    out = {name: run_worker(__name__, [name, f"{size[0]}x{size[1]}", num_instances, device, int(bool(quick)),
                                       threads] + list(levelset_opts), name)
           for name in ("maskrcnn", "levelset")}
    return {"maskrcnn": out["maskrcnn"], "levelset": out["levelset"],
            "ratio_peak": out["levelset"]["peak_mib"] / out["maskrcnn"]["peak_mib"],
            "ratio_above_model": out["levelset"]["above_model_mib"] / max(out["maskrcnn"]["above_model_mib"], 1e-9)}


def _main(argv):
    name, size, instances, device, quick, threads, *opts = argv
    h, w = (int(v) for v in size.split("x"))
    print(json.dumps(memory_worker(name, (h, w), int(instances), device, quick == "1", int(threads), opts)))


if __name__ == "__main__":
    _main(sys.argv[1:])
