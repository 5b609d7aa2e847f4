"""Does the Chan-Vese refinement improve each mask? Paired mask IoU of H(φ0) and H(φN) per detection (issue 15).

Mask AP moves only when an IoU crosses one of its thresholds, so a refinement that improves most masks by a
little can leave it unchanged. :func:`refinement_mask_ious` compares, for every confident detection matched to a
ground-truth instance, the IoU of the initial mask (φ0 > 0) and of the final one (φN > 0) with that instance, both
in the detection's RoI frame at the Chan-Vese resolution S (the frame φ lives in; no pasting). The difference is
paired: the same detection, box and ground truth, only the Chan-Vese steps differ.

:func:`inspect_refinement` (``tools/inspect_refinement.py``) runs a trained model on a few images and reports, next
to these IoUs, the size of the Chan-Vese features F, the learned hyperparameters and how far the steps move φ.
"""
import numpy as np
import torch
from detectron2.structures import BitMasks, Boxes, BoxMode, PolygonMasks, pairwise_iou

__all__ = ["match_detections", "refinement_mask_ious", "summarize_refinement_ious", "inspect_refinement"]


def match_detections(pred_boxes, pred_classes, scores, gt_boxes, gt_classes, score_thresh=0.5, iou_thresh=0.5):
    """Greedy one-to-one matching in descending score (as COCO's): each detection with score ≥ ``score_thresh``
    takes the unmatched ground truth of its class with the highest box IoU ≥ ``iou_thresh``.

    Args: ``pred_boxes`` ``(D, 4)`` and ``gt_boxes`` ``(G, 4)`` XYXY tensors; classes ``(D,)`` / ``(G,)``;
    ``scores`` ``(D,)``. Returns a list of ``(detection index, ground-truth index)`` pairs.
    """
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return []
    iou = pairwise_iou(Boxes(pred_boxes), Boxes(gt_boxes))
    iou[pred_classes.reshape(-1, 1) != gt_classes.reshape(1, -1)] = -1.0
    taken, pairs = set(), []
    for d in torch.argsort(scores, descending=True).tolist():
        if scores[d] < score_thresh:
            break
        order = torch.argsort(iou[d], descending=True).tolist()
        g = next((g for g in order if g not in taken), None)
        if g is not None and iou[d, g] >= iou_thresh:
            taken.add(g)
            pairs.append((d, g))
    return pairs


def _gt_mask_in_roi(annotation, box, side, image_size, where):
    segm = annotation.get("segmentation")
    if isinstance(segm, list):
        return PolygonMasks([segm]).crop_and_resize(box, side)[0]
    if isinstance(segm, dict):
        from pycocotools import mask as mask_util

        rle = segm if not isinstance(segm.get("counts"), list) else mask_util.frPyObjects(segm, *image_size)
        bitmap = torch.from_numpy(np.ascontiguousarray(mask_util.decode(rle))).bool()[None]
        return BitMasks(bitmap).crop_and_resize(box, side)[0]
    raise ValueError(f"{where}: annotation 'segmentation' must be polygons (list) or RLE (dict), got "
                     f"{type(segm).__name__}")


def refinement_mask_ious(instances, dataset_dict, score_thresh=0.5, iou_thresh=0.5):
    """Paired IoUs of the initial and final masks of one image's detections with their ground truth.

    Args:
        instances: a LevelSet R-CNN output ``Instances`` in the original image frame with ``pred_levelsets``
            ``(D, N + 1, S, S)`` (``roi_heads.inference_levelsets = True``), ``pred_boxes``, ``pred_classes``,
            ``scores``.
        dataset_dict: the image's detectron2 dataset dict (``annotations`` with ``bbox``, ``bbox_mode``,
            ``category_id`` (contiguous) and ``segmentation``; crowd regions are skipped).
    Returns:
        ``(M, 2)`` float tensor: per matched detection, IoU(φ0 > 0, GT) and IoU(φN > 0, GT) in its RoI frame.
    """
    where = f"image {dataset_dict.get('file_name', dataset_dict.get('image_id', '?'))}"
    if not instances.has("pred_levelsets"):
        raise ValueError("refinement_mask_ious needs instances.pred_levelsets: set roi_heads.inference_levelsets "
                         "= True before inference")
    annotations = [a for a in dataset_dict.get("annotations", []) if not a.get("iscrowd", 0)]
    if not annotations or len(instances) == 0:
        return torch.zeros((0, 2))
    gt_boxes = torch.tensor([BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations],
                            dtype=torch.float32)
    gt_classes = torch.tensor([a["category_id"] for a in annotations])
    boxes = instances.pred_boxes.tensor.detach().float().cpu()
    pairs = match_detections(boxes, instances.pred_classes.cpu(), instances.scores.cpu(), gt_boxes, gt_classes,
                             score_thresh, iou_thresh)
    levelsets = instances.pred_levelsets.detach().float().cpu()
    side = levelsets.shape[-1]
    image_size = (dataset_dict.get("height", instances.image_size[0]), dataset_dict.get("width",
                                                                                        instances.image_size[1]))
    rows = []
    for d, g in pairs:
        gt = _gt_mask_in_roi(annotations[g], boxes[d:d + 1], side, image_size, where).bool()
        row = []
        for phi in (levelsets[d, 0], levelsets[d, -1]):
            mask = phi > 0
            union = (mask | gt).sum()
            row.append(float((mask & gt).sum()) / float(union) if union > 0 else 1.0)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 2)


def summarize_refinement_ious(ious):
    """``(M, 2)`` paired IoUs → dict: ``matched``, ``mask_iou_initial``, ``mask_iou_final`` (means),
    ``mask_iou_gain`` (mean of final − initial) and its sample std, and how many detections ``improved`` /
    got ``worse`` (|change| > 1e-4)."""
    m = int(ious.shape[0])
    if m == 0:
        return {"matched": 0}
    diff = ious[:, 1] - ious[:, 0]
    return {
        "matched": m,
        "mask_iou_initial": ious[:, 0].mean().item(),
        "mask_iou_final": ious[:, 1].mean().item(),
        "mask_iou_gain": diff.mean().item(),
        "mask_iou_gain_std": diff.std().item() if m > 1 else 0.0,
        "improved": int((diff > 1e-4).sum()),
        "worse": int((diff < -1e-4).sum()),
    }


def inspect_refinement(cfg, dataset=None, num_images=1):
    """What the Chan-Vese refinement of the model of ``cfg`` (``MODEL.WEIGHTS`` loaded) does on the first
    ``num_images`` images of ``dataset`` (default ``cfg.DATASETS.TEST[0]``) that have detections.

    Returns a dict over all their detections: ``feature_abs_mean`` and ``feature_channel_std`` (mean |F| and mean
    per-channel spatial std of the feature head's output), the mean learned hyperparameters ``lambda1``,
    ``lambda2``, ``mu``, ``eps`` and ``dt`` (N values each), ``max_phi_change`` / ``mean_phi_change`` (|φN − φ0|
    over the RoI pixels, TSDF units), ``flipped_pixel_fraction`` (pixels whose sign of φ differs between φ0 and
    φN), ``images``, ``detections`` and :func:`summarize_refinement_ious` of the paired mask IoUs.
    """
    from detectron2.data import DatasetCatalog, build_detection_test_loader
    from detectron2.modeling import build_model

    from levelset_core.checkpoint import SafeCheckpointer
    from ..modeling.chan_vese import split_hyperparameters

    model = build_model(cfg)
    SafeCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    heads = model.roi_heads
    head = getattr(heads, "mask_head", None)
    if getattr(head, "refinement", None) is None:
        raise ValueError("the model has no Chan-Vese refinement (MODEL.ROI_MASK_HEAD.NAME must be LevelSetMaskHead "
                         "with MODEL.LEVELSET.CHAN_VESE_ON True)")
    dataset = dataset or cfg.DATASETS.TEST[0]
    dicts = {d["image_id"]: d for d in DatasetCatalog.get(dataset)}
    features, hparams, changes, flips, ious = [], [], [], [], []
    hook = head.feature_head.register_forward_hook(lambda m, i, o: features.append(o.detach().float()))
    previous = heads.inference_levelsets
    heads.inference_levelsets = True
    used = 0
    try:
        with torch.no_grad():
            for batch in build_detection_test_loader(cfg, dataset):
                seen = len(features)
                instances = model(batch)[0]["instances"]
                if len(instances) == 0:
                    del features[seen:]  # an image without detections contributes nothing
                    continue
                hparams.append(instances.pred_levelset_hparams.float())
                levelsets = instances.pred_levelsets
                changes.append((levelsets[:, -1] - levelsets[:, 0]).abs().flatten(1))
                flips.append(((levelsets[:, -1] > 0) != (levelsets[:, 0] > 0)).flatten(1).float())
                ious.append(refinement_mask_ious(instances, dicts[batch[0]["image_id"]]))
                used += 1
                if used >= num_images:
                    break
    finally:
        hook.remove()
        heads.inference_levelsets = previous
    if used == 0:
        raise RuntimeError(f"no image of {dataset!r} has detections: nothing to inspect")
    feats = torch.cat(features)
    hp = {k: v.mean(0) for k, v in split_hyperparameters(torch.cat(hparams), head.num_iterations).items()}
    change = torch.cat(changes)
    return {
        "images": used,
        "detections": int(change.shape[0]),
        "feature_abs_mean": feats.abs().mean().item(),
        "feature_channel_std": feats.flatten(2).std(dim=2).mean().item(),
        "lambda1": hp["lambda1"].item(), "lambda2": hp["lambda2"].item(), "mu": hp["mu"].item(),
        "eps": hp["eps"].tolist(), "dt": hp["dt"].tolist(),
        "max_phi_change": change.max().item(),
        "mean_phi_change": change.mean().item(),
        "flipped_pixel_fraction": torch.cat(flips).mean().item(),
        **summarize_refinement_ious(torch.cat(ious)),
    }
