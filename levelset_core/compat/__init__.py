"""Every difference between the detectron2 versions this code runs on (pure-Python v0.6 and official main).

The one entry point is :func:`install`: each project's ``__init__`` (``levelset_rcnn``, ``deeplab_losses``) calls
it before importing ``detectron2.modeling``; so must a script that imports detectron2's modeling code without
either project. It is idempotent and does, only where needed:

* registers a stand-in ``detectron2._C`` when the compiled extension is missing (:mod:`.ops`: deformable
  convolution backed by torchvision, every other op a clear :class:`MissingCompiledOpError`);
* makes official detectron2 main's internal ``deeplearning.projects.cityscapesApi.cityscapesscripts`` imports
  resolve to the installed ``cityscapesscripts`` (:mod:`.cityscapes`).

Importing this package (or any module of it) changes nothing. The other modules answer version-dependent
questions for the code that needs them, which therefore never checks a version itself:

* :mod:`.engine`: detectron2 trainer internals (``DefaultTrainer.__init__``, the step trainer's data iterator,
  DistributedDataParallel on CPU processes);
* :mod:`.evaluation`: the C++ COCO evaluator when compiled ops exist, whether ``lvis`` works with this numpy;
* :mod:`.cityscapes`: cityscapesscripts on numpy 2.4;
* :mod:`.export`: ``detectron2.export`` submodules without v0.6's caffe2 import;
* :mod:`.pointrend`: where detectron2's PointRend project lives on each version, its config keys and checks;
* :mod:`.detectron2_installer`: installing detectron2 itself (``tools/install_detectron2.py``).
"""
from .cityscapes import ensure_cityscapesscripts_alias
from .ops import MissingCompiledOpError, ensure_detectron2_ops, has_compiled_ops

__all__ = ["install", "has_compiled_ops", "MissingCompiledOpError", "ensure_detectron2_ops",
           "ensure_cityscapesscripts_alias"]


def install():
    """Make this detectron2 usable by both projects (see the module docstring). Idempotent.

    Call it before ``detectron2.modeling`` (or ``detectron2.layers`` / ``.evaluation`` / ``.engine``) is imported.
    Raises ImportError, with how to install it, when detectron2 is missing.

    Returns:
        bool: True when the stand-in ``detectron2._C`` is in use (no compiled ops).
    """
    fallback = ensure_detectron2_ops()
    ensure_cityscapesscripts_alias()
    return fallback
