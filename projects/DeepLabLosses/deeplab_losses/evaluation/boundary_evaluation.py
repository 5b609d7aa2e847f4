"""Semantic-segmentation metrics beyond mIoU, as the two papers report them.

:class:`BoundarySemSegEvaluator` is a detectron2 ``DatasetEvaluator`` (use it next to ``SemSegEvaluator`` in a
``DatasetEvaluators``); its results are under the key ``"sem_seg_boundary"``:

* ``mIoU``, per-class ``IoU-<c>`` and ``F1-<c>`` (region F1 = Dice = 2·IoU/(1+IoU), the "F1-score" of SEMEDA
  Tables 2-3), ``mF1``;
* ``trimap<w>-mIoU`` / ``nontrimap<w>-mIoU`` for every width w: mIoU restricted to the pixels whose Chebyshev
  distance to a ground-truth semantic edge (:func:`deeplab_losses.modeling.semantic_edges`, ignore-aware) is < w,
  and to the rest (SEMEDA Fig. 5); w = 1 is the edge pixels themselves;
* ``BF-<c>`` / ``mBF``: boundary F1 per class with a tolerance of ``f1_tolerance`` pixels (Chebyshev): precision =
  share of predicted class-c boundary pixels within the tolerance of a ground-truth class-c boundary pixel,
  recall the converse; counts are accumulated over the dataset before the ratio. A class boundary pixel is a pixel
  of that class with an 8-neighbour of another (non-ignored) label. Pixels with the ignore label never count.

``evaluate()`` also logs the per-class table. Everything is vectorised in torch (max-pooling dilations), so it
runs at Cityscapes resolution.
"""

import logging
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils.comm import all_gather, is_main_process, synchronize
from detectron2.utils.file_io import PathManager
from tabulate import tabulate

from ..modeling.targets import semantic_edges

__all__ = ["BoundarySemSegEvaluator", "SemSegStats", "dilate", "class_boundaries"]


def dilate(mask, radius):
    """Chebyshev dilation of a ``(..., H, W)`` bool mask by ``radius`` pixels (max-pool, kernel 2r+1)."""
    if radius <= 0:
        return mask
    shape = mask.shape
    x = mask.reshape(-1, 1, shape[-2], shape[-1]).float()
    x = F.max_pool2d(x, kernel_size=2 * radius + 1, stride=1, padding=radius)
    return x.reshape(shape) > 0


def class_boundaries(labels, num_classes, ignore_value):
    """``(C, H, W)`` bool: pixels of class c with an 8-neighbour of another non-ignored label. labels ``(H, W)``."""
    edges, valid = semantic_edges(labels.unsqueeze(0), ignore_value)
    edges = edges[0]
    classes = torch.arange(num_classes, device=labels.device).view(-1, 1, 1)
    return (labels.unsqueeze(0) == classes) & edges.unsqueeze(0)


class SemSegStats:
    """Confusion-matrix and boundary counts of one or many images (pure torch; used by the evaluator and tests)."""

    def __init__(self, num_classes, ignore_value, trimap_widths=(1, 2, 3, 5, 10), f1_tolerance=2):
        self.num_classes = int(num_classes)
        self.ignore_value = int(ignore_value)
        self.trimap_widths = tuple(int(w) for w in trimap_widths)
        if any(w < 1 for w in self.trimap_widths):
            raise ValueError(f"trimap widths must be >= 1, got {list(trimap_widths)}")
        self.f1_tolerance = int(f1_tolerance)
        self.reset()

    def reset(self):
        c = self.num_classes
        self.conf = np.zeros((c, c), dtype=np.int64)  # [gt, pred]
        self.trimap_conf = {w: np.zeros((c, c), dtype=np.int64) for w in self.trimap_widths}
        self.nontrimap_conf = {w: np.zeros((c, c), dtype=np.int64) for w in self.trimap_widths}
        self.bf = np.zeros((4, c), dtype=np.int64)  # pred-boundary matched, pred-boundary total, gt matched, gt total

    def _confusion(self, gt, pred, mask):
        c = self.num_classes
        idx = gt[mask] * c + pred[mask]
        return torch.bincount(idx, minlength=c * c).reshape(c, c).cpu().numpy()

    def add(self, pred, gt):
        """pred, gt: ``(H, W)`` integer tensors (pred in [0, C), gt in [0, C) or ignore)."""
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ in size")
        pred, gt = pred.long(), gt.long()
        valid = gt != self.ignore_value
        bad = valid & ((gt < 0) | (gt >= self.num_classes))
        if bool(bad.any()):
            raise ValueError(f"ground-truth label {int(gt[bad][0])} is neither a class in [0, {self.num_classes - 1}] "
                             f"nor the ignore label {self.ignore_value}")
        self.conf += self._confusion(gt, pred, valid)
        edges, _ = semantic_edges(gt.unsqueeze(0), self.ignore_value)
        edges = edges[0]
        for w in self.trimap_widths:
            band = dilate(edges, w - 1)
            self.trimap_conf[w] += self._confusion(gt, pred, valid & band)
            self.nontrimap_conf[w] += self._confusion(gt, pred, valid & ~band)
        # boundary F1: predicted boundaries only where the ground truth is not ignored
        pred_masked = torch.where(valid, pred, torch.full_like(pred, self.ignore_value))
        gt_b = class_boundaries(gt, self.num_classes, self.ignore_value)
        pred_b = class_boundaries(pred_masked, self.num_classes, self.ignore_value)
        tol = self.f1_tolerance
        self.bf[0] += (pred_b & dilate(gt_b, tol)).flatten(1).sum(1).cpu().numpy()
        self.bf[1] += pred_b.flatten(1).sum(1).cpu().numpy()
        self.bf[2] += (gt_b & dilate(pred_b, tol)).flatten(1).sum(1).cpu().numpy()
        self.bf[3] += gt_b.flatten(1).sum(1).cpu().numpy()

    def merge(self, other):
        self.conf += other.conf
        self.bf += other.bf
        for w in self.trimap_widths:
            self.trimap_conf[w] += other.trimap_conf[w]
            self.nontrimap_conf[w] += other.nontrimap_conf[w]

    @staticmethod
    def iou(conf):
        """Per-class IoU (NaN for a class absent from both ground truth and prediction) from ``[gt, pred]``."""
        tp = np.diag(conf).astype(np.float64)
        union = conf.sum(0) + conf.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.maximum(union, 1), np.nan)

    def summary(self):
        """Dict of metrics in percent (see the module docstring) and the per-class arrays."""
        iou = self.iou(self.conf)
        gt_present = self.conf.sum(1) > 0
        f1 = 2 * iou / (1 + iou)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(self.bf[1] > 0, self.bf[0] / np.maximum(self.bf[1], 1), np.nan)
            recall = np.where(self.bf[3] > 0, self.bf[2] / np.maximum(self.bf[3], 1), np.nan)
            bf = np.where(self.bf[1] + self.bf[3] > 0,
                          2 * np.nan_to_num(precision) * np.nan_to_num(recall)
                          / np.maximum(np.nan_to_num(precision) + np.nan_to_num(recall), 1e-12), np.nan)

        def mean(x, mask=None):
            x = x[mask] if mask is not None else x
            x = x[~np.isnan(x)]
            return float(100 * x.mean()) if x.size else float("nan")

        res = OrderedDict()
        res["mIoU"] = mean(iou, gt_present)
        res["mF1"] = mean(f1, gt_present)
        res["mBF"] = mean(bf, self.bf[3] > 0)
        for w in self.trimap_widths:
            conf = self.trimap_conf[w]
            res[f"trimap{w}-mIoU"] = mean(self.iou(conf), conf.sum(1) > 0)
            conf = self.nontrimap_conf[w]
            res[f"nontrimap{w}-mIoU"] = mean(self.iou(conf), conf.sum(1) > 0)
        return res, {"IoU": iou, "F1": f1, "BF": bf, "BF_precision": precision, "BF_recall": recall}


class BoundarySemSegEvaluator(DatasetEvaluator):
    """Boundary F1, trimap mIoU at several widths and per-class tables (see the module docstring).

    Args:
        dataset_name: a registered semantic-segmentation dataset (dicts with ``file_name`` and
            ``sem_seg_file_name``; metadata ``stuff_classes`` and ``ignore_label``).
        distributed: gather the counts of all processes.
        trimap_widths, f1_tolerance: see the module docstring (pixels).
    """

    def __init__(self, dataset_name, distributed=True, output_dir=None, *, trimap_widths=(1, 2, 3, 5, 10),
                 f1_tolerance=2):
        self._logger = logging.getLogger(__name__)
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        meta = MetadataCatalog.get(dataset_name)
        self._class_names = list(meta.stuff_classes)
        self._ignore_label = int(meta.ignore_label)
        self._input_to_gt = {d["file_name"]: d["sem_seg_file_name"] for d in DatasetCatalog.get(dataset_name)}
        self._stats = SemSegStats(len(self._class_names), self._ignore_label, trimap_widths, f1_tolerance)

    @classmethod
    def from_config(cls, cfg, dataset_name, distributed=True, output_dir=None):
        c = cfg.TEST.BOUNDARY_EVAL
        return cls(dataset_name, distributed, output_dir, trimap_widths=c.TRIMAP_WIDTHS, f1_tolerance=c.F1_TOLERANCE)

    def reset(self):
        self._stats.reset()

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            pred = out["sem_seg"].argmax(dim=0).cpu()
            gt_file = self._input_to_gt.get(inp["file_name"])
            if gt_file is None:
                raise KeyError(f"{self._dataset_name}: no ground truth for {inp['file_name']}")
            with PathManager.open(gt_file, "rb") as f:
                gt = torch.from_numpy(np.array(Image.open(f), dtype=np.int64))
            if gt.shape != pred.shape:
                raise ValueError(f"{gt_file}: ground truth {tuple(gt.shape)} vs prediction {tuple(pred.shape)}")
            self._stats.add(pred, gt)

    def evaluate(self):
        stats = self._stats
        if self._distributed:
            synchronize()
            all_stats = all_gather(stats)
            if not is_main_process():
                return None
            stats = SemSegStats(stats.num_classes, stats.ignore_value, stats.trimap_widths, stats.f1_tolerance)
            for s in all_stats:
                stats.merge(s)
        res, per_class = stats.summary()
        for name, iou, f1, bf in zip(self._class_names, per_class["IoU"], per_class["F1"], per_class["BF"]):
            res[f"IoU-{name}"] = float(100 * iou)
            res[f"F1-{name}"] = float(100 * f1)
            res[f"BF-{name}"] = float(100 * bf)
        table = [[name] + [f"{100 * per_class[k][i]:.1f}" for k in ("IoU", "F1", "BF", "BF_precision", "BF_recall")]
                 for i, name in enumerate(self._class_names)]
        self._logger.info(
            f"Per-class results on {self._dataset_name} (boundary tolerance {stats.f1_tolerance} px):\n"
            + tabulate(table, headers=["class", "IoU", "F1", "BF", "BF prec", "BF rec"], tablefmt="pipe")
        )
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            with PathManager.open(f"{self._output_dir}/sem_seg_boundary_evaluation.pth", "wb") as f:
                torch.save(dict(res), f)
        return OrderedDict({"sem_seg_boundary": res})


