"""The SEMEDA loss of Chen et al., "SEMEDA: Enhancing Segmentation Precision with Semantic Edge Aware Loss"
(Pattern Recognition 2020): the edge network g (section 3.4), its checkpoints, and the loss of Eqs. 4-6.
"""
import math
import os

import torch
from torch import nn

from levelset_core.data.cache import atomic_open
from levelset_core.layers.level_set import at_least_float32, float32

from .targets import check_loss_grid, one_hot_targets

__all__ = ["SemedaNet", "SemedaLoss", "save_semeda_checkpoint", "load_semeda_net", "SEMEDA_CHECKPOINT_FORMAT"]

SEMEDA_CHECKPOINT_FORMAT = "deeplab_losses.semeda_g.v1"


class SemedaNet(nn.Module):
    """The SEMEDA network g: C class maps -> 2-way semantic edge probabilities (section 3.4).

    Three convolutions C -> 16 -> 32 -> 2 (``kernel_size`` x ``kernel_size``, zero padding keeps H x W), ReLU after
    the first two and a softmax after the last. The paper does not give the kernel size; 3x3 is our choice (three
    3x3 layers see a 7x7 window, enough to decide "another label among the 8 neighbours").

    The embeddings ψ_1, ψ_2, ψ_3 of Eq. 5 are the outputs of the three layers after their activation
    (ReLU, ReLU, softmax). ``trained_iterations`` (a buffer, saved with the weights) counts pre-training
    iterations; the loss refuses an untrained g.
    """

    def __init__(self, num_classes, channels=(16, 32), kernel_size=3):
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"SemedaNet: num_classes must be >= 1, got {num_classes}")
        if len(channels) != 2:
            raise ValueError(f"MODEL.SEMEDA.CHANNELS must have 2 entries (16, 32 in the paper), got {channels}")
        if int(kernel_size) % 2 != 1:
            raise ValueError(f"MODEL.SEMEDA.KERNEL_SIZE must be odd, got {kernel_size}")
        self.num_classes = int(num_classes)
        self.channels = tuple(int(c) for c in channels)
        self.kernel_size = int(kernel_size)
        widths = (self.num_classes,) + self.channels + (2,)
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], self.kernel_size, padding=self.kernel_size // 2) for i in range(3)
        )
        self.register_buffer("trained_iterations", torch.zeros((), dtype=torch.long))

    def forward(self, maps, num_layers=3):
        """Embeddings of the first ``num_layers`` layers.

        Args:
            maps: ``(N, C, H, W)`` class maps (one-hot ground truth or softmax probabilities).
        Returns:
            list of ``num_layers`` tensors: ψ_1 ``(N, 16, H, W)``, ψ_2 ``(N, 32, H, W)``, ψ_3 ``(N, 2, H, W)``
            (softmax edge probabilities, channel 1 = edge).
        """
        if maps.dim() != 4 or maps.shape[1] != self.num_classes:
            raise ValueError(
                f"SemedaNet expects (N, {self.num_classes}, H, W) class maps, got {tuple(maps.shape)}"
            )
        feats = []
        x = maps
        for i in range(num_layers):
            x = self.convs[i](x)
            x = torch.relu(x) if i < 2 else torch.softmax(x, dim=1)
            feats.append(x)
        return feats

    def edge_logits(self, maps):
        """``(N, 2, H, W)`` logits of the last layer (before its softmax), for the pre-training cross-entropy."""
        x = maps
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < 2:
                x = torch.relu(x)
        return x

    @property
    def is_trained(self):
        return int(self.trained_iterations) > 0


def save_semeda_checkpoint(net, path, **info):
    """Save g with what is needed to rebuild and check it (class count, channels, kernel, iterations, info)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {
        "format": SEMEDA_CHECKPOINT_FORMAT,
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "num_classes": net.num_classes,
        "channels": list(net.channels),
        "kernel_size": net.kernel_size,
        "iterations": int(net.trained_iterations),
        "info": info,
    }
    with atomic_open(path, sync=True) as f:  # a kill or a full disk mid-write leaves the previous file
        torch.save(payload, f)


def load_semeda_net(path, num_classes, channels=(16, 32), kernel_size=3):
    """Load a pre-trained g from ``path`` and check it fits a segmentation model of ``num_classes`` classes.

    Raises:
        FileNotFoundError: no file at ``path`` (say how to make one).
        ValueError: not a SEMEDA checkpoint, untrained, or class count / architecture mismatch.
    """
    hint = ("pre-train g with `python projects/DeepLabLosses/tools/pretrain_semeda.py --config-file CONFIG` "
            "and set MODEL.SEMEDA.WEIGHTS to the checkpoint it writes")
    if not path:
        raise ValueError(f"MODEL.SEMEDA.WEIGHTS is empty: the SEMEDA loss needs a pre-trained edge network g; {hint}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.SEMEDA.WEIGHTS = {path!r}: no such file; {hint}")
    try:  # tensors and plain values only: nothing in the file is run
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report which file is unreadable (not torch's weights_only advice)
        raise ValueError(f"MODEL.SEMEDA.WEIGHTS = {path!r} is not a checkpoint that can be loaded safely "
                         f"({type(exc).__name__}); {hint}") from None
    if not isinstance(payload, dict) or payload.get("format") != SEMEDA_CHECKPOINT_FORMAT:
        raise ValueError(f"MODEL.SEMEDA.WEIGHTS = {path!r} is not a SEMEDA g checkpoint (format "
                         f"{SEMEDA_CHECKPOINT_FORMAT!r}); {hint}")
    if int(payload["num_classes"]) != int(num_classes):
        raise ValueError(
            f"MODEL.SEMEDA.WEIGHTS = {path!r}: g was trained for {payload['num_classes']} classes but the "
            f"segmentation model has MODEL.SEM_SEG_HEAD.NUM_CLASSES = {num_classes}; pre-train g on this dataset"
        )
    if list(payload["channels"]) != list(channels) or int(payload["kernel_size"]) != int(kernel_size):
        raise ValueError(
            f"MODEL.SEMEDA.WEIGHTS = {path!r}: g has channels {payload['channels']} / kernel "
            f"{payload['kernel_size']}, the config asks for MODEL.SEMEDA.CHANNELS = {list(channels)} / "
            f"KERNEL_SIZE = {kernel_size}"
        )
    net = SemedaNet(num_classes, channels, kernel_size)
    net.load_state_dict(payload["model"])
    if not net.is_trained:
        raise ValueError(f"MODEL.SEMEDA.WEIGHTS = {path!r}: g is untrained (0 pre-training iterations); {hint}")
    return net


class SemedaLoss(nn.Module):
    """Σ_l λ_l ‖ψ̂_l − ψ*_l‖₁ of Eqs. 4-5, to be added to the cross-entropy (Eq. 6).

    ψ̂_l are g's embeddings of the predicted softmax probabilities, ψ*_l those of the one-hot ground truth
    (computed without gradient); g is frozen (no gradient to its weights, always in eval mode).

    Normalisation: ‖·‖₁ is averaged over channels and valid pixels (the mean absolute error, as
    ``nn.L1Loss`` computes a perceptual loss), which makes the paper's λ of order 1 meaningful. Ignored pixels:
    both inputs are zero vectors there (g sees the same void on both sides) and they are left out of the mean.
    Layers with λ_l = 0 are not evaluated.

    Grid (``grid``, ``MODEL.SEMEDA.GRID``): ``"labels"`` (default) feeds g the softmax of the logits upsampled to
    the label grid, the resolution g was pre-trained on and the one the paper feeds it ("321×321 random crops",
    section 4.2); ``"logits"`` feeds g the head's output grid with the labels brought down to it (cheaper; g then
    sees edges at a coarser scale than in pre-training).
    """

    def __init__(self, net, layer_weights=(1.0, 0.5, 0.0), ignore_value=255, weights_path="", grid="labels"):
        super().__init__()
        if len(layer_weights) != 3:
            raise ValueError(f"MODEL.SEMEDA.LAYER_WEIGHTS needs 3 values (λ_1..λ_3), got {list(layer_weights)}")
        if not all(float(x) >= 0 and math.isfinite(float(x)) for x in layer_weights):
            raise ValueError(f"MODEL.SEMEDA.LAYER_WEIGHTS must be finite and >= 0, got {list(layer_weights)}")
        self.grid = check_loss_grid(grid, "MODEL.SEMEDA.GRID")
        self.net = net
        self.net.requires_grad_(False)
        for p in self.net.parameters():
            p.grad = None  # frozen: no stale gradients from pre-training
        self.net.eval()
        self.layer_weights = tuple(float(x) for x in layer_weights)
        nonzero = [i for i, x in enumerate(self.layer_weights) if x > 0]
        self.num_layers = (max(nonzero) + 1) if nonzero else 0
        self.ignore_value = int(ignore_value)
        self.weights_path = weights_path

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.SEMEDA
        num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        if c.WEIGHTS:
            net = load_semeda_net(c.WEIGHTS, num_classes, c.CHANNELS, c.KERNEL_SIZE)
        else:  # inference-only builds may skip g; training refuses (check_ready / forward)
            net = SemedaNet(num_classes, c.CHANNELS, c.KERNEL_SIZE)
        return cls(net, c.LAYER_WEIGHTS, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE, c.WEIGHTS, grid=c.GRID)

    def train(self, mode=True):
        super().train(mode)
        self.net.eval()  # frozen
        return self

    def check_ready(self):
        """Raise ``RuntimeError`` unless g is pre-trained (refuse to train with an untrained g)."""
        if not self.net.is_trained:
            raise RuntimeError(
                "SEMEDA loss: the edge network g is untrained (MODEL.SEMEDA.WEIGHTS = "
                f"{self.weights_path!r}). Pre-train it with projects/DeepLabLosses/tools/pretrain_semeda.py "
                "and set MODEL.SEMEDA.WEIGHTS to its checkpoint."
            )

    def forward(self, logits, targets):
        """logits: ``(N, C, H, W)`` at the resolution of ``targets`` ``(N, H, W)``. Returns a scalar."""
        self.check_ready()
        with float32(logits.device.type):
            logits = at_least_float32(logits)
            if logits.shape[1] != self.net.num_classes:
                raise ValueError(f"SEMEDA loss: predictions have {logits.shape[1]} classes, g was trained for "
                                 f"{self.net.num_classes}")
            probs = torch.softmax(logits, dim=1)
            onehot, valid = one_hot_targets(targets, probs.shape[1], self.ignore_value, dtype=probs.dtype)
            if self.num_layers == 0:
                return probs.sum() * 0.0
            pred_feats = self.net(probs * valid, self.num_layers)
            with torch.no_grad():
                gt_feats = self.net(onehot, self.num_layers)
            count = valid.sum()
            total = probs.new_zeros(())
            for lam, psi_hat, psi_star in zip(self.layer_weights, pred_feats, gt_feats):
                if lam == 0:
                    continue
                l1 = ((psi_hat - psi_star).abs() * valid).sum() / (count * psi_hat.shape[1]).clamp_min(1.0)
                total = total + lam * l1
            return total

    def extra_repr(self):
        return f"layer_weights={self.layer_weights}, weights_path={self.weights_path!r}, grid={self.grid!r}"
