"""The Chan-Vese module alone (N = 3, C = 64, 112×112 by default) against a direct reference implementation of
Eqs. 7–9: time per RoI (forward, forward + backward), time per iteration relative to one full read of F
(``F.sum()``), and the bytes saved for backward (``saved_tensors_hooks``)."""
import torch

from .timing import interleaved

__all__ = ["saved_bytes", "bench_chan_vese"]


def saved_bytes(fn, exclude=()):
    """Bytes of the distinct storages saved for backward while ``fn()`` runs (optionally minus some); and
    ``fn()``'s output."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    for t in exclude:
        storages.pop(t.untyped_storage().data_ptr(), None)
    return sum(storages.values()), out


def bench_chan_vese(reference, device, rois, channels, side, iterations, repeats, warmup):
    """Compare :class:`~levelset_rcnn.modeling.chan_vese.ChanVeseRefinement` ("fast") with ``reference``
    (``reference(phi0, features, hparams, num_iterations) -> [φ1 … φN]``, e.g. the direct implementation kept in
    ``tests/modeling/chan_vese_reference.py``) on random inputs."""
    from ...modeling.chan_vese import ChanVeseRefinement

    g = torch.Generator().manual_seed(0)
    feats = torch.tanh(torch.randn(rois, channels, side, side, generator=g)).to(device)
    phi0 = torch.tanh(torch.randn(rois, 1, side, side, generator=g)).to(device)
    hp = (0.5 + torch.rand(rois, 2 * iterations + 3, generator=g)).to(device)
    module = ChanVeseRefinement(num_iterations=iterations)
    impls = {"fast": lambda p, f, h: module(p, f, h), "reference": lambda p, f, h: reference(p, f, h, iterations)}
    leaf = [t.clone().requires_grad_() for t in (phi0, feats, hp)]

    def forward(impl):
        def run():
            with torch.no_grad():
                return impls[impl](phi0, feats, hp)
        return run

    def forward_backward(impl):
        def run():
            phis = impls[impl](*leaf)
            phis[-1].sum().backward()
            for t in leaf:
                t.grad = None
        return run

    fns = {"read_F": lambda: feats.sum()}
    for impl in impls:
        fns[f"{impl}_fwd"] = forward(impl)
        fns[f"{impl}_fwdbwd"] = forward_backward(impl)
    med, _ = interleaved(fns, device, repeats, warmup)
    mem = {}
    for impl in impls:
        total, _ = saved_bytes(lambda: impls[impl](*leaf))
        without_f, _ = saved_bytes(lambda: impls[impl](*leaf), exclude=[leaf[1]])
        mem[impl] = {"saved_mib_per_roi": total / rois / 2**20, "saved_mib_per_roi_without_F": without_f / rois / 2**20}
    f_mib = channels * side * side * 4 / 2**20
    return {
        "rois": rois, "channels": channels, "side": side, "iterations": iterations, "F_mib_per_roi": f_mib,
        "read_F_ms_per_roi": med["read_F"] * 1e3 / rois,
        **{f"{k}_ms_per_roi": v * 1e3 / rois for k, v in med.items() if k != "read_F"},
        "fast_fwd_iter_over_read_F": med["fast_fwd"] / iterations / med["read_F"],
        "fast_fwdbwd_iter_over_read_F": med["fast_fwdbwd"] / iterations / med["read_F"],
        "speedup_fwd": med["reference_fwd"] / med["fast_fwd"],
        "speedup_fwdbwd": med["reference_fwdbwd"] / med["fast_fwdbwd"],
        "memory": mem,
    }
