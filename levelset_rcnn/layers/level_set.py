"""The level-set math shared by the instance side (LevelSet R-CNN) and the semantic side (Level Set loss).

One implementation of each piece: soft Heaviside and Dirac (LevelSet R-CNN Eq. 4; Level Set loss Eq. 6),
Sobel gradients, curvature div(∇φ/|∇φ|) (Eq. 8), closed-form region means (Eq. 9), the squared feature
distances to the region means, and the Chan-Vese energy (Eq. 6).

Conventions (see DESIGN_NOTES.md):

* φ > 0 inside the object, so H(φ) ≈ 1 inside; c1 is the inside mean and λ1 weighs the inside term.
* Tensors are batched over regions (RoIs or class maps): φ is ``(R, 1, H, W)``, features ``(R, C, H, W)``.
* Distances and derivatives are in pixels of the grid the tensors live on.
* Everything here is computed in float32, also under autocast (:func:`float32`); every division and
  square root is guarded.
"""
import contextlib
import math

import torch
import torch.nn.functional as F

__all__ = [
    "float32",
    "at_least_float32",
    "heaviside",
    "dirac",
    "sobel_gradients",
    "gradient_magnitude",
    "curvature",
    "region_means",
    "squared_distances_to_means",
    "chan_vese_energy",
]

HEAVISIDE_KINDS = ("arctan", "tanh", "hard")


@contextlib.contextmanager
def float32(device_type):
    """Disable autocast so the level-set math runs in float32 (inputs must be cast by the caller)."""
    if device_type in ("cuda", "cpu"):
        with torch.autocast(device_type=device_type, enabled=False):
            yield
    else:  # pragma: no cover - other backends
        yield


def at_least_float32(x):
    """Cast half / bfloat16 tensors to float32; float32 and float64 pass unchanged (gradcheck runs in float64)."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def _as_eps(eps, like):
    if torch.is_tensor(eps):
        return eps.to(dtype=like.dtype)
    return torch.as_tensor(float(eps), dtype=like.dtype, device=like.device)


def heaviside(z, eps, kind="arctan"):
    """Smoothed Heaviside function H_ε(z), elementwise.

    * ``"arctan"``: H_ε(z) = ½ (1 + (2/π) arctan(z/ε)) — LevelSet R-CNN Eq. 4 (Chan & Vese).
    * ``"tanh"``: H*_ε(z) = ½ (1 + tanh(z/ε)) — the modified approximation of the Level Set loss, Eq. 6.
    * ``"hard"``: 1[z > 0] (no gradient), for the Level Set loss paper's comparison.

    Args:
        z: tensor of any shape (a level-set function φ).
        eps: float or tensor broadcastable to ``z`` (e.g. ``(R, 1, 1, 1)`` per region); must be > 0.
    Returns:
        tensor shaped like ``z`` with values in [0, 1].
    """
    if kind == "hard":
        return (z > 0).to(z.dtype)
    eps = _as_eps(eps, z)
    if kind == "arctan":
        return 0.5 + torch.atan(z / eps) / math.pi
    if kind == "tanh":
        return 0.5 * (1.0 + torch.tanh(z / eps))
    raise ValueError(f"heaviside: unknown kind {kind!r}; expected one of {HEAVISIDE_KINDS}")


def dirac(z, eps, kind="arctan"):
    """Smoothed Dirac delta δ_ε(z) = dH_ε/dz, elementwise.

    For ``"arctan"`` this is δ_ε(z) = ε / (π (ε² + z²)) (Eq. 4; its maximum 1/(π ε) is at z = 0, so callers
    clamp a learned ε from below). The paper prints ε² in the numerator; that is ε times the derivative
    of its H_ε, and we use the exact derivative so that the update of Eq. 8 is the gradient flow of Eq. 6.
    For ``"tanh"``: δ = (1 − tanh²(z/ε)) / (2ε). ``"hard"`` has no smooth Dirac and raises.
    """
    eps = _as_eps(eps, z)
    if kind == "arctan":
        return eps / (math.pi * (eps * eps + z * z))
    if kind == "tanh":
        t = torch.tanh(z / eps)
        return (1.0 - t * t) / (2.0 * eps)
    raise ValueError(f"dirac: no smooth Dirac for kind {kind!r}; use 'arctan' or 'tanh'")


def sobel_gradients(x):
    """Sobel derivatives (∂x/∂col, ∂x/∂row) per pixel, with replicate padding at the border.

    The 3×3 Sobel kernels are applied separably, as a central difference [−1, 0, 1] along the derivative's
    axis and a smoothing [1, 2, 1] across it, divided by 8 (the sum of |weights| per axis): on a linear ramp
    of slope s the result is exactly s. Written with shifted slices rather than a convolution, which is
    several times faster for these single-channel maps.

    Args:
        x: ``(R, 1, H, W)``.
    Returns:
        ``(gx, gy)``, each ``(R, 1, H, W)``, in units of x per pixel.
    """
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"sobel_gradients expects (R, 1, H, W), got {tuple(x.shape)}")
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    dx = p[..., :, 2:] - p[..., :, :-2]  # (R, 1, H + 2, W)
    dy = p[..., 2:, :] - p[..., :-2, :]  # (R, 1, H, W + 2)
    gx = (dx[..., :-2, :] + 2.0 * dx[..., 1:-1, :] + dx[..., 2:, :]) * 0.125
    gy = (dy[..., :, :-2] + 2.0 * dy[..., :, 1:-1] + dy[..., :, 2:]) * 0.125
    return gx, gy


def gradient_magnitude(phi, stabilizer=1e-3):
    """|∇φ| = sqrt(gx² + gy² + η²) from Sobel gradients; η keeps it (and its gradient) finite on flat φ."""
    gx, gy = sobel_gradients(phi)
    return torch.sqrt(gx * gx + gy * gy + stabilizer * stabilizer)


def curvature(phi, stabilizer=1e-3):
    """Mean curvature κ = div(∇φ / |∇φ|) with Sobel derivatives (LevelSet R-CNN Eq. 8).

    For a disk with φ > 0 inside (φ = r − ρ) this is −1/ρ; for φ = ρ − r it is +1/ρ (units: 1/pixel).

    Args:
        phi: ``(R, 1, H, W)``.
        stabilizer: η in |∇φ| = sqrt(|∇φ|² + η²); φ normalised by a truncation T has |∇φ| ≈ 1/T per
            pixel, so η must be well below 1/T.
    Returns:
        ``(R, 1, H, W)``.
    """
    gx, gy = sobel_gradients(phi)
    norm = torch.sqrt(gx * gx + gy * gy + stabilizer * stabilizer)
    nx_dx, _ = sobel_gradients(gx / norm)
    _, ny_dy = sobel_gradients(gy / norm)
    return nx_dx + ny_dy


def region_means(features, inside, valid=None, min_area=1e-4):
    """Closed-form region means c1 (inside) and c2 (outside) of Eq. 9 (Level Set loss Eq. 5).

    c1 = Σ F·H / Σ H,  c2 = Σ F·(1 − H) / Σ (1 − H), over the (valid) pixels of each region, computed as one
    batched matrix product over pixels, ``(R, C, HW) @ (R, HW, 2)`` (no C×H×W temporaries). Areas are
    clamped to ``min_area`` so an empty inside or outside gives a finite mean (exactly 0) instead of NaN.

    Args:
        features: ``(R, C, H, W)``.
        inside: ``(R, 1, H, W)`` soft indicator H(φ) in [0, 1].
        valid: optional ``(R, 1, H, W)`` {0, 1}; pixels with 0 count neither inside nor outside.
        min_area: lower bound of the area denominators, in pixels.
    Returns:
        ``(c1, c2)``, each ``(R, C)``.
    """
    r, c, h, w = features.shape  # explicit sizes: R = 0 (no RoI) must work too
    weights = torch.cat([inside, 1.0 - inside], dim=1)  # (R, 2, H, W)
    if valid is not None:
        weights = weights * valid
    weights = weights.reshape(r, 2, h * w)
    sums = torch.bmm(features.reshape(r, c, h * w), weights.transpose(1, 2))  # (R, C, 2)
    areas = weights.sum(dim=2).clamp_min(min_area)  # (R, 2)
    means = sums / areas.unsqueeze(1)
    return means[..., 0], means[..., 1]


def squared_distances_to_means(features, c1, c2, feature_sqnorm=None, normalize=True):
    """‖F(x) − c1‖² and ‖F(x) − c2‖² per pixel, without materialising F − c (DESIGN_NOTES "Memory").

    Uses ‖F − c‖² = ‖F‖² − 2 F·c + ‖c‖², where F·c is a matrix product over channels; the result is
    clamped at 0 against rounding. With ``normalize`` the distances are divided by C (a mean over channels,
    so the data terms stay O(1) whatever C is).

    Args:
        features: ``(R, C, H, W)``; c1, c2: ``(R, C)``; feature_sqnorm: optional ``(R, 1, H, W)`` ‖F‖².
    Returns:
        ``(d1, d2)``, each ``(R, 1, H, W)``.
    """
    r, c, h, w = features.shape
    if feature_sqnorm is None:
        feature_sqnorm = (features * features).sum(dim=1, keepdim=True)
    means = torch.stack([c1, c2], dim=1)  # (R, 2, C)
    dots = torch.bmm(means, features.reshape(r, c, h * w)).reshape(r, 2, h, w)
    mean_sqnorm = (means * means).sum(dim=2).reshape(r, 2, 1, 1)
    dist = (feature_sqnorm - 2.0 * dots + mean_sqnorm).clamp_min(0.0)
    if normalize:
        dist = dist / c
    return dist[:, :1], dist[:, 1:]


def chan_vese_energy(phi, features, lambda1=1.0, lambda2=1.0, mu=0.0, eps=1.0, kind="arctan",
                     valid=None, normalize=True, reduction="sum", stabilizer=1e-3):
    """The (deep) Chan-Vese energy of LevelSet R-CNN Eq. 6 per region, with c1, c2 from Eq. 9.

    E = λ1 Σ ‖F − c1‖² H(φ) + λ2 Σ ‖F − c2‖² (1 − H(φ)) + μ Σ δ_ε(φ) |∇φ|, sums over pixels.

    With ``features`` = a ground-truth map and φ = P − 0.5 this is also the Level Set loss energy of
    Kim et al. (Eqs. 4–5), where the region means are those of the ground truth.

    Args:
        phi: ``(R, 1, H, W)``; features: ``(R, C, H, W)``.
        lambda1, lambda2, mu, eps: floats or tensors broadcastable to ``(R, 1, H, W)``.
        valid: optional ``(R, 1, H, W)`` {0,1} mask; pixels with 0 take no part in any term (ignore label).
        normalize: divide the squared distances by C (see :func:`squared_distances_to_means`).
        reduction: ``"sum"`` over pixels (per region), ``"mean"`` over valid pixels, or ``"none"``
            (the per-pixel energy density).
    Returns:
        ``(R,)`` for "sum"/"mean", ``(R, 1, H, W)`` for "none".
    """
    with float32(phi.device.type):
        phi = at_least_float32(phi)
        features = at_least_float32(features).to(phi.dtype)
        h = heaviside(phi, eps, kind)
        if valid is not None:
            valid = valid.to(phi.dtype)
        c1, c2 = region_means(features, h, valid)
        d1, d2 = squared_distances_to_means(features, c1, c2, normalize=normalize)
        weights_in, weights_out = h, 1.0 - h
        if valid is not None:
            weights_in, weights_out = weights_in * valid, weights_out * valid
        density = lambda1 * d1 * weights_in + lambda2 * d2 * weights_out
        if not (isinstance(mu, (int, float)) and mu == 0):
            length = dirac(phi, eps, kind) * gradient_magnitude(phi, stabilizer)
            if valid is not None:
                length = length * valid
            density = density + mu * length
        if reduction == "none":
            return density
        total = density.flatten(1).sum(1)
        if reduction == "sum":
            return total
        if reduction == "mean":
            if valid is not None:
                count = valid.flatten(1).sum(1)
            else:
                count = torch.full_like(total, float(phi.shape[-1] * phi.shape[-2]))
            return total / count.clamp_min(1.0)
        raise ValueError(f"chan_vese_energy: unknown reduction {reduction!r}")
