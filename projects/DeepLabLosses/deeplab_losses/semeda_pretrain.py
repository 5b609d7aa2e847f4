"""Pre-training of the SEMEDA edge network g (Chen et al., Algorithm 1, first loop).

g sees one-hot ground-truth label maps and learns, with the per-pixel cross-entropy of Eq. 7, the ground-truth
semantic edges (:func:`deeplab_losses.modeling.semantic_edges`); ignored pixels are zero vectors at the input
and take no part in the loss. Batches are random square crops of the dataset's label maps (padded with the
ignore label when a map is smaller), with random horizontal flips.
"""
import logging
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from detectron2.data import DatasetCatalog
from detectron2.utils.file_io import PathManager

from .modeling.semeda_loss import SemedaNet, save_semeda_checkpoint
from .modeling.targets import one_hot_targets, semantic_edges

__all__ = ["LabelMapSource", "pretrain_semeda", "edge_f1", "pretrain_semeda_from_cfg"]

logger = logging.getLogger(__name__)


class LabelMapSource:
    """Random access to label maps: a list of ``(H, W)`` arrays, or the ``sem_seg_file_name`` files of datasets."""

    def __init__(self, maps=None, dataset_names=()):
        self._maps = list(maps) if maps is not None else None
        self._files = []
        for name in dataset_names:
            self._files += [d["sem_seg_file_name"] for d in DatasetCatalog.get(name)]
        if self._maps is None and not self._files:
            raise ValueError(f"SEMEDA pre-training: no label maps (datasets {list(dataset_names)} are empty)")

    def __len__(self):
        return len(self._maps) if self._maps is not None else len(self._files)

    def __getitem__(self, i):
        if self._maps is not None:
            return np.asarray(self._maps[i])
        with PathManager.open(self._files[i], "rb") as f:
            return np.array(Image.open(f), dtype=np.int64)


def _crop_batch(source, rng, batch, crop, ignore_value):
    maps = []
    for _ in range(batch):
        m = torch.as_tensor(source[int(rng.integers(len(source)))], dtype=torch.long)
        if crop > 0:
            h, w = m.shape
            if h < crop or w < crop:
                m = F.pad(m, (0, max(0, crop - w), 0, max(0, crop - h)), value=ignore_value)
                h, w = m.shape
            y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            m = m[y0:y0 + crop, x0:x0 + crop]
        if rng.random() < 0.5:
            m = m.flip(-1)
        maps.append(m)
    return torch.stack(maps)


def edge_f1(net, label_maps, ignore_value, threshold=0.5):
    """Pixel edge F1 of g on a list of ``(H, W)`` label maps (edge probability > threshold), ignoring void."""
    tp = fp = fn = 0
    net.eval()
    with torch.no_grad():
        for m in label_maps:
            labels = torch.as_tensor(np.asarray(m), dtype=torch.long).unsqueeze(0)
            onehot, _ = one_hot_targets(labels, net.num_classes, ignore_value)
            edges, valid = semantic_edges(labels, ignore_value)
            pred = (net(onehot)[-1][:, 1] > threshold) & valid
            tp += int((pred & edges).sum())
            fp += int((pred & ~edges).sum())
            fn += int((~pred & edges).sum())
    return 2 * tp / max(1, 2 * tp + fp + fn)


#: the first iterations are always logged (then every ``log_period``)
LOG_FIRST_ITERATIONS = 5


def pretrain_semeda(source, num_classes, ignore_value=255, max_iter=600, lr=1e-2, batch=8, crop=128, seed=0,
                    channels=(16, 32), kernel_size=3, log_period=100, net=None):
    """Train g (Adam) for ``max_iter`` iterations; returns the net with ``trained_iterations`` set.

    The first ``LOG_FIRST_ITERATIONS`` iterations and every ``log_period``-th are logged. A non-finite loss
    stops with ``FloatingPointError`` before g is updated (nothing is saved). A batch whose crops have no
    pixel other than ``ignore_value`` has nothing to learn (its loss would be 0/0): it is skipped and counted,
    and when every batch so far was such (label maps that are all ignore, or a wrong IGNORE_VALUE) after
    ``min(max_iter, 20)`` batches, ``ValueError`` stops the pre-training.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = net or SemedaNet(num_classes, channels, kernel_size)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, max_iter))
    start = time.perf_counter()
    skipped = 0
    for it in range(max_iter):
        labels = _crop_batch(source, rng, batch if crop > 0 else 1, crop, ignore_value)
        onehot, _ = one_hot_targets(labels, num_classes, ignore_value)
        edges, valid = semantic_edges(labels, ignore_value)
        if not bool(valid.any()):
            skipped += 1
            if skipped == it + 1 and skipped >= min(max_iter, 20):
                raise ValueError(
                    f"SEMEDA pre-training: the first {skipped} batches have only ignore labels "
                    f"(MODEL.SEM_SEG_HEAD.IGNORE_VALUE = {ignore_value}): g has nothing to learn. Check the "
                    "label maps of DATASETS.TRAIN and IGNORE_VALUE; nothing was saved"
                )
            continue
        target = torch.where(valid, edges.long(), torch.full_like(labels, -1))
        loss = F.cross_entropy(net.edge_logits(onehot), target, ignore_index=-1)  # Eq. 7
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"SEMEDA pre-training: loss {loss.item()} at iteration {it + 1}/{max_iter} ({int(valid.sum())} "
                f"valid pixels in the batch, lr {lr}): g is not saved. Lower SEMEDA_PRETRAIN.BASE_LR or check the "
                "label maps and MODEL.SEM_SEG_HEAD.IGNORE_VALUE"
            )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        net.trained_iterations += 1
        if it < LOG_FIRST_ITERATIONS or (log_period and (it + 1) % log_period == 0):
            logger.info("SEMEDA g iter %d/%d loss %.4f (%.1fs)", it + 1, max_iter, loss.item(),
                        time.perf_counter() - start)
    if skipped:
        logger.warning("SEMEDA pre-training: skipped %d of %d batches that had only ignore labels", skipped, max_iter)
    if net.trained_iterations == 0 and max_iter > 0:
        raise ValueError(f"SEMEDA pre-training: all {max_iter} batches have only ignore labels "
                         f"(IGNORE_VALUE = {ignore_value}): g was not trained; nothing was saved")
    net.eval()
    return net


def pretrain_semeda_from_cfg(cfg, output=None, eval_images=50):
    """Pre-train g on ``cfg.DATASETS.TRAIN``'s label maps, report edge F1 on up to ``eval_images`` maps of
    ``cfg.DATASETS.TEST`` (or of the train set), save the checkpoint; returns ``(path, f1)``."""
    c = cfg.SEMEDA_PRETRAIN
    ignore = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    source = LabelMapSource(dataset_names=cfg.DATASETS.TRAIN)
    net = pretrain_semeda(source, num_classes, ignore, c.MAX_ITER, c.BASE_LR, c.IMS_PER_BATCH, c.CROP_SIZE, c.SEED,
                          cfg.MODEL.SEMEDA.CHANNELS, cfg.MODEL.SEMEDA.KERNEL_SIZE)
    eval_source = LabelMapSource(dataset_names=cfg.DATASETS.TEST) if cfg.DATASETS.TEST else source
    f1 = edge_f1(net, [eval_source[i] for i in range(min(eval_images, len(eval_source)))], ignore)
    path = output or cfg.MODEL.SEMEDA.WEIGHTS
    if not path:
        raise ValueError("SEMEDA pre-training: give --output or set MODEL.SEMEDA.WEIGHTS")
    save_semeda_checkpoint(net, path, edge_f1=f1, datasets=list(cfg.DATASETS.TRAIN), ignore_value=ignore)
    logger.info("SEMEDA g: edge F1 %.4f on %s; saved %s", f1, list(cfg.DATASETS.TEST or cfg.DATASETS.TRAIN), path)
    return path, f1
