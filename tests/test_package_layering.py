"""The import graph of the packages, read from the source (``ast``): the layers of docs/DESIGN.md ("Layers") hold.

Each import (module level or inside a function, relative or absolute) counts as an edge between the importing and
the imported subpackage (``levelset_rcnn.engine``, ``levelset_core.data``, ...). A lazy import inside a function still
ties the two packages together, so it counts too.
"""
import ast
import itertools
from collections import defaultdict

import pytest
from repo_paths import REPO_ROOT

PACKAGE_DIRS = {
    "levelset_core": REPO_ROOT / "levelset_core",
    "levelset_rcnn": REPO_ROOT / "levelset_rcnn",
    "deeplab_losses": REPO_ROOT / "projects" / "DeepLabLosses" / "deeplab_losses",
}


def _module_name(package, path):
    parts = (package,) + path.relative_to(PACKAGE_DIRS[package]).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def imported_modules(source, module, is_package):
    """Absolute names of what ``source`` (the text of ``module``) imports, relative imports resolved; a
    ``from X import name`` yields ``X.name`` (``name`` may be a submodule)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def _unit(name):
    """The layer unit of a module name: ``pkg.sub`` for our packages (``pkg`` for top-level modules of the
    package's ``__init__``), None for anything else (torch, detectron2, ...)."""
    parts = name.split(".")
    if parts[0] not in PACKAGE_DIRS:
        return None
    return ".".join(parts[:2])


def _is_unit(name):
    package, _, sub = name.partition(".")
    return not sub or (PACKAGE_DIRS[package] / sub).is_dir() or (PACKAGE_DIRS[package] / f"{sub}.py").is_file()


def unit_graph():
    """``{unit: {units it imports}}`` over the three packages (self-edges dropped)."""
    graph = defaultdict(set)
    for package, root in PACKAGE_DIRS.items():
        for path in sorted(root.rglob("*.py")):
            module, is_package = _module_name(package, path)
            src = _unit(module)
            for target in imported_modules(path.read_text(), module, is_package):
                dst = _unit(target)
                if dst is None:
                    continue
                if not _is_unit(dst):  # "from levelset_rcnn import model_zoo" -> levelset_rcnn.model_zoo
                    dst = dst.split(".")[0]
                if dst != src:
                    graph[src].add(dst)
    return graph


@pytest.fixture(scope="module")
def graph():
    return unit_graph()


def test_relative_imports_resolve():
    assert imported_modules("from ..engine.defaults import f", "levelset_rcnn.utils.demo", False) == {
        "levelset_rcnn.engine.defaults.f"}
    assert imported_modules("from .. import model_zoo", "levelset_rcnn.utils", True) == {"levelset_rcnn.model_zoo"}
    assert imported_modules("def f():\n    import levelset_rcnn.engine\n", "x.y", False) == {"levelset_rcnn.engine"}


def test_graph_sees_real_edges(graph):
    # guards against a parser that finds nothing (every rule below would pass on an empty graph)
    assert "levelset_rcnn.modeling" in graph["levelset_rcnn.evaluation"]
    assert "levelset_rcnn.utils" in graph["levelset_rcnn.engine"]
    assert "levelset_core.layers" in graph["deeplab_losses.modeling"]


def test_core_imports_neither_project(graph):
    bad = {(a, b) for a, bs in graph.items() if a.startswith("levelset_core") for b in bs
           if not b.startswith("levelset_core")}
    assert not bad, f"levelset_core must not import the projects: {sorted(bad)}"


def test_projects_do_not_import_each_other(graph):
    for a, b in itertools.permutations(("levelset_rcnn", "deeplab_losses")):
        bad = {(x, y) for x, ys in graph.items() if x.split(".")[0] == a for y in ys if y.split(".")[0] == b}
        assert not bad, f"{a} imports {b}: {sorted(bad)}"


@pytest.mark.parametrize("package", ["levelset_rcnn", "deeplab_losses"])
def test_only_tools_import_the_engine(graph, package):
    """The engine (trainers, entry points) is the top layer: utils, model_zoo, evaluation, ... may be used by it,
    never the other way round."""
    engine = f"{package}.engine"
    users = sorted(a for a, bs in graph.items() if engine in bs and a.split(".")[0] == package
                   and a not in (f"{package}.benchmark", f"{package}.quickstart"))
    assert not users, f"{users} import {engine}"


def test_config_and_modeling_do_not_import_each_other(graph):
    """config.py adds keys, the module that reads a key checks it (docs/DESIGN.md): levelset_rcnn's config and
    modeling never import each other; in DeepLabLosses the heads read the loss names from its config, not back."""
    assert "levelset_rcnn.modeling" not in graph["levelset_rcnn.config"]
    assert "levelset_rcnn.config" not in graph["levelset_rcnn.modeling"]
    assert "deeplab_losses.modeling" not in graph["deeplab_losses.config"]


def test_no_import_cycles(graph):
    """Depth-first search for a cycle among the subpackages; the message prints it."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt.split(".")[0] == node.split(".")[0] and "." not in nxt:
                continue  # a subpackage importing its own package's __init__ (registration side effects)
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
