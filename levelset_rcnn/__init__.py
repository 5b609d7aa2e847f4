"""LevelSet R-CNN (Homayounfar et al., ECCV 2020) as a Detectron2 extension.

Importing this package registers its heads in Detectron2's registries and its built-in datasets in
``DatasetCatalog``. It first calls :func:`levelset_core.compat.install` (the stand-in ``detectron2._C`` when the
compiled ops are missing, and the other detectron2-version fixes), so import it before ``detectron2.modeling``.
"""
from levelset_core import compat

compat.install()

from .config import add_levelset_rcnn_config  # noqa: E402
from . import modeling  # noqa: E402,F401  (registers heads)
from . import data  # noqa: E402,F401  (registers built-in datasets)

__version__ = "0.1.0"
__all__ = ["add_levelset_rcnn_config"]
