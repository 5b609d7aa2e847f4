#!/usr/bin/env python
"""What the Chan-Vese refinement of a LevelSet R-CNN model does on real inputs (docs/RESULTS.md).

Runs inference on the first ``--num-images`` images of a dataset that have detections and prints, over all their
detections: the size of the Chan-Vese features F (mean |F|, mean per-channel spatial std), the mean learned
hyperparameters (λ1, λ2, μ, ε_1..N, Δt_1..N) and how far the unrolled steps move the level set (max and mean
|φN − φ0| over the RoI pixels, φ in TSDF units of [−1, 1]; the fraction of RoI pixels whose side of the contour,
the sign of φ, differs between φ0 and φN); and whether the steps improve the masks: the paired mask IoU of φ0 > 0
and φN > 0 with the ground truth of each detection of score ≥ 0.5 matched to it (box IoU ≥ 0.5), in the RoI
frame (levelset_rcnn.evaluation.refinement).

    python tools/inspect_refinement.py --config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml \\
        MODEL.WEIGHTS output/quickstart/model_final.pth
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import levelset_rcnn  # noqa: E402,F401  (first: registers heads, datasets and the detectron2._C stand-in)
import torch  # noqa: E402


def inspect_refinement(cfg, dataset=None, num_images=1):
    """Statistics of F, the hyperparameters and φN − φ0 (see the module docstring) as a dict."""
    from detectron2.data import DatasetCatalog, build_detection_test_loader
    from levelset_rcnn.evaluation.refinement import refinement_mask_ious, summarize_refinement_ious
    from detectron2.modeling import build_model
    from levelset_rcnn.checkpoint import LevelSetCheckpointer

    model = build_model(cfg)
    LevelSetCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    heads = model.roi_heads
    if getattr(heads, "refinement", None) is None:
        raise ValueError("the model has no Chan-Vese refinement (MODEL.ROI_HEADS.NAME must be LevelSetROIHeads "
                         "with MODEL.LEVELSET.CHAN_VESE_ON True)")
    dataset = dataset or cfg.DATASETS.TEST[0]
    dicts = {d["image_id"]: d for d in DatasetCatalog.get(dataset)}
    features, hparams, changes, flips, ious = [], [], [], [], []
    hook = heads.feature_head.register_forward_hook(lambda m, i, o: features.append(o.detach().float()))
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
        heads.inference_levelsets = False
    if used == 0:
        raise RuntimeError(f"no image of {dataset!r} has detections: nothing to inspect")
    feats = torch.cat(features)
    hp = torch.cat(hparams).mean(0).tolist()
    change = torch.cat(changes)
    n = cfg.MODEL.LEVELSET.NUM_ITERATIONS
    return {
        "images": used,
        "detections": int(change.shape[0]),
        "feature_abs_mean": feats.abs().mean().item(),
        "feature_channel_std": feats.flatten(2).std(dim=2).mean().item(),
        "lambda1": hp[0], "lambda2": hp[1], "mu": hp[2],
        "eps": hp[3:3 + n], "dt": hp[3 + n:3 + 2 * n],
        "max_phi_change": change.max().item(),
        "mean_phi_change": change.mean().item(),
        "flipped_pixel_fraction": torch.cat(flips).mean().item(),
        **summarize_refinement_ious(torch.cat(ious)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--dataset", help="registered dataset (default: the config's first DATASETS.TEST)")
    parser.add_argument("--num-images", type=int, default=1, help="images with detections to inspect")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (e.g. MODEL.WEIGHTS)")
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f"--num-images must be >= 1, got {args.num_images}")
    from levelset_rcnn.engine.defaults import setup_cfg

    cfg = setup_cfg(args.config_file, args.opts)
    stats = inspect_refinement(cfg, args.dataset, args.num_images)
    print(json.dumps(stats, indent=1))
    return stats


if __name__ == "__main__":
    main()
