"""The benchmark's options and the run of the chosen parts (``benchmarks/benchmark.py``).

Parts (``--parts``): ``inference`` (per image at each ``--sizes`` with exactly ``--detections`` detections),
``modules`` (where LevelSet R-CNN's inference time goes), ``training`` (one iteration), ``memory`` (peak training
memory, a fresh process per model), ``chan_vese`` (the module alone against the reference) and ``tsdf`` (target
generation); see :mod:`.models`, :mod:`.memory`, :mod:`.chan_vese`.

Every part is timed between two samples of the load average (:mod:`.load`); the report names the CPU, the cores,
the threads and the load, and a run on a machine that was not quiet gets a WARNING block on stderr and
``"machine": {"quiet": false}`` in the JSON. The inference ratio is a headline number only when the machine was
quiet and it is the median of at least :data:`HEADLINE_REPEATS` interleaved repeats (``"headline"`` in the JSON).
"""
import argparse
import json
from pathlib import Path

import torch

from .chan_vese import bench_chan_vese
from .load import LoadMonitor, cpu_model, machine_record, warn_if_loaded
from .memory import bench_memory
from .models import bench_inference, bench_modules, bench_training, bench_tsdf, build_models
from .report import fmt_table

__all__ = ["PARTS", "HEADLINE_REPEATS", "parse_size", "argument_parser", "headline", "run_benchmark"]

PARTS = ("inference", "modules", "training", "memory", "chan_vese", "tsdf")
#: the fewest interleaved repeats whose median may be quoted as a headline inference ratio (issue 29); the default
HEADLINE_REPEATS = 7


def parse_size(text):
    """``"800x1333"`` -> ``(800, 1333)``; an argparse error naming the expected form otherwise."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW (e.g. 800x1333), got {text!r}") from None
    return h, w


def argument_parser(description=None):
    """The options of ``benchmarks/benchmark.py``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:k]")
    parser.add_argument("--sizes", default="800x1333,1024x2048", help="inference sizes HxW, comma separated")
    parser.add_argument("--train-size", default="800x1333", type=parse_size, help="training image size HxW")
    parser.add_argument("--train-instances", type=int, default=20, help="ground-truth instances per training image")
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=HEADLINE_REPEATS,
                        help=f"timed repeats per part, interleaved; each number is their median (default "
                             f"{HEADLINE_REPEATS}, the fewest for a headline ratio; fewer for a quick look)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--chan-vese-rois", type=int, default=16)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--quick", action="store_true", help="tiny images, small backbone, 1 repeat (smoke test)")
    parser.add_argument("--json", default=None, help="also write the raw numbers to this file")
    parser.add_argument("--levelset-opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="config overrides for LevelSet R-CNN only (e.g. a lighter feature head), last option")
    return parser


def headline(machine, repeats, quick):
    """Whether the inference ratio may be quoted as a headline number, and why not: ``{"ok": bool, "reasons": []}``."""
    reasons = []
    if machine["quiet"] is False:
        reasons.append("the machine was not quiet")
    elif machine["quiet"] is None:
        reasons.append("the load average is unknown on this OS")
    if repeats < HEADLINE_REPEATS:
        reasons.append(f"{repeats} repeats < {HEADLINE_REPEATS}")
    if quick:
        reasons.append("--quick (tiny images, small backbone)")
    return {"ok": not reasons, "reasons": reasons}


def run_benchmark(args, command, reference=None):
    """Run the parts of ``args`` (:func:`argument_parser`'s), print the report and return the raw numbers.

    Args:
        command: the command line, recorded in the report.
        reference: the reference Chan-Vese implementation of the ``chan_vese`` part (see
            :func:`~.chan_vese.bench_chan_vese`); required for that part.
    """
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but torch.cuda.is_available() is False")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.quick:
        args.sizes, args.train_size = "128x192", (128, 192)
        args.repeats, args.warmup, args.chan_vese_rois, args.train_instances = 1, 1, 2, 4
        args.detections = min(args.detections, 20)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    parts = set(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"--parts: unknown {sorted(unknown)}")
    if "chan_vese" in parts and reference is None:
        raise ValueError("the chan_vese part needs the reference implementation (reference=...)")
    device = torch.device(args.device)
    monitor = LoadMonitor(threads)
    desc = f"{device.type}"
    if device.type == "cuda":
        desc += f" ({torch.cuda.get_device_name(device)})"
    else:
        desc += f" ({cpu_model()}, {monitor.cores} cores)"
    results = {"device": desc, "command": command}

    models = None
    if parts & {"inference", "training", "tsdf", "modules"}:
        models, n_shared, n_total = build_models(device, args.detections, args.quick, args.levelset_opts)
        results["shared_parameters"] = f"{n_shared} of {n_total} LevelSet R-CNN tensors copied from Mask R-CNN"
    timed = monitor.around
    if "inference" in parts:
        results["inference"] = timed("inference", bench_inference, models, sizes, device, args.repeats, args.warmup,
                                     args.detections)
    if "modules" in parts:
        results["modules"] = timed("modules", bench_modules, models, sizes[0], device, args.repeats, args.warmup)
    if "training" in parts:
        results["training"] = timed("training", bench_training, models, args.train_size, args.train_instances,
                                    device, args.repeats, args.warmup)
    if "memory" in parts:
        results["memory"] = timed("memory", bench_memory, args.train_size, args.train_instances, device, args.quick,
                                  threads, args.levelset_opts)
    if "chan_vese" in parts:
        results["chan_vese"] = timed("chan_vese", bench_chan_vese, reference, device, args.chan_vese_rois, 64, 112,
                                     3, max(args.repeats, 3), args.warmup)
    if "tsdf" in parts:
        results["tsdf"] = timed("tsdf", bench_tsdf, models, args.train_size, args.train_instances, device,
                                max(args.repeats, 3), args.warmup)
    results["machine"] = machine_record(monitor)
    if "inference" in parts:
        results["headline"] = headline(results["machine"], args.repeats, args.quick)
    print(fmt_table(results, args))
    warn_if_loaded(results["machine"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results
