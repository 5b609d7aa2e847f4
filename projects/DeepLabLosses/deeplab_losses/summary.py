"""Seeds-to-table summary of finished training runs (``train_net.py`` output folders): the final evaluation of
each run (``metrics.json``, written by detectron2's EvalHook) and its training wall time (``log.txt``), grouped by
loss, as mean ± sample standard deviation over the seeds. Used for the CamVid table of the project README."""
import json
import math
import os
import re
from statistics import mean, stdev
from typing import Dict, List, Sequence, Tuple

__all__ = ["COLUMNS", "PER_CLASS_PREFIXES", "read_run", "summarize_runs", "format_table", "format_per_class_table"]

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
