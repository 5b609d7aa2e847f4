"""Seeds-to-table summary of finished training runs (``train_net.py`` output folders): the final evaluation of
each run (``metrics.json``, written by detectron2's EvalHook) and its training wall time (``log.txt``), grouped by
loss, as mean ± sample standard deviation over the seeds. Used for the CamVid table of the project README."""
import json
import math
import os
import re
from statistics import mean, stdev
from typing import Dict, List, Sequence, Tuple

__all__ = ["COLUMNS", "PER_CLASS_PREFIXES", "read_run", "summarize_runs", "format_table", "format_per_class_table",
           "weight_sweep", "plot_weight_sweeps"]

#: (column title, key of the flattened evaluation results)
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("mIoU", "sem_seg/mIoU"),
    ("boundary F1 (mBF)", "sem_seg_boundary/mBF"),
    ("trimap1 mIoU", "sem_seg_boundary/trimap1-mIoU"),
    ("trimap3 mIoU", "sem_seg_boundary/trimap3-mIoU"),
    ("pixel acc.", "sem_seg/pACC"),
)
_KEYS = {key for _, key in COLUMNS}
#: per-class results kept by :func:`read_run`: IoU (``SemSegEvaluator``) and boundary F1 (``BoundarySemSegEvaluator``)
PER_CLASS_PREFIXES = ("sem_seg/IoU-", "sem_seg_boundary/BF-")
_TRAIN_TIME = re.compile(r"Total training time: (\d+):(\d\d):(\d\d)")


def read_run(run_dir) -> Dict[str, float]:
    """The last evaluation of ``run_dir`` (every key of ``COLUMNS`` and the per-class keys of
    ``PER_CLASS_PREFIXES`` found in ``metrics.json``) and ``train_s``.

    Raises ``FileNotFoundError`` / ``ValueError`` naming the file when the run has no metrics or no evaluation."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no metrics.json (has this run finished?)")
    found = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {n}: not JSON ({e})") from None
            found.update({k: float(v) for k, v in record.items()
                          if k in _KEYS or k.startswith(PER_CLASS_PREFIXES)})
    if "sem_seg/mIoU" not in found:
        raise ValueError(f"{path}: no evaluation result (sem_seg/mIoU); was TEST set and did the run end?")
    log = os.path.join(run_dir, "log.txt")
    if os.path.isfile(log):
        with open(log) as f:
            times = _TRAIN_TIME.findall(f.read())
        if times:
            h, m, s = map(int, times[-1])
            found["train_s"] = float(3600 * h + 60 * m + s)
    return found


def summarize_runs(groups: Dict[str, Sequence[str]]) -> List[Dict[str, object]]:
    """``{name: [run_dir, ...]}`` -> one row per name: ``{"name", "seeds", key: (mean, std)}``; std is the sample
    standard deviation (NaN for one seed)."""
    rows = []
    for name, dirs in groups.items():
        runs = [read_run(d) for d in dirs]
        row = {"name": name, "seeds": len(runs)}
        keys = [c[1] for c in COLUMNS] + ["train_s"]
        keys += [k for k in dict.fromkeys(k for r in runs for k in r) if k not in keys]
        for key in keys:
            values = [r[key] for r in runs if key in r]
            if values:
                row[key] = (mean(values), stdev(values) if len(values) > 1 else math.nan)
        rows.append(row)
    return rows


def format_table(rows, digits=1) -> str:
    """A Markdown table of :func:`summarize_runs` rows (``mean ± std``)."""
    def cell(value, d=digits):
        if value is None:
            return "–"
        m, s = value
        return f"{m:.{d}f}" if math.isnan(s) else f"{m:.{d}f} ± {s:.{d}f}"

    head = ["loss", "seeds"] + [c[0] for c in COLUMNS] + ["train time (min)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = r.get("train_s")
        cells = [r["name"], str(r["seeds"])] + [cell(r.get(c[1])) for c in COLUMNS]
        cells.append(cell((t[0] / 60, t[1] / 60)) if t else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_per_class_table(rows, prefix="sem_seg/IoU-", digits=1) -> str:
    """A Markdown table with one column per class: the mean over seeds of the per-class result ``prefix + class``
    (a key of :func:`summarize_runs` rows, e.g. ``"sem_seg/IoU-"`` or ``"sem_seg_boundary/BF-"``)."""
    classes = list(dict.fromkeys(k[len(prefix):] for r in rows for k in r if isinstance(k, str) and
                                 k.startswith(prefix)))
    if not classes:
        raise ValueError(f"no per-class results with prefix {prefix!r} in the runs")
    lines = ["| loss | " + " | ".join(classes) + " |", "|" + "---|" * (len(classes) + 1)]
    for r in rows:
        cells = [f"{r[prefix + c][0]:.{digits}f}" if prefix + c in r else "–" for c in classes]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def weight_sweep(points: Dict[float, Sequence[str]], key="sem_seg/mIoU") -> List[Tuple[float, float, float, int]]:
    """``{λ: [run_dir, ...]}`` -> ``[(λ, mean, std, seeds), ...]`` sorted by λ (std NaN for one seed)."""
    out = []
    for weight, dirs in sorted(points.items()):
        values = [read_run(d)[key] for d in dirs]
        out.append((float(weight), mean(values), stdev(values) if len(values) > 1 else math.nan, len(values)))
    return out


def plot_weight_sweeps(baseline: Sequence[str], sweeps: Dict[str, Dict[float, Sequence[str]]], path,
                       keys=(("mIoU", "sem_seg/mIoU"), ("boundary F1 (mBF)", "sem_seg_boundary/mBF")),
                       baseline_name="CE", title=None):
    """A PNG of each metric (rows) against λ (log x axis) for each sweep (columns: one loss each, since the losses'
    λ have different scales), with the baseline's mean ± sample std over seeds as a band.

    Args:
        baseline: run folders of the baseline (one per seed).
        sweeps: ``{loss name: {λ: [run_dir, ...]}}``.
        path: the PNG to write (its folder is created).
    Returns:
        ``{(loss name, metric title): [(λ, mean, std, seeds), ...]}`` plus ``{(baseline_name, metric title):
        (mean, std)}``: the numbers drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not sweeps:
        raise ValueError("plot_weight_sweeps: no sweep to plot")
    names = list(sweeps)
    fig, axes = plt.subplots(len(keys), len(names), figsize=(4.2 * len(names), 3.2 * len(keys)), squeeze=False)
    drawn = {}
    for row, (title_k, key) in enumerate(keys):
        base = [read_run(d)[key] for d in baseline]
        b_mean, b_std = mean(base), (stdev(base) if len(base) > 1 else 0.0)
        drawn[(baseline_name, title_k)] = (b_mean, b_std)
        for col, name in enumerate(names):
            ax = axes[row][col]
            series = weight_sweep(sweeps[name], key)
            drawn[(name, title_k)] = series
            xs = [p[0] for p in series]
            ax.axhspan(b_mean - b_std, b_mean + b_std, color="0.85", zorder=0)
            ax.axhline(b_mean, color="0.4", lw=1, label=f"{baseline_name} ({len(base)} seeds, mean ± std)")
            ax.errorbar(xs, [p[1] for p in series], yerr=[0.0 if math.isnan(p[2]) else p[2] for p in series],
                        marker="o", capsize=3, label=name)
            for x, m, _, n in series:
                ax.annotate(f"{n}s", (x, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
            if all(x > 0 for x in xs):
                ax.set_xscale("log")
            ax.set_xlabel("λ" if row == len(keys) - 1 else "")
            ax.set_ylabel(title_k if col == 0 else "")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(name)
                ax.legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn
