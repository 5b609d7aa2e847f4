"""The unrolled, differentiable Chan-Vese optimisation of LevelSet R-CNN (section 4.1, Eqs. 6–9)."""
import torch
from detectron2.config import configurable
from torch import nn

from levelset_core.layers.level_set import (
    at_least_float32,
    chan_vese_data_term,
    curvature,
    dirac,
    FeatureProjections,
    float32,
    heaviside,
    region_means,
)

from .config_checks import check_bool, check_float, check_int

__all__ = ["ChanVeseRefinement", "split_hyperparameters"]


def split_hyperparameters(hparams, num_iterations):
    """Split the ``(R, 2N + 3)`` output of a hyperparameter head into named parts.

    Layout: ``[λ1, λ2, μ, ε_1 … ε_N, Δt_1 … Δt_N]`` (section 4.1, "Hyperparameter Head").
    Returns a dict with ``lambda1``, ``lambda2``, ``mu`` of shape ``(R,)`` and ``eps``, ``dt`` of ``(R, N)``.
    """
    expected = 2 * num_iterations + 3
    if hparams.dim() != 2 or hparams.shape[1] != expected:
        raise ValueError(
            f"hyperparameters must be (R, 2N+3) = (R, {expected}) for N = {num_iterations}, "
            f"got {tuple(hparams.shape)}"
        )
    n = num_iterations
    return {
        "lambda1": hparams[:, 0],
        "lambda2": hparams[:, 1],
        "mu": hparams[:, 2],
        "eps": hparams[:, 3:3 + n],
        "dt": hparams[:, 3 + n:3 + 2 * n],
    }


class ChanVeseRefinement(nn.Module):
    """N unrolled Chan-Vese steps on each RoI, vectorised over RoIs.

    Step n (Eqs. 7–8), with c1, c2 the closed-form region means of Eq. 9 at φ_{n−1}:

        φ_n = φ_{n−1} + Δt_n · δ_{ε_n}(φ_{n−1}) · (μ div(∇φ/|∇φ|) − λ1 ‖F − c1‖² + λ2 ‖F − c2‖²)

    H and δ use the arctan forms of Eq. 4 with the per-RoI ε_n (clamped below by ``min_eps``); the curvature
    uses Sobel derivatives; ‖F − c‖² is divided by C when ``normalize_data_term`` (docs/DESIGN_NOTES.md, "Keep
    every term O(1)"). Memory: ‖F‖² is computed once; per iteration only ``(R, 1, H, W)`` tensors and the
    ``(R, C)`` means are kept for backward, never a ``(R, C, H, W)`` one. Runs in float32 under autocast.
    The module has no parameters: all of λ1, λ2, μ, ε_n, Δt_n come from the hyperparameter head.
    """

    @configurable
    def __init__(self, num_iterations=3, min_eps=0.05, gradient_stabilizer=1e-3, normalize_data_term=True,
                 region_means_gradient=True):
        super().__init__()
        if num_iterations < 1:
            raise ValueError(f"ChanVeseRefinement needs num_iterations >= 1, got {num_iterations}")
        self.num_iterations = num_iterations
        self.min_eps = min_eps
        self.gradient_stabilizer = gradient_stabilizer
        self.normalize_data_term = normalize_data_term
        self.region_means_gradient = region_means_gradient

    @classmethod
    def from_config(cls, cfg):
        """``MODEL.LEVELSET.{NUM_ITERATIONS, MIN_EPS, GRADIENT_STABILIZER, NORMALIZE_DATA_TERM,
        REGION_MEANS_GRADIENT}``, checked (:mod:`~levelset_rcnn.modeling.config_checks`)."""
        ls = cfg.MODEL.LEVELSET
        return {
            "num_iterations": check_int("MODEL.LEVELSET.NUM_ITERATIONS", ls.NUM_ITERATIONS, 1),
            "min_eps": check_float("MODEL.LEVELSET.MIN_EPS", ls.MIN_EPS),
            "gradient_stabilizer": check_float("MODEL.LEVELSET.GRADIENT_STABILIZER", ls.GRADIENT_STABILIZER,
                                               strict=False),
            "normalize_data_term": check_bool("MODEL.LEVELSET.NORMALIZE_DATA_TERM", ls.NORMALIZE_DATA_TERM),
            "region_means_gradient": check_bool("MODEL.LEVELSET.REGION_MEANS_GRADIENT", ls.REGION_MEANS_GRADIENT),
        }

    def forward(self, phi0, features, hparams):
        """
        Args:
            phi0: ``(R, 1, H, W)`` initial TSDF (φ > 0 inside).
            features: ``(R, C, H, W)`` Chan-Vese features F.
            hparams: ``(R, 2N + 3)`` positive hyperparameters (see :func:`split_hyperparameters`).
        Returns:
            list ``[φ_1, …, φ_N]`` of ``(R, 1, H, W)`` float32 tensors.
        """
        if phi0.dim() != 4 or phi0.shape[1] != 1:
            raise ValueError(f"phi0 must be (R, 1, H, W), got {tuple(phi0.shape)}")
        if features.dim() != 4 or features.shape[0] != phi0.shape[0] or features.shape[2:] != phi0.shape[2:]:
            raise ValueError(
                f"features must be (R, C, H, W) matching phi0 {tuple(phi0.shape)}, got {tuple(features.shape)}"
            )
        with float32(phi0.device.type):
            phi = at_least_float32(phi0)
            features = at_least_float32(features).to(phi.dtype)
            hp = split_hyperparameters(at_least_float32(hparams).to(phi.dtype), self.num_iterations)
            r = phi.shape[0]
            mu = hp["mu"].reshape(r, 1, 1, 1)
            eps_all = hp["eps"].clamp_min(self.min_eps)
            projections = FeatureProjections(features)  # fused backward w.r.t. F (see its docstring)
            feature_sqnorm = projections.squared_norm()  # once: (R, 1, H, W)
            phis = []
            for n in range(self.num_iterations):
                eps = eps_all[:, n].reshape(r, 1, 1, 1)
                dt = hp["dt"][:, n].reshape(r, 1, 1, 1)
                c1, c2 = region_means(projections, heaviside(phi, eps))  # Eq. 9, one read of F
                if not self.region_means_gradient:
                    c1, c2 = c1.detach(), c2.detach()
                # −λ1‖F − c1‖² + λ2‖F − c2‖² (÷ C), one read of F
                force = chan_vese_data_term(projections, c1, c2, hp["lambda1"], hp["lambda2"],
                                            feature_sqnorm=feature_sqnorm, normalize=self.normalize_data_term)
                force = torch.addcmul(force, mu, curvature(phi, self.gradient_stabilizer))
                phi = torch.addcmul(phi, dirac(phi, eps), force * dt)  # Eq. 7
                phis.append(phi)
        return phis

    def extra_repr(self):
        return (f"num_iterations={self.num_iterations}, min_eps={self.min_eps}, "
                f"normalize_data_term={self.normalize_data_term}")
