#!/usr/bin/env python
"""Turn a training output folder into a model-zoo release artifact (Detectron2 style).

    python tools/publish_model.py output/quickstart --name quickstart/levelset_rcnn_R_18_FPN_shapes \
        --config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml [--install] [--opts KEY VALUE ...]
    python tools/publish_model.py output/my_run            # the run's config.yaml and log are used

Writes into ``--output-dir`` (default ``<folder>/release``):

* ``model_final_<first 8 hex of sha256>.pth``: only ``{"model": state_dict}`` (optimizer, scheduler and
  iteration stripped);
* ``config.yaml``: the resolved config (``MODEL.WEIGHTS`` cleared: the weights are the file above);
* ``metrics.json``: ``{task: {metric: value}}`` of the run's evaluation, taken from ``--metrics FILE``, else
  ``summary.json`` (quickstart), else ``metrics.json`` (``bbox/AP``-style keys), else the ``copypaste`` lines
  of ``log.txt``;
* ``model_zoo_entry.json``: the table row, so that ``model_zoo.get(<that folder>)`` loads it;

and prints the row to paste into MODEL_ZOO.md and the entry to paste into levelset_rcnn/model_zoo/model_zoo.py.
``--install`` also copies the checkpoint into the user cache, where ``model_zoo.get(name)`` looks for it.
The training checkpoint is read without running code from it (``levelset_rcnn.checkpoint.load_checkpoint_file``:
``torch.load(weights_only=True)``); a file that is not a checkpoint is an error naming it.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
import torch
from levelset_rcnn.model_zoo import RELEASE_ENTRY_FILE, cache_dir, sha256sum

SUMMARY_KEYS = [("bbox", "AP"), ("bbox", "AP50"), ("segm", "AP"), ("segm", "AP50"), ("segm", "AP75"),
                ("segm_initial", "AP")]


class PublishError(RuntimeError):
    pass


def _clean_number(v):
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _normalise(results, source):
    """``{task: {metric: value}}`` (NaN -> None) from ``{task: ...}`` or ``{dataset: {task: ...}}``."""
    if not isinstance(results, dict) or not results:
        raise PublishError(f"{source}: no evaluation results")
    tasks = ("bbox", "segm", "segm_initial", "sem_seg", "panoptic_seg", "boundary")
    if not any(k in results for k in tasks) and len(results) == 1:
        results = next(iter(results.values()))  # {dataset: {task: ...}}
    out = {}
    for task, metrics in results.items():
        if isinstance(metrics, dict):
            out[task] = {m: _clean_number(v) for m, v in metrics.items() if isinstance(v, (int, float))}
    if not out:
        raise PublishError(f"{source}: no {{task: {{metric: value}}}} evaluation results found")
    return out


def _from_metrics_json(path):
    """Last values of ``task/metric`` keys in detectron2's metrics.json (one JSON object per line)."""
    found = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            for key, value in record.items():
                task, _, metric = key.partition("/")
                if metric and task in ("bbox", "segm", "segm_initial") and isinstance(value, (int, float)):
                    found.setdefault(task, {})[metric] = value
    return found


def _from_log(path):
    """The last ``copypaste: Task: ...`` blocks of detectron2's log.txt."""
    found = {}
    lines = [l.split("copypaste: ", 1)[1].strip() for l in open(path, errors="replace") if "copypaste: " in l]
    for i, line in enumerate(lines):
        if line.startswith("Task: ") and i + 2 < len(lines):
            names, values = lines[i + 1].split(","), lines[i + 2].split(",")
            if len(names) == len(values):
                try:
                    found[line[len("Task: "):]] = {n: float(v) for n, v in zip(names, values)}
                except ValueError:
                    continue
    return found


def find_metrics(folder, metrics_file=None):
    """``(metrics, source)`` of a training output folder (see the module docstring for the order)."""
    if metrics_file:
        if not os.path.isfile(metrics_file):
            raise PublishError(f"--metrics {metrics_file}: file not found")
        with open(metrics_file) as f:
            data = json.load(f)
        return _normalise(data.get("results", data), metrics_file), metrics_file
    summary = os.path.join(folder, "summary.json")
    if os.path.isfile(summary):
        with open(summary) as f:
            data = json.load(f)
        if "results" in data:
            return _normalise(data["results"], summary), summary
    for path, reader in ((os.path.join(folder, "metrics.json"), _from_metrics_json),
                         (os.path.join(folder, "log.txt"), _from_log)):
        if os.path.isfile(path):
            found = reader(path)
            if found:
                return _normalise(found, path), path
    raise PublishError(
        f"{folder}: no evaluation results found (looked for summary.json with 'results', 'bbox/AP'-style keys "
        f"in metrics.json, 'copypaste:' lines in log.txt). Evaluate the model (tools/train_net.py --eval-only "
        f"... OUTPUT_DIR {folder}) or pass --metrics FILE with {{task: {{metric: value}}}}."
    )


def find_checkpoint(folder, checkpoint=None):
    if checkpoint:
        path = checkpoint if os.path.isabs(checkpoint) else os.path.join(folder, checkpoint)
        if not os.path.isfile(path):
            raise PublishError(f"checkpoint {path} not found")
        return path
    path = os.path.join(folder, "model_final.pth")
    if os.path.isfile(path):
        return path
    last = os.path.join(folder, "last_checkpoint")
    if os.path.isfile(last):
        path = os.path.join(folder, open(last).read().strip())
        if os.path.isfile(path):
            return path
    raise PublishError(f"{folder}: no model_final.pth (nor a file named in last_checkpoint); pass --checkpoint")


def resolved_config(folder, config_file=None, opts=()):
    """The run's config (``config.yaml`` of the folder, or ``--config-file`` + opts), with MODEL.WEIGHTS cleared."""
    from levelset_rcnn.engine.defaults import setup_cfg

    path = config_file or os.path.join(folder, "config.yaml")
    if not os.path.isfile(path):
        raise PublishError(
            f"{path} not found: the output folder has no config.yaml (e.g. tools/quickstart.py writes none); "
            f"pass --config-file CONFIG [KEY VALUE ...] with the training command's config and overrides"
        )
    cfg = setup_cfg(path, list(opts)).clone()
    cfg.defrost()
    cfg.MODEL.WEIGHTS = ""
    cfg.OUTPUT_DIR = "./output"
    cfg.freeze()
    return cfg


def strip_checkpoint(src, dst_dir):
    """Save ``{"model": ...}`` of ``src`` as ``dst_dir/model_final_<sha8>.pth``; returns ``(path, sha256)``."""
    from levelset_rcnn.checkpoint import load_checkpoint_file

    try:
        ckpt = load_checkpoint_file(src)
    except (OSError, ValueError) as e:  # missing file, or not a checkpoint (the message names the file)
        raise PublishError(f"cannot read checkpoint {src}: {e}") from None
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise PublishError(f"checkpoint {src} has no 'model' state dict (keys: {list(ckpt)[:10]})")
    state = {k: v.detach().cpu().contiguous() if torch.is_tensor(v) else v for k, v in state.items()}
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst_dir, suffix=".pth.part")
    os.close(fd)
    try:
        torch.save({"model": state}, tmp)
        digest = sha256sum(tmp)
        path = os.path.join(dst_dir, f"model_final_{digest[:8]}.pth")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path, digest


def markdown_row(entry, metrics):
    def fmt(task, metric):
        v = metrics.get(task, {}).get(metric)
        return "–" if v is None else f"{v:.1f}"

    cells = [f"`{entry['name']}`", entry.get("dataset") or "?"]
    cells += [fmt(t, m) for t, m in SUMMARY_KEYS]
    cells += [f"`{entry['checkpoint']}`", f"`{entry['sha256']}`", entry.get("location", "")]
    return "| " + " | ".join(cells) + " |"


def publish(folder, name=None, config_file=None, opts=(), metrics_file=None, checkpoint=None, output_dir=None,
            install=False, produced_by=None, config_name=None, entry_opts=()):
    """Publish ``folder``; returns the table row (dict). See the module docstring."""
    if not os.path.isdir(folder):
        raise PublishError(f"training output folder {folder} does not exist")
    src = find_checkpoint(folder, checkpoint)
    metrics, metrics_source = find_metrics(folder, metrics_file)
    cfg = resolved_config(folder, config_file, opts)
    name = name or os.path.basename(os.path.normpath(folder))
    out = output_dir or os.path.join(folder, "release")
    path, digest = strip_checkpoint(src, out)
    with open(os.path.join(out, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    dataset = cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else None
    entry = {
        "name": name,
        "config": "config.yaml",
        "opts": list(entry_opts),
        "checkpoint": os.path.basename(path),
        "url": None,
        "sha256": digest,
        "metrics": metrics,
        "dataset": dataset,
        "produced_by": produced_by,
        "note": f"published from {folder} (metrics from {metrics_source})",
    }
    with open(os.path.join(out, RELEASE_ENTRY_FILE), "w") as f:
        json.dump(entry, f, indent=2)
    location = f"release folder `{out}`"
    if install:
        dst = os.path.join(cache_dir(), name, os.path.basename(path))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(path, dst)
        location += f"; installed in the cache as `{dst}`"
    entry["location"] = location
    entry["path"] = path
    entry["config_name"] = config_name
    return entry


def python_entry(entry):
    metrics = {t: {m: round(v, 2) for m, v in ms.items() if v is not None and m in ("AP", "AP50", "AP75")}
               for t, ms in entry["metrics"].items()}
    lines = [
        f'    "{entry["name"]}": ModelZooEntry(',
        f'        config="{entry.get("config_name") or "<config relative to configs/>"}",',
        f'        opts={tuple(entry["opts"])!r},',
        f'        checkpoint="{entry["checkpoint"]}",',
        f'        sha256="{entry["sha256"]}",',
        f"        metrics={metrics!r},",
        f'        dataset="{entry["dataset"]}",',
        "    ),",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="training output folder (model_final.pth, config.yaml or --config-file, "
                                       "evaluation results)")
    parser.add_argument("--name", help="model zoo name (default: the folder's name)")
    parser.add_argument("--config-file", help="config of the run when the folder has no config.yaml")
    parser.add_argument("--metrics", help="JSON file with {task: {metric: value}} (default: found in the folder)")
    parser.add_argument("--checkpoint", help="checkpoint in the folder (default model_final.pth)")
    parser.add_argument("--output-dir", help="release folder (default <folder>/release)")
    parser.add_argument("--install", action="store_true", help="also copy the checkpoint into the user cache")
    parser.add_argument("--produced-by", help="command that trains the model (stored in the table row)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides for --config-file (last argument)")
    args = parser.parse_args(argv)
    try:
        entry = publish(args.folder, args.name, args.config_file, args.opts, args.metrics, args.checkpoint,
                        args.output_dir, args.install, args.produced_by,
                        config_name=os.path.relpath(args.config_file, "configs") if args.config_file else None,
                        entry_opts=args.opts)
    except PublishError as e:
        print(f"publish_model: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {entry['path']} (sha256 {entry['sha256']})")
    print("\nMODEL_ZOO.md row (name | dataset | box AP | box AP50 | mask AP | mask AP50 | mask AP75 | "
          "initial mask AP | file | sha256 | where):")
    print(markdown_row(entry, entry["metrics"]))
    print("\nlevelset_rcnn/model_zoo/model_zoo.py entry:")
    print(python_entry(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
