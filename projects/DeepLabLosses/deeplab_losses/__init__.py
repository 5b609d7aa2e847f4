"""DeepLab losses: the Level Set loss (Kim et al., WACV 2019) and the SEMEDA loss (Chen et al., Pattern
Recognition 2020) on Detectron2's DeepLab heads.

Importing this package registers (after ``levelset_rcnn``, which provides the level-set math and, when
detectron2's compiled ops are missing, a stand-in ``detectron2._C``):

* the heads ``DeepLabV3LossesHead`` and ``DeepLabV3PlusLossesHead`` in ``SEM_SEG_HEADS_REGISTRY``,
* the backbone ``build_small_resnet_deeplab_backbone`` in ``BACKBONE_REGISTRY``,
* the built-in generated semantic dataset ``dll_shapes_sem_{train,val}`` and, when their folders exist under
  ``$DETECTRON2_DATASETS``, ``voc_2012_sbd_sem_seg_{train,val}`` and ``camvid_sem_seg_{train,val,test}``.
"""
import levelset_rcnn  # noqa: F401  (stand-in detectron2._C first; the one level-set implementation)

from .config import add_deeplab_losses_config  # noqa: E402
from . import modeling  # noqa: E402,F401  (registers heads and the small backbone)
from . import data  # noqa: E402,F401  (registers datasets)

__version__ = "0.1.0"
__all__ = ["add_deeplab_losses_config"]
