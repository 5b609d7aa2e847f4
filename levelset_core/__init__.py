"""The side-effect-free core shared by LevelSet R-CNN (``levelset_rcnn``) and the semantic-segmentation project
(``projects/DeepLabLosses``).

Importing this package or any of its modules registers nothing in detectron2's registries or DatasetCatalog and
patches nothing. Every detectron2-version difference lives in :mod:`levelset_core.compat`; its one entry point
:func:`levelset_core.compat.install` (idempotent) is called by each project's ``__init__`` before it imports
``detectron2.modeling``.

* :mod:`levelset_core.compat`: detectron2 v0.6 / main differences (stand-in compiled ops, trainer internals, ...)
* :mod:`levelset_core.layers`: level-set math (Heaviside, Dirac, curvature, Chan-Vese energy)
* :mod:`levelset_core.engine`: config building, device-agnostic trainer, multi-process launch, CLI helpers
* :mod:`levelset_core.data`: generated-data rendering and the locked on-disk cache
"""
