"""Does a model-zoo row reproduce its numbers on this machine? The row's model (config + overrides, sha256-checked
checkpoint, :func:`levelset_rcnn.model_zoo.get_config`) is evaluated on the row's dataset with the project's
evaluators, and every metric of the row is compared with the measurement (``tools/check_model_zoo_metrics.py``).

It sits in the engine because it evaluates (``Trainer.test``); the model zoo itself only builds models.
"""
import math
from collections import namedtuple

__all__ = ["MetricCheck", "check_row_metrics", "format_checks"]


#: one metric of a row: (task, metric, table value, measured value or None, ok)
MetricCheck = namedtuple("MetricCheck", "task metric table measured ok")


def _measured(results, task, metric):
    value = results.get(task, {}).get(metric)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def check_row_metrics(name, checkpoint=None, opts=(), tolerance=0.1):
    """Evaluate model-zoo ``name`` (a table name or a release folder) on its row's dataset; a
    :class:`MetricCheck` per metric of the row, ``ok`` when ``|measured - table| <= tolerance`` (AP points). A
    metric the evaluation did not produce (e.g. Boundary AP without its evaluator) is not ok, measured None."""
    from detectron2.data import DatasetCatalog
    from levelset_core.checkpoint import build_trained_model

    from .. import model_zoo
    from ..model_zoo.table import lookup
    from .trainer import Trainer

    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    row_name, entry, _ = lookup(name)
    if not entry.metrics:
        raise ValueError(f"model zoo row {row_name!r} records no metrics to check")
    cfg = model_zoo.get_config(name, trained=True, checkpoint=checkpoint, opts=opts)
    if entry.dataset:
        if entry.dataset not in DatasetCatalog.list():
            raise ValueError(f"model zoo row {row_name!r} was evaluated on {entry.dataset!r}, which is not registered "
                             f"here (docs/DATASETS.md says where to put it)")
        cfg.DATASETS.TEST = (entry.dataset,)
    cfg.freeze()
    results = Trainer.test(cfg, build_trained_model(cfg))
    checks = []
    for task, metrics in entry.metrics.items():
        for metric, table in metrics.items():
            if table is None:
                continue
            measured = _measured(results, task, metric)
            ok = measured is not None and abs(measured - table) <= tolerance + 1e-9
            checks.append(MetricCheck(task, metric, table, measured, ok))
    return checks


def format_checks(name, checks, tolerance):
    """A markdown table of ``checks`` and a last line that says whether the row is reproduced."""
    lines = [f"model zoo row {name}: table vs measured (tolerance {tolerance} AP)", "",
             "| task | metric | table | measured | difference | ok |", "|---|---|---|---|---|---|"]
    for task, metric, table, measured, ok in checks:
        diff = "–" if measured is None else f"{measured - table:+.2f}"
        shown = "not evaluated" if measured is None else f"{measured:.2f}"
        lines.append(f"| {task} | {metric} | {table:.2f} | {shown} | {diff} | {'yes' if ok else 'NO'} |")
    bad = [c for c in checks if not c[4]]
    lines += ["", "REPRODUCED: every metric within the tolerance" if not bad else
              f"NOT REPRODUCED: {len(bad)} of {len(checks)} metrics differ by more than {tolerance} "
              f"(or were not evaluated)"]
    return "\n".join(lines)
