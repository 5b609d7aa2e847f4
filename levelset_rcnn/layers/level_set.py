"""Deprecated re-export of :mod:`levelset_core.layers.level_set`, kept for user code that imports it from here;
import ``levelset_core.layers.level_set`` instead."""
from levelset_core.layers.level_set import *  # noqa: F401,F403
from levelset_core.layers.level_set import HEAVISIDE_KINDS, __all__  # noqa: F401
