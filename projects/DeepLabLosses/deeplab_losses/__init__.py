"""DeepLab losses: the Level Set loss (Kim et al., WACV 2019) and the SEMEDA loss (Chen et al., Pattern
Recognition 2020) on Detectron2's DeepLab heads.

Importing this package first calls :func:`levelset_core.compat.install` (detectron2-version fixes, e.g. a stand-in
``detectron2._C`` when the compiled ops are missing), then registers:

* the heads ``DeepLabV3LossesHead`` and ``DeepLabV3PlusLossesHead`` in ``SEM_SEG_HEADS_REGISTRY``,
* the backbones ``build_small_resnet_deeplab_backbone`` and the shared EfficientNet-Lite ones
  (``build_efficientnet_lite_backbone``, ``build_efficientnet_lite_fpn_backbone``) in ``BACKBONE_REGISTRY``,
* the built-in generated semantic dataset ``dll_shapes_sem_{train,val}`` and, when their folders exist under
  ``$DETECTRON2_DATASETS``, ``voc_2012_sbd_sem_seg_{train,val}`` and ``camvid_sem_seg_{train,val,test}``.

The shared pieces (level-set math, trainer, launch, generated-data rendering and cache, EfficientNet-Lite) come from
:mod:`levelset_core`; nothing of LevelSet R-CNN (``levelset_rcnn``) is imported or registered.
"""
from levelset_core import compat

compat.install()  # before detectron2.modeling is imported

from .config import add_deeplab_losses_config  # noqa: E402
from . import modeling  # noqa: E402,F401  (registers heads and backbones)
from . import data  # noqa: E402,F401  (registers datasets)

__version__ = "0.1.0"
__all__ = ["add_deeplab_losses_config"]
