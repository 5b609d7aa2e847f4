"""Peak training memory of each model, measured in a fresh process per model: on the CPU the peak RSS
(``resource.getrusage`` ru_maxrss, total and above the RSS after building the model), on a GPU
``torch.cuda.max_memory_allocated``.

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

__all__ = ["memory_worker", "bench_memory"]


def _rss_now_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


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
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        train_step(model, batch)
        train_step(model, batch)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_mib": peak / 2**20, "above_model_mib": (peak - base) / 2**20}
    base = _rss_now_kib()
    train_step(model, batch)
    train_step(model, batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_mib": peak / 1024, "above_model_mib": (peak - base) / 1024}


def bench_memory(size, num_instances, device, quick, threads, levelset_opts=()):
    """Peak training memory per model, each in a fresh subprocess; and the LevelSet / Mask R-CNN ratios."""
    import levelset_rcnn

    root = str(Path(levelset_rcnn.__file__).resolve().parents[1])  # where the package is importable from
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = {}
    for name in ("maskrcnn", "levelset"):
        cmd = [sys.executable, "-m", __name__, name, f"{size[0]}x{size[1]}", str(num_instances), str(device),
               str(int(bool(quick))), str(threads)] + list(levelset_opts)
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
        if res.returncode != 0:
            raise RuntimeError(f"memory worker for {name} failed:\n{res.stderr[-3000:]}")
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    return {"maskrcnn": out["maskrcnn"], "levelset": out["levelset"],
            "ratio_peak": out["levelset"]["peak_mib"] / out["maskrcnn"]["peak_mib"],
            "ratio_above_model": out["levelset"]["above_model_mib"] / max(out["maskrcnn"]["above_model_mib"], 1e-9)}


def _main(argv):
    name, size, instances, device, quick, threads, *opts = argv
    h, w = (int(v) for v in size.split("x"))
    print(json.dumps(memory_worker(name, (h, w), int(instances), device, quick == "1", int(threads), opts)))


if __name__ == "__main__":
    _main(sys.argv[1:])
