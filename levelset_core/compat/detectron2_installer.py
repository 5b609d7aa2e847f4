"""Installing detectron2 itself: the logic behind ``tools/install_detectron2.py`` (which only calls :func:`main`).

Three ways, in this order of preference:

1. An importable detectron2 is kept as it is (official source build, or an earlier run), unless ``--force``.
2. ``--source PATH_OR_URL`` builds the *official* detectron2 from a local source tree, a source archive
   (``.tar.gz``, e.g. the vendored ``detectron2-main-02b5c4e.tar.gz``) or a git URL
   (``pip install --no-build-isolation``; compiles detectron2's C++/CUDA ops, needs a compiler).
3. Otherwise a pure-Python detectron2 v0.6 is built from the package registry's ``pb1-detectron2==0.6``
   sdist, whose C++ sources are missing (so ``pip install pb1-detectron2`` itself fails). Its Python
   files, plus ``projects/DeepLab/deeplab`` and ``projects/PointRend/point_rend`` placed where an official
   install exposes them (``detectron2.projects.deeplab`` / ``.point_rend``), are packaged as a normal
   pip package named ``detectron2``, installed against
   ``requirements/constraints-detectron2-v0.6.txt`` (numpy<1.24, Pillow<10, setuptools<81, ...).
   :func:`levelset_core.compat.install` provides ``detectron2._C`` when the compiled extension is absent.

torch and torchvision must be installed first (``requirements/torch.txt``). This module runs before detectron2
(and possibly before this repository's package) is installed: it imports only the standard library, and reads
``requirements/`` of the checkout it lies in.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: the repository root (this file is levelset_core/compat/detectron2_installer.py of a checkout)
ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "requirements" / "constraints-detectron2-v0.6.txt"
SDIST = "pb1-detectron2==0.6"
# detectron2 v0.6's install_requires, minus black/future/pydot (formatting and caffe2 only).
V06_REQUIREMENTS = [
    "Pillow>=7.1",
    "matplotlib",
    "pycocotools>=2.0.2",
    "termcolor>=1.1",
    "yacs>=0.1.8",
    "tabulate",
    "cloudpickle",
    "tqdm>4.29.0",
    "tensorboard",
    "fvcore>=0.1.5,<0.1.6",
    "iopath>=0.1.7,<0.1.10",
    "omegaconf>=2.1",
    "hydra-core>=1.1",
    "numpy",
    "setuptools",
]

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "detectron2"
version = "0.6"
description = "detectron2 v0.6, pure-Python build (no compiled ops) made by levelset_rcnn's tools/install_detectron2.py"
requires-python = ">=3.7"
dependencies = {deps}

[tool.setuptools.packages.find]
include = ["detectron2*"]

[tool.setuptools.package-data]
"*" = ["*.yaml", "*.json"]
"""


def pip(*args):
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def require_torch():
    for name in ("torch", "torchvision"):
        if importlib.util.find_spec(name) is None:
            sys.exit(
                f"install_detectron2: '{name}' is not installed in {sys.executable}. "
                f"Install it first: pip install -r {ROOT / 'requirements' / 'torch.txt'}"
            )


SOURCE_ARCHIVES = (".tar.gz", ".tgz", ".zip")


def install_from_source(source):
    """Official detectron2 from a source tree (a checkout or an unpacked snapshot), a source archive
    (``.tar.gz`` / ``.tgz`` / ``.zip``, e.g. ``detectron2-main-02b5c4e.tar.gz``; pip unpacks it) or a git URL.
    Compiles detectron2's C++ ops (``MAX_JOBS`` sets the parallel compile jobs); no network is needed for a
    local tree or archive as long as torch is installed and detectron2's dependencies are on the registry."""
    if os.path.isdir(source):
        if not (Path(source) / "setup.py").is_file():
            sys.exit(f"install_detectron2: --source {source} is a folder without setup.py; "
                     "point it at a detectron2 checkout")
        target = str(Path(source).resolve())
    elif os.path.isfile(source) and source.endswith(SOURCE_ARCHIVES):
        target = str(Path(source).resolve())
    elif "://" in source or source.startswith("git@"):
        target = source if source.startswith("git+") else "git+" + source
    else:
        sys.exit(f"install_detectron2: --source {source!r} is neither an existing folder, a source archive "
                 f"({', '.join(SOURCE_ARCHIVES)}) nor a git URL")
    pip("install", "--no-build-isolation", target)


def build_fallback_tree(workdir):
    """Download the sdist and lay out a pure-Python ``detectron2`` project in ``workdir/pkg``."""
    dl = Path(workdir) / "sdist"
    dl.mkdir()
    pip("download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", SDIST, "-d", str(dl))
    archives = sorted(dl.glob("*.tar.gz"))
    if not archives:
        sys.exit(f"install_detectron2: pip download of {SDIST} produced no .tar.gz in {dl}")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(dl)
    src = next(p for p in dl.iterdir() if p.is_dir())
    pkg = Path(workdir) / "pkg"
    pkg.mkdir()
    shutil.copytree(src / "detectron2", pkg / "detectron2")
    for project, module in (("DeepLab", "deeplab"), ("PointRend", "point_rend")):
        origin = src / "projects" / project / module
        if not origin.is_dir():
            sys.exit(f"install_detectron2: {origin} is missing from {archives[0].name}")
        shutil.copytree(origin, pkg / "detectron2" / "projects" / module)
    deps = "[" + ", ".join(f'"{d}"' for d in V06_REQUIREMENTS) + "]"
    (pkg / "pyproject.toml").write_text(PYPROJECT.format(deps=deps))
    return pkg


def install_fallback():
    with tempfile.TemporaryDirectory(prefix="d2_v06_") as workdir:
        pkg = build_fallback_tree(workdir)
        pip("install", "-c", str(CONSTRAINTS), str(pkg))


def main(argv=None, description=None):
    """The command line of ``tools/install_detectron2.py``; returns the exit status."""
    parser = argparse.ArgumentParser(description=description or __doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="detectron2 checkout folder or git URL: build the official one")
    parser.add_argument("--force", action="store_true", help="(re)install even if detectron2 imports")
    args = parser.parse_args(argv)
    require_torch()

    existing = importlib.util.find_spec("detectron2")
    if existing is not None and not args.force and not args.source:
        print(f"install_detectron2: keeping the detectron2 found at {existing.submodule_search_locations[0]}")
        return 0
    if args.source:
        install_from_source(args.source)
    else:
        install_fallback()
    subprocess.check_call([sys.executable, "-c", "import detectron2; print('detectron2', detectron2.__version__)"])
    return 0

