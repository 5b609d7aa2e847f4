"""Level Set loss (Kim et al.): Eqs. 4-5 vs a loop, Eq. 7 gradient, normalisation, edge inputs."""
import math

import pytest
import torch

from deeplab_losses.modeling import DeepLabAuxLosses, LevelSetLoss, level_set_energy
from deeplab_losses.modeling.targets import labels_on_grid
from levelset_core.layers.level_set import heaviside

IGN = 255


def loop_energy(probs, labels, eps, kind="tanh"):
    """Eqs. 4-5 with explicit Python loops over images, present classes and pixels (reference)."""
    n, c, h, w = probs.shape
    out = []
    for i in range(n):
        total = 0.0
        present = sorted({int(v) for v in labels[i].flatten().tolist() if v != IGN})
        for l in present:
            pix = [(y, x) for y in range(h) for x in range(w) if labels[i, y, x] != IGN]
            hs = {p: float(heaviside(torch.tensor(float(probs[i, l][p]) - 0.5, dtype=torch.float64), eps, kind))
                  for p in pix}
            g = {p: 1.0 if int(labels[i][p]) == l else 0.0 for p in pix}
            a_in = sum(hs.values())
            a_out = sum(1 - v for v in hs.values())
            c1 = sum(g[p] * hs[p] for p in pix) / a_in
            c2 = sum(g[p] * (1 - hs[p]) for p in pix) / a_out
            total += sum((g[p] - c1) ** 2 * hs[p] + (g[p] - c2) ** 2 * (1 - hs[p]) for p in pix)
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def make_case(seed=0, n=2, c=4, h=6, w=7):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, c - 1, (n, h, w), generator=g)  # class c-1 absent
    labels[0, 0, :3] = IGN
    return logits, labels


@pytest.mark.parametrize("kind", ["tanh", "arctan", "hard"])
def test_energy_matches_loop_eqs_4_5(kind):
    logits, labels = make_case()
    probs = logits.softmax(1)
    energy, valid = level_set_energy(probs, labels, IGN, eps=0.05, kind=kind)
    ref = loop_energy(probs, labels, 0.05, kind)
    assert torch.allclose(energy, ref, rtol=1e-9, atol=1e-9), (energy, ref)
    assert valid.tolist() == [6 * 7 - 3, 6 * 7]


def test_gradient_matches_eq_7():
    """Autograd through the region means = the closed form δ*(φ)[(G − c1)² − (G − c2)²] (c's are optimal)."""
    logits, labels = make_case(seed=1)
    probs = logits.softmax(1).detach().requires_grad_(True)
    eps = 0.2  # a wide ε so that many pixels have a sizeable gradient
    energy, _ = level_set_energy(probs, labels, IGN, eps=eps, kind="tanh")
    energy.sum().backward()
    grad = probs.grad
    phi = probs.detach() - 0.5
    valid = (labels != IGN).double()
    expected = torch.zeros_like(grad)
    for i in range(labels.shape[0]):
        for l in {int(v) for v in labels[i].flatten().tolist() if v != IGN}:
            g = (labels[i] == l).double() * valid[i]
            hs = heaviside(phi[i, l], eps, "tanh") * valid[i]
            c1 = (g * hs).sum() / hs.sum()
            c2 = (g * (valid[i] - hs)).sum() / (valid[i] - hs).sum()
            t = torch.tanh(phi[i, l] / eps)
            delta = (1 - t) * (1 + t) / (2 * eps)  # Eq. 7
            expected[i, l] = delta * ((g - c1) ** 2 - (g - c2) ** 2) * valid[i]
    assert grad.abs().max() > 1e-3
    assert torch.allclose(grad, expected, atol=1e-10), (grad - expected).abs().max()


def test_perfect_prediction_has_lower_energy_than_shifted():
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[0, 4:12, 4:12] = 1
    perfect = torch.nn.functional.one_hot(labels, 2).permute(0, 3, 1, 2).double() * 20
    shifted = torch.roll(perfect, shifts=3, dims=3)
    e_perfect, _ = level_set_energy(perfect.softmax(1), labels, IGN)
    e_shift, _ = level_set_energy(shifted.softmax(1), labels, IGN)
    assert float(e_perfect) < 1e-3 < float(e_shift)
    more, _ = level_set_energy(torch.roll(perfect, shifts=5, dims=3).softmax(1), labels, IGN)
    assert float(more) > float(e_shift)


def test_normalisation_reproduces_paper_sum_on_41_grid():
    """Per-pixel × 41² = the paper's summed energy on DeepLab-ResNet101's 41×41 output grid (its 321² crop)."""
    g = torch.Generator().manual_seed(3)
    labels = torch.zeros(2, 41, 41, dtype=torch.long)
    labels[:, 12:25, 6:31] = 1
    logits = torch.randn(2, 2, 41, 41, generator=g)
    energy, _ = level_set_energy(logits.softmax(1), labels, IGN)
    paper = 4e-4 * energy.mean()
    ours = LevelSetLoss()(logits, labels)  # defaults: λ = 4e-4, per-pixel × 41²
    assert torch.allclose(ours, paper, rtol=1e-5)
    # on a finer grid of the same scene (upsampled logits, as GRID "labels" sees them) the scale stays the same
    fine = torch.nn.functional.interpolate(logits, scale_factor=8, mode="bilinear", align_corners=False)
    fine_labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)
    assert 0.7 < float(LevelSetLoss()(fine, fine_labels)) / float(ours) < 1.4
    summed = LevelSetLoss(normalization="sum")(logits, labels)
    assert torch.allclose(summed, paper, rtol=1e-5)


@pytest.mark.parametrize("case", ["all_ignore", "single_class", "absent_class"])
def test_edge_inputs_finite(case):
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    if case == "all_ignore":
        labels = torch.full((2, 8, 8), IGN)
    elif case == "single_class":
        labels = torch.ones(2, 8, 8, dtype=torch.long)
    else:
        labels = torch.zeros(2, 8, 8, dtype=torch.long)
        labels[:, 2:5, 2:5] = 1  # class 2 absent from the batch
    for kind in ("tanh", "arctan", "hard"):
        loss = LevelSetLoss(heaviside=kind)(logits, labels)
        loss.backward()
        assert math.isfinite(float(loss)) and torch.isfinite(logits.grad).all()
    if case == "all_ignore":
        assert float(loss) == 0.0


def test_bad_config_and_labels_raise_clear_errors():
    with pytest.raises(ValueError, match="HEAVISIDE"):
        LevelSetLoss(heaviside="sigmoid")
    with pytest.raises(ValueError, match="EPSILON"):
        LevelSetLoss(eps=0)
    with pytest.raises(ValueError, match="MODEL.LEVEL_SET_LOSS.GRID = 'pixels'"):
        LevelSetLoss(grid="pixels")
    with pytest.raises(ValueError, match="WEIGHT must be finite and >= 0"):
        LevelSetLoss(weight=-1e-4)
    with pytest.raises(ValueError, match="label 7"):
        LevelSetLoss()(torch.randn(1, 3, 4, 4), torch.full((1, 4, 4), 7))


def test_labels_on_grid_takes_each_cell_centre():
    labels = torch.arange(8 * 8).reshape(1, 8, 8)
    coarse = labels_on_grid(labels, (2, 2))
    assert coarse.dtype == labels.dtype
    assert coarse.tolist() == [[[labels[0, 2, 2].item(), labels[0, 2, 6].item()],
                                [labels[0, 6, 2].item(), labels[0, 6, 6].item()]]]
    ignore = torch.full((1, 8, 8), IGN)
    assert labels_on_grid(ignore, (2, 2)).eq(IGN).all()
    assert labels_on_grid(labels, (8, 8)) is labels
    with pytest.raises(ValueError, match="labels_on_grid"):
        labels_on_grid(labels[0], (2, 2))


def test_logits_grid_loss_is_eq_4_on_the_coarse_labels_with_eq_7_gradient():
    """GRID "logits": the aux-loss module hands the head's logits and the centre-sampled labels to the loss; the
    loss is the hand-computed Eq. 4 energy there (× λ × 41² / valid pixels) and its gradient w.r.t. P is Eq. 7."""
    logits, coarse = make_case(seed=4, n=2, c=3, h=5, w=6)
    fine = coarse.repeat_interleave(4, 1).repeat_interleave(4, 2)  # labels at stride 4, constant per cell
    fine[0, 0, :] = (fine[0, 0, :] + 1) % 3  # other labels off the cell centres (row 0): must not reach the loss
    assert torch.equal(labels_on_grid(fine, (5, 6)), coarse)
    eps = 0.2
    loss_fn = LevelSetLoss(weight=1e-3, eps=eps, grid="logits", ignore_value=IGN)
    aux = DeepLabAuxLosses({"level_set": loss_fn})
    logits = logits.detach().requires_grad_(True)
    probs = logits.detach().softmax(1)
    upsampled = []
    out = aux(logits, fine, lambda x: upsampled.append(x) or x.repeat_interleave(4, 2).repeat_interleave(4, 3))
    assert upsampled == []  # the logits grid needs no upsampling
    valid = (coarse != IGN).flatten(1).sum(1).double()
    expected = (1e-3 * loop_energy(probs.detach(), coarse, eps) * (41.0 * 41.0) / valid).mean()
    assert torch.allclose(out["loss_level_set"].double(), expected, rtol=1e-6)
    out["loss_level_set"].backward()
    phi = probs.detach() - 0.5
    eq7 = torch.zeros_like(probs)
    for i in range(2):
        ok = (coarse[i] != IGN).double()
        for l in {int(v) for v in coarse[i].flatten().tolist() if v != IGN}:
            g = (coarse[i] == l).double() * ok
            hs = heaviside(phi[i, l], eps, "tanh") * ok
            c1 = (g * hs).sum() / hs.sum()
            c2 = (g * (ok - hs)).sum() / (ok - hs).sum()
            t = torch.tanh(phi[i, l] / eps)
            eq7[i, l] = (1 - t) * (1 + t) / (2 * eps) * ((g - c1) ** 2 - (g - c2) ** 2) * ok
        eq7[i] *= 1e-3 * 41.0 * 41.0 / valid[i] / 2  # λ · A_ref / |valid| · (mean over 2 images)
    # chain rule through the softmax: dL/dz_k = P_k (dL/dP_k − Σ_j P_j dL/dP_j)
    expected_grad = probs * (eq7 - (probs * eq7).sum(1, keepdim=True))
    assert logits.grad.abs().max() > 1e-4
    assert torch.allclose(logits.grad, expected_grad, atol=1e-10), (logits.grad - expected_grad).abs().max()


def test_labels_grid_loss_sees_the_upsampled_logits():
    logits, labels = make_case(seed=5, n=1, c=3, h=4, w=4)
    fine = labels.repeat_interleave(2, 1).repeat_interleave(2, 2)
    up = lambda x: x.repeat_interleave(2, 2).repeat_interleave(2, 3)  # noqa: E731
    out = DeepLabAuxLosses({"level_set": LevelSetLoss(grid="labels")})(logits, fine, up)
    assert torch.allclose(out["loss_level_set"], LevelSetLoss()(up(logits), fine))
