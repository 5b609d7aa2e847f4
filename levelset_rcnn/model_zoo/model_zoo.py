"""LevelSet R-CNN's model zoo, in the style of :mod:`detectron2.model_zoo`.

One table (:data:`MODEL_ZOO`) maps a model name to its config, its checkpoint (a download URL or only a file
name), the checkpoint's sha256 and the metrics measured with it. ``MODEL_ZOO.md`` is the human-readable copy.

    from levelset_rcnn import model_zoo
    model = model_zoo.get("quickstart/levelset_rcnn_R_18_FPN_shapes", trained=True)   # eval mode, weights loaded
    cfg = model_zoo.get_config("quickstart/levelset_rcnn_R_18_FPN_shapes", trained=True)  # cfg.MODEL.WEIGHTS set
    model = model_zoo.get("path/to/release_folder")  # a folder written by tools/publish_model.py

Where a checkpoint is looked for, in order: the ``checkpoint`` argument (a local file), then the user cache
``$LEVELSET_RCNN_CACHE/checkpoints/<name>/<file>`` (default ``~/.cache/levelset_rcnn/checkpoints/...``),
then the download URL of the table (saved into that cache). Without network, or for checkpoints that have no
public URL, the error names the file to fetch (or the command that produces it) and where to put it. The file's
sha256 is always checked against the table: a mismatch is an error, never a silent load. Weights are loaded
with detectron2's :class:`~detectron2.checkpoint.DetectionCheckpointer`.
"""
import copy
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

__all__ = [
    "ModelZooEntry",
    "MODEL_ZOO",
    "register_model",
    "list_models",
    "get_config_file",
    "get_config",
    "get_checkpoint_url",
    "get_checkpoint_path",
    "get",
    "cache_dir",
    "configs_root",
    "sha256sum",
    "ChecksumMismatchError",
    "CheckpointNotAvailableError",
    "RELEASE_ENTRY_FILE",
]

#: file written by tools/publish_model.py into a release folder: the table row of that model as JSON
RELEASE_ENTRY_FILE = "model_zoo_entry.json"


class ChecksumMismatchError(RuntimeError):
    """A checkpoint's sha256 differs from the one recorded in the model zoo table."""


class CheckpointNotAvailableError(FileNotFoundError):
    """A checkpoint is neither in the cache nor downloadable (no URL, or no network)."""


@dataclass(frozen=True)
class ModelZooEntry:
    """One row of the model zoo table.

    Attributes:
        config: config file, relative to the configs root (``configs/`` of the repository), or an absolute path.
        opts: ``KEY VALUE`` overrides applied after the config file (the training command's overrides).
        checkpoint: file name of the released checkpoint (``model_final_<sha256[:8]>.pth``); None when the
            project has no trained checkpoint for this config.
        url: public download URL of ``checkpoint``; None when the file is only available locally.
        sha256: full hex sha256 of the checkpoint file (required when ``checkpoint`` is set).
        metrics: ``{task: {metric: value}}`` measured with this checkpoint, e.g. ``{"segm": {"AP": 71.3}}``.
        dataset: the evaluation dataset of ``metrics``.
        produced_by: the command(s) that train and publish the checkpoint (shown when it is missing).
        note: free text (machine, schedule, honesty remarks).
    """

    config: str
    opts: Tuple[str, ...] = ()
    checkpoint: Optional[str] = None
    url: Optional[str] = None
    sha256: Optional[str] = None
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)
    dataset: Optional[str] = None
    produced_by: Optional[str] = None
    note: Optional[str] = None

    def __post_init__(self):
        if self.checkpoint is not None:
            if not self.sha256 or len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
                raise ValueError(
                    f"model zoo entry for checkpoint {self.checkpoint!r}: sha256 must be 64 lower-case hex "
                    f"digits, got {self.sha256!r}"
                )
        if self.url is not None and self.checkpoint is None:
            raise ValueError(f"model zoo entry with url {self.url!r} needs a checkpoint file name")


_BALLOON_OPTS = (
    "DATASETS.TRAIN", "('balloon_train',)", "DATASETS.TEST", "('balloon_val',)",
    "MODEL.ROI_HEADS.NUM_CLASSES", "1", "INPUT.MASK_FORMAT", "polygon",
    "INPUT.MIN_SIZE_TRAIN", "(224,256,288)", "INPUT.MAX_SIZE_TRAIN", "384",
    "INPUT.MIN_SIZE_TEST", "256", "INPUT.MAX_SIZE_TEST", "384",
    "SOLVER.IMS_PER_BATCH", "2", "SOLVER.BASE_LR", "0.01", "SOLVER.WARMUP_ITERS", "30",
    "SOLVER.MAX_ITER", "300", "SOLVER.STEPS", "(220,280)", "DATALOADER.NUM_WORKERS", "0",
)
#: The checkpoints trained here before issue 15 use the paper's Chan-Vese feature head and the plain L1; the defaults
#: changed to the fine-grained head and the saturating L1, so their entries pin what they were trained with.
_PAPER_HEAD_OPTS = ("MODEL.LEVELSET.FEATURE_HEAD.NAME", "ChanVeseFeatureHead",
                    "MODEL.LEVELSET.LOSS_SATURATE_L1", "False")
_PAPER = "paper's number (Table 2, ResNet-50); no checkpoint trained by this project"


def _balloon_lite0_entry(model, sha256, metrics):
    """Row of a balloon EfficientNet-Lite0-FPN model trained here (seed 1 of docs/RESULTS.md's comparison)."""
    run = f"output/balloon_{model}_lite0"
    config = f"balloon/{model}_lite0_FPN{'_paper_head' if model == 'levelset_rcnn' else ''}.yaml"
    return ModelZooEntry(
        config=config,
        opts=("SEED", "1"),
        checkpoint=f"model_final_{sha256[:8]}.pth",
        sha256=sha256,
        metrics=metrics,
        dataset="balloon_val",
        produced_by=(f".venv/bin/python tools/train_net.py --config-file configs/{config} SEED 1 "
                     f"OUTPUT_DIR {run} && .venv/bin/python tools/publish_model.py {run} "
                     f"--name balloon/{model}_lite0_FPN --install"),
        note="ImageNet-pretrained EfficientNet-Lite0-FPN, 500 iterations on the CPU (~20-30 min); seed 1 of the "
             "docs/RESULTS.md comparison; no public URL",
    )

#: The one model zoo table: name -> entry. MODEL_ZOO.md shows the same rows.
MODEL_ZOO: Dict[str, ModelZooEntry] = {
    # ---- trained by this project (CPU, 2-core VM) ----
    "quickstart/levelset_rcnn_R_18_FPN_shapes": ModelZooEntry(
        config="quickstart/levelset_rcnn_R_18_FPN_shapes.yaml",
        opts=_PAPER_HEAD_OPTS,
        checkpoint="model_final_47c2bf56.pth",
        sha256="47c2bf568219254db646b1e5251f36ed1ffe29be050edf755705f503196bf365",
        metrics={"bbox": {"AP": 65.14, "AP50": 92.85, "AP75": 76.79},
                 "segm": {"AP": 71.32, "AP50": 90.53, "AP75": 81.07},
                 "segm_initial": {"AP": 71.37, "AP50": 90.53, "AP75": 81.07}},
        dataset="levelset_shapes_val",
        produced_by=(
            ".venv/bin/python tools/quickstart.py " + " ".join(_PAPER_HEAD_OPTS)
            + " && .venv/bin/python tools/publish_model.py output/quickstart "
            "--name quickstart/levelset_rcnn_R_18_FPN_shapes "
            "--config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml --install"
        ),
        note="trained here on the CPU (600 iterations, ~8 min); no public URL",
    ),
    "balloon/levelset_rcnn_R_18_FPN_balloon": ModelZooEntry(
        config="quickstart/levelset_rcnn_R_18_FPN_shapes.yaml",
        opts=_BALLOON_OPTS + _PAPER_HEAD_OPTS,
        checkpoint="model_final_18cab7da.pth",
        sha256="18cab7da8f76308ce505cce6244d65cb6b631844884b96d9cb51d133785027d1",
        metrics={"bbox": {"AP": 6.11, "AP50": 14.06, "AP75": 5.28},
                 "segm": {"AP": 8.27, "AP50": 15.06, "AP75": 10.75},
                 "segm_initial": {"AP": 8.27, "AP50": 15.06, "AP75": 10.75}},
        dataset="balloon_val",
        produced_by=(
            "python tools/train_net.py --config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml "
            "--dataset-folder balloon=../shared/datasets/balloon "
            + " ".join(repr(o) if " " in o or "(" in o else o for o in _BALLOON_OPTS + _PAPER_HEAD_OPTS)
            + " MODEL.WEIGHTS output/quickstart/model_final.pth OUTPUT_DIR output/model_zoo/balloon_R18 && "
            "python tools/publish_model.py output/model_zoo/balloon_R18 "
            "--name balloon/levelset_rcnn_R_18_FPN_balloon --install"
        ),
        note="fine-tuned here on the CPU from the quickstart model, 300 iterations (~10 min); no public URL",
    ),
    "balloon/levelset_rcnn_lite0_FPN": _balloon_lite0_entry(
        "levelset_rcnn", "242f903dc19bcfae42ed5e8f4ddc5e17508d00310bb99eef6eb19f97b0b52bcb",
        {"bbox": {"AP": 46.14, "AP50": 59.63, "AP75": 55.46}, "segm": {"AP": 49.27, "AP50": 59.63, "AP75": 54.53},
         "segm_initial": {"AP": 49.11, "AP50": 59.63, "AP75": 54.53}, "boundary": {"AP": 39.18}},
    ),
    "balloon/mask_rcnn_lite0_FPN": _balloon_lite0_entry(
        "mask_rcnn", "518b97d72710f0e460aefa61f99dfc0ebd4558225167ee91a070e294958ede53",
        {"bbox": {"AP": 44.09, "AP50": 60.11, "AP75": 53.15}, "segm": {"AP": 43.27, "AP50": 62.52, "AP75": 47.47},
         "boundary": {"AP": 25.75}},
    ),
    # ---- configs of the paper, without checkpoints (paper's numbers are in MODEL_ZOO.md) ----
    "COCO-InstanceSegmentation/levelset_rcnn_R_50_FPN_1x": ModelZooEntry(
        config="COCO-InstanceSegmentation/levelset_rcnn_R_50_FPN_1x.yaml", dataset="coco_2017_val", note=_PAPER,
    ),
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x": ModelZooEntry(
        config="COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml", dataset="coco_2017_val", note=_PAPER,
    ),
    "Cityscapes/levelset_rcnn_R_50_FPN": ModelZooEntry(
        config="Cityscapes/levelset_rcnn_R_50_FPN.yaml", dataset="cityscapes_fine_instance_seg_val", note=_PAPER,
    ),
    "Cityscapes/mask_rcnn_R_50_FPN": ModelZooEntry(
        config="Cityscapes/mask_rcnn_R_50_FPN.yaml", dataset="cityscapes_fine_instance_seg_val", note=_PAPER,
    ),
}


def register_model(name, entry):
    """Add (or replace) a row of the table at run time; ``entry`` is a :class:`ModelZooEntry` or a dict."""
    if isinstance(entry, dict):
        entry = dict(entry)
        entry["opts"] = tuple(entry.get("opts") or ())
        entry = ModelZooEntry(**entry)
    if not isinstance(entry, ModelZooEntry):
        raise TypeError(f"register_model({name!r}): entry must be a ModelZooEntry or dict, got {type(entry)}")
    MODEL_ZOO[name] = entry
    return entry


def list_models(trained_only=False):
    """Names in the table (only those with a checkpoint if ``trained_only``)."""
    return sorted(n for n, e in MODEL_ZOO.items() if e.checkpoint or not trained_only)


# ----------------------------------------------------------------------------------------------------------------
# locations


def configs_root():
    """Folder of the YAML configs: ``$LEVELSET_RCNN_CONFIGS``, else configs packaged into
    ``levelset_rcnn/model_zoo/configs`` (when an installer copied them there), else the repository's ``configs/``
    (an editable install or a source checkout)."""
    candidates = []
    if os.environ.get("LEVELSET_RCNN_CONFIGS"):
        candidates.append(Path(os.environ["LEVELSET_RCNN_CONFIGS"]))
    here = Path(__file__).resolve().parent
    candidates += [here / "configs", here.parent.parent / "configs"]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        "cannot find LevelSet R-CNN's configs: looked in " + ", ".join(str(p) for p in candidates)
        + ". Set LEVELSET_RCNN_CONFIGS to the configs/ folder of a levelset_rcnn checkout."
    )


def cache_dir():
    """``$LEVELSET_RCNN_CACHE/checkpoints`` if set, else ``~/.cache/levelset_rcnn/checkpoints``."""
    root = os.environ.get("LEVELSET_RCNN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "levelset_rcnn")
    return os.path.join(root, "checkpoints")


def sha256sum(path, chunk_size=1 << 20):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# table look-up, also of release folders written by tools/publish_model.py


def _is_release_folder(name):
    return os.path.isdir(name) and os.path.isfile(os.path.join(name, RELEASE_ENTRY_FILE))


def _lookup(name):
    """``(name, entry, folder)``: folder is the release folder when ``name`` is one (its files are local)."""
    if _is_release_folder(name):
        folder = os.path.abspath(name)
        path = os.path.join(folder, RELEASE_ENTRY_FILE)
        try:
            with open(path) as f:
                row = json.load(f)
            row_name = row.pop("name", folder)
            row["config"] = os.path.join(folder, row.get("config") or "config.yaml")
            row["opts"] = tuple(row.get("opts") or ())
            return row_name, ModelZooEntry(**row), folder
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"release folder {folder}: cannot read {path}: {e}") from None
    if os.path.isdir(name):
        raise FileNotFoundError(
            f"{name} is a folder but has no {RELEASE_ENTRY_FILE}: make a release folder with "
            f"tools/publish_model.py, or pass a model name ({', '.join(list_models())})"
        )
    key = name[:-5] if name.endswith(".yaml") else name
    if key not in MODEL_ZOO:
        raise KeyError(f"{name!r} is not in the LevelSet R-CNN model zoo; available: {', '.join(list_models())}")
    return key, MODEL_ZOO[key], None


def get_config_file(name):
    """Absolute path of the config file of ``name`` (a table name or a release folder)."""
    _, entry, _ = _lookup(name)
    path = Path(entry.config)
    if not path.is_absolute():
        path = configs_root() / path
    if not path.is_file():
        raise FileNotFoundError(f"config of model zoo entry {name!r} not found: {path}")
    return str(path)


def get_checkpoint_url(name):
    """The public download URL of ``name``'s checkpoint.

    Raises :class:`CheckpointNotAvailableError` naming the command that produces the file and the path to put it
    at when the checkpoint has no public URL (this project's CPU-trained checkpoints) or none exists.
    """
    key, entry, folder = _lookup(name)
    if entry.url:
        return entry.url
    if entry.checkpoint is None:
        raise CheckpointNotAvailableError(
            f"model zoo entry {key!r} has no trained checkpoint ({entry.note or 'config only'}); "
            f"train it with tools/train_net.py --config-file {get_config_file(name)}"
        )
    raise CheckpointNotAvailableError(
        f"checkpoint {entry.checkpoint} of {key!r} has no public download URL; "
        + _how_to_get(key, entry, folder)
    )


def _cache_path(key, entry):
    return os.path.join(cache_dir(), key, entry.checkpoint)


def _how_to_get(key, entry, folder):
    if folder is not None:
        return f"expected it at {os.path.join(folder, entry.checkpoint)}"
    where = _cache_path(key, entry)
    how = f"produce it with `{entry.produced_by}`" if entry.produced_by else "obtain it from its author"
    return f"{how} and put it at {where} (or pass checkpoint=PATH)"


def _verify(path, entry, key):
    digest = sha256sum(path)
    if digest != entry.sha256:
        raise ChecksumMismatchError(
            f"checkpoint {path} of model zoo entry {key!r} has sha256 {digest}, but the table records "
            f"{entry.sha256}: the file is corrupt, incomplete or a different model. Delete it and fetch it again."
        )
    return path


def _download(url, dest, timeout=60):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def get_checkpoint_path(name, checkpoint=None):
    """Local path of ``name``'s checkpoint, verified against the table's sha256.

    Args:
        name: a table name or a release folder of tools/publish_model.py.
        checkpoint: optional local file to use instead of the cache / download.
    Raises:
        CheckpointNotAvailableError: no local file and no URL, or the download failed (message: what to fetch
            and where to put it).
        ChecksumMismatchError: the file's sha256 differs from the table's.
    """
    key, entry, folder = _lookup(name)
    if entry.checkpoint is None:
        get_checkpoint_url(name)  # raises the "no trained checkpoint" error
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise CheckpointNotAvailableError(f"checkpoint file {checkpoint} given for {key!r} does not exist")
        return _verify(checkpoint, entry, key)
    if folder is not None:
        path = os.path.join(folder, entry.checkpoint)
        if not os.path.isfile(path):
            raise CheckpointNotAvailableError(f"release folder {folder}: {entry.checkpoint} is missing")
        return _verify(path, entry, key)
    path = _cache_path(key, entry)
    if os.path.isfile(path):
        return _verify(path, entry, key)
    if not entry.url:
        raise CheckpointNotAvailableError(
            f"checkpoint {entry.checkpoint} of {key!r} is not in the cache and has no public URL; "
            + _how_to_get(key, entry, folder)
        )
    try:
        _download(entry.url, path)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise CheckpointNotAvailableError(
            f"could not download {entry.url} ({getattr(e, 'reason', e)}). Without network, fetch that file "
            f"elsewhere and put it at {path} (set LEVELSET_RCNN_CACHE to use another cache folder), "
            f"or pass checkpoint=PATH."
        ) from None
    try:
        return _verify(path, entry, key)
    except ChecksumMismatchError:
        os.remove(path)  # never leave a bad download in the cache
        raise


# ----------------------------------------------------------------------------------------------------------------
# configs and models


def get_config(name, trained=False, checkpoint=None):
    """The (unfrozen) config of ``name``: its file plus the entry's overrides; with ``trained``,
    ``MODEL.WEIGHTS`` is the verified local checkpoint. ``MODEL.DEVICE`` falls back to the CPU without CUDA."""
    from detectron2.config import get_cfg

    from ..config import add_levelset_rcnn_config

    _, entry, _ = _lookup(name)
    cfg = get_cfg()
    add_levelset_rcnn_config(cfg)
    cfg.set_new_allowed(False)
    cfg.merge_from_file(get_config_file(name))
    cfg.merge_from_list(list(entry.opts))
    if trained:
        cfg.MODEL.WEIGHTS = get_checkpoint_path(name, checkpoint)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    return cfg


def get(name, trained=True, device=None, checkpoint=None):
    """Build the model of ``name`` (table name or release folder), in eval mode.

    Args:
        trained: load the verified checkpoint through :class:`levelset_rcnn.checkpoint.LevelSetCheckpointer`
            (detectron2's ``DetectionCheckpointer``, loading safely); otherwise the
            model is randomly initialised (nothing is loaded).
        device: e.g. ``"cpu"``; default the config's (CPU when CUDA is missing).
        checkpoint: a local checkpoint file to use instead of the cache / URL (still checksum-verified).
    """
    from detectron2.modeling import build_model

    from ..checkpoint import LevelSetCheckpointer

    cfg = get_config(name, trained=trained, checkpoint=checkpoint)
    if device is not None:
        cfg.MODEL.DEVICE = str(device)
    model = build_model(cfg)
    if trained:
        LevelSetCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    return model


def entry_of(name):
    """A copy of the table row of ``name`` (table name or release folder)."""
    return copy.deepcopy(_lookup(name)[1])
