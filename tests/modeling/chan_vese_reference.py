"""A direct, deliberately naive implementation of the unrolled Chan-Vese steps (LevelSet R-CNN Eqs. 7–9).

Kept in the tests as the ground truth for :class:`levelset_rcnn.modeling.chan_vese.ChanVeseRefinement`
(``tests/modeling/test_chan_vese.py``) and as the "reference" row of ``benchmarks/benchmark.py``. It uses none
of the helpers of ``levelset_core.layers.level_set``: every quantity is written out as in the paper,

    c1 = Σ F·H(φ) / Σ H(φ),   c2 = Σ F·(1 − H(φ)) / Σ (1 − H(φ))                     (Eq. 9)
    φ_n = φ_{n−1} + Δt_n δ_ε(φ_{n−1}) [μ div(∇φ/|∇φ|) − λ1 ‖F − c1‖²/C + λ2 ‖F − c2‖²/C]   (Eqs. 7–8)

with the (R, C, H, W) differences F − c materialised per iteration (the memory cost the fast path avoids),
Sobel derivatives as a 3×3 convolution with replicate padding divided by 8, the arctan H/δ of Eq. 4, and the
same guards as the module (ε clamped below, areas clamped to 1e-4, η in |∇φ|).
"""
import math

import torch
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def _sobel(x):
    """(R, 1, H, W) → (∂/∂col, ∂/∂row) by 3×3 convolution, replicate padding."""
    kx = _SOBEL_X.to(dtype=x.dtype, device=x.device)[None, None]
    ky = kx.transpose(-1, -2)
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(p, kx), F.conv2d(p, ky)


def reference_chan_vese(phi0, features, hparams, num_iterations, min_eps=0.05, stabilizer=1e-3,
                        normalize=True, min_area=1e-4):
    """Same contract as ``ChanVeseRefinement.forward``: (R,1,H,W), (R,C,H,W), (R,2N+3) → [φ_1 … φ_N]."""
    n = num_iterations
    r, c = features.shape[:2]
    lam1, lam2, mu = (hparams[:, k].reshape(r, 1, 1, 1) for k in range(3))
    phi = phi0
    phis = []
    for i in range(n):
        eps = hparams[:, 3 + i].clamp_min(min_eps).reshape(r, 1, 1, 1)
        dt = hparams[:, 3 + n + i].reshape(r, 1, 1, 1)
        h = 0.5 * (1.0 + (2.0 / math.pi) * torch.atan(phi / eps))
        delta = eps / (math.pi * (eps ** 2 + phi ** 2))
        c1 = (features * h).sum(dim=(2, 3), keepdim=True) / h.sum(dim=(2, 3), keepdim=True).clamp_min(min_area)
        c2 = (features * (1 - h)).sum(dim=(2, 3), keepdim=True) / (1 - h).sum(dim=(2, 3), keepdim=True).clamp_min(
            min_area)
        d1 = ((features - c1) ** 2).sum(dim=1, keepdim=True)
        d2 = ((features - c2) ** 2).sum(dim=1, keepdim=True)
        if normalize:
            d1, d2 = d1 / c, d2 / c
        gx, gy = _sobel(phi)
        norm = torch.sqrt(gx ** 2 + gy ** 2 + stabilizer ** 2)
        kappa = _sobel(gx / norm)[0] + _sobel(gy / norm)[1]
        phi = phi + dt * delta * (mu * kappa - lam1 * d1 + lam2 * d2)
        phis.append(phi)
    return phis
