"""Version-dependent choices of the evaluators, so that evaluation code does not know which detectron2 (or numpy)
runs.

* :func:`coco_eval_fast_impl`: whether detectron2's C++ COCO evaluator (``COCOeval_opt``) can be used: only with
  the compiled ``detectron2._C``; pycocotools' ``COCOeval`` otherwise.
* :func:`lvis_package_works`: whether the ``lvis`` package can evaluate: detectron2 v0.6 runs on numpy < 1.24,
  which ``lvis`` 0.5.3 needs (``np.float``); official detectron2 main installs numpy 2.
"""
import importlib.util
import logging

from .ops import has_compiled_ops

__all__ = ["coco_eval_fast_impl", "lvis_package_works"]

logger = logging.getLogger(__name__)


def coco_eval_fast_impl(requested=None):
    """Whether a COCO evaluator should use detectron2's C++ ``COCOeval_opt`` (``use_fast_impl``).

    Args:
        requested (bool or None): the caller's wish; ``None`` means "when available".
    Returns:
        bool: ``requested`` (or True for None) when the compiled ops exist, else False (with a warning when True
        was requested).
    """
    compiled = has_compiled_ops()
    if requested is None:
        return compiled
    if requested and not compiled:
        logger.warning(
            "use_fast_impl=True needs detectron2's compiled ops, which are missing: "
            "evaluating with pycocotools' COCOeval instead."
        )
        return False
    return bool(requested)


def lvis_package_works():
    """Whether the ``lvis`` package can evaluate here: it is installed and numpy still has ``np.float`` (< 1.24).

    Returns:
        tuple(bool, str): the answer and, when False, why (for error messages and skip reasons).
    """
    if importlib.util.find_spec("lvis") is None:
        return False, "the 'lvis' package is not installed"
    import numpy as np

    if np.lib.NumpyVersion(np.__version__) >= "1.24.0":
        return False, f"lvis 0.5.3 uses np.float, which numpy {np.__version__} no longer has (removed in 1.24)"
    return True, ""
