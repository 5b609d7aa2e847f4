"""The model zoo table: model name -> :class:`ModelZooEntry`, read from ``model_zoo.json`` (package data).

``model_zoo.json`` is the one copy of the table: names, configs, checkpoint files, sha256, metrics and the
commands that produce each checkpoint. The table of MODEL_ZOO.md is generated from it (:func:`markdown_table`,
:func:`update_model_zoo_md`):

    python -m levelset_rcnn.model_zoo MODEL_ZOO.md           # rewrite the generated part of MODEL_ZOO.md
    python -m levelset_rcnn.model_zoo MODEL_ZOO.md --check   # exit 1 if it is out of date

A name is a row of the table or a release folder (:mod:`levelset_rcnn.model_zoo.release`), see :func:`lookup`.
"""
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from .release import RELEASE_ENTRY_FILE, is_release_folder, read_release

__all__ = [
    "TABLE_FILE",
    "ModelZooEntry",
    "MODEL_ZOO",
    "load_table",
    "register_model",
    "list_models",
    "lookup",
    "entry_json",
    "markdown_row",
    "markdown_table",
    "update_model_zoo_md",
]

#: the table's data file, shipped in the package
TABLE_FILE = Path(__file__).resolve().with_name("model_zoo.json")


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

    @classmethod
    def from_dict(cls, row):
        """An entry from a JSON row (``opts`` may be a list)."""
        row = dict(row)
        row["opts"] = tuple(row.get("opts") or ())
        return cls(**row)


def load_table(path=TABLE_FILE):
    """``{name: ModelZooEntry}`` of a table file; errors name the file and the row."""
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    except OSError as e:
        raise FileNotFoundError(
            f"the model zoo table {path} cannot be read ({e}): the package was installed without its data file"
        ) from None
    except ValueError as e:
        raise ValueError(f"the model zoo table {path} is not valid JSON: {e}") from None
    table = {}
    for name, row in rows.items():
        try:
            table[name] = ModelZooEntry.from_dict(row)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: row {name!r}: {e}") from None
    return table


#: The one model zoo table: name -> entry (the rows of ``model_zoo.json``, plus :func:`register_model`'s).
MODEL_ZOO: Dict[str, ModelZooEntry] = load_table()


def register_model(name, entry):
    """Add (or replace) a row of the table at run time; ``entry`` is a :class:`ModelZooEntry` or a dict."""
    if isinstance(entry, dict):
        entry = ModelZooEntry.from_dict(entry)
    if not isinstance(entry, ModelZooEntry):
        raise TypeError(f"register_model({name!r}): entry must be a ModelZooEntry or dict, got {type(entry)}")
    MODEL_ZOO[name] = entry
    return entry


def list_models(trained_only=False):
    """Names in the table (only those with a checkpoint if ``trained_only``)."""
    return sorted(n for n, e in MODEL_ZOO.items() if e.checkpoint or not trained_only)


def lookup(name):
    """``(name, entry, folder)`` of a table name (``.yaml`` suffix allowed) or a release folder; ``folder`` is the
    release folder (whose files are local), else None."""
    if is_release_folder(name):
        row_name, fields = read_release(name)
        folder = os.path.abspath(name)
        try:
            return row_name, ModelZooEntry(**fields), folder
        except (TypeError, ValueError) as e:
            raise ValueError(f"release folder {folder}: bad row: {e}") from None
    if os.path.isdir(name):
        raise FileNotFoundError(
            f"{name} is a folder but has no {RELEASE_ENTRY_FILE}: make a release folder with "
            f"tools/publish_model.py, or pass a model name ({', '.join(list_models())})"
        )
    key = name[:-5] if name.endswith(".yaml") else name
    if key not in MODEL_ZOO:
        raise KeyError(f"{name!r} is not in the LevelSet R-CNN model zoo; available: {', '.join(list_models())}")
    return key, MODEL_ZOO[key], None


def entry_json(name, entry):
    """``name``'s row as it stands in ``model_zoo.json`` (one line per field), to paste into that file."""
    row = {k: v for k, v in vars(entry).items() if v not in (None, (), {})}
    if "opts" in row:
        row["opts"] = list(row["opts"])
    lines = []
    for key, value in row.items():
        if key == "metrics":
            text = "{" + ", ".join(f"{json.dumps(t)}: {json.dumps(m)}" for t, m in value.items()) + "}"
        else:
            text = json.dumps(value, ensure_ascii=False)
        lines.append(f"    {json.dumps(key)}: {text}")
    return f"  {json.dumps(name)}: {{\n" + ",\n".join(lines) + "\n  }"


# ----------------------------------------------------------------------------------------------------------------
# MODEL_ZOO.md

#: the metric columns of the Markdown table: (title, task, metric)
SUMMARY_COLUMNS = (
    ("box AP", "bbox", "AP"), ("box AP50", "bbox", "AP50"), ("mask AP", "segm", "AP"), ("mask AP50", "segm", "AP50"),
    ("mask AP75", "segm", "AP75"), ("initial mask AP", "segm_initial", "AP"),
)
NOT_UPLOADED = ("not uploaded: on the development machine only; the command below makes an equivalent "
                "(not byte-identical) one")
BEGIN_MARK = "<!-- generated by `python -m levelset_rcnn.model_zoo MODEL_ZOO.md` from model_zoo.json: begin -->"
END_MARK = "<!-- generated: end -->"


def markdown_header():
    """The header lines of :func:`markdown_row`'s table."""
    titles = ["name", "eval dataset"] + [c[0] for c in SUMMARY_COLUMNS] + ["file", "sha256", "where the file is"]
    return "| " + " | ".join(titles) + " |\n" + "|---" * len(titles) + "|"


def markdown_row(name, entry, location=None):
    """One row of MODEL_ZOO.md's table; ``location``: the last cell (default: the URL, or "not uploaded")."""
    def fmt(task, metric):
        v = entry.metrics.get(task, {}).get(metric)
        return "–" if v is None else f"{v:.1f}"

    if location is None:
        location = f"<{entry.url}>" if entry.url else NOT_UPLOADED
    cells = [f"`{name}`", entry.dataset or "?"] + [fmt(t, m) for _, t, m in SUMMARY_COLUMNS]
    cells += [f"`{entry.checkpoint}`", f"`{entry.sha256}`", location]
    return "| " + " | ".join(cells) + " |"


def markdown_table(names=None):
    """The generated part of MODEL_ZOO.md: the table of the trained checkpoints (``names``: default every row with
    a checkpoint, in the file's order) and the command that produces each."""
    names = [n for n, e in MODEL_ZOO.items() if e.checkpoint] if names is None else list(names)
    lines = [markdown_header()] + [markdown_row(n, MODEL_ZOO[n]) for n in names]
    lines += ["", "Commands that produce them (`tools/publish_model.py` prints the row and, with `--install`, puts the "
              "file into the cache where `model_zoo.get(name)` finds it):", ""]
    for name in names:
        lines.append(f"* `{name}`: `{MODEL_ZOO[name].produced_by or '(not recorded)'}`")
    return "\n".join(lines)


def update_model_zoo_md(path, check=False):
    """Replace the text between the markers of ``path`` (MODEL_ZOO.md) by :func:`markdown_table`.

    Returns True when the file was already up to date; with ``check`` the file is not written.
    """
    text = Path(path).read_text(encoding="utf-8")
    if BEGIN_MARK not in text or END_MARK not in text:
        raise ValueError(f"{path} has no generated model-zoo section: put the lines\n{BEGIN_MARK}\n{END_MARK}\n"
                         "where the table goes")
    head, rest = text.split(BEGIN_MARK, 1)
    _, tail = rest.split(END_MARK, 1)
    new = f"{head}{BEGIN_MARK}\n{markdown_table()}\n{END_MARK}{tail}"
    if new != text and not check:
        Path(path).write_text(new, encoding="utf-8")
    return new == text
