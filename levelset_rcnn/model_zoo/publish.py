"""Publishing: turn a training output folder into a release folder (:mod:`levelset_rcnn.model_zoo.release`).

:func:`publish` takes the checkpoint (``model_final.pth`` or the one named in ``last_checkpoint``), resolves the config
(the folder's ``config.yaml``, or a config file plus overrides), writes ``{"model": state_dict, "config": <resolved
config>}`` (no optimizer or scheduler state) and finds the evaluation results: ``--metrics FILE``, else
``summary.json`` (quickstart), else ``metrics.json`` (``bbox/AP``-style keys), else the ``copypaste`` lines of
``log.txt`` (:func:`find_metrics`). :func:`format_report` gives the MODEL_ZOO.md row and the ``model_zoo.json`` row
to paste. ``tools/publish_model.py`` is its command line. Training checkpoints are read without running code from
them (``levelset_rcnn.checkpoint.load_checkpoint_file``: ``torch.load(weights_only=True)``).
"""
import json
import math
import os
import shutil

from .checkpoints import cache_dir
from .release import write_release
from .table import MODEL_ZOO, ModelZooEntry, SUMMARY_COLUMNS, entry_json, markdown_row

__all__ = ["PublishError", "find_metrics", "find_checkpoint", "resolved_config", "load_model_state", "publish",
           "table_entry", "format_report"]

#: the tasks whose ``task/metric`` keys are read from detectron2's metrics.json
_METRICS_JSON_TASKS = ("bbox", "segm", "segm_initial")
#: task names recognised at the top level of a results dict (else it is ``{dataset: {task: ...}}``)
_TASKS = ("bbox", "segm", "segm_initial", "sem_seg", "panoptic_seg", "boundary")


class PublishError(RuntimeError):
    """A training output folder cannot be published (the message says what is missing and what to pass)."""


def _clean_number(v):
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _normalise(results, source):
    """``{task: {metric: value}}`` (NaN -> None) from ``{task: ...}`` or ``{dataset: {task: ...}}``."""
    if not isinstance(results, dict) or not results:
        raise PublishError(f"{source}: no evaluation results")
    if not any(k in results for k in _TASKS) and len(results) == 1:
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
                if metric and task in _METRICS_JSON_TASKS and isinstance(value, (int, float)):
                    found.setdefault(task, {})[metric] = value
    return found


def _from_log(path):
    """The last ``copypaste: Task: ...`` blocks of detectron2's log.txt."""
    found = {}
    with open(path, errors="replace") as f:
        lines = [line.split("copypaste: ", 1)[1].strip() for line in f if "copypaste: " in line]
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
    """The checkpoint to publish: ``checkpoint`` (relative to ``folder``), else ``model_final.pth``, else the file
    named in ``last_checkpoint``."""
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
        with open(last) as f:
            path = os.path.join(folder, f.read().strip())
        if os.path.isfile(path):
            return path
    raise PublishError(f"{folder}: no model_final.pth (nor a file named in last_checkpoint); pass --checkpoint")


def resolved_config(folder, config_file=None, opts=()):
    """The run's config (``config.yaml`` of the folder, or ``config_file`` + opts), frozen, with MODEL.WEIGHTS
    cleared and OUTPUT_DIR reset."""
    from ..config import build_levelset_config

    path = config_file or os.path.join(folder, "config.yaml")
    if not os.path.isfile(path):
        raise PublishError(
            f"{path} not found: the output folder has no config.yaml (e.g. tools/quickstart.py writes none); "
            f"pass --config-file CONFIG [KEY VALUE ...] with the training command's config and overrides"
        )
    return build_levelset_config(path, list(opts) + ["MODEL.WEIGHTS", "", "OUTPUT_DIR", "./output"])


def load_model_state(path):
    """The ``"model"`` state dict of a training checkpoint (read safely); :class:`PublishError` naming the file if
    it is missing, not a checkpoint or has no model weights."""
    from ..checkpoint import load_checkpoint_file

    try:
        ckpt = load_checkpoint_file(path)
    except (OSError, ValueError) as e:  # missing file, or not a checkpoint (the message names the file)
        raise PublishError(f"cannot read checkpoint {path}: {e}") from None
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise PublishError(f"checkpoint {path} has no 'model' state dict (keys: {list(ckpt)[:10]})")
    return state


def publish(folder, name=None, config_file=None, opts=(), metrics_file=None, checkpoint=None, output_dir=None,
            install=False, produced_by=None, config_name=None, entry_opts=()):
    """Publish ``folder`` into ``output_dir`` (default ``<folder>/release``); with ``install`` also copy the
    checkpoint into the user cache (where ``model_zoo.get(name)`` looks for it).

    Returns the row written to the release folder (dict) plus ``location`` (where the file is, for the Markdown
    row), ``path`` (the checkpoint) and ``config_name`` (the config relative to ``configs/``, for the table row).
    """
    if not os.path.isdir(folder):
        raise PublishError(f"training output folder {folder} does not exist")
    src = find_checkpoint(folder, checkpoint)
    metrics, metrics_source = find_metrics(folder, metrics_file)
    cfg = resolved_config(folder, config_file, opts)
    name = name or os.path.basename(os.path.normpath(folder))
    out = output_dir or os.path.join(folder, "release")
    entry, path = write_release(
        out, name, load_model_state(src), cfg.dump(), metrics, opts=entry_opts,
        dataset=cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else None, produced_by=produced_by,
        note=f"published from {folder} (metrics from {metrics_source})",
    )
    location = f"release folder `{out}`"
    warning = None
    if install:
        dst = os.path.join(cache_dir(), name, os.path.basename(path))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(path, dst)
        location += f"; installed in the cache as `{dst}`"
        warning = _table_warning(name, entry["sha256"])
    entry.update(location=location, path=path, config_name=config_name, warning=warning)
    return entry


def _table_warning(name, sha256):
    """Why ``model_zoo.get(name)`` will not load a just-installed checkpoint yet (None when it will)."""
    row = MODEL_ZOO.get(name)
    if row is None:
        return (f"{name!r} is not a row of levelset_rcnn/model_zoo/model_zoo.json: model_zoo.get({name!r}) finds the "
                f"installed file once the entry below is added to it")
    if row.sha256 != sha256:
        return (f"model_zoo.json's row {name!r} records {row.checkpoint} (sha256 {row.sha256}): "
                f"model_zoo.get({name!r}) keeps loading that file until the row is replaced by the entry below")
    return None


def table_entry(entry):
    """The :class:`ModelZooEntry` of a published model for ``model_zoo.json``: its config relative to
    ``configs/``, the AP metrics rounded to 2 digits (tasks without AP, e.g. boundary F1 or a comparison's timing,
    left out)."""
    metrics = {t: {m: round(v, 2) for m, v in ms.items() if v is not None and m in ("AP", "AP50", "AP75")}
               for t, ms in entry["metrics"].items()}
    metrics = {t: ms for t, ms in metrics.items() if ms}
    return ModelZooEntry(
        config=entry.get("config_name") or "<config relative to configs/>", opts=tuple(entry["opts"]),
        checkpoint=entry["checkpoint"], sha256=entry["sha256"], metrics=metrics, dataset=entry["dataset"],
        produced_by=entry.get("produced_by"),
    )


def format_report(entry):
    """What ``tools/publish_model.py`` prints: the checkpoint, the MODEL_ZOO.md row and the ``model_zoo.json``
    row of a :func:`publish` result."""
    row = ModelZooEntry(config=entry["config"], checkpoint=entry["checkpoint"], sha256=entry["sha256"],
                        metrics=entry["metrics"], dataset=entry["dataset"])
    titles = " | ".join(c[0] for c in SUMMARY_COLUMNS)
    return "\n".join([
        f"wrote {entry['path']} (sha256 {entry['sha256']})",
        *([f"NOTE: {entry['warning']}"] if entry.get("warning") else []),
        "",
        f"MODEL_ZOO.md row (name | dataset | {titles} | file | sha256 | where):",
        markdown_row(entry["name"], row, entry["location"]),
        "",
        "levelset_rcnn/model_zoo/model_zoo.json entry (then `python -m levelset_rcnn.model_zoo MODEL_ZOO.md` "
        "regenerates MODEL_ZOO.md's table):",
        entry_json(entry["name"], table_entry(entry)),
    ])
