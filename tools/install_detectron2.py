#!/usr/bin/env python
"""Install detectron2 for LevelSet R-CNN and the DeepLabLosses project.

Keeps an importable detectron2 (unless ``--force``); ``--source PATH_OR_URL`` builds the official one from a
checkout, a source archive or a git URL; otherwise builds a pure-Python detectron2 v0.6 from the package
registry's ``pb1-detectron2==0.6`` sdist. The logic is :mod:`levelset_core.compat.detectron2_installer`.

This script runs before this repository's package is installed (``scripts/setup_env.sh`` calls it first), so it
puts the repository root on ``sys.path`` to import ``levelset_core`` from the checkout; that import needs only the
standard library.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from levelset_core.compat.detectron2_installer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
