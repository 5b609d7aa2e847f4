"""The evaluation side of the model comparison (:func:`levelset_rcnn.engine.compare.compare_models`, which trains):
:func:`timed_inference` (evaluators and seconds per image of a model on a test loader) and :func:`make_table`, the
Markdown table: mean ± sample standard deviation over seeds per model, then one row per (model, seed)."""
import math
import statistics
import time

import torch
from detectron2.evaluation.evaluator import inference_context

__all__ = ["COLUMNS", "FINAL_MINUS_INITIAL", "make_table", "timed_inference"]

#: the final - initial column's task: the mask AP of H(phi_N) minus that of H(phi_0), per run (Table 2 of the paper)
FINAL_MINUS_INITIAL = "segm-segm_initial"
#: the table's columns: (column title, results task, metric name); mask AP50 / AP75 / APs / APm / APl are of the final
#: masks
COLUMNS = [
    ("box AP", "bbox", "AP"),
    ("mask AP", "segm", "AP"),
    ("AP50", "segm", "AP50"),
    ("AP75", "segm", "AP75"),
    ("APs", "segm", "APs"),
    ("APm", "segm", "APm"),
    ("APl", "segm", "APl"),
    ("Boundary AP", "boundary", "AP"),
    ("AF1", "boundary_f1", "AF1"),
    ("AF2", "boundary_f1", "AF2"),
    ("initial mask AP", "segm_initial", "AP"),
    ("final − initial", FINAL_MINUS_INITIAL, "AP"),
    ("train s/iter", "timing", "train_s_per_iter"),
    ("infer s/img", "timing", "inference_s_per_image"),
]
_LEGACY_NAMES = {"mask_rcnn": "Mask R-CNN", "levelset_rcnn": "LevelSet R-CNN"}


def timed_inference(model, data_loader, evaluator):
    """Run ``evaluator`` on ``model``'s outputs over ``data_loader``; returns (results, mean seconds per image of the
    forward pass, the first batch excluded)."""
    evaluator.reset()
    times = []
    with inference_context(model), torch.no_grad():
        for inputs in data_loader:
            start = time.perf_counter()
            outputs = model(inputs)
            times.append((time.perf_counter() - start) / max(1, len(inputs)))
            evaluator.process(inputs, outputs)
    results = evaluator.evaluate() or {}
    timed = times[1:] if len(times) > 1 else times
    return results, (statistics.fmean(timed) if timed else math.nan)


def _value(metrics, task, name):
    if task == FINAL_MINUS_INITIAL:  # per run, so its spread is that of the paired differences
        return _value(metrics, "segm", name) - _value(metrics, "segm_initial", name)
    v = metrics.get(task, {}).get(name)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def _fmt(values, digits):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def make_table(all_metrics, title=None, names=None):
    """Markdown: mean ± sample std over seeds per model, then one row per (model, seed). ``names``: run key ->
    name in the table (default: the name stored in the runs, else the key)."""
    names = dict(names or {})
    for key, runs in all_metrics.items():
        names.setdefault(key, next((m["run"].get("name") for m in runs if m["run"].get("name")), None)
                         or _LEGACY_NAMES.get(key, key))
    seeds = sorted({m["run"]["seed"] for ms in all_metrics.values() for m in ms})
    head = "| model | seeds | " + " | ".join(c[0] for c in COLUMNS) + " |"
    sep = "|---|---|" + "---|" * len(COLUMNS)
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines += [head, sep]
    for key, runs in all_metrics.items():
        cells = []
        for _, task, name in COLUMNS:
            digits = 3 if task == "timing" else 1
            cells.append(_fmt([_value(m, task, name) for m in runs], digits))
        lines.append(f"| {names[key]} | {len(runs)} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:", "", head.replace("| seeds |", "| seed |"), sep]
    for key, runs in all_metrics.items():
        for m in sorted(runs, key=lambda m: m["run"]["seed"]):
            cells = []
            for _, task, name in COLUMNS:
                v = _value(m, task, name)
                cells.append("–" if math.isnan(v) else f"{v:.{3 if task == 'timing' else 1}f}")
            lines.append(f"| {names[key]} | {m['run']['seed']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"AP numbers in percent; ± is the sample standard deviation over seeds {seeds}. "
        "'initial mask AP' is H(phi_0) of the same LevelSet R-CNN inference run (– for Mask R-CNN), 'final − initial' "
        "the per-run difference of the two (its ± is the spread of those differences). "
        "Timings are wall-clock seconds on a shared machine (see the text).",
    ]
    return "\n".join(lines) + "\n"
