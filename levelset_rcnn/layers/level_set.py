"""Re-export of :mod:`levelset_core.layers.level_set`, the one implementation of the level-set math (kept so that
``levelset_rcnn.layers.level_set`` imports keep working)."""
from levelset_core.layers.level_set import *  # noqa: F401,F403
from levelset_core.layers.level_set import HEAVISIDE_KINDS, __all__  # noqa: F401
