"""SEMEDA: edge targets, g pre-training, checkpoints, the loss; the Sobel baseline."""
import math

import numpy as np
import pytest
import torch

from deeplab_losses.data.generated import render_semantic_image
from deeplab_losses.modeling import (SemedaLoss, SemedaNet, SobelEdgeLoss, load_semeda_net, save_semeda_checkpoint,
                                     semantic_edges)
from deeplab_losses.semeda_pretrain import LabelMapSource, edge_f1, pretrain_semeda

IGN = 255


def test_edges_on_hand_made_maps():
    labels = torch.tensor([[[0, 0, 0, 0],
                            [0, 1, 1, 0],
                            [0, 0, 0, 0],
                            [2, 2, IGN, IGN]]])
    edges, valid = semantic_edges(labels, IGN)
    expected = torch.tensor([[[1, 1, 1, 1],
                              [1, 1, 1, 1],
                              [1, 1, 1, 1],
                              [1, 1, 0, 0]]], dtype=torch.bool)
    assert torch.equal(edges, expected)
    assert valid[0, 3, 2:].tolist() == [False, False]
    # ignore neighbours do not make edges; the image border does not either
    labels = torch.tensor([[[1, 1, 1], [1, 1, IGN], [1, 1, 1]]])
    edges, _ = semantic_edges(labels, IGN)
    assert not edges.any()
    # a vertical boundary: exactly the two columns next to it
    labels = torch.zeros(1, 5, 6, dtype=torch.long)
    labels[:, :, 3:] = 4
    edges, _ = semantic_edges(labels, IGN)
    assert edges[0].any(0).tolist() == [False, False, True, True, False, False]
    assert edges[0, :, 2:4].all()


@pytest.fixture(scope="module")
def trained_g():
    rng = np.random.default_rng(0)
    maps = [render_semantic_image(rng)[1].astype(np.int64) for _ in range(24)]
    for m in maps[:4]:
        m[:10, :10] = IGN
    torch.set_num_threads(1)
    net = pretrain_semeda(LabelMapSource(maps[:20]), 5, IGN, max_iter=120, lr=2e-2, batch=4, crop=40, log_period=0)
    torch.set_num_threads(2)
    return net, maps[20:]


def test_pretraining_reaches_high_edge_f1(trained_g):
    net, val_maps = trained_g
    assert net.is_trained
    assert edge_f1(net, val_maps, IGN) > 0.88  # measured 0.92 after this short run
    untrained = SemedaNet(5)
    assert edge_f1(untrained, val_maps, IGN) < 0.5


def test_loss_zero_for_perfect_and_grows_with_boundary_shift(trained_g):
    net, val_maps = trained_g
    loss = SemedaLoss(net, (4.0, 2.0, 0.0), IGN)
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[0, 8:24, 8:20] = 2
    onehot = torch.nn.functional.one_hot(labels, 5).permute(0, 3, 1, 2).float()
    values = [float(loss(torch.roll(onehot, s, dims=3) * 50, labels)) for s in (0, 1, 3)]
    assert values[0] < 1e-6
    assert values[0] < values[1] < values[2]
    # g is frozen but gradients reach the logits
    logits = torch.randn(1, 5, 32, 32, requires_grad=True)
    loss(logits, labels).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_checkpoint_roundtrip_and_refusals(tmp_path, trained_g):
    net, _ = trained_g
    path = str(tmp_path / "g.pth")
    save_semeda_checkpoint(net, path, edge_f1=1.0)
    loaded = load_semeda_net(path, 5)
    assert loaded.is_trained
    for a, b in zip(loaded.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="trained for 5 classes.*NUM_CLASSES = 21"):
        load_semeda_net(path, 21)
    with pytest.raises(FileNotFoundError, match="pretrain_semeda"):
        load_semeda_net(str(tmp_path / "missing.pth"), 5)
    untrained = str(tmp_path / "untrained.pth")
    save_semeda_checkpoint(SemedaNet(5), untrained)
    with pytest.raises(ValueError, match="untrained"):
        load_semeda_net(untrained, 5)
    torch.save({"weights": 1}, str(tmp_path / "other.pth"))
    with pytest.raises(ValueError, match="not a SEMEDA g checkpoint"):
        load_semeda_net(str(tmp_path / "other.pth"), 5)
    with pytest.raises(RuntimeError, match="untrained"):
        SemedaLoss(SemedaNet(5))(torch.randn(1, 5, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="MODEL.SEMEDA.GRID = 'image'"):
        SemedaLoss(net, grid="image")
    with pytest.raises(ValueError, match="LAYER_WEIGHTS must be finite and >= 0"):
        SemedaLoss(net, (4.0, -2.0, 0.0))


def test_grid_chooses_what_g_sees(trained_g):
    """GRID "labels" (default): g sees the upsampled logits at the label resolution; "logits": the head's grid with
    the centre-sampled labels. Both through the aux-loss module, as the head calls it."""
    from deeplab_losses.modeling import DeepLabAuxLosses
    from deeplab_losses.modeling.targets import labels_on_grid

    net, _ = trained_g
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[0, 8:24, 8:20] = 2
    logits = torch.randn(1, 5, 8, 8)
    up = lambda x: torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)  # noqa
    for grid, expected in (("labels", SemedaLoss(net)(up(logits), labels)),
                           ("logits", SemedaLoss(net)(logits, labels_on_grid(labels, (8, 8))))):
        out = DeepLabAuxLosses({"semeda": SemedaLoss(net, grid=grid)})(logits, labels, up)
        assert torch.allclose(out["loss_semeda"], expected), grid


@pytest.mark.parametrize("case", ["all_ignore", "single_class", "absent_class"])
def test_edge_inputs_finite(trained_g, case):
    net, _ = trained_g
    labels = {"all_ignore": torch.full((2, 8, 8), IGN), "single_class": torch.ones(2, 8, 8, dtype=torch.long),
              "absent_class": torch.zeros(2, 8, 8, dtype=torch.long)}[case]
    for loss in (SemedaLoss(net, (4.0, 2.0, 1.0), IGN), SobelEdgeLoss(4.0, IGN)):
        logits = torch.randn(2, 5, 8, 8, requires_grad=True)
        value = loss(logits, labels)
        value.backward()
        assert math.isfinite(float(value)) and torch.isfinite(logits.grad).all()
        if case == "all_ignore":
            assert float(value) == 0.0


def test_sobel_loss_zero_for_perfect_and_grows():
    labels = torch.zeros(1, 20, 20, dtype=torch.long)
    labels[0, 5:15, 5:12] = 1
    onehot = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float() * 50
    loss = SobelEdgeLoss(4.0, IGN)
    values = [float(loss(torch.roll(onehot, s, dims=2), labels)) for s in (0, 1, 3)]
    assert values[0] < 1e-6 and values[0] < values[1] < values[2]


def test_pretraining_on_all_ignore_labels_stops_with_a_clear_error():
    """All-ignore label maps gave 'loss nan' (logged every 100 iterations) and an untrained g was saved."""
    maps = [np.full((40, 40), IGN, np.int64) for _ in range(3)]
    with pytest.raises(ValueError, match="only ignore labels.*IGNORE_VALUE = 255"):
        pretrain_semeda(LabelMapSource(maps), 5, IGN, max_iter=30, batch=2, crop=32)
    with pytest.raises(ValueError, match="only ignore labels"):
        pretrain_semeda(LabelMapSource(maps), 5, IGN, max_iter=3, batch=2, crop=32)


def test_pretraining_stops_on_a_non_finite_loss_and_logs_the_first_iterations(caplog):
    import logging

    maps = [render_semantic_image(np.random.default_rng(i), (40, 40), 3)[1] for i in range(2)]
    with caplog.at_level(logging.INFO, logger="deeplab_losses.semeda_pretrain"):
        net = pretrain_semeda(LabelMapSource(maps), 5, IGN, max_iter=3, batch=2, crop=32, log_period=100)
    assert int(net.trained_iterations) == 3
    assert "iter 1/3 loss" in caplog.text and "iter 3/3 loss" in caplog.text
    broken = SemedaNet(5, (16, 32), 3)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss nan at iteration 1/3"):
        pretrain_semeda(LabelMapSource(maps), 5, IGN, max_iter=3, batch=2, crop=32, net=broken)
    assert int(broken.trained_iterations) == 0


def test_pretraining_skips_an_occasional_all_ignore_batch():
    maps = [render_semantic_image(np.random.default_rng(0), (40, 40), 3)[1], np.full((40, 40), IGN, np.int64)]
    net = pretrain_semeda(LabelMapSource(maps), 5, IGN, max_iter=8, batch=1, crop=32)
    assert 0 < int(net.trained_iterations) < 8
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_checkpoint_write_interrupted_keeps_the_previous_g(tmp_path, trained_g, monkeypatch):
    """g is written like the trainers' checkpoints (levelset_core.data.cache.atomic_open): a save that fails half
    way (full disk, kill) leaves the previous complete g and no partial file."""
    import os

    from deeplab_losses.modeling import semeda_loss

    net, _ = trained_g
    path = tmp_path / "g.pth"
    save_semeda_checkpoint(net, str(path), edge_f1=1.0)
    before = path.read_bytes()

    def half_then_fail(obj, f):
        f.write(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(semeda_loss.torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_semeda_checkpoint(net, str(path), edge_f1=0.5)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["g.pth"]
