"""Deprecated re-export of :mod:`levelset_core.layers` (the level-set math shared with the semantic-segmentation
project), kept for user code that imports it from here; import ``levelset_core.layers`` instead."""
from levelset_core.layers import *  # noqa: F401,F403
from levelset_core.layers import __all__  # noqa: F401
