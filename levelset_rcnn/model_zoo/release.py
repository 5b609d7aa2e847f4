"""Release folders: the model-zoo artifact of one trained model, in Detectron2's style.

A release folder holds

* ``model_final_<first 8 hex of sha256>.pth``: ``{"model": state_dict, "config": <resolved config YAML>}`` (no
  optimizer, scheduler or iteration; the config travels with the weights, so a table row can be checked against the
  file it names: :func:`levelset_rcnn.model_zoo.verify.config_drift`);
* ``config.yaml``: the resolved config of the model (``MODEL.WEIGHTS`` cleared: the weights are the file above);
* ``metrics.json``: ``{task: {metric: value}}`` measured with the checkpoint;
* ``model_zoo_entry.json`` (:data:`RELEASE_ENTRY_FILE`): the model's table row (the fields of
  :class:`~levelset_rcnn.model_zoo.table.ModelZooEntry` plus ``name``), with ``config`` relative to the folder.

:func:`write_release` writes one (``tools/publish_model.py``, :func:`levelset_rcnn.model_zoo.publish.publish`) and
:func:`read_release` reads it back (``model_zoo.get(<folder>)``): the format lives in this module only.
"""
import hashlib
import io
import json
import os

import torch
from levelset_core.data.cache import write_atomic

__all__ = [
    "RELEASE_ENTRY_FILE",
    "RELEASE_CONFIG_FILE",
    "RELEASE_METRICS_FILE",
    "checkpoint_file_name",
    "CHECKPOINT_CONFIG_KEY",
    "save_release_checkpoint",
    "write_release",
    "is_release_folder",
    "read_release",
]

#: the table row of the released model, as JSON
RELEASE_ENTRY_FILE = "model_zoo_entry.json"
RELEASE_CONFIG_FILE = "config.yaml"
RELEASE_METRICS_FILE = "metrics.json"
#: key of the resolved config (YAML text) inside a release checkpoint
CHECKPOINT_CONFIG_KEY = "config"


def checkpoint_file_name(sha256):
    """Detectron2's release naming: ``model_final_<first 8 hex of sha256>.pth``."""
    return f"model_final_{sha256[:8]}.pth"


def save_release_checkpoint(state_dict, folder, config_yaml=None):
    """Save ``{"model": state_dict}`` (tensors detached, on the CPU; plus ``"config": config_yaml`` when given) as
    ``folder/model_final_<sha8>.pth``; returns ``(path, sha256)``. The file is written atomically: no partial
    checkpoint is left. detectron2's checkpointers load the ``"model"`` part and ignore the config."""
    state = {k: v.detach().cpu().contiguous() if torch.is_tensor(v) else v for k, v in state_dict.items()}
    payload = {"model": state}
    if config_yaml is not None:
        payload[CHECKPOINT_CONFIG_KEY] = str(config_yaml)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, checkpoint_file_name(digest))
    write_atomic(path, data)
    return path, digest


def write_release(folder, name, state_dict, config_yaml, metrics, *, opts=(), dataset=None, produced_by=None,
                  note=None):
    """Write a release folder (see the module docstring).

    Args:
        folder: the release folder (created).
        name: the model's name in the table.
        state_dict: the model's weights.
        config_yaml: the resolved config as YAML text.
        metrics: ``{task: {metric: value}}``.
        opts, dataset, produced_by, note: the row's fields of the same names.
    Returns:
        ``(row, checkpoint_path)``: the row as written to :data:`RELEASE_ENTRY_FILE`, and the checkpoint's path.
    """
    path, digest = save_release_checkpoint(state_dict, folder, config_yaml)
    with open(os.path.join(folder, RELEASE_CONFIG_FILE), "w") as f:
        f.write(config_yaml)
    with open(os.path.join(folder, RELEASE_METRICS_FILE), "w") as f:
        json.dump(metrics, f, indent=2)
    row = {
        "name": name,
        "config": RELEASE_CONFIG_FILE,
        "opts": list(opts),
        "checkpoint": os.path.basename(path),
        "url": None,
        "sha256": digest,
        "metrics": metrics,
        "dataset": dataset,
        "produced_by": produced_by,
        "note": note,
    }
    with open(os.path.join(folder, RELEASE_ENTRY_FILE), "w") as f:
        json.dump(row, f, indent=2)
    return row, path


def is_release_folder(path):
    """True when ``path`` is a folder with a :data:`RELEASE_ENTRY_FILE`."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, RELEASE_ENTRY_FILE))


def read_release(folder):
    """``(name, fields)`` of a release folder: its name and the keyword arguments of a
    :class:`~levelset_rcnn.model_zoo.table.ModelZooEntry` (``config`` made absolute, ``opts`` a tuple).

    Raises:
        ValueError: the entry file cannot be read or is not a row (the message names the file).
    """
    folder = os.path.abspath(folder)
    path = os.path.join(folder, RELEASE_ENTRY_FILE)
    try:
        with open(path) as f:
            row = json.load(f)
        if not isinstance(row, dict):
            raise TypeError(f"expected a JSON object, got {type(row).__name__}")
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"release folder {folder}: cannot read {path}: {e}") from None
    name = row.pop("name", folder)
    row["config"] = os.path.join(folder, row.get("config") or RELEASE_CONFIG_FILE)
    row["opts"] = tuple(row.get("opts") or ())
    return name, row
