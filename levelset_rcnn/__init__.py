"""LevelSet R-CNN (Homayounfar et al., ECCV 2020) as a Detectron2 extension.

Importing this package registers its heads in Detectron2's registries and its built-in datasets in
``DatasetCatalog``. It must be imported before ``detectron2.modeling`` when detectron2's compiled ops are
missing (see :mod:`levelset_rcnn._compat`).
"""
from ._compat import ensure_cityscapesscripts_alias, ensure_detectron2_ops, has_compiled_ops

ensure_detectron2_ops()
ensure_cityscapesscripts_alias()  # official detectron2 main imports cityscapesscripts under its authors' path

from .config import add_levelset_rcnn_config  # noqa: E402
from . import modeling  # noqa: E402,F401  (registers heads)
from . import data  # noqa: E402,F401  (registers built-in datasets)

__version__ = "0.1.0"
__all__ = ["add_levelset_rcnn_config", "has_compiled_ops", "ensure_detectron2_ops"]
