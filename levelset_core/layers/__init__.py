"""Level-set math shared by LevelSet R-CNN and the semantic-segmentation losses (:mod:`.level_set`)."""
from .level_set import (
    HEAVISIDE_KINDS,
    FeatureProjections,
    at_least_float32,
    chan_vese_data_term,
    chan_vese_energy,
    curvature,
    dirac,
    feature_squared_norm,
    float32,
    gradient_magnitude,
    heaviside,
    region_means,
    sobel_gradients,
    squared_distances_to_means,
)

__all__ = [k for k in globals().keys() if not k.startswith("_")]
