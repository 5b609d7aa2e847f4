"""Inference on dense images: trained models side by side on the dataset images with the most objects (issue 26,
item 5; issue 29, item 3).

The models are the runs of a comparison (``tools/compare_models.py --output DIR``: ``DIR/<model>_seed<k>/`` with
``config.yaml`` and ``model_final.pth``), so they are exactly the models of the results table. The images are those
of ``--dataset`` with at least ``--min-instances`` ground-truth objects (most first). Protocol, as in
:mod:`levelset_rcnn.utils.benchmark.models`: each image is resized for testing by each model's own
``INPUT.MIN/MAX_SIZE_TEST`` beforehand (not timed); per image the models run round-robin (A, B, C, A, B, C, ...) for
``warmup + repeats`` rounds and each number is the median of the timed rounds. The total is the model's whole
forward in eval mode (pre-processing, backbone, RPN, box head, mask branch, post-processing and mask pasting); the
parts are timed inside the same runs by :func:`~.models.timed_parts`: backbone, RPN, box head and the **mask
branch** (``roi_heads.mask_head``: for LevelSet R-CNN TSDF, hyperparameter and feature heads and the Chan-Vese steps;
for PointRend its coarse head and the point subdivision; for Mask R-CNN the 28×28 head), and LevelSet R-CNN's own
parts (:data:`~.models.MODULE_PARTS`).

Variants (``--levelset-opts KEY VALUE ...``): every LevelSet R-CNN run is timed a second time, built with those
config overrides and loaded with the same trained weights (e.g. ``MODEL.LEVELSET.FEATURE_HEAD.POOLER_RESOLUTION 56``:
a head whose parameters do not depend on the key). Only the speed of such a variant is meaningful: its predictions
are not those of a model trained that way.

Peak memory: each model in a fresh process (``python -m levelset_rcnn.utils.benchmark.dense --memory-worker``) runs
the same images once; on the CPU the peak RSS (:func:`~.memory.peak_rss_kib`) and its part above the RSS after building the model, on
a GPU ``torch.cuda.max_memory_allocated``.
"""
import argparse
import json
import os
import re
import statistics
import sys
from collections import OrderedDict
from pathlib import Path

import torch

from .load import LoadMonitor, cpu_model, machine_record, warn_if_loaded
from .memory import peak_memory, run_worker
from .models import COMMON_PARTS, MODULE_PARTS, model_parts, timed_parts
from .run import HEADLINE_REPEATS, headline
from .timing import timed

__all__ = ["find_runs", "with_levelset_variants", "dense_images", "load_run_model", "prepare_input",
           "bench_dense", "memory_worker", "bench_dense_memory", "fmt_dense", "argument_parser", "run_dense_benchmark"]

_RUN_FOLDER = re.compile(r"^(?P<key>.+)_seed(?P<seed>\d+)$")


class DenseBenchmarkError(ValueError):
    """Bad inputs of the dense benchmark (a missing run folder, no image dense enough, ...)."""


def find_runs(runs_dir, seed):
    """``OrderedDict name -> (config.yaml, model_final.pth)`` of the comparison runs ``runs_dir/<key>_seed<seed>``,
    named as in the results table (``comparison_metrics.json``'s ``run.name``, else the folder key); errors name
    the folder and the missing file."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise DenseBenchmarkError(f"--runs {runs_dir}: no such folder (a tools/compare_models.py --output folder)")
    runs = OrderedDict()
    for folder in sorted(runs_dir.iterdir()):
        m = _RUN_FOLDER.match(folder.name)
        if not folder.is_dir() or not m or int(m.group("seed")) != seed:
            continue
        config, weights = folder / "config.yaml", folder / "model_final.pth"
        for path in (config, weights):
            if not path.is_file():
                raise DenseBenchmarkError(f"{folder}: no {path.name} (the run did not finish?)")
        name = m.group("key")
        metrics = folder / "comparison_metrics.json"
        if metrics.is_file():
            name = json.loads(metrics.read_text()).get("run", {}).get("name", name)
        runs[name] = (str(config), str(weights))
    if not runs:
        raise DenseBenchmarkError(f"--runs {runs_dir}: no run folder <model>_seed{seed} in it")
    return runs


def with_levelset_variants(runs, opts):
    """``OrderedDict name -> (config, weights, opts)``: the runs of :func:`find_runs` with no overrides, and with
    ``opts`` (a ``KEY VALUE ...`` list; none: no variants) one more entry per LevelSet R-CNN run (its config builds
    ``LevelSetMaskHead``), named ``"<name> (KEY=VALUE ...)"`` with the last part of each key."""
    from ...config import build_levelset_config

    opts = list(opts or ())
    if len(opts) % 2:
        raise DenseBenchmarkError(f"--levelset-opts needs KEY VALUE pairs, got {len(opts)} items: {opts}")
    out = OrderedDict((name, (config, weights, ())) for name, (config, weights) in runs.items())
    if not opts:
        return out
    label = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in zip(opts[::2], opts[1::2]))
    for name, (config, weights) in runs.items():
        if build_levelset_config(config, []).MODEL.ROI_MASK_HEAD.NAME == "LevelSetMaskHead":
            out[f"{name} ({label})"] = (config, weights, tuple(opts))
    if len(out) == len(runs):
        raise DenseBenchmarkError("--levelset-opts given, but no run is a LevelSet R-CNN model (ROI_MASK_HEAD.NAME "
                                  "LevelSetMaskHead)")
    return out


def dense_images(dataset_name, min_instances, max_images=None):
    """The records of ``dataset_name`` with at least ``min_instances`` annotations, most first (then by file name);
    an error that names the densest image when none qualifies."""
    from detectron2.data import DatasetCatalog

    if dataset_name not in DatasetCatalog.list():
        raise DenseBenchmarkError(f"--dataset {dataset_name!r} is not registered (is its folder present? "
                                  f"docs/DATASETS.md)")
    records = DatasetCatalog.get(dataset_name)
    counts = sorted(((len(r.get("annotations", [])), r["file_name"], r) for r in records),
                    key=lambda t: (-t[0], t[1]))
    chosen = [r for n, _, r in counts if n >= min_instances]
    if not chosen:
        most = counts[0][:2] if counts else (0, "no image")
        raise DenseBenchmarkError(f"{dataset_name}: no image with >= {min_instances} instances (the densest, "
                                  f"{most[1]}, has {most[0]}); lower --min-instances")
    return chosen[:max_images] if max_images else chosen


def load_run_model(config_file, weights, device, opts=()):
    """``(cfg, model)``: the run's config with its weights, built and loaded, in eval mode."""
    from levelset_core.checkpoint import build_trained_model

    from ...config import build_levelset_config

    cfg = build_levelset_config(config_file, ["MODEL.WEIGHTS", weights, "MODEL.DEVICE", str(device)] + list(opts))
    return cfg, build_trained_model(cfg)


def prepare_input(cfg, record, device):
    """The model input of one dataset record, resized as at test time (``DefaultPredictor``'s steps)."""
    from detectron2.data import transforms as T
    from levelset_core.data.mapper import read_image

    image = read_image(record["file_name"], format=cfg.INPUT.FORMAT)
    height, width = image.shape[:2]
    aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    resized = aug.get_transform(image).apply_image(image)
    tensor = torch.as_tensor(resized.astype("float32").transpose(2, 0, 1)).to(device)
    return {"image": tensor, "height": height, "width": width}


def bench_dense(models, records, device, repeats, warmup):
    """Per image and model: median total seconds, median seconds per part, detections. ``models``:
    ``{name: (cfg, model)}``. Returns ``{"images": [...], "models": {name: summary}}`` with per-model sums over
    the images (seconds per image = the mean of the per-image medians)."""
    per_image = []
    for record in records:
        inputs = {name: [prepare_input(cfg, record, device)] for name, (cfg, _) in models.items()}
        totals = {name: [] for name in models}
        parts = {name: {} for name in models}
        detections = {}
        for rep in range(warmup + repeats):
            for name, (_, model) in models.items():
                with timed_parts(model, model_parts(model), device) as spent, torch.no_grad():
                    seconds, out = timed(lambda: model(inputs[name]), device)
                detections[name] = len(out[0]["instances"])
                if rep >= warmup:
                    totals[name].append(seconds)
                    for label, value in spent.items():
                        parts[name].setdefault(label, []).append(value)
        per_image.append({
            "file_name": os.path.basename(record["file_name"]), "instances": len(record.get("annotations", [])),
            "size": list(next(iter(inputs.values()))[0]["image"].shape[1:]),
            "models": {name: {"total_s": statistics.median(totals[name]), "detections": detections[name],
                              "parts_s": {k: statistics.median(v) for k, v in parts[name].items()}}
                       for name in models}})
    summary = {}
    for name in models:
        rows = [img["models"][name] for img in per_image]
        labels = rows[0]["parts_s"].keys()
        summary[name] = {
            "s_per_image": statistics.fmean(r["total_s"] for r in rows),
            "detections_per_image": statistics.fmean(r["detections"] for r in rows),
            "parts_s_per_image": {k: statistics.fmean(r["parts_s"][k] for r in rows) for k in labels},
        }
    return {"images": per_image, "models": summary}


def memory_worker(config_file, weights, files, device_name, threads, opts=()):
    """In this process: build one model (with the config overrides ``opts``), run it once on every file, report peak
    memory (MiB) as a dict."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    cfg, model = load_run_model(config_file, weights, device, opts)
    records = [{"file_name": f} for f in files]

    def run_all():
        with torch.no_grad():
            for record in records:
                model([prepare_input(cfg, record, device)])

    return peak_memory(run_all, device)


def bench_dense_memory(runs, files, device, threads):
    """:func:`memory_worker` of every run (``name -> (config, weights, opts)``), each in a fresh subprocess:
    ``{name: {"peak_mib", "above_model_mib"}}``."""
    return {name: run_worker(__name__, ["--memory-worker", config, weights, device, threads, json.dumps(list(files)),
                                        json.dumps(list(opts))], f"{name} ({config})")
            for name, (config, weights, opts) in runs.items()}


def _ratio(a, b):
    return a / b if b else float("nan")


def fmt_dense(results):
    """The markdown report: machine, per-model summary (with ratios to each other model), LevelSet R-CNN's parts,
    per-image totals."""
    machine, dense = results["machine"], results["dense"]
    names = list(dense["models"])
    lines = [f"command: `{results['command']}`", f"device: {results['device']}",
             f"images: {len(dense['images'])} of {results['dataset']} with >= {results['min_instances']} instances; "
             f"{results['repeats']} interleaved repeats (median), {results['warmup']} warm-up",
             f"machine quiet: {machine['quiet']} (headline: {results['headline']['ok']}"
             + (f"; {', '.join(results['headline']['reasons'])}" if results['headline']['reasons'] else "") + ")", ""]
    memory = results.get("memory", {})
    lines += ["| model | detections / img | s / img | mask branch s / img | backbone + RPN + box head s / img | "
              + " | ".join(f"÷ {n}" for n in names) + " | peak MiB | above model MiB |",
              "|---" * (7 + len(names)) + "|"]
    for n in names:
        m = dense["models"][n]
        p = m["parts_s_per_image"]
        shared = p.get("backbone", 0.0) + p.get("RPN", 0.0) + p.get("box head", 0.0)
        ratios = " | ".join(f"{_ratio(m['s_per_image'], dense['models'][o]['s_per_image']):.3f}" for o in names)
        mem = memory.get(n, {})
        lines.append(f"| {n} | {m['detections_per_image']:.1f} | {m['s_per_image']:.3f} | {p.get('mask branch', 0):.3f}"
                     f" | {shared:.3f} | {ratios} | {mem.get('peak_mib', float('nan')):.0f} | "
                     f"{mem.get('above_model_mib', float('nan')):.0f} |")
    for n in names:
        p = dense["models"][n]["parts_s_per_image"]
        common = [label for label, _ in COMMON_PARTS]
        own = [label for label, _ in MODULE_PARTS if label in p]
        if not own:
            continue
        lines += ["", f"{n}, seconds per image by part (mean over the images of the per-image medians):", "",
                  "| part | s / img | share |", "|---|---|---|"]
        total = dense["models"][n]["s_per_image"]
        listed = [label for label in common if label != "mask branch"] + own
        for label in listed:
            lines.append(f"| {label} | {p[label]:.3f} | {p[label] / total:.1%} |")
        rest = total - sum(p[label] for label in listed)
        lines.append(f"| pooling, post-processing, pasting, rest | {rest:.3f} | {rest / total:.1%} |")
        lines.append(f"| total | {total:.3f} | 100% |")
    lines += ["", "| image | instances | input HxW | " + " | ".join(f"{n} s (dets)" for n in names) + " |",
              "|---" * (3 + len(names)) + "|"]
    for img in dense["images"]:
        cells = " | ".join(f"{img['models'][n]['total_s']:.3f} ({img['models'][n]['detections']})" for n in names)
        lines.append(f"| {img['file_name']} | {img['instances']} | {img['size'][0]}x{img['size'][1]} | {cells} |")
    return "\n".join(lines)


def argument_parser(description=None):
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="a tools/compare_models.py --output folder")
    parser.add_argument("--seed", type=int, default=1, help="which seed's runs (folders <model>_seed<k>)")
    parser.add_argument("--dataset", default="nuclei_dsb2018_val", help="registered dataset the images come from")
    parser.add_argument("--min-instances", type=int, default=100, help="images with at least this many objects")
    parser.add_argument("--max-images", type=int, default=0, help="at most this many images, densest first (0: all)")
    parser.add_argument("--repeats", type=int, default=HEADLINE_REPEATS,
                        help=f"timed rounds per image (default {HEADLINE_REPEATS}, the fewest for a headline ratio)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", help="also write the raw numbers to this file")
    parser.add_argument("--levelset-opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="also time every LevelSet R-CNN run built with these config overrides and its trained "
                             "weights (speed only), last option")
    return parser


def run_dense_benchmark(args, command):
    """Run the dense benchmark of ``args`` (:func:`argument_parser`'s); print and return the results."""
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but torch.cuda.is_available() is False")
    if args.repeats < 1 or args.warmup < 0:
        raise SystemExit(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} / {args.warmup}")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    device = torch.device(args.device)
    runs = with_levelset_variants(find_runs(args.runs, args.seed), args.levelset_opts)
    records = dense_images(args.dataset, args.min_instances, args.max_images or None)
    monitor = LoadMonitor(threads)
    models = OrderedDict((name, load_run_model(cfg, w, device, opts)) for name, (cfg, w, opts) in runs.items())
    desc = device.type + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
                          else f" ({cpu_model()}, {monitor.cores} cores, {threads} thread(s))")
    results = {"command": command, "device": desc, "dataset": args.dataset, "min_instances": args.min_instances,
               "repeats": args.repeats, "warmup": args.warmup, "runs": runs}
    results["dense"] = monitor.around("dense inference", bench_dense, models, records, device, args.repeats,
                                      args.warmup)
    if not args.no_memory:
        del models
        results["memory"] = monitor.around("memory", bench_dense_memory, runs, [r["file_name"] for r in records],
                                           device, threads)
    results["machine"] = machine_record(monitor)
    results["headline"] = headline(results["machine"], args.repeats, False)
    print(fmt_dense(results))
    warn_if_loaded(results["machine"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


def _main(argv):
    if argv[:1] != ["--memory-worker"] or len(argv) != 7:
        raise SystemExit("usage: python -m levelset_rcnn.utils.benchmark.dense --memory-worker CONFIG WEIGHTS DEVICE "
                         "THREADS FILES_JSON OPTS_JSON")
    import levelset_rcnn  # noqa: F401  (registers the heads and detectron2._C where missing)

    _, config, weights, device, threads, files, opts = argv
    print(json.dumps(memory_worker(config, weights, json.loads(files), device, int(threads), json.loads(opts))))


if __name__ == "__main__":
    _main(sys.argv[1:])
