"""Layers of LevelSet R-CNN: the level-set math of :mod:`levelset_core.layers.level_set` (shared with the
semantic-segmentation project), re-exported."""
from levelset_core.layers import *  # noqa: F401,F403
from levelset_core.layers import __all__  # noqa: F401
