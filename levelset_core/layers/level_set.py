"""The level-set math shared by the instance side (LevelSet R-CNN) and the semantic side (Level Set loss).

One implementation of each piece: soft Heaviside and Dirac (LevelSet R-CNN Eq. 4; Level Set loss Eq. 6),
Sobel gradients, curvature div(∇φ/|∇φ|) (Eq. 8), closed-form region means (Eq. 9), the squared feature
distances to the region means, and the Chan-Vese energy (Eq. 6).

Conventions (see docs/DESIGN_NOTES.md):

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
    "FeatureProjections",
    "feature_squared_norm",
    "chan_vese_data_term",
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
        return torch.atan(z / eps).mul_(1.0 / math.pi).add_(0.5)
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
        return (eps / math.pi) / torch.addcmul(eps * eps, z, z)
    if kind == "tanh":
        t = torch.tanh(z / eps)
        return (1.0 - t * t) / (2.0 * eps)
    raise ValueError(f"dirac: no smooth Dirac for kind {kind!r}; use 'arctan' or 'tanh'")


def _sobel_unscaled(p, axis):
    """8 × the Sobel derivative along ``axis`` (-1: columns, -2: rows) of an already replicate-padded
    ``(R, 1, H + 2, W + 2)`` map: a central difference along the axis and [1, 2, 1] smoothing across it,
    written with shifted slices (4 elementwise ops, several times faster than a 1-channel convolution)."""
    if axis == -1:
        d = p[..., :, 2:] - p[..., :, :-2]  # (R, 1, H + 2, W)
        return torch.add(d[..., :-2, :], d[..., 2:, :]).add_(d[..., 1:-1, :], alpha=2.0)
    d = p[..., 2:, :] - p[..., :-2, :]  # (R, 1, H, W + 2)
    return torch.add(d[..., :, :-2], d[..., :, 2:]).add_(d[..., :, 1:-1], alpha=2.0)


def _check_map(x, name):
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"{name} expects (R, 1, H, W), got {tuple(x.shape)}")


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
    _check_map(x, "sobel_gradients")
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return _sobel_unscaled(p, -1) * 0.125, _sobel_unscaled(p, -2) * 0.125


def gradient_magnitude(phi, stabilizer=1e-3):
    """|∇φ| = sqrt(gx² + gy² + η²) from Sobel gradients; η keeps it (and its gradient) finite on flat φ."""
    gx, gy = sobel_gradients(phi)
    return torch.sqrt(gx * gx + gy * gy + stabilizer * stabilizer)


def curvature(phi, stabilizer=1e-3):
    """Mean curvature κ = div(∇φ / |∇φ|) with Sobel derivatives (LevelSet R-CNN Eq. 8).

    For a disk with φ > 0 inside (φ = r − ρ) this is −1/ρ; for φ = ρ − r it is +1/ρ (units: 1/pixel).

    Computed with the unscaled (8×) Sobel sums: ∇φ/|∇φ| = g/sqrt(|g|² + (8η)²) with g = 8∇φ is the same
    unit normal, only the divergence is scaled by 1/8 at the end; only ∂/∂col of n_x and ∂/∂row of n_y are
    evaluated (about 20 elementwise passes over the map in total, half of the naive count).

    Args:
        phi: ``(R, 1, H, W)``.
        stabilizer: η in |∇φ| = sqrt(|∇φ|² + η²); φ normalised by a truncation T has |∇φ| ≈ 1/T per
            pixel, so η must be well below 1/T.
    Returns:
        ``(R, 1, H, W)``.
    """
    _check_map(phi, "curvature")
    p = F.pad(phi, (1, 1, 1, 1), mode="replicate")
    gx, gy = _sobel_unscaled(p, -1), _sobel_unscaled(p, -2)  # 8 ∇φ
    eta8 = 8.0 * stabilizer
    inv_norm = torch.rsqrt(torch.addcmul(gx * gx, gy, gy).add_(eta8 * eta8))
    nx = F.pad(gx * inv_norm, (1, 1, 1, 1), mode="replicate")
    ny = F.pad(gy * inv_norm, (1, 1, 1, 1), mode="replicate")
    return (_sobel_unscaled(nx, -1) + _sobel_unscaled(ny, -2)).mul_(0.125)


def region_means(features, inside, valid=None, min_area=1e-4):
    """Closed-form region means c1 (inside) and c2 (outside) of Eq. 9 (Level Set loss Eq. 5).

    c1 = Σ F·H / Σ H,  c2 = Σ F·(1 − H) / Σ (1 − H), over the (valid) pixels of each region, computed as one
    batched matrix product over pixels, ``(R, C, HW) @ (R, HW, 2)`` (no C×H×W temporaries). Areas are
    clamped to ``min_area`` so an empty inside or outside gives a finite mean (exactly 0) instead of NaN.

    Args:
        features: ``(R, C, H, W)``, or a :class:`FeatureProjections` of them (fused backward).
        inside: ``(R, 1, H, W)`` soft indicator H(φ) in [0, 1].
        valid: optional ``(R, 1, H, W)`` {0, 1}; pixels with 0 count neither inside nor outside.
        min_area: lower bound of the area denominators, in pixels.
    Returns:
        ``(c1, c2)``, each ``(R, C)``.
    """
    projections = features if isinstance(features, FeatureProjections) else FeatureProjections(features)
    r, c, h, w = projections.shape  # explicit sizes: R = 0 (no RoI) must work too
    weights = torch.cat([inside, 1.0 - inside], dim=1)  # (R, 2, H, W)
    if valid is not None:
        weights = weights * valid
    weights = weights.reshape(r, 2, h * w)
    # (R, 2, HW) @ (R, HW, C): a GEMM over the transposed view of F runs at the speed of one read of F
    # (the (R, C, HW) @ (R, HW, 2) form is a matrix-vector product, about 2x slower on the CPU).
    sums = projections.pixel_sums(weights)  # (R, 2, C)
    areas = weights.sum(dim=2).clamp_min(min_area)  # (R, 2)
    means = sums / areas.unsqueeze(2)
    return means[:, 0], means[:, 1]


def squared_distances_to_means(features, c1, c2, feature_sqnorm=None, normalize=True):
    """‖F(x) − c1‖² and ‖F(x) − c2‖² per pixel, without materialising F − c (docs/DESIGN_NOTES.md, "Memory").

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


def _channel_squared_norm(flat):
    """Σ_c F_c² of ``(R, C, P)`` → ``(R, 1, P)`` by accumulating channel planes: one read of F, no C×P
    temporary (``(F * F).sum(1)`` or ``vector_norm(F, dim=1)`` are 4–10× slower on the CPU). A loop over
    channels, not over pixels or instances."""
    out = flat.new_zeros((flat.shape[0], 1, flat.shape[2]))
    for k in range(flat.shape[1]):
        plane = flat[:, k:k + 1]
        out.addcmul_(plane, plane)
    return out


class _FeatureGradient(torch.autograd.Function):
    """Entry node of :class:`FeatureProjections`' fused backward.

    Forward returns a 0-d token that every projection of F takes as an input. Autograd runs this backward
    only after the backward of every projection, which have stored their contributions to ∂L/∂F as
    low-rank factors (and per-pixel scales for ‖F‖²); here they are summed into ∂L/∂F with one batched
    product ``(R, C, K) @ (R, K, HW)`` and one fused multiply-add, instead of one C×H×W gradient tensor and
    one accumulation per projection.
    """

    @staticmethod
    def forward(ctx, features, projections):
        ctx.projections = projections
        ctx.save_for_backward(features)
        return features.new_zeros(())

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, _):
        (features,) = ctx.saved_tensors
        proj = ctx.projections
        left, right, scales = proj._left, proj._right, proj._scales
        proj._left, proj._right, proj._scales = [], [], []
        r, c, h, w = features.shape
        flat = features.reshape(r, c, h * w)
        grad = None
        if left:
            grad = torch.bmm(torch.cat(left, dim=2), torch.cat(right, dim=1))  # (R, C, HW)
        if scales:
            scale = scales[0] if len(scales) == 1 else torch.stack(scales).sum(0)
            grad = flat * scale if grad is None else grad.addcmul_(flat, scale)
        if grad is None:
            grad = torch.zeros_like(flat)
        return grad.reshape(r, c, h, w), None


class _PixelSums(torch.autograd.Function):
    """``(R, K, HW) @ (R, HW, C)``: Σ_x weights_k(x) F(x)."""

    @staticmethod
    def forward(ctx, weights, flat, token, projections):
        ctx.projections = projections
        ctx.save_for_backward(weights, flat)
        return torch.bmm(weights, flat.transpose(1, 2))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        weights, flat = ctx.saved_tensors
        ctx.projections._left.append(grad.transpose(1, 2))  # ∂L/∂F += gradᵀ @ weights
        ctx.projections._right.append(weights)
        grad_weights = torch.bmm(grad, flat) if ctx.needs_input_grad[0] else None
        return grad_weights, None, grad.new_zeros(()), None


class _PixelDots(torch.autograd.Function):
    """``base + (R, K, C) @ (R, C, HW)``: base(x) + v_k · F(x)."""

    @staticmethod
    def forward(ctx, base, vectors, flat, token, projections):
        ctx.projections = projections
        ctx.save_for_backward(vectors, flat)
        ctx.base_shape = base.shape
        return torch.baddbmm(base, vectors, flat)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        vectors, flat = ctx.saved_tensors
        ctx.projections._left.append(vectors.transpose(1, 2))  # ∂L/∂F += vectorsᵀ @ grad
        ctx.projections._right.append(grad)
        grad_vectors = torch.bmm(grad, flat.transpose(1, 2)) if ctx.needs_input_grad[1] else None
        grad_base = None
        if ctx.needs_input_grad[0]:
            grad_base = grad.sum_to_size(ctx.base_shape) if grad.shape != ctx.base_shape else grad
        return grad_base, grad_vectors, None, grad.new_zeros(()), None


class _SquaredNorm(torch.autograd.Function):
    """‖F(x)‖²; backward contributes 2 F(x) · g(x)."""

    @staticmethod
    def forward(ctx, flat, token, projections):
        ctx.projections = projections
        return _channel_squared_norm(flat)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        ctx.projections._scales.append(2.0 * grad)
        return None, grad.new_zeros(()), None


class FeatureProjections:
    """The only ways the level-set math touches the C-channel features F: pixel sums Σ_x w(x) F(x) (region
    means, Eq. 9), per-pixel dot products v · F(x) (the data term of Eq. 8) and ‖F(x)‖².

    Each is one pass over F, and nothing of size C×H×W is materialised in the forward pass. When F requires
    a gradient, the backward is fused (a custom autograd function, see :class:`_FeatureGradient`): each
    projection saves only its ``(R, K, HW)`` weights or ``(R, K, C)`` vectors (plus F itself, shared), and
    ∂L/∂F is formed once at the end from all of them, so the memory kept for backward grows with N·H·W
    per unrolled iteration and the backward reads F about twice per iteration. Without a gradient (or with
    ``fused_backward=False``) plain batched products are used and autograd differentiates them as usual.

    Args:
        features: ``(R, C, H, W)``.
    """

    def __init__(self, features, fused_backward=None):
        if features.dim() != 4:
            raise ValueError(f"FeatureProjections expects (R, C, H, W) features, got {tuple(features.shape)}")
        self.features = features
        r, c, h, w = features.shape
        self.shape = (r, c, h, w)
        self.flat = features.reshape(r, c, h * w)
        if fused_backward is None:
            fused_backward = features.requires_grad and torch.is_grad_enabled()
        self.fused = bool(fused_backward) and features.requires_grad and torch.is_grad_enabled()
        self._left, self._right, self._scales = [], [], []
        self._token = _FeatureGradient.apply(features, self) if self.fused else None

    def pixel_sums(self, weights):
        """``(R, K, HW)`` weights → ``(R, K, C)`` Σ_x weights_k(x) F(x)."""
        if self.fused:
            return _PixelSums.apply(weights, self.flat.detach(), self._token, self)
        return torch.bmm(weights, self.flat.transpose(1, 2))

    def pixel_dots(self, vectors, base):
        """``base`` ``(R, 1 or K, HW)`` plus ``(R, K, C)`` vectors · F(x) → ``(R, K, HW)``."""
        if self.fused:
            return _PixelDots.apply(base, vectors, self.flat.detach(), self._token, self)
        return torch.baddbmm(base, vectors, self.flat)

    def squared_norm(self):
        """‖F(x)‖² → ``(R, 1, H, W)`` (one read of F)."""
        r, _, h, w = self.shape
        if self.fused:
            out = _SquaredNorm.apply(self.flat.detach(), self._token, self)
        elif self.features.requires_grad and torch.is_grad_enabled():
            out = (self.flat * self.flat).sum(1, keepdim=True)
        else:
            out = _channel_squared_norm(self.flat)
        return out.reshape(r, 1, h, w)


def feature_squared_norm(features):
    """‖F(x)‖² per pixel, ``(R, C, H, W)`` → ``(R, 1, H, W)`` (see :class:`FeatureProjections`)."""
    return FeatureProjections(features).squared_norm()


def chan_vese_data_term(features, c1, c2, lambda1, lambda2, feature_sqnorm=None, normalize=True):
    """The data part of the Chan-Vese update (Eq. 8), −λ1 ‖F − c1‖² + λ2 ‖F − c2‖², in one read of F.

    Expanding both squares (docs/DESIGN_NOTES.md, "Memory"),

        −λ1 ‖F − c1‖² + λ2 ‖F − c2‖² = (λ2 − λ1) ‖F‖² − 2 F·(λ2 c2 − λ1 c1) + (λ2 ‖c2‖² − λ1 ‖c1‖²),

    so one per-pixel dot product with the single vector w = λ2 c2 − λ1 c1, a batched ``(R, 1, C) @ (R, C, HW)``
    product, replaces both distance maps: the step reads F once, keeps only ``(R, 1, H, W)`` maps and
    ``(R, C)`` vectors for backward, and never materialises a C×H×W tensor. Unlike
    :func:`squared_distances_to_means` the distances are not clamped at 0 (a negative rounding error of
    order 1e-7·‖F‖² is harmless in the update; nothing takes its square root).

    Args:
        features: ``(R, C, H, W)`` or a :class:`FeatureProjections` of them (to share its fused backward).
        c1, c2: ``(R, C)``; lambda1, lambda2: ``(R,)`` tensors or floats.
        feature_sqnorm: optional ``(R, 1, H, W)`` ‖F‖² (:func:`feature_squared_norm`), computed here if None.
        normalize: divide by C (the data terms are then means over channels, O(1)).
    Returns:
        ``(R, 1, H, W)``.
    """
    projections = features if isinstance(features, FeatureProjections) else FeatureProjections(features)
    r, c, h, w = projections.shape
    dtype, device = projections.flat.dtype, projections.flat.device
    lambda1 = torch.as_tensor(lambda1, dtype=dtype, device=device).expand(r).reshape(r, 1)
    lambda2 = torch.as_tensor(lambda2, dtype=dtype, device=device).expand(r).reshape(r, 1)
    if feature_sqnorm is None:
        feature_sqnorm = projections.squared_norm()
    scale = 1.0 / c if normalize else 1.0
    direction = (lambda2 * c2 - lambda1 * c1) * (-2.0 * scale)  # (R, C)
    offset = (lambda2 * (c2 * c2).sum(1, keepdim=True) - lambda1 * (c1 * c1).sum(1, keepdim=True)) * scale
    # (λ2 − λ1)/C ‖F‖² + (λ2‖c2‖² − λ1‖c1‖²)/C, then + w·F in the same batched product
    base = torch.addcmul(offset.unsqueeze(2), feature_sqnorm.reshape(r, 1, h * w),
                         ((lambda2 - lambda1) * scale).unsqueeze(2))  # (R, 1, HW)
    return projections.pixel_dots(direction.unsqueeze(1), base).reshape(r, 1, h, w)


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
