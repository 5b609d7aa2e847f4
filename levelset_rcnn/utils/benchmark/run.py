"""The benchmark's options and the run of the chosen parts (``benchmarks/benchmark.py``).

Parts (``--parts``): ``inference`` (per image at each ``--sizes`` with exactly ``--detections`` detections),
``modules`` (where LevelSet R-CNN's inference time goes), ``training`` (one iteration), ``memory`` (peak training
memory, a fresh process per model), ``chan_vese`` (the module alone against the reference) and ``tsdf`` (target
generation); see :mod:`.models`, :mod:`.memory`, :mod:`.chan_vese`.
"""
import argparse
import json
import os
import platform
from pathlib import Path

import torch

from .chan_vese import bench_chan_vese
from .memory import bench_memory
from .models import bench_inference, bench_modules, bench_training, bench_tsdf, build_models
from .report import fmt_table

__all__ = ["PARTS", "parse_size", "argument_parser", "run_benchmark"]

PARTS = ("inference", "modules", "training", "memory", "chan_vese", "tsdf")


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--chan-vese-rois", type=int, default=16)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--quick", action="store_true", help="tiny images, small backbone, 1 repeat (smoke test)")
    parser.add_argument("--json", default=None, help="also write the raw numbers to this file")
    parser.add_argument("--levelset-opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="config overrides for LevelSet R-CNN only (e.g. a lighter feature head), last option")
    return parser


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
    desc = f"{device.type}"
    if device.type == "cuda":
        desc += f" ({torch.cuda.get_device_name(device)})"
    else:
        desc += f" ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    results = {"device": desc, "command": command}

    models = None
    if parts & {"inference", "training", "tsdf", "modules"}:
        models, n_shared, n_total = build_models(device, args.detections, args.quick, args.levelset_opts)
        results["shared_parameters"] = f"{n_shared} of {n_total} LevelSet R-CNN tensors copied from Mask R-CNN"
    if "inference" in parts:
        results["inference"] = bench_inference(models, sizes, device, args.repeats, args.warmup, args.detections)
    if "modules" in parts:
        results["modules"] = bench_modules(models["levelset"], sizes[0], device, args.repeats, args.warmup)
    if "training" in parts:
        results["training"] = bench_training(models, args.train_size, args.train_instances, device, args.repeats,
                                             args.warmup)
    if "memory" in parts:
        results["memory"] = bench_memory(args.train_size, args.train_instances, device, args.quick, threads,
                                         args.levelset_opts)
    if "chan_vese" in parts:
        results["chan_vese"] = bench_chan_vese(reference, device, args.chan_vese_rois, 64, 112, 3,
                                               max(args.repeats, 3), args.warmup)
    if "tsdf" in parts:
        results["tsdf"] = bench_tsdf(models, args.train_size, args.train_instances, device, max(args.repeats, 3),
                                     args.warmup)
    print(fmt_table(results, args))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results
