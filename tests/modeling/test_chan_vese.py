"""The unrolled Chan-Vese module (Eqs. 6–9): energy descent, gradients, scale at initialisation."""
import math

import pytest
import torch

from chan_vese_reference import reference_chan_vese
from levelset_core.layers import chan_vese_energy
from levelset_rcnn.modeling.chan_vese import ChanVeseRefinement, split_hyperparameters


def toy_problem(size=48, channels=4, seed=0):
    """Features that separate a disk from the background, and φ0 = a shifted, too-small disk."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    obj = ((yy - 24) ** 2 + (xx - 24) ** 2 < 14 ** 2).double()
    proto_in = torch.randn(channels, generator=g, dtype=torch.float64)
    proto_out = torch.randn(channels, generator=g, dtype=torch.float64)
    feats = obj * proto_in[:, None, None] + (1 - obj) * proto_out[:, None, None]
    feats = feats + 0.1 * torch.randn(channels, size, size, generator=g, dtype=torch.float64)
    rho = torch.sqrt((yy - 27) ** 2 + (xx - 21) ** 2)
    phi0 = ((8 - rho) / 6).clamp(-1, 1)
    return phi0[None, None], feats[None], obj


def hparams(n, lambda1=1.0, lambda2=1.0, mu=0.2, eps=0.5, dt=0.5, r=1, dtype=torch.float64):
    return torch.tensor([lambda1, lambda2, mu] + [eps] * n + [dt] * n, dtype=dtype).repeat(r, 1)


def test_split_hyperparameters_layout():
    hp = torch.arange(9.0)[None]
    parts = split_hyperparameters(hp, 3)
    assert parts["lambda1"].item() == 0 and parts["lambda2"].item() == 1 and parts["mu"].item() == 2
    assert parts["eps"].tolist() == [[3, 4, 5]] and parts["dt"].tolist() == [[6, 7, 8]]
    with pytest.raises(ValueError, match=r"2N\+3"):
        split_hyperparameters(torch.zeros(2, 8), 3)


def test_steps_lower_the_energy_and_move_phi_towards_the_object():
    phi0, feats, obj = toy_problem()
    n = 12
    module = ChanVeseRefinement(num_iterations=n, normalize_data_term=True)
    phis = module(phi0, feats, hparams(n, mu=0.0, eps=0.5, dt=0.4))
    energies = [chan_vese_energy(p, feats, eps=0.5).item() for p in [phi0] + phis]
    assert all(b < a + 1e-9 for a, b in zip(energies, energies[1:])), energies
    assert energies[-1] < 0.5 * energies[0]

    def iou(phi):
        pred = phi[0, 0] > 0
        return ((pred & (obj > 0)).sum() / (pred | (obj > 0)).sum()).item()

    assert iou(phis[-1]) > iou(phi0) + 0.3


def test_curvature_term_shrinks_a_circle_without_data():
    size = 48
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    rho = torch.sqrt((yy - 23.5) ** 2 + (xx - 23.5) ** 2)
    phi0 = ((10 - rho) / 8).clamp(-1, 1)[None, None]
    feats = torch.zeros(1, 2, size, size, dtype=torch.float64)
    phis = ChanVeseRefinement(num_iterations=5)(phi0, feats, hparams(5, mu=2.0, eps=1.0, dt=2.0))
    assert (phis[-1] > 0).sum() < (phi0 > 0).sum()


def test_gradcheck_wrt_phi0_features_and_hyperparameters():
    torch.manual_seed(0)
    n, size = 2, 8
    module = ChanVeseRefinement(num_iterations=n, min_eps=0.05)
    phi0 = (torch.rand(2, 1, size, size, dtype=torch.float64) * 2 - 1).requires_grad_()
    feats = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    hp = (torch.rand(2, 2 * n + 3, dtype=torch.float64) + 0.5).requires_grad_()

    def fn(p, f, h):
        return module(p, f, h)[-1]

    assert torch.autograd.gradcheck(fn, (phi0, feats, hp), eps=1e-6, atol=1e-5)


def test_update_is_o1_at_initialisation():
    """With the heads' initial output (all hyperparameters 1) and tanh-bounded features, one step stays O(1)."""
    torch.manual_seed(0)
    r, c, s = 16, 64, 112
    feats = torch.tanh(torch.randn(r, c, s, s))
    phi0 = torch.tanh(torch.randn(r, 1, s, s))
    phis = ChanVeseRefinement(num_iterations=1)(phi0, feats, torch.ones(r, 5))
    step = (phis[0] - phi0).abs()
    # |Δφ| ≤ Δt · δ_max · (μ|κ| + λ1 d1 + λ2 d2) with δ_max = 1/π and d ≤ 4 (tanh features, divided by C)
    assert torch.isfinite(step).all()
    assert step.max() < 1.0 / math.pi * (4.0 + 4.0 + 2.0)
    assert step.mean() < 1.0


def test_min_eps_bounds_the_dirac_and_no_nan_for_degenerate_inputs():
    feats = torch.rand(3, 4, 16, 16)
    phi0 = torch.stack([torch.ones(1, 16, 16), -torch.ones(1, 16, 16), torch.zeros(1, 16, 16)])
    hp = torch.full((3, 9), 1e-8)  # ε → 0, everything tiny
    hp[:, 3:6] = 0.0
    phis = ChanVeseRefinement(num_iterations=3, min_eps=0.05)(phi0, feats, hp)
    assert all(torch.isfinite(p).all() for p in phis)


def test_saved_memory_grows_with_hw_not_c_hw():
    """Tensors saved for backward by the refinement: no per-iteration (R, C, H, W) tensor."""
    r, c, s = 2, 32, 24

    def saved_elements(n):
        feats = torch.randn(r, c, s, s, requires_grad=True)
        phi0 = torch.randn(r, 1, s, s, requires_grad=True)
        hp = torch.ones(r, 2 * n + 3, requires_grad=True)
        sizes = []

        def pack(t):
            sizes.append((t.data_ptr(), t.numel()))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            ChanVeseRefinement(num_iterations=n)(phi0, feats, hp)
        unique = dict(sizes)
        big = [k for k, v in unique.items() if v >= r * c * s * s]
        return sum(unique.values()), len(big)

    total1, big1 = saved_elements(1)
    total4, big4 = saved_elements(4)
    assert big4 == big1  # only F itself (shared), not one per iteration
    per_iteration = (total4 - total1) / 3
    assert per_iteration < 40 * r * s * s  # O(H·W) per iteration, far below C·H·W = 32·H·W·... per RoI


def test_shape_errors_are_clear():
    module = ChanVeseRefinement(num_iterations=1)
    with pytest.raises(ValueError, match="phi0"):
        module(torch.zeros(2, 2, 8, 8), torch.zeros(2, 3, 8, 8), torch.ones(2, 5))
    with pytest.raises(ValueError, match="features"):
        module(torch.zeros(2, 1, 8, 8), torch.zeros(2, 3, 9, 8), torch.ones(2, 5))
    with pytest.raises(ValueError, match="num_iterations"):
        ChanVeseRefinement(num_iterations=0)


def _realistic_inputs(r=3, c=64, s=40, n=3, seed=0, dtype=torch.float32):
    """Inputs like the model's: tanh-bounded features, a TSDF-like φ0, hyperparameters in (0, 2)."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.tanh(torch.randn(r, c, s, s, generator=g)).to(dtype)
    yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float64), torch.arange(s, dtype=torch.float64),
                            indexing="ij")
    radius = torch.tensor([6.0, 10.0, 14.0, 8.0])[:r, None, None]
    phi0 = ((radius - torch.sqrt((yy - s / 2) ** 2 + (xx - s / 2) ** 2)) / 4.0).clamp(-1, 1)
    phi0 = (phi0[:, None] + 0.05 * torch.randn(r, 1, s, s, generator=g, dtype=torch.float64)).to(dtype)
    hp = (0.5 + torch.rand(r, 2 * n + 3, generator=g)).to(dtype)
    return phi0, feats, hp


def test_fast_path_matches_the_direct_reference_values_and_gradients():
    """Eqs. 7–9 written out naively (tests/modeling/chan_vese_reference.py) vs the module, both float32:
    values and gradients of a mean loss agree within 1e-5. Since the φ0 gradient sums over every pixel
    (through the region means), float32 rounding alone is ~1e-5 of its largest value in either
    implementation; so in addition the fast path must be no less accurate than the float32 reference,
    measured against the float64 reference."""
    n = 3
    phi0, feats, hp = _realistic_inputs(n=n)

    def run(fn, dtype):
        inputs = [t.clone().to(dtype).requires_grad_() for t in (phi0, feats, hp)]
        phis = fn(*inputs)
        weights = torch.linspace(-1, 1, phis[-1].numel(), dtype=dtype).reshape(phis[-1].shape)
        loss = sum((p * weights).mean() for p in phis)
        return [p.detach() for p in phis], torch.autograd.grad(loss, inputs)

    fast = run(lambda p, f, h: ChanVeseRefinement(num_iterations=n)(p, f, h), torch.float32)
    ref = run(lambda p, f, h: reference_chan_vese(p, f, h, n), torch.float32)
    exact = run(lambda p, f, h: reference_chan_vese(p, f, h, n), torch.float64)
    for a, b in zip(fast[0], ref[0]):
        assert a.dtype == torch.float32
        assert (a - b).abs().max().item() < 1e-5
    for name, a, b, e in zip(["phi0", "features", "hparams"], fast[1], ref[1], exact[1]):
        assert a.dtype == torch.float32 and e.abs().max() > 0
        assert (a - b).abs().max().item() < 1e-5, name
        err_fast = (a.double() - e).abs().max().item()
        err_ref = (b.double() - e).abs().max().item()
        assert err_fast <= 2 * err_ref + 1e-6 * e.abs().max().item(), (name, err_fast, err_ref)


def test_fused_and_plain_backward_agree_and_the_graph_can_be_reused():
    n = 2
    phi0, feats, hp = _realistic_inputs(r=2, c=8, s=16, n=n, dtype=torch.float64)
    feats.requires_grad_()
    module = ChanVeseRefinement(num_iterations=n)
    loss = module(phi0, feats, hp)[-1].pow(2).sum()
    (fused,) = torch.autograd.grad(loss, feats, retain_graph=True)
    (again,) = torch.autograd.grad(loss, feats)  # the fused backward keeps no state between passes
    phis = reference_chan_vese(phi0, feats, hp, n)
    (plain,) = torch.autograd.grad(phis[-1].pow(2).sum(), feats)
    assert torch.allclose(fused, plain, atol=1e-10) and torch.allclose(again, fused)


def _saved_bytes(module, phi0, feats, hp):
    """Bytes of the distinct storages saved for backward, excluding the storage of F itself."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(phi0, feats, hp)
    storages.pop(feats.untyped_storage().data_ptr(), None)
    return sum(storages.values())


def test_saved_bytes_per_iteration_do_not_grow_with_the_channels():
    """Measured: memory kept for backward per unrolled iteration is O(H·W), the same for C = 8 and C = 64."""
    r, s = 2, 32

    def per_iteration(c):
        sizes = []
        for n in (1, 3):
            feats = torch.randn(r, c, s, s, requires_grad=True)
            phi0 = torch.randn(r, 1, s, s, requires_grad=True)
            hp = torch.ones(r, 2 * n + 3, requires_grad=True)
            sizes.append(_saved_bytes(ChanVeseRefinement(num_iterations=n), phi0, feats, hp))
        return (sizes[1] - sizes[0]) / 2

    small, large = per_iteration(8), per_iteration(64)
    map_bytes = r * s * s * 4
    assert large <= small + r * 64 * 4 * 8  # only the (R, C) mean vectors may grow with C
    assert large < 40 * map_bytes  # a few dozen (R, 1, H, W) maps, never one (R, C, H, W) = 64 maps


def test_autocast_bfloat16_keeps_level_set_math_in_float32():
    """Under CPU autocast (bfloat16) the outputs are finite float32 and every tensor the unrolled steps save
    for backward is float32 (the level-set internals run in float32)."""
    n = 3
    phi0, feats, hp = _realistic_inputs(r=2, c=16, s=24, n=n)
    conv = torch.nn.Conv2d(16, 16, 1)
    dtypes = set()

    def pack(t):
        dtypes.add(t.dtype)
        return t

    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats_bf16 = conv(feats)  # a bfloat16 producer, as the feature head under autocast
        assert feats_bf16.dtype == torch.bfloat16
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            phis = ChanVeseRefinement(num_iterations=n)(phi0.bfloat16(), feats_bf16, hp.bfloat16())
    assert dtypes == {torch.float32}
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in phis)
    phis[-1].sum().backward()
    assert torch.isfinite(conv.weight.grad).all()
