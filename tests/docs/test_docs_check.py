"""The docs check (issue 25): what the documentation names exists and works, so that it cannot drift from the code.

* every file / config / folder path named in README.md, MODEL_ZOO.md, docs/*.md, datasets/README.md and
  projects/DeepLabLosses/README.md exists; every named config parses into its project's config (LevelSet R-CNN or
  DeepLabLosses); every dotted config key named (``MODEL.LEVELSET.RESOLUTION``) exists;
* every command line tool (``tools/``, ``benchmarks/``, ``datasets/``, the DeepLabLosses tools, the model zoo and
  checkpoint modules) runs ``--help``, and every ``--flag`` a document passes to a tool is one the tool has;
* every model-zoo name a document loads is a row of the table; every row with a checkpoint has its training config
  recorded and, resolved with today's code, builds that model (``levelset_rcnn.model_zoo.verify``); when the
  checkpoint itself is on this machine, also against the config saved with it;
* every results table (a table with measured numbers) sits under a heading / paragraph naming the command, the
  seeds, the date and the commit. A table of numbers that are not this project's measurements (the paper's, a
  layout) says so in an HTML comment just above it: ``<!-- docs-check: not measured here: REASON -->``.

Run by the normal test command (``bash scripts/run_tests.sh``), hence by CI on both detectron2 legs.
"""
import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO_ROOT

from levelset_rcnn import model_zoo
from levelset_rcnn.model_zoo.verify import config_drift, format_drift, recorded_config_path, saved_config_text

DEEPLAB_ROOT = REPO_ROOT / "projects" / "DeepLabLosses"
DOCS = ["README.md", "MODEL_ZOO.md", "datasets/README.md", "projects/DeepLabLosses/README.md"] + sorted(
    p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "docs").glob("*.md"))
#: documents whose tables of numbers are results and need their provenance
RESULT_DOCS = ["MODEL_ZOO.md", "projects/DeepLabLosses/README.md"] + [d for d in DOCS if d.startswith("docs/")]
SKIP_DIRS = {".git", ".venv", ".venv-main", "build", "output", "outputs", "__pycache__", "dist", ".pytest_cache"}

# paths: a/b.ext (with {x,y} and * allowed), or a known top-level folder followed by a path
FILE_RE = re.compile(r"(?<![\w./$<-])((?:\.\.?/)*[\w.{},*-]+(?:/[\w.{},*-]+)*\.(?:ya?ml|py|md|sh|cff|txt|json))(?![\w/])")
DIR_RE = re.compile(r"(?<![\w./$-])((?:levelset_core|levelset_rcnn|tools|configs|docs|datasets|scripts|tests|benchmarks|"
                    r"requirements|projects|\.ci)/[\w./{},*-]*)")
# CONFIG.yaml, CONFIG_semeda.yaml, OUTPUT_DIR, IMG_OR_FOLDER; ..._L.yaml (L: a loss name)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9]{2,}(?:[_.]|$)|_[A-Z]\.\w+$")
NOT_REPO_PREFIXES = ("output/", "out/", "outputs/", "build/", "~", "$", "RUN/", "detectron2/", "_", "http", "www.",
                     "...")
#: file names without a folder that must exist somewhere (a bare config.yaml, log.txt are outputs)
CHECKED_BARE = (".py", ".sh", ".md")


def _doc_text(doc):
    return (REPO_ROOT / doc).read_text(encoding="utf-8")


def _strip_urls(text):
    return re.sub(r"https?://\S+|detectron2://\S+|efficientnet-lite://\S+", " ", text)


_FILES = None


def _repo_files():
    """Every file and folder of the working tree (relative POSIX paths), without environments and outputs."""
    global _FILES
    if _FILES is None:
        files = set()
        for root, dirs, names in os.walk(REPO_ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            rel = Path(root).relative_to(REPO_ROOT).as_posix()
            for name in names + dirs:
                files.add(name if rel == "." else f"{rel}/{name}")
        _FILES = files
    return _FILES


def _braces(token):
    """``a{b,c}d`` -> ``[abd, acd]`` (nested braces expanded one level at a time)."""
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    out = []
    for part in match.group(1).split(","):
        out += _braces(token[:match.start()] + part + token[match.end():])
    return out


def _exists(pattern, base):
    """Does ``base / pattern`` (``*`` allowed) name a file or folder of the tree (or a file in ../shared)?"""
    target = os.path.normpath(os.path.join(base, pattern))
    if not target.startswith(str(REPO_ROOT) + os.sep):
        return None  # outside the repository (../shared/...): not the repository's to check
    rel = Path(target).relative_to(REPO_ROOT).as_posix()
    files = _repo_files()
    return rel in files or any(fnmatch.fnmatchcase(f, rel) for f in files) if "*" in rel else rel in files


def _resolve(token, doc):
    """True / False: does the path ``token`` named in ``doc`` exist; None: not a path of the repository."""
    token = token.rstrip(".,:;)")
    if token.startswith("./"):
        token = token[2:]
    if any(token.startswith(p) for p in NOT_REPO_PREFIXES) or "<" in token:
        return None
    parts = token.split("/")
    if any(PLACEHOLDER.search(p) and p not in ("README.md", "MODEL_ZOO.md", "LICENSE", "CITATION.cff",
                                             "DESIGN_NOTES.md", "QUICKSTART.md", "RESULTS.md", "BENCHMARKS.md",
                                             "DATASETS.md", "CUSTOM_DATASET.md") for p in parts):
        return None
    if token.endswith(".json") and not token.startswith(("levelset_rcnn/", "levelset_core/")):
        return None  # outputs and dataset layouts (annotations/instances_train.json, metrics.json, ...)
    if token.endswith(".txt") and "/" not in token:
        return None  # log.txt and the like
    doc_dir = (REPO_ROOT / doc).parent
    bases = [doc_dir, REPO_ROOT, REPO_ROOT / "configs"]
    if doc.startswith("projects/DeepLabLosses/"):
        bases.insert(1, DEEPLAB_ROOT)
    results = []
    for expanded in _braces(token):
        if "/" not in expanded:
            if not expanded.endswith(CHECKED_BARE):
                return None
            found = any(fnmatch.fnmatchcase(f.rsplit("/", 1)[-1], expanded) for f in _repo_files())
        else:
            tries = [_exists(expanded, b) for b in bases]
            if all(t is None for t in tries):
                return None
            found = any(tries) or any(f.endswith("/" + expanded) for f in _repo_files())
        results.append(found)
    return all(results)


def _named_paths():
    """``[(doc, token)]`` of every path-like token of the documents."""
    found = []
    for doc in DOCS:
        text = _strip_urls(_doc_text(doc))
        tokens = set(FILE_RE.findall(text)) | {t.rstrip("/.,") for t in DIR_RE.findall(text) if t.rstrip("/.,")}
        found += [(doc, t) for t in sorted(tokens)]
    return found


def test_every_path_named_in_the_docs_exists():
    missing = [f"{doc}: {token}" for doc, token in _named_paths() if _resolve(token, doc) is False]
    assert not missing, "named in the docs but not in the repository:\n" + "\n".join(missing)


def test_the_docs_check_finds_what_it_must():
    """The checker itself: the documents it reads are there, and it tells a present path from a missing one."""
    assert len(DOCS) >= 7 and all((REPO_ROOT / d).is_file() for d in DOCS)
    assert _resolve("configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml", "README.md") is True
    assert _resolve("balloon/{levelset,mask}_rcnn_lite0_FPN.yaml", "README.md") is True
    assert _resolve("configs/quickstart/no_such_config.yaml", "README.md") is False
    assert _resolve("tools/no_such_tool.py", "README.md") is False
    assert _resolve("output/quickstart/model_final.pth", "README.md") is None
    assert _resolve("../configs/balloon/levelset_rcnn_lite0_FPN.yaml", "docs/RESULTS.md") is True


# ---------------------------------------------------------------------------------------------------------------
# configs and config keys


def _config_files():
    files = set()
    for doc, token in _named_paths():
        if not token.endswith((".yaml", ".yml")) or not _resolve(token, doc):
            continue
        doc_dir = (REPO_ROOT / doc).parent
        bases = [doc_dir, REPO_ROOT, REPO_ROOT / "configs"] + ([DEEPLAB_ROOT] if "DeepLab" in doc else [])
        for expanded in _braces(token):
            for base in bases:
                target = Path(os.path.normpath(os.path.join(base, expanded)))
                matches = sorted(target.parent.glob(target.name)) if target.parent.is_dir() else []
                files.update(m for m in matches if m.is_file() and "configs" in m.parts)
    return sorted(files)


def _cfg_of(path):
    """The config ``path`` merges into: DeepLabLosses' for its project's configs, else LevelSet R-CNN's."""
    from levelset_core.engine.config import build_config

    if DEEPLAB_ROOT in path.parents:
        if str(DEEPLAB_ROOT) not in sys.path:
            sys.path.insert(0, str(DEEPLAB_ROOT))
        from deeplab_losses.config import add_deeplab_losses_config

        return build_config(str(path), add_config=[add_deeplab_losses_config], freeze=False)
    from levelset_rcnn.config import add_levelset_rcnn_config

    return build_config(str(path), add_config=[add_levelset_rcnn_config], freeze=False)


def test_every_config_named_in_the_docs_parses_into_its_projects_config():
    files = _config_files()
    assert len(files) >= 20, files
    errors = []
    for path in files:
        try:
            _cfg_of(path)
        except Exception as e:  # any failure to merge is a broken doc reference
            errors.append(f"{path.relative_to(REPO_ROOT)}: {type(e).__name__}: {e}")
    assert not errors, "\n".join(errors)


KEY_RE = re.compile(r"(?<![\w.])((?:MODEL|SOLVER|INPUT|DATASETS|DATALOADER|TEST)(?:\.[A-Z][A-Z0-9_]*)+)(?![\w(])")


def test_every_config_key_named_in_the_docs_exists():
    import yaml

    keys = set()
    for path in (REPO_ROOT / "configs" / "Base-LevelSet-RCNN-FPN.yaml",
                 DEEPLAB_ROOT / "configs" / "quickstart" / "deeplab_v3_plus_shapes_ce.yaml"):
        flat = [("", yaml.safe_load(_cfg_of(path).dump()))]
        while flat:
            prefix, node = flat.pop()
            for k, v in node.items():
                keys.add(prefix + k)
                if isinstance(v, dict):
                    flat.append((prefix + k + ".", v))
    unknown = []
    for doc in DOCS:
        for key in sorted(set(KEY_RE.findall(_doc_text(doc)))):
            if key not in keys and not any(k.startswith(key + ".") for k in keys):
                unknown.append(f"{doc}: {key}")
    assert not unknown, "config keys named in the docs that no config has:\n" + "\n".join(unknown)


# ---------------------------------------------------------------------------------------------------------------
# command line tools


def _tools():
    tools = sorted(p.relative_to(REPO_ROOT).as_posix() for p in
                   list((REPO_ROOT / "tools").glob("*.py")) + list((REPO_ROOT / "datasets").glob("*.py"))
                   + list((DEEPLAB_ROOT / "tools").glob("*.py")) + list((REPO_ROOT / "benchmarks").glob("*.py")))
    return tools + ["projects/DeepLabLosses/train_net.py"]


MODULES = ["levelset_rcnn.model_zoo", "levelset_rcnn.checkpoint"]

_HELP_DRIVER = r"""
import contextlib, io, json, runpy, sys, traceback
sys.path.insert(0, sys.argv[1])
out = {}
for item in sys.argv[2:]:
    kind, target = item.split(":", 1)
    buffer = io.StringIO()
    saved = list(sys.argv), list(sys.path)
    code = 0
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            if kind == "file":
                sys.argv = [target, "--help"]
                sys.path.insert(0, str(__import__("pathlib").Path(target).parent))
                runpy.run_path(target, run_name="__main__")
            else:
                sys.argv = [target, "--help"]
                runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        code = 1
        buffer.write(traceback.format_exc())
    sys.argv, sys.path[:] = saved
    out[target] = {"code": code, "output": buffer.getvalue()}
print("@@HELP@@" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def helps():
    """``{tool: {"code": exit code, "output": text}}`` of ``--help`` of every tool, in one subprocess (each tool runs
    as ``__main__`` with ``--help``; one interpreter keeps the imports of detectron2 and torch to one)."""
    items = [f"file:{t}" for t in _tools()] + [f"module:{m}" for m in MODULES]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", _HELP_DRIVER, str(DEEPLAB_ROOT)] + items, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, env=env)
    assert "@@HELP@@" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.split("@@HELP@@", 1)[1])


def test_every_tool_runs_help(helps):
    failed = [f"{t}: exit {r['code']}\n{r['output'][-1500:]}" for t, r in helps.items()
              if r["code"] != 0 or "usage" not in r["output"].lower()]
    assert not failed, "\n\n".join(failed)


def test_train_net_help_runs_as_a_real_process():
    proc = subprocess.run([sys.executable, "tools/train_net.py", "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0 and "--config-file" in proc.stdout, proc.stderr[-2000:]


COMMAND_RE = re.compile(r"((?:projects/DeepLabLosses/)?(?:tools|benchmarks|datasets)/\w+\.py|"
                        r"projects/DeepLabLosses/train_net\.py|(?<![\w/])train_net\.py)"
                        r"((?:[^`\n\\]|\\(?!\n))*(?:\\\n(?:[^`\n\\]|\\(?!\n))*)*)")


def _documented_commands():
    """``[(doc, tool, flags)]``: every tool invocation in the docs with the ``--flags`` passed to it."""
    found = []
    for doc in DOCS:
        text = _doc_text(doc)
        for match in COMMAND_RE.finditer(text):
            tool, rest = match.group(1), match.group(2)
            rest = re.split(r"&&|\|\||(?<!\\)\||;|\s#\s|`", rest)[0]
            if match.start() and text[match.start() - 1] == "/":
                continue  # the tail of a longer path
            path = tool
            if doc.startswith("projects/DeepLabLosses/") and not (REPO_ROOT / tool).is_file():
                path = f"projects/DeepLabLosses/{tool}"
            if tool == "train_net.py":
                path = "projects/DeepLabLosses/train_net.py" if "DeepLab" in doc else "tools/train_net.py"
            flags = re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest)
            found.append((doc, path, flags))
    return found


def test_every_flag_the_docs_pass_to_a_tool_exists(helps):
    commands = _documented_commands()
    assert len(commands) >= 20
    wrong = []
    for doc, tool, flags in commands:
        if tool not in helps:
            wrong.append(f"{doc}: {tool} is not a tool of the repository")
            continue
        text = helps[tool]["output"]
        wrong += [f"{doc}: {tool} {flag}" for flag in flags if not re.search(re.escape(flag) + r"(?![\w-])", text)]
    assert not wrong, "flags named in the docs that the tool does not have:\n" + "\n".join(sorted(set(wrong)))


# ---------------------------------------------------------------------------------------------------------------
# model zoo


def test_every_model_zoo_name_the_docs_load_is_a_row():
    names = set()
    for doc in DOCS:
        text = _doc_text(doc)
        names |= set(re.findall(r"model_zoo\.get(?:_config)?\(\"([^\"]+)\"", text))
        names |= set(re.findall(r"--model ([\w-]+/[\w-]+)(?=[\s`])", text))
        names |= set(re.findall(r"model_zoo install ([\w-]+/[\w-]+)", text))
    names = {n for n in names if not n.startswith(("output/", "NAME"))}
    assert names, "no model zoo names found in the docs"
    missing = sorted(n for n in names if n not in model_zoo.MODEL_ZOO)
    assert not missing, f"model zoo names in the docs that are not rows of model_zoo.json: {missing}"


TRAINED_ROWS = model_zoo.list_models(trained_only=True)


@pytest.mark.parametrize("name", TRAINED_ROWS)
def test_a_model_zoo_row_builds_the_model_its_checkpoint_was_trained_with(name):
    """The row's config + opts, resolved with today's code, equal the recorded training config of its checkpoint
    (``levelset_rcnn/model_zoo/trained_configs/<name>.yaml``): a change of a base config or a default under a row
    fails here until the row pins the old value or the checkpoint is re-made."""
    recorded = recorded_config_path(name)
    assert recorded.is_file(), (
        f"{name}: no recorded training config {recorded.relative_to(REPO_ROOT)}: copy the release folder's "
        f"config.yaml there when the row is published")
    drift = config_drift(name, config_text=recorded.read_text(encoding="utf-8"))
    assert not drift, format_drift(name, drift)


@pytest.mark.parametrize("name", TRAINED_ROWS)
def test_a_present_checkpoint_agrees_with_its_row(name):
    """Where the checkpoint itself is on this machine (the user cache), its own saved config (or the recorded one)
    equals the row's."""
    try:
        path = model_zoo.get_checkpoint_path(name)
    except model_zoo.CheckpointNotAvailableError as e:
        pytest.skip(f"checkpoint of {name} not on this machine: {str(e)[:160]}")
    text = saved_config_text(path) or recorded_config_path(name).read_text(encoding="utf-8")
    drift = config_drift(name, config_text=text)
    assert not drift, format_drift(name, drift)


# ---------------------------------------------------------------------------------------------------------------
# results tables

NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?![\w.])")
EXEMPT = re.compile(r"<!--\s*docs-check:\s*not measured here:\s*\S")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
COMMIT = re.compile(r"\bcommits?\b[^.\n]{0,40}?\b[0-9a-f]{7,40}\b", re.IGNORECASE)
SEED = re.compile(r"\bseeds?\b|\bSEED\b", re.IGNORECASE)
COMMAND = re.compile(r"`[^`]*(?:\.py|bash |python)[^`]*`|```")


def _tables(text):
    """``[(line number, context, table lines)]``: every Markdown table with the text since the last heading."""
    lines = text.splitlines()
    out, heading, i, fence = [], 0, 0, False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            heading = i
        elif (not fence and line.startswith("|") and i + 1 < len(lines)
              and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1])):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out.append((i + 1, "\n".join(lines[heading:i]), lines[i:j]))
            i = j
            continue
        i += 1
    return out


def _is_results_table(table):
    """A table with at least two data cells holding a decimal number (measurements; a lone "CC BY 4.0" is not)."""
    return sum(bool(NUMBER.search(cell)) for row in table[2:] for cell in row.split("|")[2:]) >= 2


def _provenance_gaps(doc):
    gaps = []
    for line, context, table in _tables(_doc_text(doc)):
        if not _is_results_table(table):
            continue
        if EXEMPT.search("\n".join(context.splitlines()[-3:])):
            continue
        missing = [what for what, pattern in (("command", COMMAND), ("seeds", SEED), ("date", DATE),
                                              ("commit", COMMIT)) if not pattern.search(context)]
        if missing:
            gaps.append(f"{doc}:{line}: table {table[0][:60]!r} lacks {', '.join(missing)}")
    return gaps


#: tables known to lack part of their provenance, in a section this change does not edit: (doc, table header start)
#: -> what is missing. Remove the entry when the section is fixed (the test fails while an entry is stale).
KNOWN_GAPS = {}


@pytest.mark.parametrize("doc", RESULT_DOCS)
def test_every_results_table_names_command_seeds_date_and_commit(doc):
    gaps = _provenance_gaps(doc)
    known = [(d, h) for d, h in KNOWN_GAPS if d == doc]
    for d, header in known:
        matching = [g for g in gaps if f"table {header[:20]!r}"[:-1] in g]
        assert matching, f"KNOWN_GAPS entry {header!r} of {doc} is fixed: remove it from KNOWN_GAPS"
        gaps = [g for g in gaps if g not in matching]
    assert not gaps, ("results tables whose heading / paragraph above does not name them "
                      "(or mark the table <!-- docs-check: not measured here: REASON -->):\n" + "\n".join(gaps))


def test_the_provenance_check_catches_a_bare_table(tmp_path):
    table = "| model | AP |\n|---|---|\n| x | 12.5 |\n| y | 13.5 |\n"
    good = ("## Run\n\nProvenance: `python tools/train_net.py --config-file C`, seeds 1, 2; 2026-12-04; commit "
            "abc1234.\n\n" + table)
    assert _tables(good) and _is_results_table(_tables(good)[0][2])
    ctx = _tables(good)[0][1]
    assert all(p.search(ctx) for p in (COMMAND, SEED, DATE, COMMIT))
    bare = "## Run\n\nSome numbers.\n\n" + table
    ctx = _tables(bare)[0][1]
    assert not any(p.search(ctx) for p in (COMMAND, SEED, DATE, COMMIT))


# ---------------------------------------------------------------------------------------------------------------
# claims that once drifted from the code (issue 25)


def _normalise_pm(text):
    return re.sub(r"\s*\+-\s*", " ± ", text.replace("\u2212", "-"))


def test_numbers_quoted_in_config_comments_are_the_measured_ones():
    """A result quoted in a config's comment (``+0.88 ± 0.28``) is one of docs/RESULTS.md, BENCHMARKS.md or
    QUICKSTART.md."""
    measured = _normalise_pm("\n".join(_doc_text(d) for d in ("docs/RESULTS.md", "docs/BENCHMARKS.md",
                                                              "docs/QUICKSTART.md")))
    sources = sorted((REPO_ROOT / "configs").rglob("*.yaml")) + [REPO_ROOT / "levelset_rcnn" / "config.py"]
    wrong = []
    for path in sources:
        comments = "\n".join(line.split("#", 1)[1] for line in path.read_text(encoding="utf-8").splitlines()
                             if "#" in line)
        for quoted in re.findall(r"\+\d+\.\d+(?:\s*(?:±|\+-)\s*\d+\.\d+)?", comments):
            if _normalise_pm(quoted) not in measured:
                wrong.append(f"{path.relative_to(REPO_ROOT)}: {quoted}")
    assert not wrong, "numbers quoted in config comments that no results document has:\n" + "\n".join(wrong)


def test_the_demo_input_flag_is_documented_for_images_only():
    """``tools/demo.py --input`` takes images, folders and globs; a video goes to ``--video-input``."""
    for doc in DOCS:
        for match in re.finditer(r"tools/demo\.py[^`\n]*--input\s+(\S+)", _doc_text(doc)):
            arg = match.group(1)
            assert "VIDEO" not in arg.upper() and not arg.endswith((".mp4", ".avi")), f"{doc}: --input {arg}"


def test_the_evaluators_named_for_the_standard_datasets_are_the_ones_build_evaluator_returns():
    import levelset_rcnn.evaluation as evaluation

    text = _doc_text("datasets/README.md")
    table = text[text.index("## COCO, LVIS and Cityscapes"):]
    named = set(re.findall(r"`(?:levelset_rcnn\.evaluation\.)?(\w+Evaluator)`", table.split("\n\n#")[0]))
    assert named, "no evaluator named in datasets/README.md's table of standard datasets"
    assert not sorted(n for n in named if n not in evaluation.__all__), named


def test_the_download_claims_match_the_configs():
    """The R-50 / R-103 configs start from detectron2:// ImageNet weights, which detectron2 downloads: the README
    says so and does not claim that nothing is downloaded at run time."""
    readme = _doc_text("README.md")
    d2_weights = [p for p in (REPO_ROOT / "configs").rglob("*.yaml") if "detectron2://" in p.read_text()]
    if d2_weights:
        assert "nothing else is downloaded, at install or at run time" not in readme
        install = readme[readme.index("## Installation"):readme.index("## Using it")]
        assert "detectron2://" in install, "the installation section must say which configs download weights"
