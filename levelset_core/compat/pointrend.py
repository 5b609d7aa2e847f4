"""detectron2's PointRend project (Kirillov et al., CVPR 2020) on both detectron2 versions this code runs on.

Where it is: ``detectron2.projects.point_rend`` on both. The v0.6 fallback installer copies
``projects/PointRend/point_rend`` of the ``pb1-detectron2==0.6`` sdist there (:mod:`.detectron2_installer`); official
detectron2 main maps the same package there in its ``setup.py`` (``package_dir``, a ``pip install`` of a source
tree or git URL) or through the import finder of ``detectron2/projects/__init__.py`` (an editable install).
A detectron2 installed without its projects (a wheel of the library alone) has no PointRend: then
:func:`import_pointrend` raises an ImportError that says how to get it.

Which API: the same on both. ``add_pointrend_config`` of v0.6 and of main 02b5c4e (the vendored
``detectron2-main-02b5c4e.tar.gz``) are identical, and so are ``point_head.py`` / ``point_features.py`` /
``roi_heads.py``; ``mask_head.py`` differs only in code formatting. Both have ``PointRendMaskHead`` and
``ImplicitPointRendMaskHead`` (``ROI_MASK_HEAD_REGISTRY``), the ``MODEL.POINT_HEAD`` and
``MODEL.IMPLICIT_POINTREND`` keys, and ``PointRendROIHeads``, which converts configs of the first PointRend release
(``ROI_MASK_HEAD.NAME: "CoarseMaskHead"``). The configs here use the current form (``"PointRendMaskHead"`` with
detectron2's ``StandardROIHeads``), so nothing differs between the versions and no code here checks a version.

* :func:`add_pointrend_config`: PointRend's config keys (detectron2's own ``add_pointrend_config``), added by
  :func:`levelset_rcnn.add_levelset_rcnn_config` so that every config of this project may use them;
* :func:`check_pointrend_config`: the two settings PointRend's heads only assert deep inside a training step.
"""
import importlib

__all__ = ["POINTREND_MODULE", "POINTREND_MASK_HEADS", "import_pointrend", "has_pointrend", "add_pointrend_config",
           "check_pointrend_config"]

POINTREND_MODULE = "detectron2.projects.point_rend"
#: mask heads of detectron2's PointRend project (``ROI_MASK_HEAD.NAME``)
POINTREND_MASK_HEADS = ("PointRendMaskHead", "ImplicitPointRendMaskHead")

_IMPORT_ERROR = []  # the ImportError of the first failed import, kept for has_pointrend()


def import_pointrend():
    """Import ``detectron2.projects.point_rend`` (which registers its heads) and return the module.

    Calls :func:`levelset_core.compat.install` first (PointRend imports ``detectron2.layers``, which needs
    ``detectron2._C`` or its stand-in). Raises ImportError, saying how to install PointRend, when it is missing.
    """
    from . import install

    install()
    try:
        return importlib.import_module(POINTREND_MODULE)
    except ImportError as e:
        _IMPORT_ERROR[:] = [e]
        raise ImportError(
            f"detectron2's PointRend project ({POINTREND_MODULE}) cannot be imported: {e}. It ships in detectron2's "
            "source tree, not in the library alone: install detectron2 with `python tools/install_detectron2.py` (the "
            "v0.6 fallback includes it) or from a source checkout / git URL (`--source`, or `pip install -e` of a "
            "checkout)."
        ) from e


def has_pointrend():
    """Whether :func:`import_pointrend` succeeds (imports it when it does)."""
    if _IMPORT_ERROR:
        return False
    try:
        import_pointrend()
    except ImportError:
        return False
    return True


def add_pointrend_config(cfg):
    """Add PointRend's keys to ``cfg`` (in place) with detectron2's ``add_pointrend_config`` and return True; harmless
    to call twice (keys already there are left as they are).

    Where PointRend cannot be imported nothing is added and False is returned: configs that do not use PointRend work
    as before, and merging one that does fails on its first PointRend key (``MODEL.POINT_HEAD``, named by the error).
    """
    if "POINT_HEAD" in cfg.MODEL:
        return True
    if not has_pointrend():
        return False
    import_pointrend().add_pointrend_config(cfg)
    return True


def check_pointrend_config(cfg):
    """Raise ValueError, naming the keys, for a PointRend mask head whose settings its heads would reject only with a
    bare assertion in the first training step: ``MODEL.POINT_HEAD.NUM_CLASSES`` must equal
    ``MODEL.ROI_HEADS.NUM_CLASSES``, and ``INPUT.MASK_FORMAT`` must be ``"bitmask"`` (the point head samples the
    ground-truth masks as images). Other configs pass unchanged. Returns ``cfg``."""
    if not cfg.MODEL.MASK_ON or cfg.MODEL.ROI_MASK_HEAD.NAME not in POINTREND_MASK_HEADS:
        return cfg
    head = cfg.MODEL.ROI_MASK_HEAD.NAME
    if cfg.MODEL.POINT_HEAD.NUM_CLASSES != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
        raise ValueError(
            f"MODEL.POINT_HEAD.NUM_CLASSES = {cfg.MODEL.POINT_HEAD.NUM_CLASSES} but MODEL.ROI_HEADS.NUM_CLASSES = "
            f"{cfg.MODEL.ROI_HEADS.NUM_CLASSES}: {head} needs both equal (set MODEL.POINT_HEAD.NUM_CLASSES "
            "whenever you set MODEL.ROI_HEADS.NUM_CLASSES)"
        )
    if cfg.INPUT.MASK_FORMAT != "bitmask":
        raise ValueError(
            f"INPUT.MASK_FORMAT = {cfg.INPUT.MASK_FORMAT!r}: {head} trains on bitmasks (its point head samples the "
            "ground-truth masks); set INPUT.MASK_FORMAT bitmask (polygon annotations are rasterised)"
        )
    return cfg
